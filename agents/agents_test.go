package agents_test

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

	"github.com/alrl/alrl/agents"
	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/internal/testlearner"
	"github.com/alrl/alrl/strategies"
)

func TestMLPForwardKnownValues(t *testing.T) {
	// 2 -> 2 -> 1: h = relu(W0 x + b0), y = W1 h + b1.
	m := &agents.MLP{Sizes: []int{2, 2, 1},
		W: [][]float64{{1, -1, 2, 0.5}, {3, -2}},
		B: [][]float64{{0, -10}, {0.25}}}
	x := mat.NewDense(2, 2, []float64{1, 2, 4, 0})
	y, err := m.Forward(x, nil)
	if err != nil {
		t.Fatal(err)
	}
	// row 0: W0 x = (-1, 3), + b0 = (-1, -7) -> relu (0, 0) -> 0.25
	// row 1: W0 x = (4, 8),  + b0 = (4, -2)  -> relu (4, 0) -> 12.25
	if y.At(0, 0) != 0.25 || y.At(1, 0) != 12.25 {
		t.Errorf("Forward = %v, want [0.25 12.25]", mat.Formatted(y))
	}
	// A dropout mask scales the hidden units.
	y, _ = m.Forward(x, [][]float64{{2, 2, 0.5, 0}})
	if y.At(1, 0) != 3*2+0.25 {
		t.Errorf("masked forward = %v, want 6.25", y.At(1, 0))
	}
	if _, err := m.Forward(mat.NewDense(1, 3, nil), nil); err == nil {
		t.Error("forward of a 3-column input through a 2-input network succeeded")
	}
	bad := &agents.MLP{Sizes: []int{2, 1}, W: [][]float64{{1}}, B: [][]float64{{0}}}
	if err := bad.Check(); err == nil {
		t.Error("Check accepted a layer with one weight for 2 -> 1")
	}
}

func TestAdamFirstStep(t *testing.T) {
	// Adam's first step moves every parameter by lr in the gradient's opposite direction.
	p := [][]float64{{1, -2, 0}}
	a := agents.NewAdam(0.1)
	if err := a.Step(p, [][]float64{{0.5, -3, 0}}); err != nil {
		t.Fatal(err)
	}
	want := []float64{0.9, -1.9, 0}
	for i := range want {
		if math.Abs(p[0][i]-want[i]) > 1e-6 {
			t.Errorf("param %d = %v, want %v", i, p[0][i], want[i])
		}
	}
	if err := a.Step(p, [][]float64{{math.NaN(), 0, 0}}); err == nil {
		t.Error("a NaN gradient was applied")
	}
}

func TestPlackettLuce(t *testing.T) {
	s := []float64{0, math.Log(2), math.Log(3)}
	// The probabilities of all ordered pairs sum to one.
	total := 0.0
	for a := 0; a < 3; a++ {
		for b := 0; b < 3; b++ {
			if a != b {
				total += math.Exp(agents.PLLogProb(s, []int{a, b}, 1))
			}
		}
	}
	if math.Abs(total-1) > 1e-12 {
		t.Errorf("ordered pairs have total probability %v", total)
	}
	// P(2 then 0) = 3/6 * 1/3.
	if got := math.Exp(agents.PLLogProb(s, []int{2, 0}, 1)); math.Abs(got-1.0/6) > 1e-12 {
		t.Errorf("P(2, 0) = %v, want 1/6", got)
	}
	// Gumbel-top-k draws the first element with probability proportional to exp(score).
	rng := rand.New(rand.NewPCG(1, 2))
	counts := make([]int, 3)
	const n = 30000
	for i := 0; i < n; i++ {
		d, err := agents.GumbelTopK(s, 2, 1, rng)
		if err != nil || len(d) != 2 || d[0] == d[1] {
			t.Fatalf("draw %v, %v", d, err)
		}
		counts[d[0]]++
	}
	for i, w := range []float64{1.0 / 6, 2.0 / 6, 3.0 / 6} {
		if f := float64(counts[i]) / n; math.Abs(f-w) > 0.015 {
			t.Errorf("first draw %d frequency %v, want %v", i, f, w)
		}
	}
	top, _ := agents.GumbelTopK([]float64{0.1, 0.9, 0.5}, 2, 0, nil)
	if !slices.Equal(top, []int{1, 2}) {
		t.Errorf("deterministic top 2 = %v", top)
	}
	if _, err := agents.GumbelTopK([]float64{math.NaN()}, 1, 1, rng); err == nil {
		t.Error("a NaN score was accepted")
	}
}

// TestEXP4PLearnsBestArm plays a synthetic contextual bandit: expert 0
// always advises the action with the highest success rate, expert 1 a
// mediocre one, expert 2 a bad one; EXP4.P's weight must concentrate on
// expert 0 and it must play expert 0's action most of the time.
func TestEXP4PLearnsBestArm(t *testing.T) {
	const K, T = 10, 3000
	rng := rand.New(rand.NewPCG(3, 4))
	b := agents.NewEXP4P(3, 0.1)
	pmin := math.Sqrt(math.Log(3) / (K * T))
	success := []float64{0.9, 0.5, 0.1}
	late := 0
	for t0 := 0; t0 < T; t0++ {
		// Each round the actions are shuffled; the experts know where their action is.
		perm := rng.Perm(K)
		advice := make([][]float64, 3)
		for i := range advice {
			advice[i] = make([]float64, K)
			advice[i][perm[i]] = 1
		}
		p, err := b.Distribution(advice, pmin)
		if err != nil {
			t.Fatal(err)
		}
		sum := 0.0
		for _, v := range p {
			sum += v
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Fatalf("play distribution sums to %v", sum)
		}
		u, j := rng.Float64(), 0
		for ; j < K-1 && u >= p[j]; j++ {
			u -= p[j]
		}
		r := 0.0
		for i := range advice {
			if perm[i] == j && rng.Float64() < success[i] {
				r = 1
			}
		}
		b.Update(advice, p, j, r, pmin, T)
		if t0 >= T-500 && j == perm[0] {
			late++
		}
	}
	w := b.Probs()
	if w[0] < 0.9 {
		t.Errorf("expert weights %v: the best expert should hold > 0.9", w)
	}
	if f := float64(late) / 500; f < 0.8 {
		t.Errorf("the best expert's action was played %.2f of the last 500 rounds, want > 0.8", f)
	}
}

// envFixture is a small blobs task with the test learner.
func envFixture(t *testing.T, c envs.Config) *envs.Env {
	t.Helper()
	d, err := datasets.Blobs(300, 3, 2, 3.0, 5)
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.Split(5, datasets.SplitConfig{ValSize: 60, TestSize: 60})
	if err != nil {
		t.Fatal(err)
	}
	e, err := envs.New(d, s, testlearner.New(d.Inputs(), d.NumClasses), c)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestALBLStrategyInTheLoop(t *testing.T) {
	ctx := context.Background()
	e := envFixture(t, envs.Config{InitSize: 6, InitMode: "balanced", K: 3, Budget: 36, Candidates: 40})
	h, err := agents.NewHeuristic("albl", map[string]any{"arms": "random, entropy,margin"})
	if err != nil {
		t.Fatal(err)
	}
	obs, _, err := e.Reset(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for e.Done() == envs.NotDone {
		a, err := h.Act(ctx, obs)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.CheckAction(a); err != nil {
			t.Fatalf("albl chose an invalid batch: %v", err)
		}
		if obs, _, _, _, err = e.Step(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	albl := h.Strategy.(*agents.ALBL)
	if len(albl.Rewards) != 9 {
		t.Errorf("%d IW-ACC rewards for 10 rounds, want 9 (the last is never measured inside the run)", len(albl.Rewards))
	}
	for _, r := range albl.Rewards {
		if r < 0 || math.IsNaN(r) {
			t.Errorf("IW-ACC reward %v", r)
		}
	}
	sum := 0.0
	for _, w := range albl.Weights() {
		sum += w
	}
	if math.Abs(sum-1) > 1e-9 {
		t.Errorf("arm weights sum to %v", sum)
	}
	// Without the episode state in the context it says what is missing.
	q := strategies.Query{Model: obs.Model, Candidates: []int{1, 2, 3}, K: 1, RNG: rand.New(rand.NewPCG(1, 1))}
	if _, err := albl.Select(ctx, q); err == nil || !strings.Contains(err.Error(), "episode state") {
		t.Errorf("Select without episode state: %v", err)
	}
	for _, bad := range []map[string]any{{"arms": "random"}, {"arms": "random,nope"}, {"delta": 2.0}} {
		if _, err := strategies.New("albl", bad); err == nil {
			t.Errorf("albl accepted options %v", bad)
		}
	}
}

func TestBanditTrainerAndPolicyFile(t *testing.T) {
	ctx := context.Background()
	b, err := agents.NewBandit(7, agents.BanditConfig{Arms: []string{"random", "entropy"}, Delta: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	for ep := 0; ep < 2; ep++ {
		e := envFixture(t, envs.Config{InitSize: 6, InitMode: "balanced", K: 3, Budget: 24, Candidates: 30})
		res, err := agents.RunPoolEpisode(ctx, e, b, ep, uint64(ep))
		if err != nil {
			t.Fatal(err)
		}
		if res.Steps != 6 || res.Labels != 24 {
			t.Errorf("episode %d: %d steps, %d labels", ep, res.Steps, res.Labels)
		}
		if _, ok := res.Stats["w_entropy"]; !ok {
			t.Errorf("episode stats %v lack the arm weights", res.Stats)
		}
	}
	path := filepath.Join(t.TempDir(), "bandit.json")
	if err := agents.WritePolicy(path, b.Policy(agents.TrainInfo{Episodes: 2})); err != nil {
		t.Fatal(err)
	}
	s, err := strategies.New("policy", map[string]any{"path": path})
	if err != nil {
		t.Fatal(err)
	}
	p := s.(*agents.Policy)
	if p.File().Kind != agents.KindBandit || len(p.File().LogWeights) != 2 {
		t.Errorf("bandit policy file %+v", p.File())
	}
	ck, err := b.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := agents.NewBandit(7, agents.BanditConfig{Arms: []string{"random", "entropy"}, Delta: 0.1})
	if err := b2.Restore(ck); err != nil {
		t.Fatal(err)
	}
	if !maps(b.ALBL().Weights(), b2.ALBL().Weights()) {
		t.Errorf("restored weights %v, want %v", b2.ALBL().Weights(), b.ALBL().Weights())
	}
}

func maps(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if math.Abs(b[k]-v) > 1e-12 {
			return false
		}
	}
	return true
}

func TestPolicyStrategyErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := strategies.New("policy", nil); err == nil || !strings.Contains(err.Error(), "path is required") {
		t.Errorf("policy without a path: %v", err)
	}
	if _, err := strategies.New("policy", map[string]any{"path": filepath.Join(dir, "missing.json")}); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing policy file: %v", err)
	}
	junk := filepath.Join(dir, "junk.json")
	_ = os.WriteFile(junk, []byte(`{"format": "something-else"}`), 0o644)
	if _, err := strategies.New("policy", map[string]any{"path": junk}); err == nil || !strings.Contains(err.Error(), "not an alrl policy") {
		t.Errorf("foreign file: %v", err)
	}
}
