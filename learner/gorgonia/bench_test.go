package gorgonia

import (
	"context"
	"testing"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/learner"
)

// benchLearner returns the BatchBALD CNN over the full MNIST training pool
// (60,000 images), fitted briefly on 100 labels: the same set-up as the torch
// backend's benchmarks (learner/torch/bench_test.go), for comparison.
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

// BenchmarkTrainEpochMNIST trains the CNN for one epoch of 1,024 draws from
// 100 labels (the default config's min_epoch_samples) in minibatches of 64.
func BenchmarkTrainEpochMNIST(b *testing.B) {
	l, _ := benchLearner(b)
	defer l.Close()
	l.cfg.Train.MinEpochSamples = 1024
	train := learner.Labeled{}
	for i := 0; i < 100; i++ {
		train.Idx = append(train.Idx, i)
		train.Y = append(train.Y, i%10)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Fit(context.Background(), train, learner.Labeled{}, uint64(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(1024*b.N)/b.Elapsed().Seconds(), "samples/s")
}
