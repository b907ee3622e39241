//go:build torch

package torch

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

// discData is two overlapping Gaussian blobs in 6 dimensions, 120 rows.
func discData() (*mat.Dense, []float64) {
	rng := rand.New(rand.NewPCG(7, 7))
	x := mat.NewDense(120, 6, nil)
	y := make([]float64, 120)
	for i := range 120 {
		if i%3 == 0 {
			y[i] = 1
		}
		for j := range 6 {
			x.Set(i, j, rng.NormFloat64()+y[i])
		}
	}
	return x, y
}

// The libtorch discriminator is the pure-Go one in float32: the same initial
// weights, minibatch order, loss and Adam give the same scores after a few
// epochs (to float32 rounding), and both stop at the same epoch.
func TestTorchDiscriminatorMatchesGo(t *testing.T) {
	d := tabular(32)
	l, err := New(d.Inputs(), 3, tabularNet(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	x, y := discData()
	for _, spec := range []learner.DiscriminatorSpec{
		{Width: 16, Layers: 2, Batch: 32, Epochs: 3, LR: 3e-3, StopAccuracy: 1, Seed: 11},
		{Width: 8, Layers: 0, Batch: 50, Epochs: 5, LR: 1e-2, StopAccuracy: 1, Seed: 12},
	} {
		want, err := learner.GoDiscriminator{}.TrainDiscriminator(context.Background(), x, y, x, spec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := l.(*Learner).TrainDiscriminator(context.Background(), x, y, x, spec)
		if err != nil {
			t.Fatal(err)
		}
		if got.Epochs != want.Epochs || math.Abs(got.Accuracy-want.Accuracy) > 1.0/120 {
			t.Errorf("layers %d: torch %d epochs at accuracy %g, Go %d at %g", spec.Layers, got.Epochs, got.Accuracy, want.Epochs, want.Accuracy)
		}
		for i := range want.P {
			if math.Abs(got.P[i]-want.P[i]) > 1e-4 {
				t.Fatalf("layers %d, row %d: torch P = %.6f, Go P = %.6f", spec.Layers, i, got.P[i], want.P[i])
			}
		}
	}
	// Through the memo the torch learner trains its own discriminator.
	if _, ok := learner.DiscriminatorOf(l).(*Learner); !ok {
		t.Error("DiscriminatorOf(torch learner) is not the learner itself")
	}
}

// BenchmarkDiscriminator trains the discriminative strategy's default
// network (3 x 256) for 5 epochs on 2,000 rows of 128 features, the size of
// one of its sub-batches on MNIST with about 180 labels.
func BenchmarkDiscriminator(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	x := mat.NewDense(2000, 128, nil)
	y := make([]float64, 2000)
	for i := range 2000 {
		if i%11 != 0 {
			y[i] = 1
		}
		for j := range 128 {
			x.Set(i, j, rng.NormFloat64()+0.1*y[i])
		}
	}
	spec := learner.DiscriminatorSpec{Width: 256, Layers: 3, Batch: 128, Epochs: 5, LR: 3e-4, StopAccuracy: 1, Seed: 1}
	d := tabular(32)
	l, err := New(d.Inputs(), 3, tabularNet(nil))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for _, bc := range []struct {
		name string
		d    learner.Discriminator
	}{{"go", learner.GoDiscriminator{}}, {"torch", l.(*Learner)}} {
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				if _, err := bc.d.TrainDiscriminator(context.Background(), x, y, x, spec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
