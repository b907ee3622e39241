package learner

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// EarlyStop tracks validation accuracy across epochs for early stopping
// with best-weight restore: the best epoch so far and how many epochs in a
// row have not beaten it. Every backend's fit loop uses it.
type EarlyStop struct {
	Patience int
	best     float64
	bad      int
	started  bool
}

// Observe records an epoch's validation accuracy; improved says to keep
// this epoch's weights as the best, stop that patience ran out.
func (e *EarlyStop) Observe(acc float64) (improved, stop bool) {
	if !e.started {
		e.best, e.started = math.Inf(-1), true
	}
	if acc > e.best {
		e.best, e.bad = acc, 0
		return true, false
	}
	e.bad++
	return false, e.bad >= e.Patience
}

// EndEpoch records an epoch's mean training loss (total over n samples) in
// st, reports progress, and fails on a NaN loss with the fix.
func EndEpoch(ctx context.Context, st *FitStats, ep, epochs int, total float64, n int) error {
	st.Epochs = ep
	st.TrainLoss = total / float64(n)
	Report(ctx, "train", ep, epochs)
	if math.IsNaN(st.TrainLoss) {
		return fmt.Errorf("the training loss became NaN at epoch %d; lower learner.train.lr", ep)
	}
	return nil
}

// Accuracy returns the accuracy (argmax, first maximum on ties) and the mean
// negative log-likelihood (probabilities floored at 1e-12) of class
// probabilities p (one row per label of y).
func Accuracy(p *mat.Dense, y []int) (acc, nll float64) {
	correct := 0
	for i, yi := range y {
		row := p.RawRowView(i)
		b := 0
		for c := range row {
			if row[c] > row[b] {
				b = c
			}
		}
		if b == yi {
			correct++
		}
		nll -= math.Log(math.Max(row[yi], 1e-12))
	}
	return float64(correct) / float64(len(y)), nll / float64(len(y))
}
