//go:build torch

package agents_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/agents"
	"github.com/alrl/alrl/agents/features"
	_ "github.com/alrl/alrl/agents/torchnet"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/strategies"
)

// The synthetic envs attach features with the names of this list (2
// classes), so the agents use them as they are.
var synthFeatures = []string{"max_prob", "margin"}

func synthCommon(t *testing.T, seed uint64) agents.Common {
	t.Helper()
	be, err := agents.NewBackend("")
	if err != nil {
		t.Fatal(err)
	}
	return agents.Common{Features: synthFeatures, Classes: 2, LR: 0.01, Seed: seed, Backend: be}
}

func synthFeats(x *mat.Dense) *envs.Features {
	return &envs.Features{Names: synthFeatures, X: x, GlobalNames: features.GlobalNames(2), Global: make([]float64, len(features.GlobalNames(2)))}
}

// revealEnv is a one-step pool env: of M candidates, exactly one has
// feature 0 = 1 (the others 0) and choosing it earns 1; feature 1 is noise.
type revealEnv struct {
	m, best int
	rng     *rand.Rand
}

func (e *revealEnv) obs() envs.Observation {
	x := mat.NewDense(e.m, 2, nil)
	e.best = e.rng.IntN(e.m)
	for i := 0; i < e.m; i++ {
		x.Set(i, 1, e.rng.NormFloat64())
	}
	x.Set(e.best, 0, 1)
	c := make([]int, e.m)
	for i := range c {
		c[i] = 100 + i
	}
	return envs.Observation{Round: 1, K: 1, Candidates: c, Features: synthFeats(x)}
}

func (e *revealEnv) Reset(_ context.Context, seed uint64) (envs.Observation, envs.Record, error) {
	e.rng = rand.New(rand.NewPCG(seed, 17))
	return e.obs(), envs.Record{Labels: 1}, nil
}

func (e *revealEnv) Step(_ context.Context, a []int) (envs.Observation, float64, envs.EndReason, envs.Record, error) {
	r := 0.0
	if a[0] == 100+e.best {
		r = 1
	}
	return envs.Observation{}, r, envs.BudgetSpent, envs.Record{Labels: 2}, nil
}

func TestREINFORCEGradientSign(t *testing.T) {
	c := synthCommon(t, 1)
	rng := rand.New(rand.NewPCG(9, 9))
	net, err := agents.NewMLP([]int{2 + len(features.GlobalNames(2)), 8, 1}, 0, rng)
	if err != nil {
		t.Fatal(err)
	}
	env := &revealEnv{m: 5}
	obs, _, _ := env.Reset(context.Background(), 1)
	x := mat.NewDense(5, net.In(), nil)
	for i := 0; i < 5; i++ {
		copy(x.RawRowView(i), obs.Features.X.RawRowView(i))
	}
	logp := func(m *agents.MLP) float64 {
		out, _ := m.Forward(x, nil)
		return agents.PLLogProb(mat.Col(nil, 0, out), []int{env.best}, 1)
	}
	for _, adv := range []float64{1, -1} {
		m := net.Clone()
		before := logp(m)
		_, grads, err := c.Backend.PolicyGrad(m, []agents.PLSample{{X: x, Chosen: []int{env.best}, Adv: adv}}, agents.PGLoss{Algo: "reinforce", Temperature: 1})
		if err != nil {
			t.Fatal(err)
		}
		// A small plain gradient step on the loss.
		for k, p := range m.Params() {
			for i := range p {
				p[i] -= 0.01 * grads[k][i]
			}
		}
		after := logp(m)
		if adv > 0 && after <= before || adv < 0 && after >= before {
			t.Errorf("advantage %+v: log pi(chosen) went from %v to %v", adv, before, after)
		}
	}
}

func greedyHits(t *testing.T, p *agents.PG, n int) float64 {
	t.Helper()
	p.SetGreedy(true)
	defer p.SetGreedy(false)
	env := &revealEnv{m: 6}
	hits := 0
	for i := 0; i < n; i++ {
		obs, _, _ := env.Reset(context.Background(), uint64(10000+i))
		a, err := p.Act(context.Background(), obs)
		if err != nil {
			t.Fatal(err)
		}
		if a[0] == 100+env.best {
			hits++
		}
	}
	return float64(hits) / float64(n)
}

func TestPGLearnsTheRevealingFeature(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*agents.PGConfig)
	}{
		{"reinforce", func(*agents.PGConfig) {}},
		{"ppo", func(c *agents.PGConfig) { c.Algo = "ppo" }},
		{"bayesian", func(c *agents.PGConfig) { c.Dropout, c.MCSamples, c.Bonus = 0.1, 5, 0.5 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := agents.DefaultPGConfig()
			cfg.Hidden = []int{16}
			tc.cfg(&cfg)
			p, err := agents.NewPG(synthCommon(t, 2), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if h := greedyHits(t, p, 200); h > 0.8 {
				t.Fatalf("untrained policy already picks the best candidate %.2f of the time", h)
			}
			env := &revealEnv{m: 6}
			for ep := 0; ep < 400; ep++ {
				if _, err := agents.RunPoolEpisode(context.Background(), env, p, ep, uint64(ep)); err != nil {
					t.Fatal(err)
				}
			}
			if h := greedyHits(t, p, 200); h < 0.95 {
				t.Errorf("after training the policy picks the revealed best candidate %.2f of the time, want >= 0.95", h)
			}
		})
	}
}

// labelEnv is a stream: each arriving sample has feature 0 in {0, 1};
// labeling a 1 earns +1, labeling a 0 costs 1, skipping earns 0.
type labelEnv struct {
	n, pos int
	cur    float64
	rng    *rand.Rand
}

func (e *labelEnv) obs() envs.Observation {
	e.cur = float64(e.rng.IntN(2))
	x := mat.NewDense(1, 2, []float64{e.cur, e.rng.NormFloat64()})
	return envs.Observation{Round: 1, K: 1, Candidates: []int{e.pos}, Features: synthFeats(x)}
}

func (e *labelEnv) Reset(_ context.Context, seed uint64) (envs.Observation, envs.Record, error) {
	e.rng, e.pos = rand.New(rand.NewPCG(seed, 5)), 0
	return e.obs(), envs.Record{}, nil
}

func (e *labelEnv) Step(_ context.Context, label bool) (envs.Observation, float64, envs.EndReason, *envs.Record, error) {
	r := 0.0
	if label {
		r = 2*e.cur - 1
	}
	e.pos++
	if e.pos == e.n {
		return envs.Observation{}, r, envs.StreamExhausted, nil, nil
	}
	return e.obs(), r, envs.NotDone, nil, nil
}

func TestDQNLearnsWhenToLabel(t *testing.T) {
	cfg := agents.DefaultDQNConfig()
	cfg.Hidden, cfg.Warmup, cfg.EpsSteps, cfg.TargetSync, cfg.Gamma = []int{16}, 64, 1500, 100, 0.5
	d, err := agents.NewDQN(synthCommon(t, 3), cfg)
	if err != nil {
		t.Fatal(err)
	}
	env := &labelEnv{n: 20}
	for ep := 0; ep < 120; ep++ {
		if _, err := agents.RunStreamEpisode(context.Background(), env, d, ep, uint64(ep)); err != nil {
			t.Fatal(err)
		}
	}
	if eps := d.Epsilon(); eps != cfg.EpsEnd {
		t.Errorf("epsilon %v after the decay, want %v", eps, cfg.EpsEnd)
	}
	d.SetGreedy(true)
	wrong := 0
	obs, _, _ := env.Reset(context.Background(), 999)
	for i := 0; i < 19; i++ {
		label, err := d.Decide(context.Background(), obs)
		if err != nil {
			t.Fatal(err)
		}
		if label != (env.cur == 1) {
			wrong++
		}
		obs, _, _, _, _ = env.Step(context.Background(), label)
	}
	if wrong > 1 {
		t.Errorf("greedy DQN decided wrongly on %d of 19 arrivals", wrong)
	}
}

func TestPolicySaveLoadRoundTrip(t *testing.T) {
	ctx := context.Background()
	c := synthCommon(t, 4)
	cfg := agents.DefaultPGConfig()
	cfg.Hidden = []int{8}
	p, err := agents.NewPG(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	env := &revealEnv{m: 5}
	for ep := 0; ep < 8; ep++ {
		if _, err := agents.RunPoolEpisode(ctx, env, p, ep, uint64(ep)); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "policy.json")
	if err := agents.WritePolicy(path, p.Policy(agents.TrainInfo{Episodes: 8})); err != nil {
		t.Fatal(err)
	}
	pf, err := agents.ReadPolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	q, err := agents.LoadPG(c, pf)
	if err != nil {
		t.Fatal(err)
	}
	p.SetGreedy(true)
	q.SetGreedy(true)
	for i := 0; i < 20; i++ {
		obs, _, _ := env.Reset(ctx, uint64(500+i))
		a1, _ := p.Act(ctx, obs)
		a2, _ := q.Act(ctx, obs)
		if !slices.Equal(a1, a2) {
			t.Fatalf("loaded policy chose %v, the trained one %v", a2, a1)
		}
	}
	// The same through the registered strategy, with the matching feature list.
	if _, err := strategies.New("policy", map[string]any{"path": path, "features": "max_prob,margin"}); err != nil {
		t.Errorf("policy strategy with the matching feature list: %v", err)
	}
}

func TestMismatchedPolicyRejected(t *testing.T) {
	c := synthCommon(t, 5)
	p, err := agents.NewPG(c, agents.DefaultPGConfig())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "policy.json")
	if err := agents.WritePolicy(path, p.Policy(agents.TrainInfo{})); err != nil {
		t.Fatal(err)
	}
	_, err = strategies.New("policy", map[string]any{"path": path, "features": "max_prob,entropy"})
	if err == nil || !strings.Contains(err.Error(), "trained with features [max_prob, margin]") || !strings.Contains(err.Error(), "[max_prob, entropy]") {
		t.Errorf("mismatched feature list: %v", err)
	}
	// A file whose global state no longer matches what the features produce (3 classes instead of 2).
	pf, err := agents.ReadPolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pf.CheckFeatures(path, nil, []string{"max_prob", "margin"}, features.GlobalNames(3)); err == nil || !strings.Contains(err.Error(), "global state") {
		t.Errorf("class-count mismatch: %v", err)
	}
	// A tampered file fails its checksum; a file from another version is refused.
	for _, tc := range []struct {
		edit func(*agents.PolicyFile)
		want string
	}{
		{func(f *agents.PolicyFile) { f.Nets["policy"].W[0][0] += 1 }, "checksum"},
		{func(f *agents.PolicyFile) { f.Version = 99 }, "version 99"},
		{func(f *agents.PolicyFile) { f.Columns = f.Columns[:1] }, "inputs"},
	} {
		f, _ := agents.ReadPolicy(path)
		tc.edit(f)
		b, _ := json.Marshal(f)
		bad := filepath.Join(t.TempDir(), "bad.json")
		if err := os.WriteFile(bad, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := agents.ReadPolicy(bad); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("edited policy file: %v, want an error mentioning %q", err, tc.want)
		}
	}
}

func TestPGCheckpointResumesExactly(t *testing.T) {
	ctx := context.Background()
	cfg := agents.DefaultPGConfig()
	cfg.Hidden, cfg.BatchEpisodes = []int{8}, 3
	env := &revealEnv{m: 5}
	run := func(p *agents.PG, from, to int) {
		for ep := from; ep < to; ep++ {
			if _, err := agents.RunPoolEpisode(ctx, env, p, ep, uint64(ep)); err != nil {
				t.Fatal(err)
			}
		}
	}
	a, _ := agents.NewPG(synthCommon(t, 6), cfg)
	run(a, 0, 4) // one update and one episode pending in the batch
	ck, err := a.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	run(a, 4, 9)
	b, _ := agents.NewPG(synthCommon(t, 6), cfg)
	if err := b.Restore(ck); err != nil {
		t.Fatal(err)
	}
	run(b, 4, 9)
	wa := a.Policy(agents.TrainInfo{}).Nets["policy"].W
	wb := b.Policy(agents.TrainInfo{}).Nets["policy"].W
	for l := range wa {
		for i := range wa[l] {
			if wa[l][i] != wb[l][i] {
				t.Fatalf("resumed training differs at layer %d weight %d: %v vs %v", l, i, wa[l][i], wb[l][i])
			}
		}
	}
	other, _ := agents.NewPG(agents.Common{Features: []string{"max_prob"}, Classes: 2, LR: 0.01, Backend: synthCommon(t, 6).Backend}, cfg)
	if err := other.Restore(ck); err == nil || !strings.Contains(err.Error(), "feature list") {
		t.Errorf("restoring into an agent with other features: %v", err)
	}
}
