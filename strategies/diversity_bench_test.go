package strategies

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// benchModel serves precomputed embeddings and probabilities, as the memo
// does after the round's forward passes, so the benchmarks time the
// strategies alone. Rows 0..N-1 are candidates, the rest labeled.
type benchModel struct {
	emb, probs *mat.Dense
	n          int // candidates
}

func (m *benchModel) gather(src *mat.Dense, idx []int) *mat.Dense {
	if len(idx) == m.n && idx[0] == 0 && idx[len(idx)-1] == m.n-1 {
		return src.Slice(0, m.n, 0, src.RawMatrix().Cols).(*mat.Dense)
	}
	_, c := src.Dims()
	out := mat.NewDense(len(idx), c, nil)
	for i, j := range idx {
		out.SetRow(i, src.RawRowView(j))
	}
	return out
}

func (m *benchModel) Probs(_ context.Context, idx []int) (*mat.Dense, error) {
	return m.gather(m.probs, idx), nil
}
func (m *benchModel) MCProbs(context.Context, []int, int) ([]*mat.Dense, error) {
	return nil, fmt.Errorf("no MC")
}
func (m *benchModel) Embed(_ context.Context, idx []int) (*mat.Dense, error) {
	return m.gather(m.emb, idx), nil
}
func (m *benchModel) Inputs(ctx context.Context, idx []int) (*mat.Dense, error) {
	return m.Embed(ctx, idx)
}
func (m *benchModel) NumClasses() int { _, c := m.probs.Dims(); return c }

// synthPool is a tabular pool of n candidates plus nl labeled samples in d
// dimensions: a mixture of 100 Gaussian clusters (ReLU'd, like penultimate
// activations), and 10-class probabilities from a random linear softmax.
func synthPool(n, nl, d int) *benchModel {
	rng := rand.New(rand.NewPCG(42, uint64(n)))
	const clusters, classes = 100, 10
	centres := make([][]float64, clusters)
	for c := range centres {
		centres[c] = make([]float64, d)
		for j := range centres[c] {
			centres[c][j] = 2 * rng.NormFloat64()
		}
	}
	w := make([]float64, classes*d)
	for i := range w {
		w[i] = rng.NormFloat64() / math.Sqrt(float64(d))
	}
	emb := mat.NewDense(n+nl, d, nil)
	probs := mat.NewDense(n+nl, classes, nil)
	for i := 0; i < n+nl; i++ {
		c := centres[rng.IntN(clusters)]
		row := emb.RawRowView(i)
		for j := range row {
			row[j] = math.Max(0, c[j]+rng.NormFloat64())
		}
		p := probs.RawRowView(i)
		mx := math.Inf(-1)
		for k := range p {
			s := 0.0
			for j, v := range row {
				s += w[k*d+j] * v
			}
			p[k] = s
			mx = math.Max(mx, s)
		}
		z := 0.0
		for k := range p {
			p[k] = math.Exp(p[k] - mx)
			z += p[k]
		}
		for k := range p {
			p[k] /= z
		}
	}
	return &benchModel{emb: emb, probs: probs, n: n}
}

var benchPools = map[int]*benchModel{}

func benchQuery(n, k int) Query {
	const nl = 100
	m, ok := benchPools[n]
	if !ok {
		m = synthPool(n, nl, 128)
		benchPools[n] = m
	}
	return Query{Model: m, Candidates: seq(0, n), Labeled: seq(n, n+nl), K: k, RNG: rand.New(rand.NewPCG(1, 2))}
}

// large1M reports whether the N = 1,000,000 benchmarks should run: they
// take minutes and about 1.5 GB, so only with ALRL_BENCH_1M=1.
func large1M(b *testing.B, n int) {
	if n >= 1000000 && os.Getenv("ALRL_BENCH_1M") != "1" {
		b.Skip("set ALRL_BENCH_1M=1 to run the N = 1,000,000 benchmark")
	}
}

func benchStrategy(b *testing.B, name string, opts map[string]any, sizes [][2]int) {
	for _, nk := range sizes {
		n, k := nk[0], nk[1]
		b.Run(fmt.Sprintf("N=%d/k=%d", n, k), func(b *testing.B) {
			large1M(b, n)
			q := benchQuery(n, k)
			s, err := New(name, opts)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				q.RNG = rand.New(rand.NewPCG(1, uint64(i)))
				if _, err := s.Select(context.Background(), q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var bigSizes = [][2]int{{60000, 10}, {60000, 100}, {1000000, 1000}}

// BenchmarkCoreset times greedy k-center on synthetic 128-d embeddings with
// 100 labeled centres.
func BenchmarkCoreset(b *testing.B) { benchStrategy(b, "coreset", nil, bigSizes) }

// BenchmarkBadge times BADGE's k-means++ seeding on synthetic 128-d
// embeddings and 10-class probabilities.
func BenchmarkBadge(b *testing.B) { benchStrategy(b, "badge", nil, bigSizes) }

// BenchmarkKMeans times k-means sampling at N = 60,000.
func BenchmarkKMeans(b *testing.B) { benchStrategy(b, "kmeans", nil, bigSizes[:2]) }

// BenchmarkDBALKMeans times the margin-prefiltered weighted k-means at N = 60,000.
func BenchmarkDBALKMeans(b *testing.B) { benchStrategy(b, "dbal_kmeans", nil, bigSizes[:2]) }

// BenchmarkTypiClust times TypiClust on the embeddings at N = 60,000.
func BenchmarkTypiClust(b *testing.B) {
	benchStrategy(b, "typiclust", map[string]any{"features": "embeddings"}, bigSizes[:2])
}

// BenchmarkDiscriminative times discriminative AL (its discriminator is
// trained in pure Go) at N = 60,000 with 100 labeled samples.
func BenchmarkDiscriminative(b *testing.B) { benchStrategy(b, "discriminative", nil, bigSizes[:2]) }
