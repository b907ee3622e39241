package strategies

import (
	"context"
	"fmt"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// benchSamples builds T synthetic MC-dropout samples of N points with C
// classes: per-point logits plus per-sample noise (std 1.5), so that a
// point's samples are correlated as a real network's are. A fraction
// `confident` of the points has logits of scale 10 (confidently predicted,
// BALD near 0, like most of MNIST under a trained CNN); the rest scale 3.
func benchSamples(N, T, C int, confident float64) []*mat.Dense {
	rng := seeded(2024, 1)
	base := make([]float64, N*C)
	for i := 0; i < N; i++ {
		scale := 3.0
		if rng.Float64() < confident {
			scale = 10
		}
		for c := 0; c < C; c++ {
			base[i*C+c] = scale * rng.NormFloat64()
		}
	}
	out := make([]*mat.Dense, T)
	for t := range out {
		d := make([]float64, N*C)
		for i := 0; i < N; i++ {
			row := d[i*C : (i+1)*C]
			z := 0.0
			for c := range row {
				row[c] = math.Exp(base[i*C+c] + 1.5*rng.NormFloat64())
				z += row[c]
			}
			for c := range row {
				row[c] /= z
			}
		}
		out[t] = mat.NewDense(N, C, d)
	}
	return out
}

// BenchmarkBayesian times the scoring alone (no network passes) with T = 20
// MC samples of C = 10 classes, on the MNIST pool size N = 60,000 and on a
// tenth of it, with a pool where 90% of the points are confidently predicted
// (as MNIST is under a trained CNN). Run one size with e.g.
//
//	go test -run '^$' -bench 'Bayesian/batchbald/N=6000' -benchtime 1x ./strategies/
func BenchmarkBayesian(b *testing.B) {
	const T, C = 20, 10
	pools := map[int][]*mat.Dense{}
	pool := func(N int) []*mat.Dense {
		if pools[N] == nil {
			pools[N] = benchSamples(N, T, C, 0.9)
		}
		return pools[N]
	}
	for _, N := range []int{6000, 60000} {
		b.Run(fmt.Sprintf("bald/N=%d", N), func(b *testing.B) {
			s := pool(N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := BALD(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, N := range []int{6000, 60000} {
		for _, k := range []int{10, 100} {
			b.Run(fmt.Sprintf("batchbald/N=%d/k=%d", N, k), func(b *testing.B) {
				s := pool(N)
				o := BatchBALDOptions{MaxJointConfigs: 40000, NumSampledConfigs: 40000, Lazy: true}
				evals := 0
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					res, err := BatchBALD(context.Background(), s, k, o, seeded(1, uint64(i)))
					if err != nil {
						b.Fatal(err)
					}
					evals = res.Evaluations
				}
				b.ReportMetric(float64(evals)/float64(N), "evals/point")
			})
		}
	}
	// One greedy step's cost per candidate evaluation with 8 points chosen
	// (sampled joint entropies, M = 40,000 configurations before merging).
	b.Run("batchbald-eval/M=40000/8picks", func(b *testing.B) {
		s := pool(6000)
		sub := make([]*mat.Dense, T)
		for t := range sub {
			sub[t] = mat.DenseCopyOf(s[t].Slice(0, 1000, 0, C))
		}
		st := newBBState(sub, BatchBALDOptions{MaxJointConfigs: 1, NumSampledConfigs: 40000}, seeded(1, 1))
		for j := 0; j < 8; j++ {
			st.add(j)
		}
		rows := make([]int, 200)
		for i := range rows {
			rows[i] = i + 8
		}
		g := make([]float64, len(rows))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			st.evalRows(rows, g)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows))/1e6, "ms/eval")
		b.ReportMetric(float64(len(st.mix.ws)), "configs")
	})
}
