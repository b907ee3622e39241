package agents_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/agents"
	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/strategies"
)

func TestListNetLossKnownValues(t *testing.T) {
	// softmax(0, ln 2) = (1/3, 2/3); all the target's mass on the second.
	loss, grad := agents.ListNetLoss([]float64{0, math.Log(2)}, []float64{0, 1})
	if math.Abs(loss-(-math.Log(2.0/3))) > 1e-12 {
		t.Errorf("loss = %v, want %v", loss, -math.Log(2.0/3))
	}
	if math.Abs(grad[0]-1.0/3) > 1e-12 || math.Abs(grad[1]+1.0/3) > 1e-12 {
		t.Errorf("grad = %v, want [1/3 -1/3]", grad)
	}
	// The gradient is the derivative: check by central differences.
	s := []float64{0.3, -1.2, 2.0, 0.5}
	q := []float64{0.1, 0.2, 0.3, 0.4}
	_, g := agents.ListNetLoss(s, q)
	for i := range s {
		hi, lo := slices.Clone(s), slices.Clone(s)
		hi[i] += 1e-6
		lo[i] -= 1e-6
		fh, _ := agents.ListNetLoss(hi, q)
		fl, _ := agents.ListNetLoss(lo, q)
		if d := (fh - fl) / 2e-6; math.Abs(d-g[i]) > 1e-6 {
			t.Errorf("d loss / d s_%d = %v, finite difference %v", i, g[i], d)
		}
	}
	// Shifting all scores changes nothing.
	l1, _ := agents.ListNetLoss([]float64{1, 2, 3}, []float64{0.2, 0.3, 0.5})
	l2, _ := agents.ListNetLoss([]float64{101, 102, 103}, []float64{0.2, 0.3, 0.5})
	if math.Abs(l1-l2) > 1e-9 {
		t.Errorf("shift changed the loss: %v vs %v", l1, l2)
	}
}

func TestExpertTarget(t *testing.T) {
	// gains 1, 2, 3: sd sqrt(2/3); with tau 0.5 the logits are (g - 3) / (0.5 sd).
	got := agents.ExpertTarget([]float64{1, 2, 3}, 0.5)
	sd := math.Sqrt(2.0 / 3)
	e := []float64{math.Exp(-2 / (0.5 * sd)), math.Exp(-1 / (0.5 * sd)), 1}
	z := e[0] + e[1] + e[2]
	for i := range e {
		if math.Abs(got[i]-e[i]/z) > 1e-12 {
			t.Errorf("target[%d] = %v, want %v", i, got[i], e[i]/z)
		}
	}
	// Scale-free: gains x 1000 give the same target.
	big := agents.ExpertTarget([]float64{1000, 2000, 3000}, 0.5)
	for i := range got {
		if math.Abs(big[i]-got[i]) > 1e-12 {
			t.Errorf("scaled gains changed the target: %v vs %v", big, got)
		}
	}
	for _, v := range agents.ExpertTarget([]float64{0.2, 0.2, 0.2, 0.2}, 0.5) {
		if v != 0.25 {
			t.Fatalf("equal gains must give the uniform target, got %v", v)
		}
	}
}

// pointModel is a strategies.Model over hand-set probabilities and embeddings.
type pointModel struct {
	p, z map[int][]float64
	c    int
}

func (m pointModel) rows(src map[int][]float64, idx []int, w int) *mat.Dense {
	out := mat.NewDense(len(idx), w, nil)
	for i, j := range idx {
		out.SetRow(i, src[j])
	}
	return out
}
func (m pointModel) Probs(_ context.Context, idx []int) (*mat.Dense, error) {
	return m.rows(m.p, idx, m.c), nil
}
func (m pointModel) MCProbs(ctx context.Context, idx []int, T int) ([]*mat.Dense, error) {
	out := make([]*mat.Dense, T)
	for t := range out {
		out[t] = m.rows(m.p, idx, m.c)
	}
	return out, nil
}
func (m pointModel) Embed(_ context.Context, idx []int) (*mat.Dense, error) {
	return m.rows(m.z, idx, 2), nil
}
func (m pointModel) NumClasses() int { return m.c }

// linearRanker returns a ranker whose score is a fixed linear function of its inputs.
func linearRanker(t *testing.T, weights map[string]float64) *agents.Ranker {
	t.Helper()
	cols := append(agents.RankColumns(), agents.RankGlobal...)
	w := make([]float64, len(cols))
	for name, v := range weights {
		i := slices.Index(cols, name)
		if i < 0 {
			t.Fatalf("no input %q", name)
		}
		w[i] = v
	}
	cfg := agents.DefaultImitationConfig()
	pf := &agents.PolicyFile{Kind: agents.KindImitation, Imitation: &cfg,
		Nets: map[string]*agents.NetFile{"policy": {Sizes: []int{len(cols), 1}, W: [][]float64{w}, B: [][]float64{{0}}}}}
	r, err := agents.LoadRanker(pf)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRankerGreedyRecomputesCover(t *testing.T) {
	// Candidates 0 and 1 are twins, the most uncertain; 2 and 3 are less
	// uncertain and far apart. Labeled sample 9 sits away from all.
	m := pointModel{c: 2, p: map[int][]float64{0: {0.5, 0.5}, 1: {0.5, 0.5}, 2: {0.7, 0.3}, 3: {0.8, 0.2}, 9: {0.9, 0.1}},
		z: map[int][]float64{0: {0, 0}, 1: {0, 0}, 2: {5, 0}, 3: {0, 5}, 9: {3, 3}}}
	ep := envs.Episode{Budget: 10, BudgetUsed: 1, Labeled: []int{9}, LabeledY: []int{0}, ClassCounts: []int{1, 0}, Reference: []int{0, 1, 2, 3}}
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	// Uncertainty alone takes both twins.
	unc := linearRanker(t, map[string]float64{"entropy": 1})
	st, err := unc.NewState(ctx, m, []int{0, 1, 2, 3}, ep, rng)
	if err != nil {
		t.Fatal(err)
	}
	got, err := unc.Greedy(st, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !sameSet(got, []int{0, 1}) {
		t.Fatalf("entropy-only batch = %v, want the twins", got)
	}
	// With weight on cover_dist, the twin of the first pick drops out.
	div := linearRanker(t, map[string]float64{"entropy": 1, "cover_dist": 1})
	st, err = div.NewState(ctx, m, []int{0, 1, 2, 3}, ep, rng)
	if err != nil {
		t.Fatal(err)
	}
	got, err = div.Greedy(st, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(got, 0) && slices.Contains(got, 1) {
		t.Fatalf("batch %v took both twins although cover_dist is recomputed after each pick", got)
	}
	// Permutation equivariance: the same list in another order gives the same batch.
	st2, err := div.NewState(ctx, m, []int{3, 2, 1, 0}, ep, rng)
	if err != nil {
		t.Fatal(err)
	}
	got2, err := div.Greedy(st2, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	twin := func(b []int) []int { // the twins are interchangeable
		out := slices.Clone(b)
		for i, v := range out {
			if v == 1 {
				out[i] = 0
			}
		}
		return out
	}
	if !sameSet(twin(got), twin(got2)) {
		t.Fatalf("reordering the list changed the batch: %v vs %v", got, got2)
	}
	if _, err := div.Greedy(st, 5, nil); err == nil {
		t.Fatal("a batch larger than the list was accepted")
	}
}

func sameSet(a, b []int) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// fakeListwise records the lists it is given and returns zero gradients.
type fakeListwise struct {
	agents.Backend
	calls int
	rows  []int
}

func (f *fakeListwise) ListwiseGrad(net *agents.MLP, s []agents.RankSample) (float64, [][]float64, error) {
	f.calls++
	total := 0.0
	for _, x := range s {
		sc, err := net.Forward(x.X, nil)
		if err != nil {
			return 0, nil, err
		}
		l, _ := agents.ListNetLoss(mat.Col(nil, 0, sc), x.Target)
		total += l
		n, _ := x.X.Dims()
		f.rows = append(f.rows, n)
	}
	var g [][]float64
	for _, p := range net.Params() {
		g = append(g, make([]float64, len(p)))
	}
	return total / float64(len(s)), g, nil
}

func imitationEnv(t *testing.T, seed uint64) (*envs.Env, *agents.Imitation, *envs.LookaheadExpert, *fakeListwise) {
	t.Helper()
	d, err := datasets.Blobs(400, 3, 4, 3.0, seed)
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.Split(seed, datasets.SplitConfig{ValSize: 80, TestSize: 80})
	if err != nil {
		t.Fatal(err)
	}
	fc := envs.DefaultFastConfig()
	fc.Encoder, fc.Cache = envs.EncoderRaw, t.TempDir()
	h, err := envs.NewFastLearner(context.Background(), fc, learner.DefaultConfig(), d, s, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := envs.Config{InitSize: 6, InitMode: "balanced", K: 3, Budget: 18, Candidates: 40}
	e, err := envs.New(d, s, h, cfg, envs.WithValidationForRewardOnly())
	if err != nil {
		t.Fatal(err)
	}
	ic := agents.DefaultImitationConfig()
	ic.Preselect, ic.Steps, ic.Batch, ic.ExpertIters = 12, 3, 4, 10
	be := &fakeListwise{}
	a, err := agents.NewImitation(agents.Common{LR: 1e-3, Seed: 7, Backend: be}, ic)
	if err != nil {
		t.Fatal(err)
	}
	ex := &envs.LookaheadExpert{Head: h, Labels: d.Y, Eval: learner.Labeled{Idx: s.Val, Y: gatherY(d, s.Val)}, Iters: ic.ExpertIters}
	return e, a, ex, be
}

func gatherY(d *datasets.Dataset, idx []int) []int {
	y := make([]int, len(idx))
	for i, j := range idx {
		y[i] = d.Y[j]
	}
	return y
}

func TestImitationDAggerAggregates(t *testing.T) {
	ctx := context.Background()
	e, a, ex, be := imitationEnv(t, 3)
	if _, err := agents.RunPoolEpisode(ctx, e, a, 0, 11); err == nil {
		t.Fatal("an episode without an expert ran")
	}
	a.SetExpert(ex)
	// Episode 0, beta 1: the expert drives every round and annotates every pick.
	res, err := agents.RunPoolEpisode(ctx, e, a, 0, 11)
	if err != nil {
		t.Fatal(err)
	}
	rounds := (18 - 6) / 3
	if res.Steps != rounds || a.Lists() != rounds*3 {
		t.Fatalf("episode 0: %d steps, %d lists; want %d and %d", res.Steps, a.Lists(), rounds, rounds*3)
	}
	if res.Stats["expert_rounds"] != float64(rounds) || be.calls != 3 {
		t.Fatalf("stats %v, %d gradient calls", res.Stats, be.calls)
	}
	// Each annotated list is the remaining list: 12, 11, 10 candidates.
	if res.Labels != 18 {
		t.Fatalf("episode ended at %d labels, budget 18", res.Labels)
	}
	// A later episode with beta decayed to ~0 lets the policy drive and the
	// expert annotate cfg.Annotate (2) picks per round.
	before := a.Lists()
	if _, err := agents.RunPoolEpisode(ctx, e, a, 200, 12); err != nil {
		t.Fatal(err)
	}
	if got := a.Lists() - before; got != rounds*2 {
		t.Fatalf("policy-driven episode added %d lists, want %d", got, rounds*2)
	}
	// Checkpoint -> restore -> checkpoint is exact.
	ck, err := a.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	_, b, _, _ := imitationEnv(t, 3)
	if err := b.Restore(ck); err != nil {
		t.Fatal(err)
	}
	ck2, err := b.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ck, ck2) || b.Lists() != a.Lists() {
		t.Fatal("checkpoint round trip changed the agent")
	}
	if err := b.Restore([]byte(`{"net": null}`)); err == nil {
		t.Fatal("a checkpoint without a network was accepted")
	}
}

func TestImitationPolicyFileRoundTrip(t *testing.T) {
	ctx := context.Background()
	e, a, ex, _ := imitationEnv(t, 4)
	a.SetExpert(ex)
	if _, err := agents.RunPoolEpisode(ctx, e, a, 0, 5); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "policy.json")
	if err := agents.WritePolicy(path, a.Policy(agents.TrainInfo{Source: "blobs", Episodes: 1})); err != nil {
		t.Fatal(err)
	}
	pol, err := agents.LoadPolicy(path, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	obs, _, err := e.Reset(ctx, 9)
	if err != nil {
		t.Fatal(err)
	}
	q := strategies.Query{Model: obs.Model, Candidates: obs.Candidates, Labeled: obs.Labeled, K: obs.K, RNG: rand.New(rand.NewPCG(1, 1))}
	ep := obs.Episode()
	q.Episode = &ep
	got, err := pol.Select(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	q.RNG = rand.New(rand.NewPCG(1, 1))
	want, err := a.Ranker().Select(ctx, q, obs.Episode())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) || len(got) != obs.K {
		t.Fatalf("loaded policy chose %v, the trained ranker %v", got, want)
	}
	seen := map[int]bool{}
	for _, i := range got {
		if seen[i] || !slices.Contains(obs.Candidates, i) {
			t.Fatalf("selection %v repeats an index or leaves the candidates", got)
		}
		seen[i] = true
	}
	if _, err := pol.Select(ctx, strategies.Query{Model: q.Model, Candidates: q.Candidates, K: q.K, RNG: q.RNG}); err == nil || !strings.Contains(err.Error(), "no episode state") {
		t.Fatalf("a query without episode state: %v", err)
	}
	if _, err := pol.Score(ctx, q); err == nil {
		t.Fatal("the ranker claimed a per-candidate score")
	}
}

func TestImitationRandomScoresAblation(t *testing.T) {
	ctx := context.Background()
	e, a, ex, _ := imitationEnv(t, 5)
	a.SetExpert(ex)
	if _, err := agents.RunPoolEpisode(ctx, e, a, 0, 5); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "policy.json")
	if err := agents.WritePolicy(path, a.Policy(agents.TrainInfo{})); err != nil {
		t.Fatal(err)
	}
	s, err := strategies.New("policy", map[string]any{"path": path, "ablation": "random_scores"})
	if err != nil {
		t.Fatal(err)
	}
	obs, _, err := e.Reset(ctx, 9)
	if err != nil {
		t.Fatal(err)
	}
	ep := obs.Episode()
	seen := map[string]bool{}
	for seed := uint64(0); seed < 6; seed++ {
		q := strategies.Query{Model: obs.Model, Candidates: obs.Candidates, Labeled: obs.Labeled, K: obs.K, RNG: rand.New(rand.NewPCG(seed, 1)), Episode: &ep}
		got, err := s.Select(ctx, q)
		if err != nil || len(got) != obs.K {
			t.Fatalf("ablation chose %v (%v)", got, err)
		}
		seen[fmt.Sprint(got)] = true
	}
	if len(seen) < 2 {
		t.Fatal("random scores chose the same batch under every seed")
	}
	if _, err := strategies.New("policy", map[string]any{"path": path, "ablation": "bogus"}); err == nil {
		t.Fatal("an unknown ablation was accepted")
	}
}

func TestPreselectByEntropyOrMargin(t *testing.T) {
	// Candidate 0: entropy high, margin 0.2 (0.4, 0.2... three classes);
	// candidate 1: two-way tie (margin 0, lower entropy than 0).
	m := pointModel{c: 3, p: map[int][]float64{
		0: {0.4, 0.3, 0.3}, // margin 0.1, entropy 1.09
		1: {0.5, 0.5, 0.0}, // margin 0,   entropy 0.69
		2: {0.9, 0.05, 0.05},
		3: {0.8, 0.1, 0.1},
	}}
	for by, want := range map[string]int{"entropy": 0, "margin": 1} {
		cfg := agents.DefaultRankConfig()
		cfg.Preselect, cfg.UncertainShare, cfg.PreselectBy = 2, 0.5, by
		r, err := agents.NewRanker(cfg, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Preselect(context.Background(), m, []int{2, 3, 0, 1}, rand.New(rand.NewPCG(2, 2)))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0] != want {
			t.Errorf("%s pre-selection %v, want %d first", by, got, want)
		}
	}
	cfg := agents.DefaultRankConfig()
	cfg.PreselectBy = "bald"
	if _, err := agents.NewRanker(cfg, rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Error("an unknown pre-selection was accepted")
	}
}
