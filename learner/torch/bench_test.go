//go:build torch

package torch

import (
	"context"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/learner"
)

// benchLearner returns the BatchBALD CNN over the full MNIST training pool
// (60,000 images), fitted briefly on 100 labels.
func benchLearner(b *testing.B) (*Learner, []int) {
	b.Helper()
	dir, err := datasets.Locate("mnist", "")
	if err != nil {
		b.Skipf("MNIST not available: %v", err)
	}
	d, err := datasets.LoadMNISTDir("mnist", dir)
	if err != nil {
		b.Fatal(err)
	}
	cfg := learner.DefaultConfig()
	cfg.Threads = 0
	cfg.Train.Epochs = 1
	l, err := New(d.Inputs(), 10, cfg)
	if err != nil {
		b.Fatal(err)
	}
	train := learner.Labeled{}
	for i := 0; i < 100; i++ {
		train.Idx = append(train.Idx, i)
		train.Y = append(train.Y, d.Y[i])
	}
	if _, err := l.Fit(context.Background(), train, learner.Labeled{}, 1); err != nil {
		b.Fatal(err)
	}
	pool := make([]int, d.TrainN)
	for i := range pool {
		pool[i] = i
	}
	return l.(*Learner), pool
}

// BenchmarkProbsMNIST60k scores class probabilities of the whole MNIST pool.
func BenchmarkProbsMNIST60k(b *testing.B) {
	l, pool := benchLearner(b)
	defer l.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Probs(context.Background(), pool); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(pool)*b.N)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkMCDropoutT20MNIST60k draws T = 20 MC-dropout samples for the whole MNIST pool.
func BenchmarkMCDropoutT20MNIST60k(b *testing.B) {
	l, pool := benchLearner(b)
	defer l.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.MCProbs(context.Background(), pool, 20); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(pool)*b.N)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkConvTranspose2d runs forward and backward of VAAL's largest
// decoder layer at the CPU sweep's widths (batch 128, 64 -> 32 channels,
// 16 x 16 -> 32 x 32, kernel 4, stride 2) in the phase form ConvTranspose2d
// uses and in the zero-dilation form it replaced.
func BenchmarkConvTranspose2d(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, bc := range []struct {
		name string
		f    func(x, w, b *ts.Tensor, stride, pad int64, g *Bag) (*ts.Tensor, error)
	}{{"phases", ConvTranspose2d}, {"dilated", convTranspose2dDilated}} {
		b.Run(bc.name, func(b *testing.B) {
			var g Bag
			defer g.Drop()
			x, err := ts.Randn([]int64{128, 64, 16, 16}, gotch.Float, gotch.CPU)
			if err != nil {
				b.Fatal(err)
			}
			w, err := ts.Randn([]int64{64, 32, 4, 4}, gotch.Float, gotch.CPU)
			if err != nil {
				b.Fatal(err)
			}
			g.T(x)
			g.T(w)
			wg, err := w.SetRequiresGrad(true, false)
			if err != nil {
				b.Fatal(err)
			}
			g.T(wg)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var it Bag
				y, err := bc.f(x, wg, nil, 2, 1, &it)
				if err != nil {
					b.Fatal(err)
				}
				it.T(y)
				sum, err := y.Sum(gotch.Float, false)
				if err != nil {
					b.Fatal(err)
				}
				it.T(sum)
				gr, err := ts.RunBackward([]ts.Tensor{*sum}, []ts.Tensor{*wg}, false, false)
				if err != nil {
					b.Fatal(err)
				}
				it.T(&gr[0])
				it.Drop()
			}
		})
	}
}
