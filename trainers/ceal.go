package trainers

import (
	"context"
	"fmt"
	"math"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/learner"
)

func init() {
	Register(Info{
		Name: "ceal",
		Description: "CEAL (Wang et al. 2017): unlabeled samples with predictive entropy below delta join training with " +
			"pseudo-labels (never the labeled set, never the budget); delta shrinks every round",
		Options: []Option{
			{Name: "delta", Default: 0.005, Doc: "entropy threshold (nats) in the first acquisition round (paper: 0.005)"},
			{Name: "delta_decay", Default: 0.00033, Doc: "decrease of delta per round (paper: 0.00033)"},
			{Name: "max_pseudo", Default: 0, Doc: "at most this many pseudo-labels per round, the most confident first (0 = no limit)"},
		},
		Needs: []learner.Capability{learner.CapWeightedFit},
		New: func(o Options, _ Setup) (envs.Trainer, error) {
			r := reader{o: o}
			c := &ceal{delta0: r.float("delta"), decay: r.float("delta_decay"), maxPseudo: r.int("max_pseudo")}
			if r.err != nil {
				return nil, r.err
			}
			if c.delta0 < 0 || c.decay < 0 || c.maxPseudo < 0 {
				return nil, fmt.Errorf("options delta, delta_decay and max_pseudo must be >= 0")
			}
			return c, nil
		},
	})
}

// ceal follows Algorithm 1 of Wang et al. (2017): after the queried samples
// are labeled, the current model (trained in the previous round) gives every
// unlabeled sample with entropy below delta its predicted class; the model is
// then trained on the labeled samples plus these pseudo-labeled ones, and
// delta decreases. Round 0 trains on the initial labeled set only. Whether a
// round continues from the previous weights (the paper fine-tunes) or starts
// afresh follows learner.train.warm_start.
type ceal struct {
	delta0, decay float64
	maxPseudo     int
}

// Name returns "ceal".
func (c *ceal) Name() string { return "ceal" }

// Delta returns the threshold of acquisition round r >= 1.
func (c *ceal) Delta(r int) float64 { return math.Max(0, c.delta0-c.decay*float64(r-1)) }

// Train pseudo-labels confident unlabeled samples (from round 1) and fits on them and the labeled set.
func (c *ceal) Train(ctx context.Context, r envs.TrainRound) (envs.TrainResult, error) {
	if r.Round == 0 {
		st, err := r.Model.Fit(ctx, r.Labeled, r.Val, r.Seed)
		return envs.TrainResult{Stats: st, PseudoLabeling: true, Info: map[string]any{"delta": c.delta0}}, err
	}
	wf, err := need[learner.WeightedFitter](r.Model, learner.CapWeightedFit, "ceal")
	if err != nil {
		return envs.TrainResult{}, err
	}
	delta := c.Delta(r.Round)
	pseudo, err := c.pseudoLabels(ctx, r.Model, r.Unlabeled, delta)
	if err != nil {
		return envs.TrainResult{}, fmt.Errorf("pseudo-labels: %w", err)
	}
	train := learner.FromLabeled(r.Labeled).Append(pseudo)
	st, err := wf.FitWeighted(ctx, train, r.Val, r.Seed, learner.FitOptions{Init: learner.InitConfig})
	return envs.TrainResult{Stats: st, Pseudo: pseudo, PseudoLabeling: true, Info: map[string]any{"delta": delta}}, err
}

// pseudoLabels returns the unlabeled samples whose predictive entropy under
// the current model is below delta, labeled with the model's top class.
func (c *ceal) pseudoLabels(ctx context.Context, m *learner.Memo, unlabeled []int, delta float64) (learner.Weighted, error) {
	var out learner.Weighted
	if len(unlabeled) == 0 || delta <= 0 {
		return out, nil
	}
	p, err := m.Probs(ctx, unlabeled)
	if err != nil {
		return out, err
	}
	type cand struct {
		idx, y int
		h      float64
	}
	var cs []cand
	for i, idx := range unlabeled {
		row := p.RawRowView(i)
		if h := entropy(row); h < delta {
			cs = append(cs, cand{idx, argmax(row), h})
		}
	}
	if c.maxPseudo > 0 && len(cs) > c.maxPseudo {
		order := make([]int, len(cs))
		for i := range order {
			order[i] = i
		}
		sortStableBy(order, func(a, b int) bool { return cs[a].h < cs[b].h })
		keep := make([]cand, c.maxPseudo)
		for i := range keep {
			keep[i] = cs[order[i]]
		}
		cs = keep
	}
	for _, x := range cs {
		out.Idx = append(out.Idx, x.idx)
		out.Y = append(out.Y, x.y)
	}
	return out, nil
}
