package trainers

import (
	"context"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// randomFeatures returns n x d features around C class centres and the
// classes, with `labeled` known labels.
func randomFeatures(n, d, classes, labeled int) (*mat.Dense, []int) {
	rng := rand.New(rand.NewPCG(1, 2))
	centres := make([][]float64, classes)
	for c := range centres {
		centres[c] = make([]float64, d)
		for j := range centres[c] {
			centres[c][j] = rng.NormFloat64()
		}
	}
	x := mat.NewDense(n, d, nil)
	known := make([]int, n)
	for i := 0; i < n; i++ {
		c := i % classes
		for j := 0; j < d; j++ {
			x.Set(i, j, centres[c][j]+0.7*rng.NormFloat64())
		}
		known[i] = -1
		if i < labeled {
			known[i] = c
		}
	}
	return x, known
}

// BenchmarkLabelPropagation is SSAL's per-epoch graph step at its default
// size: 10,000 unlabeled + 300 labeled samples, 128-d embeddings, k = 50.
func BenchmarkLabelPropagation(b *testing.B) {
	x, known := randomFeatures(10300, 128, 10, 300)
	opt := LPOptions{K: 50, Gamma: 3, Alpha: 0.99, MaxIter: 20, Tol: 1e-6}
	for b.Loop() {
		if _, err := LabelPropagation(context.Background(), x, known, 10, opt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKMeans is one DeepCluster clustering of a 10,000-sample pool:
// 128-d features, 100 clusters, 20 iterations.
func BenchmarkKMeans(b *testing.B) {
	x, _ := randomFeatures(10000, 128, 10, 0)
	for b.Loop() {
		if _, _, err := kmeans(context.Background(), x, 100, 20, rand.New(rand.NewPCG(1, 1))); err != nil {
			b.Fatal(err)
		}
	}
}
