package envs_test

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/internal/testlearner"
	"github.com/alrl/alrl/learner"
)

// fastHead returns a fast-mode head over the raw inputs of the fixture.
func fastHead(t *testing.T, f fixture) *envs.Head {
	t.Helper()
	fc := envs.DefaultFastConfig()
	fc.Encoder, fc.Cache = envs.EncoderRaw, t.TempDir()
	h, err := envs.NewFastLearner(context.Background(), fc, learner.DefaultConfig(), f.data, f.split, 1)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// playRandom runs an episode with seeded random actions and returns the records and rewards.
func playRandom(t *testing.T, e *envs.Env, seed uint64) ([]envs.Record, []float64) {
	t.Helper()
	ctx := context.Background()
	obs, rec, err := e.Reset(ctx, seed)
	if err != nil {
		t.Fatal(err)
	}
	recs := []envs.Record{rec}
	var rewards []float64
	rng := rand.New(rand.NewPCG(seed, 99))
	for e.Done() == envs.NotDone {
		var r float64
		obs, r, _, rec, err = e.Step(ctx, pickRandom(rng, obs.Candidates, obs.K))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
		rewards = append(rewards, r)
	}
	return recs, rewards
}

// hardFixture has overlapping classes, so accuracy keeps changing.
func hardFixture(t *testing.T, seed uint64) fixture {
	t.Helper()
	d, err := datasets.Blobs(300, numClasses, 2, 4.0, seed)
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.Split(seed, datasets.SplitConfig{ValSize: 60, TestSize: 60})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{d, s}
}

func TestRelativeRewardEqualsLoggedChanges(t *testing.T) {
	f := hardFixture(t, 31)
	for _, name := range []string{"testlearner (restored from a file)", "fast head (restored in memory)"} {
		t.Run(name, func(t *testing.T) {
			mk := func(mode string) *envs.Env {
				var l learner.Learner = testlearner.New(f.data.Inputs(), f.data.NumClasses)
				if strings.HasPrefix(name, "fast") {
					l = fastHead(t, f)
				}
				c := envs.Config{InitSize: 3, InitMode: "balanced", K: 3, Budget: 24, Candidates: 20, Reward: mode}
				e, err := envs.New(f.data, f.split, l, c)
				if err != nil {
					t.Fatal(err)
				}
				return e
			}
			raw, rel := mk(envs.RewardRaw), mk(envs.RewardRelative)
			rawRecs, _ := playRandom(t, raw, 5)
			relRecs, rewards := playRandom(t, rel, 5)
			if len(rawRecs) != len(relRecs) {
				t.Fatalf("%d raw records, %d relative", len(rawRecs), len(relRecs))
			}
			nonzero := false
			for i := 1; i < len(relRecs); i++ {
				r := relRecs[i]
				// The counterfactual refit leaves the real episode untouched.
				if r.ValAcc != rawRecs[i].ValAcc || !slices.Equal(r.Chosen, rawRecs[i].Chosen) {
					t.Errorf("round %d: relative mode changed the episode: val %v vs %v", i, r.ValAcc, rawRecs[i].ValAcc)
				}
				if r.RandomGain == nil {
					t.Fatalf("round %d: no random_gain logged", i)
				}
				want := float64(r.ValAcc) - float64(relRecs[i-1].ValAcc) - float64(*r.RandomGain)
				if math.Abs(rewards[i-1]-want) > 1e-12 || math.Abs(float64(r.Reward)-want) > 1e-12 {
					t.Errorf("round %d: reward %v (record %v), want %v", i, rewards[i-1], r.Reward, want)
				}
				if *r.RandomGain != 0 {
					nonzero = true
				}
				if rawRecs[i].RandomGain != nil {
					t.Errorf("raw mode logged a random gain")
				}
			}
			if !nonzero {
				t.Error("every counterfactual gain is 0: the random batch is probably not refit")
			}
			if rel.Oracle().Count() != 24 {
				t.Errorf("oracle count %d: the counterfactual batch must not be charged", rel.Oracle().Count())
			}
		})
	}
}

func TestRewardAreaSumsToAULC(t *testing.T) {
	f := hardFixture(t, 32)
	for _, c := range []envs.Config{
		{InitSize: 3, InitMode: "random", K: 4, Budget: 22},                                  // short last step
		{InitSize: 5, InitMode: "random", K: 2, Budget: 100, Rounds: 6},                      // rounds stop it
		{InitSize: 3, InitMode: "balanced", K: 3, Budget: 21, Reward: "relative"},            // relative
		{InitSize: 3, InitMode: "random", K: 3, Budget: 21, Candidates: 9, Rounds: 0},        // candidates
		{InitSize: 3, InitMode: "random", K: 2, Budget: 100, Rounds: 4, Sizes: []int{9, 12}}, // sizes, then rounds stop it
	} {
		c.RewardArea = true
		e, _ := f.env(t, c)
		recs, rewards := playRandom(t, e, 3)
		sum := 0.0
		for _, r := range rewards {
			sum += r
		}
		// Normalised trapezoid area of the (relative) validation curve.
		area, span := 0.0, float64(recs[len(recs)-1].Labels-recs[0].Labels)
		prev := float64(recs[0].ValAcc)
		cur := prev
		for i := 1; i < len(recs); i++ {
			next := cur + float64(recs[i].ValAcc) - float64(recs[i-1].ValAcc)
			if recs[i].RandomGain != nil {
				next -= float64(*recs[i].RandomGain)
			}
			area += float64(recs[i].Labels-recs[i-1].Labels) * (cur + next) / 2
			cur = next
		}
		want := area/span - prev
		if sum == 0 {
			t.Errorf("%+v: every reward is 0; the test needs accuracy changes", c)
		}
		if math.Abs(sum-want) > 1e-9 {
			t.Errorf("%+v: rewards sum to %.12f, want AULC - a0 = %.12f", c, sum, want)
		}
	}
}

func TestStreamInvariants(t *testing.T) {
	f := newFixture(t, 33)
	ctx := context.Background()
	tests := []struct {
		name    string
		cfg     envs.Config
		sc      envs.StreamConfig
		p       float64 // probability of labeling
		wantEnd envs.EndReason
	}{
		{"label everything", envs.Config{InitSize: 3, InitMode: "random", K: 1, Budget: 15}, envs.StreamConfig{Reference: 10}, 1, envs.BudgetSpent},
		{"refit every 3", envs.Config{InitSize: 3, InitMode: "random", K: 3, Budget: 20}, envs.StreamConfig{Reference: 10}, 0.5, envs.BudgetSpent},
		{"short stream", envs.Config{InitSize: 3, InitMode: "random", K: 2, Budget: 100}, envs.StreamConfig{Length: 30}, 0.3, envs.StreamExhausted},
		{"skip everything", envs.Config{InitSize: 3, InitMode: "random", K: 1, Budget: 10}, envs.StreamConfig{Length: 20}, 0, envs.StreamExhausted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := testlearner.New(f.data.Inputs(), f.data.NumClasses)
			s, err := envs.NewStream(f.data, f.split, l, tc.cfg, tc.sc)
			if err != nil {
				t.Fatal(err)
			}
			obs, rec, err := s.Reset(ctx, 7)
			if err != nil {
				t.Fatal(err)
			}
			prevVal := float64(rec.ValAcc)
			seen := map[int]bool{}
			for _, i := range s.Env().Labeled() {
				seen[i] = true
			}
			rng := rand.New(rand.NewPCG(1, 2))
			arrivals := 0
			for s.Done() == envs.NotDone {
				if len(obs.Candidates) != 1 || obs.K != 1 {
					t.Fatalf("stream observation has %d candidates, k %d", len(obs.Candidates), obs.K)
				}
				i := obs.Candidates[0]
				if seen[i] {
					t.Fatalf("pool index %d arrived although it is labeled", i)
				}
				label := rng.Float64() < tc.p
				if label {
					seen[i] = true
				}
				arrivals++
				var r float64
				var rp *envs.Record
				obs, r, _, rp, err = s.Step(ctx, label)
				if err != nil {
					t.Fatal(err)
				}
				if n := s.Env().Oracle().Count(); n > tc.cfg.Budget {
					t.Fatalf("oracle count %d exceeds the budget %d", n, tc.cfg.Budget)
				}
				if rp == nil {
					if r != 0 {
						t.Errorf("reward %v without a refit", r)
					}
					continue
				}
				if want := float64(rp.ValAcc) - prevVal; math.Abs(r-want) > 1e-12 || math.Abs(float64(rp.Reward)-want) > 1e-12 {
					t.Errorf("refit reward %v (record %v), want the logged change %v", r, rp.Reward, want)
				}
				prevVal = float64(rp.ValAcc)
			}
			if s.Done() != tc.wantEnd {
				t.Errorf("ended with %q, want %q", s.Done(), tc.wantEnd)
			}
			lab := s.Env().Labeled()
			if len(lab) != len(seen) || s.Env().Oracle().Count() != len(lab) {
				t.Errorf("%d labeled, %d decided to label, oracle %d", len(lab), len(seen), s.Env().Oracle().Count())
			}
			if tc.wantEnd == envs.StreamExhausted && arrivals != tc.sc.Length {
				t.Errorf("%d arrivals, want %d", arrivals, tc.sc.Length)
			}
			if _, _, _, _, err := s.Step(ctx, true); err == nil {
				t.Error("Step after the end succeeded")
			}
		})
	}
	if _, err := envs.NewStream(f.data, f.split, testlearner.New(f.data.Inputs(), 3), envs.Config{InitSize: 3, InitMode: "random", K: 1, Budget: 9, Reward: "relative"}, envs.StreamConfig{}); err == nil {
		t.Error("relative reward accepted by the stream env")
	}
	if _, err := envs.NewStream(f.data, f.split, testlearner.New(f.data.Inputs(), 3), envs.Config{InitSize: 3, InitMode: "random", K: 1, Budget: 9, Sizes: []int{5}}, envs.StreamConfig{}); err == nil || !strings.Contains(err.Error(), "al.sizes") {
		t.Errorf("al.sizes in the stream env: err = %v, want one naming al.sizes", err)
	}
}

func TestFastHeadFitsAndSamples(t *testing.T) {
	f := newFixture(t, 34)
	h := fastHead(t, f)
	ctx := context.Background()
	train := learner.Labeled{}
	for _, i := range f.split.Pool[:60] {
		train.Idx = append(train.Idx, i)
		train.Y = append(train.Y, f.data.Y[i])
	}
	val := learner.Labeled{Idx: f.split.Val, Y: make([]int, len(f.split.Val))}
	for i, j := range f.split.Val {
		val.Y[i] = f.data.Y[j]
	}
	st, err := h.Fit(ctx, train, val, 1)
	if err != nil {
		t.Fatal(err)
	}
	if st.ValAcc < 0.9 {
		t.Errorf("validation accuracy %v on separable blobs, want >= 0.9", st.ValAcc)
	}
	acc, _, err := envs.Evaluate(ctx, h, f.split.Test, gatherY(f.data.Y, f.split.Test))
	if err != nil || acc < 0.9 {
		t.Errorf("test accuracy %v (%v)", acc, err)
	}
	h.Reseed(3)
	s1, err := h.MCProbs(ctx, f.split.Test[:5], 4)
	if err != nil {
		t.Fatal(err)
	}
	h.Reseed(3)
	s2, _ := h.MCProbs(ctx, f.split.Test[:5], 4)
	if !mat.Equal(s1[2], s2[2]) {
		t.Error("MC samples differ after the same Reseed")
	}
	if mat.Equal(s1[0], s1[1]) {
		t.Error("two MC samples are identical: the posterior is not sampled")
	}
	for _, s := range s1 {
		for i := 0; i < 5; i++ {
			sum := 0.0
			for _, v := range s.RawRowView(i) {
				sum += v
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Errorf("MC probabilities sum to %v", sum)
			}
		}
	}
	if !learner.Has(h, learner.CapMCDropout) || !learner.Has(h, learner.CapEmbeddings) || !learner.Has(h, learner.CapLastLayer) {
		t.Error("the fast head should provide MC samples, embeddings and last-layer weights")
	}
	// Save / Load round trip gives the same probabilities.
	path := filepath.Join(t.TempDir(), "head.bin")
	if err := h.Save(path); err != nil {
		t.Fatal(err)
	}
	p1, _ := h.Probs(ctx, f.split.Test)
	h2 := fastHead(t, f)
	if err := h2.Load(path); err != nil {
		t.Fatal(err)
	}
	p2, _ := h2.Probs(ctx, f.split.Test)
	if !mat.EqualApprox(p1, p2, 1e-5) {
		t.Error("probabilities differ after Save / Load")
	}
	if _, err := h.Probs(ctx, []int{-5}); err == nil {
		t.Error("Probs of a row without an embedding succeeded")
	}
}

func gatherY(y []int, idx []int) []int {
	out := make([]int, len(idx))
	for i, j := range idx {
		out[i] = y[j]
	}
	return out
}

func TestEncodeCache(t *testing.T) {
	d, err := datasets.Blobs(400, 3, 6, 1.0, 9)
	if err != nil {
		t.Fatal(err)
	}
	split, err := d.Split(9, datasets.SplitConfig{PoolSize: 200, ValSize: 40, TestSize: 60})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	fc := envs.DefaultFastConfig()
	fc.Encoder, fc.Dim, fc.Cache = envs.EncoderPCA, 3, dir
	em, err := envs.Encode(ctx, fc, learner.DefaultConfig(), d, split, 9)
	if err != nil {
		t.Fatal(err)
	}
	if em.D != 3 || len(em.Rows) != 300 {
		t.Fatalf("embedding %d rows x %d dims, want 300 x 3", len(em.Rows), em.D)
	}
	// Standardised: each dimension has mean 0 and variance 1.
	for j := 0; j < em.D; j++ {
		m, v := 0.0, 0.0
		for i := range em.Rows {
			m += float64(em.Z[i*em.D+j])
		}
		m /= float64(len(em.Rows))
		for i := range em.Rows {
			x := float64(em.Z[i*em.D+j]) - m
			v += x * x
		}
		if math.Abs(m) > 1e-4 || math.Abs(v/float64(len(em.Rows))-1) > 1e-3 {
			t.Errorf("dimension %d: mean %v variance %v", j, m, v/float64(len(em.Rows)))
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.emb"))
	if len(files) != 1 {
		t.Fatalf("cache files %v, want one", files)
	}
	st1, _ := os.Stat(files[0])
	em2, err := envs.Encode(ctx, fc, learner.DefaultConfig(), d, split, 9)
	if err != nil || !slices.Equal(em.Z, em2.Z) {
		t.Fatalf("second Encode differs from the first (%v)", err)
	}
	st2, _ := os.Stat(files[0])
	if !st1.ModTime().Equal(st2.ModTime()) {
		t.Error("the second Encode rewrote the cache instead of reading it")
	}
	// Another seed or another encoder config is another key.
	fc2 := fc
	fc2.Dim = 2
	if _, err := envs.Encode(ctx, fc2, learner.DefaultConfig(), d, split, 9); err != nil {
		t.Fatal(err)
	}
	if files, _ = filepath.Glob(filepath.Join(dir, "*.emb")); len(files) != 2 {
		t.Errorf("%d cache files after a config change, want 2", len(files))
	}
	// A corrupt cache file is rebuilt.
	if err := os.WriteFile(files[0], []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []envs.FastConfig{fc, fc2} {
		if _, err := envs.Encode(ctx, c, learner.DefaultConfig(), d, split, 9); err != nil {
			t.Errorf("Encode with a corrupt cache: %v", err)
		}
	}
	// The learner encoder needs rows outside the split.
	fc3 := fc
	fc3.Encoder, fc3.EncoderLabels = envs.EncoderLearner, 500
	if _, err := envs.Encode(ctx, fc3, learner.DefaultConfig(), d, split, 9); err == nil || !strings.Contains(err.Error(), "outside the pool") {
		t.Errorf("learner encoder without free rows: %v", err)
	}
	bad := fc
	bad.Encoder = "vae"
	if _, err := envs.Encode(ctx, bad, learner.DefaultConfig(), d, split, 9); err == nil || !strings.Contains(err.Error(), "fast.encoder") {
		t.Errorf("unknown encoder: %v", err)
	}
}

func TestLearnerEncoder(t *testing.T) {
	learner.RegisterBackend("envs-test-centroid", "test", testlearner.Factory)
	d, err := datasets.Blobs(400, 3, 4, 1.0, 10)
	if err != nil {
		t.Fatal(err)
	}
	split, err := d.Split(10, datasets.SplitConfig{PoolSize: 150, ValSize: 30, TestSize: 60})
	if err != nil {
		t.Fatal(err)
	}
	fc := envs.DefaultFastConfig()
	fc.EncoderLabels, fc.Cache = 50, t.TempDir()
	lc := learner.DefaultConfig()
	lc.Backend = "envs-test-centroid"
	em, err := envs.Encode(context.Background(), fc, lc, d, split, 10)
	if err != nil {
		t.Fatal(err)
	}
	if em.D != 4 || len(em.Rows) != 240 || !strings.Contains(em.Source, "nearest-centroid") {
		t.Errorf("learner encoder: %d rows x %d from %q", len(em.Rows), em.D, em.Source)
	}
}

type constFeatures struct{ calls int }

func (c *constFeatures) Names() []string { return []string{"one"} }

func (c *constFeatures) Build(_ context.Context, obs envs.Observation) (*envs.Features, error) {
	c.calls++
	x := mat.NewDense(len(obs.Candidates), 1, nil)
	return &envs.Features{Names: c.Names(), X: x, GlobalNames: []string{"g"}, Global: []float64{float64(obs.BudgetUsed)}}, nil
}

func TestFeaturesAttachedAndEpisodeContext(t *testing.T) {
	f := newFixture(t, 35)
	e, _ := f.env(t, envs.Config{InitSize: 3, InitMode: "random", K: 2, Budget: 9, Candidates: 10})
	b := &constFeatures{}
	e.SetFeatures(b)
	ctx := context.Background()
	obs, _, err := e.Reset(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for e.Done() == envs.NotDone {
		if err := obs.Features.Check(len(obs.Candidates)); err != nil {
			t.Fatal(err)
		}
		if obs.Features.Global[0] != float64(obs.BudgetUsed) {
			t.Errorf("features of a stale observation")
		}
		ep := obs.Episode()
		if len(ep.LabeledY) != len(ep.Labeled) || !slices.Equal(ep.Reference, obs.Candidates) || ep.InitSize != 3 {
			t.Errorf("episode state %+v", ep)
		}
		for i, idx := range ep.Labeled {
			if f.data.Y[idx] != ep.LabeledY[i] {
				t.Errorf("LabeledY[%d] = %d, the oracle's label is %d", i, ep.LabeledY[i], f.data.Y[idx])
			}
		}
		obs, _, _, _, err = e.Step(ctx, obs.Candidates[:obs.K])
		if err != nil {
			t.Fatal(err)
		}
	}
	if b.calls != 3 || obs.Features != nil {
		t.Errorf("builder called %d times (want 3, none after the end); final features %v", b.calls, obs.Features)
	}
}

func TestConfigRewardValidate(t *testing.T) {
	c := envs.Config{InitSize: 3, InitMode: "random", K: 1, Budget: 9, Reward: "delta"}
	if err := c.Validate(100, 3); err == nil || !strings.Contains(err.Error(), "al.reward") {
		t.Errorf("Validate(reward delta) = %v", err)
	}
}
