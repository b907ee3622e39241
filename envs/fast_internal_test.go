package envs

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/alrl/alrl/learner"
)

// TestHeadResultsDoNotDependOnWorkers fits the same head serially and on
// several goroutines: weights, posterior precision, training loss and
// probabilities must be bit-identical, since only whole rows (probabilities)
// and whole classes (gradient) are split between goroutines.
func TestHeadResultsDoNotDependOnWorkers(t *testing.T) {
	const n, dim, classes = 700, 12, 5
	rng := rand.New(rand.NewPCG(7, 7))
	emb := &Embedding{D: dim, Z: make([]float32, n*dim)}
	labels := make([]int, n)
	for i := 0; i < n; i++ {
		emb.Rows = append(emb.Rows, i)
		labels[i] = rng.IntN(classes)
		for j := 0; j < dim; j++ {
			emb.Z[i*dim+j] = float32(rng.NormFloat64() + float64(labels[i]%3)*float64(j%2))
		}
	}
	train := learner.Labeled{Idx: emb.Rows[:400], Y: labels[:400]}
	eval := emb.Rows[400:]
	type result struct {
		w, hdiag, probs []float64
		loss            float64
		iters           int
	}
	run := func(workers int) result {
		h, err := NewHead(emb, classes, 1, 100)
		if err != nil {
			t.Fatal(err)
		}
		h.workers = workers
		st, err := h.Fit(context.Background(), train, learner.Labeled{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		p, err := h.Probs(context.Background(), eval)
		if err != nil {
			t.Fatal(err)
		}
		return result{h.w, h.hdiag, p.RawMatrix().Data, st.TrainLoss, st.Epochs}
	}
	serial := run(1)
	if serial.iters < 5 {
		t.Fatalf("the fit converged in %d iterations: too easy to tell serial from parallel", serial.iters)
	}
	for _, workers := range []int{2, 3, 8} {
		par := run(workers)
		if !slices.Equal(par.w, serial.w) || !slices.Equal(par.hdiag, serial.hdiag) ||
			!slices.Equal(par.probs, serial.probs) || par.loss != serial.loss || par.iters != serial.iters {
			t.Errorf("workers %d: the fit or the probabilities differ from the serial ones", workers)
		}
	}
}
