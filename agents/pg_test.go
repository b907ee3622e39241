package agents

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/envs"
)

// recordingBackend is a pure-Go Backend for the PG agent's bookkeeping: it
// records the log-probability (SampleLogProb) of every sample it is asked
// to differentiate, and returns gradients that are linear in the samples
// (zero unless scale != 0, so that the weights stay put).
type recordingBackend struct {
	scale float64
	logp  []float64 // SampleLogProb of every sample of every call, in order
	old   []float64 // their OldLogP
	calls int
}

func (*recordingBackend) Name() string { return "recording" }
func (*recordingBackend) Close() error { return nil }

func (b *recordingBackend) PolicyGrad(net *MLP, samples []PLSample, loss PGLoss) (float64, [][]float64, error) {
	b.calls++
	params := net.Params()
	grads := make([][]float64, len(params))
	for k := range params {
		grads[k] = make([]float64, len(params[k]))
	}
	l := 0.0
	for _, s := range samples {
		lp, err := SampleLogProb(net, s, loss)
		if err != nil {
			return 0, nil, err
		}
		b.logp, b.old = append(b.logp, lp), append(b.old, s.OldLogP)
		l -= s.Adv * lp / float64(len(samples))
		for k := range grads {
			for i := range grads[k] {
				grads[k][i] -= b.scale * s.Adv * lp * float64(k+i+1) / float64(len(samples))
			}
		}
	}
	return l, grads, nil
}

func (*recordingBackend) RegressionGrad(net *MLP, _ *mat.Dense, _ [][]float64, _ []int, _ []float64, _ bool) (float64, [][]float64, error) {
	var g [][]float64
	for _, p := range net.Params() {
		g = append(g, make([]float64, len(p)))
	}
	return 0, g, nil
}

// pgObs is an observation of m candidates with random features attached
// under the names the agent expects.
func pgObs(p *PG, rng *rand.Rand, m, k int) envs.Observation {
	names, global := p.fz.b.Names(), p.fz.b.GlobalNames()
	x := mat.NewDense(m, len(names), nil)
	for i := 0; i < m; i++ {
		for j := range names {
			x.Set(i, j, rng.NormFloat64())
		}
	}
	g := make([]float64, len(global))
	for i := range g {
		g[i] = rng.Float64()
	}
	c := make([]int, m)
	for i := range c {
		c[i] = 10 + i
	}
	return envs.Observation{Round: 1, K: k, Candidates: c, Features: &envs.Features{Names: names, X: x, GlobalNames: global, Global: g}}
}

func newTestPG(t *testing.T, be Backend, cfg PGConfig) *PG {
	t.Helper()
	p, err := NewPG(Common{Features: []string{"max_prob", "margin"}, Classes: 2, LR: 0.01, Seed: 7, Backend: be}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// playEpisodes runs episodes of steps actions on random observations and
// returns the log-probability each action had when the agent drew it.
func playEpisodes(t *testing.T, p *PG, from, to, steps int) []float64 {
	t.Helper()
	ctx := context.Background()
	var acted []float64
	for ep := from; ep < to; ep++ {
		rng := rand.New(rand.NewPCG(uint64(ep), 3))
		p.BeginEpisode(ep)
		for s := 0; s < steps; s++ {
			obs := pgObs(p, rng, 7, 2)
			if _, err := p.Act(ctx, obs); err != nil {
				t.Fatal(err)
			}
			acted = append(acted, p.traj[len(p.traj)-1].LogP)
			if err := p.Observe(ctx, rng.NormFloat64(), obs, s == steps-1); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.EndEpisode(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return acted
}

// TestPGIsOnPolicy: the log-probability the update differentiates is, for
// every step and every PPO epoch, the log-probability of the distribution
// the agent drew its action from (recorded when acting); PPO's old
// log-probability is that same value, so its first ratio is exactly 1.
func TestPGIsOnPolicy(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		algo                 string
		dropout, bonus, ent  float64
		passes, budget, want int // want: backend calls per update
	}{
		{"reinforce, no dropout", "reinforce", 0, 0, 0, 10, 0, 1},
		{"ppo, no dropout", "ppo", 0, 0.5, 0, 10, 0, 3},
		{"reinforce, dropout, one pass", "reinforce", 0.3, 0, 0, 1, 0, 1},
		{"reinforce, dropout, mean of 5 passes", "reinforce", 0.3, 0, 0, 5, 0, 1},
		{"reinforce, dropout, 5 passes and a std bonus", "reinforce", 0.3, 0.7, 0.1, 5, 0, 1},
		{"ppo, dropout, 5 passes and a std bonus", "ppo", 0.3, 0.7, 0.1, 5, 0, 3},
		{"ppo, dropout, chunked batch", "ppo", 0.5, 1, 0, 3, 2 * 3 * 7 * 14, 3 * 4}, // two steps a call
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.budget > 0 {
				defer func(b int) { pgMaskBudget = b }(pgMaskBudget)
				pgMaskBudget = tc.budget
			}
			cfg := DefaultPGConfig()
			cfg.Hidden, cfg.Algo, cfg.BatchEpisodes, cfg.PPOEpochs = []int{8, 6}, tc.algo, 2, 3
			cfg.Dropout, cfg.MCSamples, cfg.Bonus, cfg.Entropy = tc.dropout, tc.passes, tc.bonus, tc.ent
			be := &recordingBackend{}
			p := newTestPG(t, be, cfg)
			before := netFile(p.net)
			acted := playEpisodes(t, p, 0, 1, 4)
			if be.calls != 0 {
				t.Fatalf("updated after one of two batch episodes")
			}
			acted = append(acted, playEpisodes(t, p, 1, 2, 4)...)
			if be.calls != tc.want {
				t.Fatalf("%d PolicyGrad calls in the update, want %d", be.calls, tc.want)
			}
			epochs := 1
			if tc.algo == "ppo" {
				epochs = cfg.PPOEpochs
			}
			if len(be.logp) != epochs*len(acted) {
				t.Fatalf("the backend saw %d samples, want %d epochs x %d steps", len(be.logp), epochs, len(acted))
			}
			for e := 0; e < epochs; e++ {
				for i, a := range acted {
					got := be.logp[e*len(acted)+i]
					if math.Abs(got-a) > 1e-12 {
						t.Fatalf("epoch %d, step %d: the update differentiates log pi = %.17g, the action was drawn with log pi = %.17g", e, i, got, a)
					}
					if tc.algo == "ppo" && be.old[e*len(acted)+i] != a {
						t.Fatalf("epoch %d, step %d: PPO's old log pi %.17g, acting %.17g", e, i, be.old[e*len(acted)+i], a)
					}
				}
			}
			after := netFile(p.net)
			for l := range before.W {
				for i := range before.W[l] {
					if before.W[l][i] != after.W[l][i] {
						t.Fatalf("zero gradients changed weight %d of layer %d", i, l)
					}
				}
			}
		})
	}
}

// TestPGStoredPassesMatter: with dropout, the recorded log-probability is
// that of the stored passes; freshly drawn masks (the off-policy update this
// replaced) give another one, so TestPGIsOnPolicy can fail.
func TestPGStoredPassesMatter(t *testing.T) {
	cfg := DefaultPGConfig()
	cfg.Hidden, cfg.BatchEpisodes, cfg.Dropout, cfg.MCSamples, cfg.Bonus = []int{8, 6}, 100, 0.3, 4, 0.5
	p := newTestPG(t, &recordingBackend{}, cfg)
	playEpisodes(t, p, 0, 1, 3)
	loss := p.loss()
	fresh := rand.New(rand.NewPCG(99, 99))
	for i, s := range p.batch {
		if s.Passes != cfg.MCSamples {
			t.Fatalf("step %d stored %d passes, want %d", i, s.Passes, cfg.MCSamples)
		}
		smp := PLSample{X: s.X, Chosen: s.Chosen, Passes: p.stepPasses(s)}
		lp, err := SampleLogProb(p.net, smp, loss)
		if err != nil {
			t.Fatal(err)
		}
		if lp != s.LogP {
			t.Fatalf("step %d: stored passes give log pi %.17g, acting recorded %.17g", i, lp, s.LogP)
		}
		r, _ := s.X.Dims()
		smp.Passes = actingMasks(p.net, r, s.Passes, fresh)
		other, err := SampleLogProb(p.net, smp, loss)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(other-s.LogP) < 1e-9 {
			t.Fatalf("step %d: fresh dropout masks give the same log pi %v", i, other)
		}
	}
}

// TestPGChunkedPolicyGradMatchesOneCall: splitting a batch whose masks
// exceed the budget gives the loss and gradient of one call.
func TestPGChunkedPolicyGradMatchesOneCall(t *testing.T) {
	cfg := DefaultPGConfig()
	cfg.Hidden, cfg.BatchEpisodes, cfg.Dropout, cfg.MCSamples, cfg.Bonus = []int{8, 6}, 100, 0.3, 3, 0.5
	be := &recordingBackend{scale: 1}
	p := newTestPG(t, be, cfg)
	playEpisodes(t, p, 0, 3, 3)
	samples := func(withPasses bool) []PLSample {
		out := make([]PLSample, len(p.batch))
		for i, s := range p.batch {
			out[i] = PLSample{X: s.X, Chosen: s.Chosen, Adv: float64(i%3) - 0.7, OldLogP: s.LogP}
			if withPasses {
				out[i].Passes = p.stepPasses(s)
			}
		}
		return out
	}
	l1, g1, err := p.policyGrad(samples(true), [][2]int{{0, len(p.batch)}}, p.loss())
	if err != nil {
		t.Fatal(err)
	}
	defer func(b int) { pgMaskBudget = b }(pgMaskBudget)
	pgMaskBudget = 2 * 7 * 14 * 3 // two steps' masks
	chunks := p.chunks()
	if len(chunks) != (len(p.batch)+1)/2 {
		t.Fatalf("%d chunks of %d steps for a two-step budget", len(chunks), len(p.batch))
	}
	l2, g2, err := p.policyGrad(samples(false), chunks, p.loss())
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(l1-l2) > 1e-12 {
		t.Fatalf("chunked loss %v, one call %v", l2, l1)
	}
	for k := range g1 {
		for i := range g1[k] {
			if math.Abs(g1[k][i]-g2[k][i]) > 1e-12*math.Max(1, math.Abs(g1[k][i])) {
				t.Fatalf("gradient %d[%d]: chunked %v, one call %v", k, i, g2[k][i], g1[k][i])
			}
		}
	}
}

// TestPGCheckpointKeepsActingPasses: a restored pending batch keeps its
// passes and acting log-probabilities; a checkpoint written before they
// were stored (one "masks" pass per step, no log-probability) still loads.
func TestPGCheckpointKeepsActingPasses(t *testing.T) {
	cfg := DefaultPGConfig()
	cfg.Hidden, cfg.BatchEpisodes, cfg.Dropout, cfg.MCSamples, cfg.Bonus = []int{8, 6}, 100, 0.3, 4, 0.5
	p := newTestPG(t, &recordingBackend{}, cfg)
	playEpisodes(t, p, 0, 2, 3)
	ck, err := p.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	q := newTestPG(t, &recordingBackend{}, cfg)
	if err := q.Restore(ck); err != nil {
		t.Fatal(err)
	}
	if len(q.batch) != len(p.batch) {
		t.Fatalf("restored %d steps of %d", len(q.batch), len(p.batch))
	}
	for i := range p.batch {
		a, b := p.batch[i], q.batch[i]
		if a.Seed != b.Seed || a.Passes != b.Passes || a.LogP != b.LogP {
			t.Fatalf("step %d: restored seed/passes/log pi %v/%d/%v, want %v/%d/%v", i, b.Seed, b.Passes, b.LogP, a.Seed, a.Passes, a.LogP)
		}
		lp, err := SampleLogProb(q.net, PLSample{X: b.X, Chosen: b.Chosen, Passes: q.stepPasses(b)}, q.loss())
		if err != nil || lp != a.LogP {
			t.Fatalf("step %d: restored passes give log pi %v (%v), acting %v", i, lp, err, a.LogP)
		}
	}

	// The old format: one dropout pass in "masks", no seed, passes or logp.
	var old map[string]any
	if err := json.Unmarshal(ck, &old); err != nil {
		t.Fatal(err)
	}
	mrng := rand.New(rand.NewPCG(5, 5))
	var legacy [][][]float64
	batch := old["batch"].([]any)
	for _, e := range batch {
		m := e.(map[string]any)
		delete(m, "mask_seed")
		delete(m, "passes")
		delete(m, "logp")
		mk := p.net.Masks(int(m["rows"].(float64)), mrng)
		m["masks"] = mk
		legacy = append(legacy, mk)
	}
	ob, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	be := &recordingBackend{}
	r := newTestPG(t, be, cfg)
	if err := r.Restore(ob); err != nil {
		t.Fatalf("a checkpoint of the old format: %v", err)
	}
	var wantOld []float64
	for i, s := range r.batch {
		want, err := SampleLogProb(r.net, PLSample{X: s.X, Chosen: s.Chosen, Passes: [][][]float64{legacy[i]}}, r.loss())
		if err != nil {
			t.Fatal(err)
		}
		if s.Passes != 0 || s.LogP != want {
			t.Fatalf("old-format step %d: %d passes, log pi %v, want its one stored pass's %v", i, s.Passes, s.LogP, want)
		}
		wantOld = append(wantOld, want)
	}
	r.cfg.BatchEpisodes = 3 // the next episode completes the batch: the update must take the old steps
	acted := playEpisodes(t, r, 2, 3, 3)
	if be.calls != 1 || len(be.logp) != len(legacy)+len(acted) {
		t.Fatalf("%d calls, %d samples after resuming an old-format checkpoint", be.calls, len(be.logp))
	}
	for i, want := range append(wantOld, acted...) {
		if be.logp[i] != want {
			t.Fatalf("resumed update, step %d: log pi %v, want %v", i, be.logp[i], want)
		}
	}

	// A seeded entry in a checkpoint whose network has no dropout is corrupt.
	var bad map[string]any
	if err := json.Unmarshal(ck, &bad); err != nil {
		t.Fatal(err)
	}
	bad["net"].(map[string]any)["dropout"] = 0
	bb, _ := json.Marshal(bad)
	if err := newTestPG(t, &recordingBackend{}, cfg).Restore(bb); err == nil || !strings.Contains(err.Error(), "bad batch entry") {
		t.Errorf("dropout passes for a network without dropout: %v", err)
	}
}
