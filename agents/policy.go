package agents

import (
	"context"
	"fmt"
	"strings"

	"github.com/alrl/alrl/agents/features"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/strategies"
)

func init() {
	strategies.Register(strategies.Info{
		Name:        "policy",
		Description: "a trained agent (pg, dqn or bandit policy file from alrl train) acting as a strategy",
		Options: []strategies.Option{
			{Name: "path", Default: "", Doc: "policy file written by alrl train (required)"},
			{Name: "features", Default: "", Doc: "comma-separated feature list the policy must have been trained with (empty = the file's)"},
			{Name: "sample", Default: false, Doc: "pg: draw the batch from the policy (Gumbel-top-k) instead of taking the top k scores"},
			{Name: "ablation", Default: "", Doc: "imitation: random_scores replaces the network's scores by random ones (the pre-selection alone, for ablations)"},
		},
		New: func(o strategies.Options) (strategies.Strategy, error) {
			path, err := o.String("path")
			if err != nil {
				return nil, err
			}
			fs, err := o.String("features")
			if err != nil {
				return nil, err
			}
			sample, err := o.Bool("sample")
			if err != nil {
				return nil, err
			}
			var list []string
			for _, f := range strings.Split(fs, ",") {
				if f = strings.TrimSpace(f); f != "" {
					list = append(list, f)
				}
			}
			abl, err := o.String("ablation")
			if err != nil {
				return nil, err
			}
			p, err := LoadPolicy(path, list, sample)
			if err != nil {
				return nil, err
			}
			switch {
			case abl == "":
			case abl == "random_scores" && p.rank != nil:
				p.rank.randomScores = true
			default:
				return nil, fmt.Errorf("option ablation: %q is not available for a %s policy (imitation policies take random_scores)", abl, p.pf.Kind)
			}
			return p, nil
		},
	})
}

// Policy is a trained agent acting as a strategy: it rebuilds the features
// the agent was trained with from the query's model and the episode state
// (which agents.Heuristic passes in the context) and lets the agent choose.
type Policy struct {
	path   string
	pf     *PolicyFile
	sample bool
	fb     *features.Builder
	pg     *PG
	dqn    *DQN
	albl   *ALBL
	rank   *Ranker
}

// LoadPolicy reads a policy file; a non-nil feature list must match the
// file's. A missing, corrupt or mismatched file is an error naming the problem.
func LoadPolicy(path string, wantFeatures []string, sample bool) (*Policy, error) {
	if path == "" {
		return nil, fmt.Errorf("option path is required: the policy file written by alrl train (OUT/agent/policy.json)")
	}
	pf, err := ReadPolicy(path)
	if err != nil {
		return nil, err
	}
	p := &Policy{path: path, pf: pf, sample: sample}
	if pf.Kind == KindBandit {
		if p.albl, err = NewALBL(*pf.Bandit); err != nil {
			return nil, fmt.Errorf("policy file %s: %w", path, err)
		}
		if err := p.albl.SetPrior(pf.LogWeights); err != nil {
			return nil, err
		}
		return p, nil
	}
	if pf.Kind == KindImitation {
		if p.rank, err = LoadRanker(pf); err != nil {
			return nil, fmt.Errorf("policy file %s: %w", path, err)
		}
		return p, nil
	}
	if err := pf.CheckFeatures(path, wantFeatures, nil, nil); err != nil {
		return nil, err
	}
	c := Common{Features: pf.Features, MCSamples: pf.MCSamples, Classes: pf.NumClasses, LR: 1e-3}
	switch pf.Kind {
	case KindPG:
		if p.pg, err = LoadPG(c, pf); err != nil {
			return nil, fmt.Errorf("policy file %s: %w", path, err)
		}
		p.fb = p.pg.fz.b
	case KindDQN:
		if p.dqn, err = LoadDQN(c, pf); err != nil {
			return nil, fmt.Errorf("policy file %s: %w", path, err)
		}
		p.fb = p.dqn.fz.b
	}
	return p, nil
}

// Name returns "policy".
func (p *Policy) Name() string { return "policy" }

// File returns the loaded policy file.
func (p *Policy) File() *PolicyFile { return p.pf }

// Needs returns the capabilities of the policy's features (or of the bandit's arms).
func (p *Policy) Needs() []learner.Capability {
	if p.albl != nil {
		return p.albl.Needs()
	}
	if p.rank != nil {
		return []learner.Capability{learner.CapProbs, learner.CapMCDropout, learner.CapEmbeddings}
	}
	return p.fb.Needs()
}

func (p *Policy) features(ctx context.Context, q strategies.Query) (*envs.Features, envs.Episode, error) {
	if q.Episode == nil {
		return nil, envs.Episode{}, fmt.Errorf("policy: the query carries no episode state (budget, validation accuracy, labels); run it through alrl's runner or agents.Heuristic")
	}
	ep := *q.Episode
	if n := q.Model.NumClasses(); n != p.pf.NumClasses {
		return nil, ep, fmt.Errorf("policy file %s was trained for %d classes, but this learner has %d; its class-histogram features do not transfer", p.path, p.pf.NumClasses, n)
	}
	f, err := p.fb.Compute(ctx, features.Input{Model: q.Model, Candidates: q.Candidates, Episode: ep, RNG: q.RNG})
	if err != nil {
		return nil, ep, fmt.Errorf("policy: %w", err)
	}
	return f, ep, f.Check(len(q.Candidates))
}

// Score returns the policy's score of every candidate (pg: the policy
// network's score; dqn: Q(label) - Q(skip)); the bandit has none.
func (p *Policy) Score(ctx context.Context, q strategies.Query) ([]float64, error) {
	if p.albl != nil {
		return nil, fmt.Errorf("policy file %s holds a bandit, which has no per-sample score", p.path)
	}
	if p.rank != nil {
		return nil, fmt.Errorf("policy file %s holds an imitation ranker, which scores a pre-selected list greedily, not every candidate", p.path)
	}
	f, _, err := p.features(ctx, q)
	if err != nil {
		return nil, err
	}
	x := inputs(f, len(q.Candidates))
	if p.pg != nil {
		return scores(p.pg.net, x, p.pg.cfg.MCSamples, p.pg.cfg.Bonus, q.RNG)
	}
	out, err := p.dqn.net.Forward(x, nil)
	if err != nil {
		return nil, err
	}
	s := make([]float64, len(q.Candidates))
	for i := range s {
		s[i] = out.At(i, actLabel) - out.At(i, actSkip)
	}
	return s, nil
}

// Select lets the agent choose q.K candidates.
func (p *Policy) Select(ctx context.Context, q strategies.Query) ([]int, error) {
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if p.albl != nil {
		return p.albl.Select(ctx, q)
	}
	if p.rank != nil {
		if q.Episode == nil {
			return nil, fmt.Errorf("policy: the query carries no episode state (budget, labels); run it through alrl's runner or agents.Heuristic")
		}
		return p.rank.Select(ctx, q, *q.Episode)
	}
	s, err := p.Score(ctx, q)
	if err != nil {
		return nil, err
	}
	tau := 0.0
	if p.sample && p.pg != nil {
		tau = p.pg.cfg.Temperature
	}
	pos, err := GumbelTopK(s, q.K, tau, q.RNG)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	out := make([]int, len(pos))
	for i, j := range pos {
		out[i] = q.Candidates[j]
	}
	return out, nil
}
