package strategies

import (
	"context"
	"fmt"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// benchSamples builds T synthetic MC-dropout samples of N points with C
// classes: per-point logits plus per-sample noise, so that the samples of a
// point are correlated as a real network's are.
func benchSamples(N, T, C int) []*mat.Dense {
	rng := seeded(2024, 1)
	base := make([]float64, N*C)
	for i := range base {
		base[i] = 3 * rng.NormFloat64()
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

// BenchmarkBayesian times the scoring on a 60,000-point pool (the MNIST
// pool size) with T = 20 and C = 10, excluding the network's MC passes.
func BenchmarkBayesian(b *testing.B) {
	const N, T, C = 60000, 20, 10
	s := benchSamples(N, T, C)
	b.Run("bald", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := BALD(s); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, k := range []int{10, 100} {
		b.Run(fmt.Sprintf("batchbald/k=%d", k), func(b *testing.B) {
			o := BatchBALDOptions{MaxJointConfigs: 40000, NumSampledConfigs: 40000, Lazy: true}
			evals := 0
			for i := 0; i < b.N; i++ {
				res, err := BatchBALD(context.Background(), s, k, o, seeded(1, uint64(i)))
				if err != nil {
					b.Fatal(err)
				}
				evals = res.Evaluations
			}
			b.ReportMetric(float64(evals), "evals")
		})
	}
	// One step of the paper's full scan with sampled joint entropies
	// (M = 40,000) on a 1,000-point subset, to show the cost per evaluation.
	b.Run("batchbald-fullscan-step/N=1000/M=40000/8picks/200evals", func(b *testing.B) {
		sub := make([]*mat.Dense, T)
		for t := range sub {
			sub[t] = mat.DenseCopyOf(s[t].Slice(0, 1000, 0, C))
		}
		st := newBBState(sub, BatchBALDOptions{MaxJointConfigs: 1, NumSampledConfigs: 40000}, seeded(1, 1))
		for j := 0; j < 8; j++ {
			st.add(j)
		}
		b.Logf("%d distinct configurations, mean support %.1f", len(st.mix.ws), float64(len(st.mix.ts))/float64(len(st.mix.ws)))
		rows := make([]int, 200)
		for i := range rows {
			rows[i] = i + 8
		}
		g := make([]float64, len(rows))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			st.evalRows(rows, g)
		}
	})
}
