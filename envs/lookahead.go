package envs

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/alrl/alrl/learner"
)

// Lookahead is what the look-ahead expert measured at one state: the
// held-out loss and accuracy of the head refit on the labeled set (Base*),
// and of the head refit with each candidate added with its true label.
type Lookahead struct {
	BaseNLL, BaseAcc float64
	NLL, Acc         []float64 // per candidate, in the order given
}

// Gains returns the drop in held-out loss from adding each candidate (its
// expected-error-reduction as ALIL and LAL measure it, with the loss instead
// of the 0-1 error because it separates candidates that change no decision).
func (l Lookahead) Gains() []float64 {
	g := make([]float64, len(l.NLL))
	for i, v := range l.NLL {
		g[i] = l.BaseNLL - v
	}
	return g
}

// Lookahead refits the head on train plus each candidate (with the label in
// candY) and measures the mean held-out loss and accuracy on eval. Every
// refit starts from the head's current weights and runs at most iters
// L-BFGS iterations, so with the head fitted on train and iters large
// enough each one equals a fit from scratch (the problem is convex). The
// head itself is unchanged. Training episodes only: it reads labels the
// loop has not bought.
func (h *Head) Lookahead(ctx context.Context, train learner.Labeled, cands, candY []int, eval learner.Labeled, iters int) (Lookahead, error) {
	var out Lookahead
	if err := h.ready(); err != nil {
		return out, err
	}
	if len(cands) != len(candY) {
		return out, fmt.Errorf("lookahead: %d candidates, %d labels", len(cands), len(candY))
	}
	if eval.Len() == 0 {
		return out, fmt.Errorf("lookahead: the held-out set is empty")
	}
	if iters < 1 {
		return out, fmt.Errorf("lookahead: iterations must be >= 1, got %d", iters)
	}
	for i, y := range append(append([]int(nil), train.Y...), candY...) {
		if y < 0 || y >= h.c {
			return out, fmt.Errorf("lookahead: label %d (entry %d) is outside [0, %d)", y, i, h.c)
		}
	}
	x, err := h.rows(train.Idx)
	if err != nil {
		return out, err
	}
	cx, err := h.rows(cands)
	if err != nil {
		return out, err
	}
	ex, err := h.rows(eval.Idx)
	if err != nil {
		return out, err
	}
	score := func(w, p []float64) (nll, acc float64) {
		h.logits(w, ex, eval.Len(), p)
		softmaxRows(p, eval.Len(), h.c)
		for i, y := range eval.Y {
			row := p[i*h.c : (i+1)*h.c]
			nll -= math.Log(math.Max(row[y], 1e-300))
			best := 0
			for c, v := range row {
				if v > row[best] {
					best = c
				}
			}
			if best == y {
				acc++
			}
		}
		n := float64(eval.Len())
		return nll / n, acc / n
	}
	base, _, _ := h.minimise(h.w, x, train.Y, iters, h.workers)
	out.BaseNLL, out.BaseAcc = score(base, make([]float64, eval.Len()*h.c))
	out.NLL, out.Acc = make([]float64, len(cands)), make([]float64, len(cands))
	// The refits are independent, so workers share them; each result lands
	// in its candidate's slot, so the output does not depend on the schedule.
	workers := min(runtime.GOMAXPROCS(0), len(cands))
	next := make(chan int)
	errs := make([]error, len(cands))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			xs := append(append([][]float64(nil), x...), nil)
			ys := append(append([]int(nil), train.Y...), 0)
			p := make([]float64, eval.Len()*h.c)
			for i := range next {
				xs[len(xs)-1], ys[len(ys)-1] = cx[i], candY[i]
				wi, f, _ := h.minimise(base, xs, ys, iters, 1) // the refits themselves run in parallel
				if math.IsNaN(f) || math.IsInf(f, 0) {
					errs[i] = fmt.Errorf("lookahead: the refit with pool index %d is not finite (check the embeddings)", cands[i])
					continue
				}
				out.NLL[i], out.Acc[i] = score(wi, p)
			}
		}()
	}
	for i := range cands {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return out, err
	}
	for _, err := range errs {
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// LookaheadExpert is the look-ahead expert of a training episode in fast
// mode: it reads true labels from the data set (which only training may do)
// and measures gains on a held-out set of the source split.
type LookaheadExpert struct {
	Head    *Head
	Labels  []int           // the data set's labels, by row
	Eval    learner.Labeled // held-out rows and labels the gains are measured on
	Iters   int             // L-BFGS iterations of each refit
	Metric  string          // what a gain is: "acc" (held-out accuracy, ALIL's) or "nll" (held-out loss); "" = acc
	Refits  int             // refits run so far (for the cost report)
	Seconds float64         // time spent in Gains so far
}

// Gains returns, for each candidate, the gain in held-out accuracy (Metric
// acc) or the drop in held-out loss (nll) from adding it with its true label
// to labeled plus extra (the batch picked so far, also with true labels).
func (e *LookaheadExpert) Gains(ctx context.Context, labeled, extra, cands []int) ([]float64, error) {
	t0 := time.Now()
	defer func() { e.Seconds += time.Since(t0).Seconds() }()
	idx := append(append([]int(nil), labeled...), extra...)
	lab := func(rows []int) ([]int, error) {
		y := make([]int, len(rows))
		for i, r := range rows {
			if r < 0 || r >= len(e.Labels) {
				return nil, fmt.Errorf("lookahead expert: row %d is outside the data set", r)
			}
			y[i] = e.Labels[r]
		}
		return y, nil
	}
	y, err := lab(idx)
	if err != nil {
		return nil, err
	}
	cy, err := lab(cands)
	if err != nil {
		return nil, err
	}
	la, err := e.Head.Lookahead(ctx, learner.Labeled{Idx: idx, Y: y}, cands, cy, e.Eval, e.Iters)
	if err != nil {
		return nil, err
	}
	e.Refits += len(cands) + 1
	switch e.Metric {
	case "", "acc":
		g := make([]float64, len(la.Acc))
		for i, a := range la.Acc {
			g[i] = a - la.BaseAcc
		}
		return g, nil
	case "nll":
		return la.Gains(), nil
	}
	return nil, fmt.Errorf("lookahead expert: metric %q is not one of acc, nll", e.Metric)
}
