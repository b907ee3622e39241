package envs

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/alrl/alrl/learner"
)

// Reward modes (al.reward).
const (
	// RewardRaw is the change in validation accuracy after the refit.
	RewardRaw = "raw"
	// RewardRelative is that change minus the change a random batch of the
	// same size, drawn from the same candidates, would have brought (the
	// variance reduction several RL-for-AL papers use). The random batch's
	// gain is measured by a counterfactual refit: in simulation the env peeks
	// at the random batch's labels (they are not charged to the budget), and
	// every step costs two refits instead of one (cheap in fast mode,
	// doubling the time in full mode).
	RewardRelative = "relative"
)

// snapshotter is a learner whose fitted state can be copied in memory (the
// fast head); others are saved to a temporary file around a counterfactual fit.
type snapshotter interface {
	snapshot() any
	restoreSnapshot(any)
}

// counterfactualGain returns, in relative mode, the validation-accuracy gain
// of a random batch of k candidates, refitting the learner on the labeled
// set plus that batch and then putting the learner back as it was; NaN in raw mode.
func (e *Env) counterfactualGain(ctx context.Context, k int) (float64, error) {
	if e.cfg.Reward != RewardRelative {
		return math.NaN(), nil
	}
	rng := RNG(e.seed, e.round+1, "counterfactual")
	perm := rng.Perm(len(e.cands))[:k]
	train := learner.Labeled{Idx: append([]int(nil), e.labeled...), Y: append([]int(nil), e.labeledY...)}
	for _, p := range perm {
		i := e.cands[p]
		train.Idx = append(train.Idx, i)
		train.Y = append(train.Y, e.data.Y[i]) // simulation only: not charged to the oracle
	}
	restore, err := e.preserveLearner()
	if err != nil {
		return 0, fmt.Errorf("relative reward: %w", err)
	}
	// The same fit seed and held-out split as the real refit, so the two
	// differ only in the batch.
	fit, stop := e.fitSets(train, e.round+1)
	st, ferr := e.model.Fit(ctx, fit, stop, RNG(e.seed, e.round+1, "fit").Uint64())
	var rec Record
	if ferr == nil {
		ferr = e.heldOutAccuracy(ctx, st, stop, &rec)
	}
	if err := restore(); err != nil {
		return 0, fmt.Errorf("relative reward: restoring the learner: %w", err)
	}
	if ferr != nil {
		return 0, fmt.Errorf("relative reward: counterfactual fit: %w", ferr)
	}
	return float64(rec.ValAcc) - e.valAcc, nil
}

// preserveLearner saves the learner's fitted state and returns the function
// that restores it: in memory for the fast head, else through a temporary
// weights file (a warm-starting learner must not start the real refit from
// the counterfactual one).
func (e *Env) preserveLearner() (func() error, error) {
	if s, ok := e.model.Learner.(snapshotter); ok {
		snap := s.snapshot()
		return func() error {
			s.restoreSnapshot(snap)
			e.model.Reset()
			return nil
		}, nil
	}
	dir, err := os.MkdirTemp("", "alrl-counterfactual-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "weights.bin")
	if err := e.model.Save(path); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return func() error {
		defer os.RemoveAll(dir)
		return e.model.Load(path)
	}, nil
}

// reward turns the accuracy change of a step into the configured reward and
// records the counterfactual gain. prevLabels is the label count before the step.
func (e *Env) reward(delta, randomGain float64, prevLabels int, rec *Record) float64 {
	r := delta
	if e.cfg.Reward == RewardRelative {
		g := Float(randomGain)
		rec.RandomGain = &g
		r = delta - randomGain
	}
	if e.cfg.RewardArea {
		r *= e.areaWeight(prevLabels, len(e.labeled))
	}
	return r
}

// areaWeight is the share of the normalised trapezoid area under the
// learning curve that an accuracy change at the step from prev to cur labels
// contributes: the change lifts the curve from cur labels to the end of the
// episode, and half of the segment from prev to cur. Summed over an
// episode, weight x change gives AULC minus the initial accuracy exactly.
func (e *Env) areaWeight(prev, cur int) float64 {
	first, last := e.cfg.InitSize, e.finalLabels()
	if last <= first {
		return 1
	}
	return (float64(last) - float64(prev+cur)/2) / float64(last-first)
}

// finalLabels is the label count at which an episode ends: the budget, or
// fewer when al.rounds or the pool size stop it first.
func (e *Env) finalLabels() int {
	n := min(e.cfg.Budget, len(e.split.Pool))
	if e.cfg.Rounds > 0 {
		n = min(n, e.cfg.LabelsAfter(e.cfg.Rounds))
	}
	return n
}
