package envs

import (
	"context"
	"fmt"
	"math"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/learner"
)

// Trainer fits the learner in every round, after the oracle revealed the
// newly acquired labels; package trainers holds the implementations
// (supervised, CEAL, SSAL, VAAL, learning loss). Without one the environment
// calls the learner's supervised Fit.
//
// A trainer sees the labels the oracle revealed and the inputs of the whole
// pool (through the learner), never the hidden labels of unlabeled samples:
// TrainRound carries no such labels. Pseudo-labels it invents for training
// are returned in TrainResult.Pseudo; the environment, not the trainer,
// compares them with the hidden truth after training, for the round's record
// only.
type Trainer interface {
	// Name is the registered name (e.g. "ceal").
	Name() string
	// Train fits r.Model for round r.Round.
	Train(ctx context.Context, r TrainRound) (TrainResult, error)
}

// TrainRound is what a trainer may use in one round.
type TrainRound struct {
	Round     int             // 0 for the initial fit, then the acquisition round
	Seed      uint64          // this round's fit seed (derived from the run seed and the round)
	Model     *learner.Memo   // the learner; its cache is cleared after Train returns
	Labeled   learner.Labeled // labels revealed by the oracle, in acquisition order
	Val       learner.Labeled // the labeled validation set (early stopping)
	Unlabeled []int           // pool indices without labels, sorted
}

// TrainResult is what a trainer did in one round.
type TrainResult struct {
	Stats learner.FitStats
	// Pseudo lists the pseudo-labels (and their weights) the trainer trained
	// on. They never join the labeled set and never count against the
	// budget; the environment records their accuracy against the hidden truth.
	Pseudo learner.Weighted
	// PseudoLabeling says the trainer uses pseudo-labels, so that their
	// count and accuracy are recorded even in rounds without any.
	PseudoLabeling bool
	// Info is copied into the round's record (losses of auxiliary networks,
	// thresholds, ...).
	Info map[string]any
}

// SetTrainer makes t fit the learner in every following round (nil = the
// learner's own Fit). Set it before Reset or Restore.
func (e *Env) SetTrainer(t Trainer) { e.trainer = t }

// Trainer returns the environment's trainer (nil when the learner's Fit is used).
func (e *Env) Trainer() Trainer { return e.trainer }

// unlabeled returns the pool indices without labels, sorted as the pool is.
func (e *Env) unlabeled() []int {
	out := make([]int, 0, len(e.split.Pool)-len(e.labeled))
	for _, i := range e.split.Pool {
		if !e.isLabeled[i] {
			out = append(out, i)
		}
	}
	return out
}

// train runs the trainer (or the learner's Fit) and returns the fit
// statistics and the record's info, with the pseudo-label diagnostic.
func (e *Env) train(ctx context.Context, train, val learner.Labeled, seed uint64) (learner.FitStats, map[string]any, error) {
	if e.trainer == nil {
		st, err := e.model.Fit(ctx, train, val, seed)
		return st, nil, err
	}
	// A learner with per-round work on the labeled set (Active-iNAS's
	// search) does it now, whatever the trainer calls.
	if p, ok := learner.Unwrap(e.model).(learner.RoundPreparer); ok {
		if err := p.PrepareRound(ctx, train, val, seed); err != nil {
			return learner.FitStats{}, nil, fmt.Errorf("preparing the round's learner: %w", err)
		}
	}
	res, err := e.trainer.Train(ctx, TrainRound{Round: e.round, Seed: seed, Model: e.model,
		Labeled: train, Val: val, Unlabeled: e.unlabeled()})
	e.model.Reset()
	if err != nil {
		return res.Stats, nil, fmt.Errorf("trainer %s: %w", e.trainer.Name(), err)
	}
	info := map[string]any{}
	for k, v := range res.Info {
		info[k] = v
	}
	if res.Pseudo.Len() > 0 || res.PseudoLabeling {
		d, err := e.pseudoDiagnostic(res.Pseudo)
		if err != nil {
			return res.Stats, nil, fmt.Errorf("trainer %s: %w", e.trainer.Name(), err)
		}
		for k, v := range d {
			info[k] = v
		}
	}
	if len(info) == 0 {
		info = nil
	}
	return res.Stats, info, nil
}

// pseudoDiagnostic checks that pseudo-labels are on unlabeled pool samples
// only and measures them against the hidden truth. This is the one place
// where the labels of unlabeled samples are read, after training, and the
// result only reaches the record.
func (e *Env) pseudoDiagnostic(p learner.Weighted) (map[string]any, error) {
	if err := p.Check(e.data.NumClasses); err != nil {
		return nil, fmt.Errorf("pseudo-labels: %w", err)
	}
	seen := make(map[int]bool, p.Len())
	for _, i := range p.Idx {
		switch {
		case e.isLabeled[i]:
			return nil, fmt.Errorf("pseudo-labels: pool index %d is labeled; pseudo-labels are for unlabeled samples only", i)
		case !e.oracle.InPool(i):
			return nil, fmt.Errorf("pseudo-labels: index %d is not in the pool", i)
		case seen[i]:
			return nil, fmt.Errorf("pseudo-labels: pool index %d appears twice", i)
		}
		seen[i] = true
	}
	acc, wacc := truthAgreement(e.data.Y, p)
	return map[string]any{
		"pseudo_labels":       float64(p.Len()),
		"pseudo_acc":          Float(acc),
		"pseudo_weighted_acc": Float(wacc),
	}, nil
}

// truthAgreement returns the fraction of pseudo-labels equal to the truth and
// the same fraction weighted by the pseudo-labels' weights (NaN when empty).
func truthAgreement(truth []int, p learner.Weighted) (acc, weighted float64) {
	if p.Len() == 0 {
		return math.NaN(), math.NaN()
	}
	n, ok, wsum, wok := 0, 0, 0.0, 0.0
	for i, idx := range p.Idx {
		if truth[idx] == datasets.Unlabeled {
			continue // no truth to compare with
		}
		n++
		w := p.WeightOf(i)
		wsum += w
		if truth[idx] == p.Y[i] {
			ok++
			wok += w
		}
	}
	weighted = math.NaN()
	if wsum > 0 {
		weighted = wok / wsum
	}
	if n == 0 {
		return math.NaN(), weighted
	}
	return float64(ok) / float64(n), weighted
}
