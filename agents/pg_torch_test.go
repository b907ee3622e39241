//go:build torch

package agents_test

import (
	"context"
	"math"
	"testing"

	"github.com/alrl/alrl/agents"
)

// checkingBackend wraps the torch backend: before the first gradient of
// every update it asks the backend itself for each sample's log pi (the
// REINFORCE loss of the sample alone with advantage 1 is -log pi) and
// compares it with the log-probability the agent recorded when it drew the
// action (the sample's OldLogP).
type checkingBackend struct {
	agents.Backend
	t       *testing.T
	every   int // PolicyGrad calls per update (PPO: ppo_epochs)
	calls   int
	checked int
}

func (b *checkingBackend) PolicyGrad(net *agents.MLP, samples []agents.PLSample, loss agents.PGLoss) (float64, [][]float64, error) {
	b.calls++
	if (b.calls-1)%b.every != 0 {
		return b.Backend.PolicyGrad(net, samples, loss) // a later PPO epoch: the weights have moved
	}
	for i, s := range samples {
		one := []agents.PLSample{{X: s.X, Chosen: s.Chosen, Passes: s.Passes, Adv: 1}}
		l, _, err := b.Backend.PolicyGrad(net, one, agents.PGLoss{Algo: "reinforce", Temperature: loss.Temperature, Bonus: loss.Bonus})
		if err != nil {
			return 0, nil, err
		}
		if math.Abs(-l-s.OldLogP) > 1e-9 {
			b.t.Errorf("sample %d: the torch backend differentiates log pi = %.15g, the action was drawn with %.15g", i, -l, s.OldLogP)
		}
	}
	b.checked += len(samples)
	return b.Backend.PolicyGrad(net, samples, loss)
}

func TestTorchPGDifferentiatesTheActingLogProb(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*agents.PGConfig)
	}{
		{"reinforce", func(*agents.PGConfig) {}},
		{"ppo", func(c *agents.PGConfig) { c.Algo = "ppo" }},
		{"bayesian reinforce", func(c *agents.PGConfig) { c.Dropout, c.MCSamples, c.Bonus = 0.3, 4, 0.5 }},
		{"bayesian ppo", func(c *agents.PGConfig) { c.Algo, c.Dropout, c.MCSamples, c.Bonus = "ppo", 0.3, 4, 0.5 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := agents.DefaultPGConfig()
			cfg.Hidden = []int{8, 8}
			tc.cfg(&cfg)
			c := synthCommon(t, 8)
			be := &checkingBackend{Backend: c.Backend, t: t, every: 1}
			if cfg.Algo == "ppo" {
				be.every = cfg.PPOEpochs
			}
			c.Backend = be
			p, err := agents.NewPG(c, cfg)
			if err != nil {
				t.Fatal(err)
			}
			env := &revealEnv{m: 6}
			for ep := 0; ep < 3*cfg.BatchEpisodes; ep++ {
				if _, err := agents.RunPoolEpisode(context.Background(), env, p, ep, uint64(ep)); err != nil {
					t.Fatal(err)
				}
			}
			if be.checked != 3*cfg.BatchEpisodes {
				t.Fatalf("checked %d steps of %d", be.checked, 3*cfg.BatchEpisodes)
			}
		})
	}
}
