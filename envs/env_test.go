package envs_test

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/internal/testlearner"
)

const numClasses = 3

type fixture struct {
	data  *datasets.Dataset
	split datasets.Split
}

func newFixture(t *testing.T, seed uint64) fixture {
	t.Helper()
	d, err := datasets.Blobs(300, numClasses, 2, 1.0, seed)
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.Split(seed, datasets.SplitConfig{PoolSize: 0, ValSize: 30, TestSize: 60})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{d, s}
}

func (f fixture) env(t *testing.T, cfg envs.Config) (*envs.Env, *testlearner.Learner) {
	t.Helper()
	l := testlearner.New(f.data.Inputs(), f.data.NumClasses)
	e, err := envs.New(f.data, f.split, l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e, l
}

func cfg(init, k, budget int) envs.Config {
	return envs.Config{InitSize: init, InitMode: "balanced", K: k, Budget: budget}
}

func reset(t *testing.T, e *envs.Env, seed uint64) (envs.Observation, envs.Record) {
	t.Helper()
	obs, rec, err := e.Reset(context.Background(), seed)
	if err != nil {
		t.Fatal(err)
	}
	return obs, rec
}

func pickRandom(rng *rand.Rand, cands []int, k int) []int {
	p := rng.Perm(len(cands))[:k]
	out := make([]int, k)
	for i, j := range p {
		out[i] = cands[j]
	}
	return out
}

func TestResetInitialSet(t *testing.T) {
	f := newFixture(t, 1)
	inPool := map[int]bool{}
	for _, i := range f.split.Pool {
		inPool[i] = true
	}
	for _, tc := range []struct {
		mode string
		init int
	}{{"balanced", 6}, {"balanced", 7}, {"balanced", 3}, {"random", 5}, {"random", 1}} {
		t.Run(tc.mode, func(t *testing.T) {
			c := cfg(tc.init, 4, 40)
			c.InitMode = tc.mode
			e, l := f.env(t, c)
			obs, rec := reset(t, e, 11)
			lab := e.Labeled()
			if len(lab) != tc.init {
				t.Fatalf("initial set has %d indices, want %d", len(lab), tc.init)
			}
			seen := map[int]bool{}
			counts := make([]int, numClasses)
			for _, i := range lab {
				if !inPool[i] {
					t.Errorf("initial index %d is not in the pool", i)
				}
				if seen[i] {
					t.Errorf("initial index %d appears twice", i)
				}
				seen[i] = true
				counts[f.data.Y[i]]++
			}
			if tc.mode == "balanced" {
				lo, hi := slices.Min(counts), slices.Max(counts)
				if hi-lo > 1 {
					t.Errorf("balanced initial set has class counts %v", counts)
				}
			}
			if !slices.Equal(obs.ClassCounts, counts) {
				t.Errorf("obs.ClassCounts = %v, want %v", obs.ClassCounts, counts)
			}
			if rec.Round != 0 || rec.Labels != tc.init {
				t.Errorf("round-0 record: round %d labels %d, want 0 and %d", rec.Round, rec.Labels, tc.init)
			}
			if !slices.Equal(rec.Chosen, lab) {
				t.Errorf("round-0 record chose %v, want the initial set %v", rec.Chosen, lab)
			}
			if !math.IsNaN(float64(rec.Reward)) {
				t.Errorf("round-0 reward = %v, want NaN", rec.Reward)
			}
			if acc := float64(rec.TestAcc); acc < 0 || acc > 1 || math.IsNaN(acc) {
				t.Errorf("test accuracy %v out of [0,1]", acc)
			}
			if got := e.Oracle().Count(); got != tc.init {
				t.Errorf("oracle count %d after reset, want %d", got, tc.init)
			}
			if l.Fits != 1 {
				t.Errorf("learner fitted %d times by Reset, want 1", l.Fits)
			}
			if obs.Round != 1 || obs.K != 4 || obs.BudgetUsed != tc.init || obs.Budget != 40 {
				t.Errorf("first observation: round %d k %d used %d budget %d", obs.Round, obs.K, obs.BudgetUsed, obs.Budget)
			}
			if obs.Unlabeled != len(f.split.Pool)-tc.init || len(obs.Candidates) != obs.Unlabeled {
				t.Errorf("unlabeled %d, candidates %d, want %d", obs.Unlabeled, len(obs.Candidates), len(f.split.Pool)-tc.init)
			}
			if !sort.IntsAreSorted(obs.Candidates) {
				t.Error("candidates are not sorted")
			}
			for _, c := range obs.Candidates {
				if seen[c] || !inPool[c] {
					t.Errorf("candidate %d is labeled or outside the pool", c)
				}
			}
			if e.Done() != envs.NotDone || e.Round() != 0 {
				t.Errorf("after reset: done %q round %d", e.Done(), e.Round())
			}
		})
	}
}

// runEpisode acts with random candidates until the episode ends and checks
// the loop's invariants on the way.
func runEpisode(t *testing.T, f fixture, c envs.Config, seed uint64) (*envs.Env, *testlearner.Learner, []envs.Record, envs.EndReason) {
	t.Helper()
	e, l := f.env(t, c)
	obs, rec := reset(t, e, seed)
	records := []envs.Record{rec}
	labeled := map[int]bool{}
	for _, i := range e.Labeled() {
		labeled[i] = true
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	var reason envs.EndReason
	for e.Done() == envs.NotDone {
		action := pickRandom(rng, obs.Candidates, obs.K)
		for _, i := range action {
			if labeled[i] {
				t.Fatalf("round %d: candidate %d is already labeled", obs.Round, i)
			}
		}
		prevLabels := records[len(records)-1].Labels
		next, reward, done, rec, err := e.Step(context.Background(), action)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range action {
			labeled[i] = true
		}
		if rec.Labels != prevLabels+len(action) || rec.Labels != len(labeled) {
			t.Errorf("round %d: labels %d, want %d", rec.Round, rec.Labels, prevLabels+len(action))
		}
		if !slices.Equal(rec.Chosen, action) {
			t.Errorf("round %d: record chose %v, action was %v", rec.Round, rec.Chosen, action)
		}
		if n := e.Oracle().Count(); n > c.Budget || n != len(labeled) {
			t.Errorf("round %d: oracle count %d (budget %d, labeled %d)", rec.Round, n, c.Budget, len(labeled))
		}
		if float64(rec.Reward) != reward {
			t.Errorf("round %d: record reward %v, returned %v", rec.Round, rec.Reward, reward)
		}
		if done != e.Done() {
			t.Errorf("round %d: Step returned %q, Done() = %q", rec.Round, done, e.Done())
		}
		records = append(records, rec)
		obs, reason = next, done
	}
	if len(e.Labeled()) != len(labeled) {
		t.Errorf("env reports %d labeled, loop counted %d", len(e.Labeled()), len(labeled))
	}
	return e, l, records, reason
}

func TestEpisodeLoop(t *testing.T) {
	f := newFixture(t, 2)
	tests := []struct {
		name       string
		cfg        envs.Config
		wantLabels []int
		wantEnd    envs.EndReason
	}{
		{"budget, short last step", cfg(6, 4, 20), []int{6, 10, 14, 18, 20}, envs.BudgetSpent},
		{"budget, exact", cfg(6, 4, 22), []int{6, 10, 14, 18, 22}, envs.BudgetSpent},
		{"budget equals init", cfg(6, 4, 6), []int{6}, envs.BudgetSpent},
		{"rounds limit", envs.Config{InitSize: 6, InitMode: "balanced", K: 5, Budget: 100, Rounds: 3}, []int{6, 11, 16, 21}, envs.RoundsDone},
		{"candidates subset", envs.Config{InitSize: 3, InitMode: "random", K: 5, Budget: 23, Candidates: 12}, []int{3, 8, 13, 18, 23}, envs.BudgetSpent},
		{"whole pool", envs.Config{InitSize: 200, InitMode: "random", K: 7, Budget: 210}, []int{200, 207, 210}, envs.BudgetSpent},
		{"sizes, then k", envs.Config{InitSize: 6, InitMode: "balanced", K: 4, Budget: 30, Sizes: []int{8, 20}}, []int{6, 8, 20, 24, 28, 30}, envs.BudgetSpent},
		{"sizes end at budget", envs.Config{InitSize: 10, InitMode: "random", K: 1, Budget: 100, Sizes: []int{30, 100}}, []int{10, 30, 100}, envs.BudgetSpent},
		{"sizes with rounds", envs.Config{InitSize: 6, InitMode: "balanced", K: 4, Budget: 100, Rounds: 3, Sizes: []int{16}}, []int{6, 16, 20, 24}, envs.RoundsDone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _, recs, _ := runEpisode(t, f, tc.cfg, 5)
			var labels []int
			for i, r := range recs {
				labels = append(labels, r.Labels)
				if r.Round != i {
					t.Errorf("record %d has round %d", i, r.Round)
				}
			}
			if !slices.Equal(labels, tc.wantLabels) {
				t.Errorf("labels per round %v, want %v", labels, tc.wantLabels)
			}
			if e.Done() != tc.wantEnd {
				t.Errorf("end reason %q, want %q", e.Done(), tc.wantEnd)
			}
			final := tc.wantLabels[len(tc.wantLabels)-1]
			if n := len(e.Labeled()); n != final || e.Oracle().Count() != final {
				t.Errorf("final labeled %d, oracle count %d, want %d", n, e.Oracle().Count(), final)
			}
			if e.Round() != len(tc.wantLabels)-1 {
				t.Errorf("Round() = %d, want %d", e.Round(), len(tc.wantLabels)-1)
			}
		})
	}
}

func TestCandidatesLimit(t *testing.T) {
	f := newFixture(t, 3)
	c := envs.Config{InitSize: 6, InitMode: "balanced", K: 3, Budget: 30, Candidates: 10}
	e, _ := f.env(t, c)
	obs, _ := reset(t, e, 4)
	lab := map[int]bool{}
	for _, i := range e.Labeled() {
		lab[i] = true
	}
	if len(obs.Candidates) != 10 {
		t.Fatalf("%d candidates, want 10", len(obs.Candidates))
	}
	if !sort.IntsAreSorted(obs.Candidates) {
		t.Error("candidates not sorted")
	}
	if obs.Unlabeled != len(f.split.Pool)-6 {
		t.Errorf("Unlabeled = %d, want the whole unlabeled pool %d", obs.Unlabeled, len(f.split.Pool)-6)
	}
	for i, c := range obs.Candidates {
		if lab[c] || (i > 0 && obs.Candidates[i-1] == c) {
			t.Errorf("candidate %d is labeled or repeated", c)
		}
	}
}

func TestLearnerSeesOnlyOracleLabels(t *testing.T) {
	f := newFixture(t, 4)
	e, l, _, _ := runEpisode(t, f, cfg(6, 4, 26), 8)
	lab := e.Labeled()
	if len(l.SeenLabels) != len(lab) {
		t.Errorf("learner saw %d labels, %d were acquired", len(l.SeenLabels), len(lab))
	}
	for _, i := range lab {
		y, ok := l.SeenLabels[i]
		if !ok {
			t.Errorf("labeled index %d never reached the learner", i)
		} else if y != f.data.Y[i] {
			t.Errorf("learner got label %d for %d, true label %d", y, i, f.data.Y[i])
		}
	}
	isLab := map[int]bool{}
	for _, i := range lab {
		isLab[i] = true
	}
	for i := range l.SeenLabels {
		if !isLab[i] {
			t.Errorf("learner trained on index %d, which was never acquired", i)
		}
	}
	for _, i := range append(slices.Clone(f.split.Val), f.split.Test...) {
		if _, ok := l.SeenLabels[i]; ok {
			t.Errorf("learner trained on validation/test index %d", i)
		}
	}
}

func TestRejectedActions(t *testing.T) {
	f := newFixture(t, 5)
	c := envs.Config{InitSize: 6, InitMode: "balanced", K: 3, Budget: 30, Candidates: 10}
	e, l := f.env(t, c)
	obs, _ := reset(t, e, 6)
	lab := e.Labeled()
	offered := map[int]bool{}
	for _, i := range obs.Candidates {
		offered[i] = true
	}
	notOffered := -1
	isLab := map[int]bool{}
	for _, i := range lab {
		isLab[i] = true
	}
	for _, i := range f.split.Pool {
		if !offered[i] && !isLab[i] {
			notOffered = i
			break
		}
	}
	c0, c1, c2 := obs.Candidates[0], obs.Candidates[1], obs.Candidates[2]
	test := f.split.Test[0]
	val := f.split.Val[0]
	tests := []struct {
		name   string
		action []int
		want   []string
	}{
		{"duplicate", []int{c0, c1, c0}, []string{"action[2]", itoa(c0), "twice"}},
		{"already labeled", []int{c0, lab[2], c1}, []string{"action[1]", itoa(lab[2]), "already labeled"}},
		{"test index", []int{test, c0, c1}, []string{"action[0]", itoa(test), "not in the pool"}},
		{"validation index", []int{c0, c1, val}, []string{"action[2]", itoa(val), "not in the pool"}},
		{"negative index", []int{c0, -1, c1}, []string{"-1", "not in the pool"}},
		{"not a candidate", []int{c0, notOffered, c1}, []string{itoa(notOffered), "candidates"}},
		{"too short", []int{c0, c1}, []string{"2 indices", "exactly 3"}},
		{"too long", []int{c0, c1, c2, obs.Candidates[3]}, []string{"4 indices", "exactly 3"}},
		{"empty", nil, []string{"0 indices"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := e.CheckAction(tc.action); err == nil {
				t.Errorf("CheckAction(%v) accepted", tc.action)
			}
			_, _, _, _, err := e.Step(context.Background(), tc.action)
			if err == nil {
				t.Fatalf("Step(%v) accepted", tc.action)
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if !slices.Equal(e.Labeled(), lab) || e.Round() != 0 || e.Oracle().Count() != len(lab) || l.Fits != 1 || e.Done() != envs.NotDone {
				t.Errorf("rejected step changed the episode: labeled %v round %d count %d fits %d", e.Labeled(), e.Round(), e.Oracle().Count(), l.Fits)
			}
		})
	}
	if notOffered < 0 {
		t.Fatal("fixture: every unlabeled pool index was offered")
	}
	// A valid action still works after the rejections.
	if err := e.CheckAction([]int{c0, c1, c2}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, rec, err := e.Step(context.Background(), []int{c0, c1, c2}); err != nil || rec.Labels != 9 {
		t.Fatalf("valid step after rejections: labels %d, err %v", rec.Labels, err)
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func TestStepBeforeResetAndAfterDone(t *testing.T) {
	f := newFixture(t, 6)
	e, _ := f.env(t, cfg(6, 4, 10))
	_, _, _, _, err := e.Step(context.Background(), []int{f.split.Pool[0]})
	if err == nil || !strings.Contains(err.Error(), "Reset") {
		t.Errorf("step before reset: err = %v", err)
	}
	obs, _ := reset(t, e, 1)
	_, _, done, _, err := e.Step(context.Background(), obs.Candidates[:4])
	if err != nil || done != envs.BudgetSpent {
		t.Fatalf("last step: done %q err %v", done, err)
	}
	lab := e.Labeled()
	_, _, done, _, err = e.Step(context.Background(), []int{obs.Candidates[5]})
	if err == nil || !strings.Contains(err.Error(), "ended") || !strings.Contains(err.Error(), string(envs.BudgetSpent)) {
		t.Errorf("step after done: err = %v", err)
	}
	if done != envs.BudgetSpent || !slices.Equal(e.Labeled(), lab) {
		t.Errorf("step after done changed the episode or lost the reason %q", done)
	}
}

func TestStepCancelledContext(t *testing.T) {
	f := newFixture(t, 6)
	e, _ := f.env(t, cfg(6, 4, 20))
	obs, _ := reset(t, e, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, _, _, err := e.Step(ctx, obs.Candidates[:4]); err == nil {
		t.Fatal("step with a cancelled context succeeded")
	}
	if e.Round() != 0 || len(e.Labeled()) != 6 || e.Oracle().Count() != 6 {
		t.Errorf("cancelled step changed the episode: round %d labeled %d", e.Round(), len(e.Labeled()))
	}
}

func TestObservationAfterDone(t *testing.T) {
	f := newFixture(t, 6)
	e, _ := f.env(t, cfg(6, 4, 6))
	obs, _ := reset(t, e, 1)
	if e.Done() != envs.BudgetSpent || obs.K != 0 {
		t.Errorf("budget == init: done %q, K %d; want budget_spent and 0", e.Done(), obs.K)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := envs.Config{InitSize: 6, InitMode: "balanced", K: 4, Budget: 50}
	tests := []struct {
		name string
		mod  func(*envs.Config)
		want string // "" = valid
	}{
		{"valid", func(*envs.Config) {}, ""},
		{"valid random", func(c *envs.Config) { c.InitMode = "random"; c.InitSize = 1 }, ""},
		{"valid budget = pool", func(c *envs.Config) { c.Budget = 100 }, ""},
		{"valid candidates = k", func(c *envs.Config) { c.Candidates = 4 }, ""},
		{"budget > pool", func(c *envs.Config) { c.Budget = 101 }, "al.budget"},
		{"budget < init", func(c *envs.Config) { c.Budget = 5 }, "al.budget"},
		{"k zero", func(c *envs.Config) { c.K = 0 }, "al.k"},
		{"init zero", func(c *envs.Config) { c.InitSize = 0 }, "al.init_size"},
		{"bad init mode", func(c *envs.Config) { c.InitMode = "stratified" }, "al.init_mode"},
		{"empty init mode", func(c *envs.Config) { c.InitMode = "" }, "al.init_mode"},
		{"balanced below classes", func(c *envs.Config) { c.InitSize = 2 }, "al.init_size"},
		{"candidates < k", func(c *envs.Config) { c.Candidates = 3 }, "al.candidates"},
		{"negative rounds", func(c *envs.Config) { c.Rounds = -1 }, "al.rounds"},
		{"negative candidates", func(c *envs.Config) { c.Candidates = -1 }, "al.candidates"},
		{"valid sizes", func(c *envs.Config) { c.Sizes = []int{10, 30, 50} }, ""},
		{"sizes not above init", func(c *envs.Config) { c.Sizes = []int{6, 30} }, "al.sizes"},
		{"sizes not increasing", func(c *envs.Config) { c.Sizes = []int{10, 10} }, "al.sizes"},
		{"sizes above budget", func(c *envs.Config) { c.Sizes = []int{10, 51} }, "al.sizes"},
		{"candidates < a sizes step", func(c *envs.Config) { c.Candidates = 10; c.Sizes = []int{30} }, "al.candidates"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate(100, numClasses)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error naming %q", err, tc.want)
			}
		})
	}
	if err := envs.DefaultConfig().Validate(1000, 10); err != nil {
		t.Errorf("default config: %v", err)
	}
}

func TestNewRejects(t *testing.T) {
	f := newFixture(t, 7)
	l := testlearner.New(f.data.Inputs(), numClasses)
	if _, err := envs.New(f.data, f.split, l, cfg(6, 4, len(f.split.Pool)+1)); err == nil || !strings.Contains(err.Error(), "al.budget") {
		t.Errorf("budget over pool: err = %v", err)
	}
	noTest := f.split
	noTest.Test = nil
	if _, err := envs.New(f.data, noTest, l, cfg(6, 4, 20)); err == nil || !strings.Contains(err.Error(), "test") {
		t.Errorf("empty test split: err = %v", err)
	}
}

func TestSeedDeterminism(t *testing.T) {
	f := newFixture(t, 8)
	c := envs.Config{InitSize: 6, InitMode: "balanced", K: 3, Budget: 30, Candidates: 15}
	start := func(seed uint64) ([]int, []int, []int) {
		e, _ := f.env(t, c)
		obs, _ := reset(t, e, seed)
		lab, cand1 := e.Labeled(), slices.Clone(obs.Candidates)
		obs, _, _, _, err := e.Step(context.Background(), obs.Candidates[:3])
		if err != nil {
			t.Fatal(err)
		}
		return lab, cand1, obs.Candidates
	}
	l1, c1, d1 := start(3)
	l2, c2, d2 := start(3)
	if !slices.Equal(l1, l2) || !slices.Equal(c1, c2) || !slices.Equal(d1, d2) {
		t.Error("same seed gave different initial sets or candidate subsets")
	}
	if slices.Equal(c1, d1) {
		t.Error("candidate subsets of rounds 1 and 2 are identical")
	}
	l3, c3, _ := start(4)
	if slices.Equal(l1, l3) {
		t.Errorf("seeds 3 and 4 gave the same initial set %v", l1)
	}
	if slices.Equal(c1, c3) {
		t.Errorf("seeds 3 and 4 gave the same candidates %v", c1)
	}
}

func TestStateRestore(t *testing.T) {
	f := newFixture(t, 9)
	c := envs.Config{InitSize: 6, InitMode: "balanced", K: 4, Budget: 30, Candidates: 20}
	e, l := f.env(t, c)
	obs, _ := reset(t, e, 12)
	for i := 0; i < 2; i++ {
		var err error
		obs, _, _, _, err = e.Step(context.Background(), obs.Candidates[:obs.K])
		if err != nil {
			t.Fatal(err)
		}
	}
	st := e.State()
	if st.Seed != 12 || st.Round != 2 || len(st.Labeled) != 14 || st.Revealed != 14 || len(st.Labels) != 14 {
		t.Fatalf("State() = %+v", st)
	}
	for i, idx := range st.Labeled {
		if st.Labels[i] != f.data.Y[idx] {
			t.Errorf("state label of %d is %d, true %d", idx, st.Labels[i], f.data.Y[idx])
		}
	}
	// Through JSON, as a checkpoint would store it.
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var st2 envs.State
	if err := json.Unmarshal(b, &st2); err != nil {
		t.Fatal(err)
	}
	e2, err := envs.New(f.data, f.split, l, c)
	if err != nil {
		t.Fatal(err)
	}
	obs2, err := e2.Restore(st2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e2.Labeled(), e.Labeled()) || e2.Round() != 2 || e2.Oracle().Count() != 14 {
		t.Errorf("restored: labeled %v round %d count %d", e2.Labeled(), e2.Round(), e2.Oracle().Count())
	}
	if !slices.Equal(obs2.Candidates, obs.Candidates) || obs2.K != obs.K || obs2.Round != obs.Round ||
		obs2.Unlabeled != obs.Unlabeled || !slices.Equal(obs2.ClassCounts, obs.ClassCounts) || obs2.ValAcc != obs.ValAcc {
		t.Errorf("restored observation differs:\n got %+v\nwant %+v", obs2, obs)
	}
	if obs2.RNG.Uint64() != obs.RNG.Uint64() {
		t.Error("restored observation has a different agent RNG stream")
	}
	// Both continue identically.
	a := obs.Candidates[len(obs.Candidates)-obs.K:]
	_, r1, _, rec1, err1 := e.Step(context.Background(), a)
	_, r2, _, rec2, err2 := e2.Step(context.Background(), a)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if r1 != r2 || rec1.Labels != rec2.Labels || rec1.TestAcc != rec2.TestAcc || rec1.Round != rec2.Round {
		t.Errorf("after restore the next step differs: %+v vs %+v", rec1, rec2)
	}
}

func TestRestoreRejectsBadState(t *testing.T) {
	f := newFixture(t, 9)
	e, _ := f.env(t, cfg(6, 4, 30))
	pool := f.split.Pool
	tests := []struct {
		name string
		st   envs.State
		want string
	}{
		{"length mismatch", envs.State{Labeled: []int{pool[0], pool[1]}, Labels: []int{0}}, "2 labeled indices but 1 labels"},
		{"outside pool", envs.State{Labeled: []int{f.split.Test[0]}, Labels: []int{0}}, "not in the pool"},
		{"duplicate", envs.State{Labeled: []int{pool[0], pool[0]}, Labels: []int{0, 0}}, "twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Restore(tc.st)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Restore = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestRewardIsValAccChange(t *testing.T) {
	f := newFixture(t, 10)
	_, _, recs, _ := runEpisode(t, f, envs.Config{InitSize: 3, InitMode: "random", K: 2, Budget: 15}, 21)
	if len(recs) != 7 {
		t.Fatalf("%d records, want 7", len(recs))
	}
	for i := 1; i < len(recs); i++ {
		want := float64(recs[i].ValAcc) - float64(recs[i-1].ValAcc)
		if math.Abs(float64(recs[i].Reward)-want) > 1e-12 {
			t.Errorf("round %d: reward %v, want %v", i, recs[i].Reward, want)
		}
		if v := float64(recs[i].ValAcc); v < 0 || v > 1 {
			t.Errorf("round %d: val acc %v", i, v)
		}
	}
}

func TestNoValidationSet(t *testing.T) {
	f := newFixture(t, 11)
	s, err := f.data.Split(11, datasets.SplitConfig{TestSize: 60})
	if err != nil {
		t.Fatal(err)
	}
	f.split = s
	e, _ := f.env(t, cfg(6, 4, 14))
	obs, rec := reset(t, e, 1)
	if !math.IsNaN(float64(rec.ValAcc)) || !math.IsNaN(obs.ValAcc) {
		t.Errorf("val acc without a validation set: record %v obs %v, want NaN", rec.ValAcc, obs.ValAcc)
	}
	_, _, _, rec, err = e.Step(context.Background(), obs.Candidates[:4])
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatalf("record with NaN val acc does not marshal: %v", err)
	}
	if !strings.Contains(string(b), `"val_acc":null`) || !strings.Contains(string(b), `"reward":null`) {
		t.Errorf("record JSON %s should hold null val_acc and reward", b)
	}
}

func TestFloatJSON(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0.5, "0.5"},
		{0, "0"},
		{-1.25, "-1.25"},
		{math.NaN(), "null"},
		{math.Inf(1), "null"},
		{math.Inf(-1), "null"},
	}
	for _, tc := range tests {
		b, err := json.Marshal(envs.Float(tc.in))
		if err != nil {
			t.Fatalf("%v: %v", tc.in, err)
		}
		if string(b) != tc.want {
			t.Errorf("Marshal(%v) = %s, want %s", tc.in, b, tc.want)
		}
	}
	var s struct {
		A envs.Float `json:"a"`
		B envs.Float `json:"b"`
	}
	if err := json.Unmarshal([]byte(`{"a": null, "b": 0.75}`), &s); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(float64(s.A)) || s.B != 0.75 {
		t.Errorf("Unmarshal: a = %v (want NaN), b = %v (want 0.75)", s.A, s.B)
	}
	if err := json.Unmarshal([]byte(`{"a": "x"}`), &s); err == nil {
		t.Error("Unmarshal of a string into Float succeeded")
	}
	// Round trip of a whole record.
	r := envs.Record{Round: 2, Labels: 10, TestAcc: 0.8, TestLoss: envs.Float(math.NaN()), ValAcc: 0.7, Reward: 0.1, Chosen: []int{4, 5}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var r2 envs.Record
	if err := json.Unmarshal(b, &r2); err != nil {
		t.Fatal(err)
	}
	if r2.Round != 2 || r2.Labels != 10 || r2.TestAcc != 0.8 || !math.IsNaN(float64(r2.TestLoss)) || r2.ValAcc != 0.7 || !slices.Equal(r2.Chosen, []int{4, 5}) {
		t.Errorf("record round trip: %+v", r2)
	}
}

func TestOracle(t *testing.T) {
	o := envs.NewOracle([]int{2, 1, 0, 1}, []int{1, 3})
	if y, err := o.Label(3); err != nil || y != 1 {
		t.Errorf("Label(3) = %d, %v", y, err)
	}
	if _, err := o.Label(3); err == nil || !strings.Contains(err.Error(), "already") {
		t.Errorf("second Label(3): %v", err)
	}
	if _, err := o.Label(0); err == nil || !strings.Contains(err.Error(), "not in the pool") {
		t.Errorf("Label(0) outside the pool: %v", err)
	}
	if o.Count() != 1 || !o.InPool(1) || o.InPool(0) {
		t.Errorf("Count %d InPool(1) %v InPool(0) %v", o.Count(), o.InPool(1), o.InPool(0))
	}
}

func TestRNGStreams(t *testing.T) {
	a := envs.RNG(1, 2, "x").Uint64()
	for _, tc := range []struct {
		seed  uint64
		round int
		p     string
		same  bool
	}{
		{1, 2, "x", true}, {2, 2, "x", false}, {1, 3, "x", false}, {1, 2, "y", false},
	} {
		got := envs.RNG(tc.seed, tc.round, tc.p).Uint64()
		if (got == a) != tc.same {
			t.Errorf("RNG(%d,%d,%q) same as RNG(1,2,x): %v, want %v", tc.seed, tc.round, tc.p, got == a, tc.same)
		}
	}
}

// TestTotalRounds: rounds of a run that spends its budget, round 0 included.
func TestTotalRounds(t *testing.T) {
	tests := []struct {
		name string
		cfg  envs.Config
		want int
	}{
		{"even", envs.Config{InitSize: 20, K: 10, Budget: 300}, 29},
		{"last round partial", envs.Config{InitSize: 20, K: 30, Budget: 100}, 4},
		{"initial set only", envs.Config{InitSize: 20, K: 10, Budget: 20}, 1},
		{"capped rounds", envs.Config{InitSize: 20, K: 10, Budget: 300, Rounds: 5}, 6},
		{"sizes then k", envs.Config{InitSize: 10, K: 50, Budget: 200, Sizes: []int{20, 50}}, 6},
	}
	for _, tc := range tests {
		if got := tc.cfg.TotalRounds(); got != tc.want {
			t.Errorf("%s: %d rounds, want %d", tc.name, got, tc.want)
		}
	}
}
