// Package agents holds policies that act in the active-learning environment:
// a heuristic agent wraps any registered strategy (the baseline of every
// comparison); learned policies train from the environment's rewards.
package agents

import (
	"context"
	"fmt"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/strategies"
)

// KindInfo describes a learned agent kind for `alrl list agents`.
type KindInfo struct {
	Name, Doc string
}

// Kinds lists the learned agents an agent: section can train.
func Kinds() []KindInfo {
	return []KindInfo{
		{KindPG, "policy gradient (REINFORCE or PPO) over a Plackett-Luce ranking of candidates, RAL/DRAL-style; optional MC-dropout (Bayesian) policy"},
		{KindDQN, "deep Q-network in the stream env: label or skip each arriving sample (Fang, Li & Cohn 2017)"},
		{KindBandit, "ALBL: EXP4.P over heuristic strategies, its arm weights carried across episodes as a prior (Hsu & Lin 2015)"},
		{KindImitation, "ranker imitating a look-ahead expert by DAgger with a listwise loss, trained across tasks (ALIL, ImitAL)"},
	}
}

// Agent chooses which samples to label from an observation.
type Agent interface {
	Name() string
	// Act returns exactly obs.K pool indices from obs.Candidates.
	Act(ctx context.Context, obs envs.Observation) ([]int, error)
}

// Heuristic is a fixed strategy acting as a policy.
type Heuristic struct {
	Strategy strategies.Strategy
}

// NewHeuristic wraps a registered strategy by name.
func NewHeuristic(name string, opts map[string]any) (*Heuristic, error) {
	s, err := strategies.New(name, opts)
	if err != nil {
		return nil, err
	}
	return &Heuristic{Strategy: s}, nil
}

// Name returns the strategy's name.
func (h *Heuristic) Name() string { return h.Strategy.Name() }

// Act asks the strategy for obs.K of the candidates. The query carries the
// episode state (Query.Episode) for strategies that need more than the
// model, such as a learned policy or ALBL.
func (h *Heuristic) Act(ctx context.Context, obs envs.Observation) ([]int, error) {
	ep := obs.Episode()
	q := strategies.Query{Model: obs.Model, Candidates: obs.Candidates, Labeled: obs.Labeled, K: obs.K, RNG: obs.RNG, Round: obs.Round, Episode: &ep}
	sel, err := h.Strategy.Select(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("round %d: %w", obs.Round, err)
	}
	return sel, nil
}
