package strategies

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// naiveLloyd is textbook weighted Lloyd: assign every row to its nearest
// centre (lowest index on ties), move every centre to its weighted mean;
// stop when no assignment changes or after maxIter updates.
func naiveLloyd(x [][]float64, w []float64, centres [][]float64, maxIter int) ([][]float64, []int) {
	assignAll := func() []int {
		out := make([]int, len(x))
		for i, r := range x {
			best := math.Inf(1)
			for j, c := range centres {
				s := 0.0
				for f := range r {
					s += (r[f] - c[f]) * (r[f] - c[f])
				}
				if s < best {
					best, out[i] = s, j
				}
			}
		}
		return out
	}
	a := assignAll()
	for it := 0; it < maxIter; it++ {
		next := make([][]float64, len(centres))
		tot := make([]float64, len(centres))
		for j := range next {
			next[j] = make([]float64, len(x[0]))
		}
		for i, r := range x {
			for f := range r {
				next[a[i]][f] += w[i] * r[f]
			}
			tot[a[i]] += w[i]
		}
		for j := range next {
			for f := range next[j] {
				next[j][f] /= tot[j]
			}
		}
		centres = next
		b := assignAll()
		same := slices.Equal(a, b)
		a = b
		if same {
			break
		}
	}
	return centres, a
}

func TestLloydWithBoundsEqualsNaiveLloyd(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	const n, d, k = chunkRows + 777, 6, 12
	m := blobs(rng, [][]float64{{0, 0, 0, 0, 0, 0}, {4, 0, 0, 0, 0, 0}, {0, 4, 0, 0, 0, 0}, {0, 0, 4, 4, 0, 0}}, n/4, 1.5)
	x := mat.NewDense(len(m.x), d, nil)
	w := make([]float64, len(m.x))
	for i, r := range m.x {
		x.SetRow(i, r)
		w[i] = 0.5 + rng.Float64()
	}
	init := make([][]float64, k)
	c0 := mat.NewDense(k, d, nil)
	for j := range init {
		init[j] = m.x[rng.IntN(len(m.x))]
		c0.SetRow(j, init[j])
	}
	for _, maxIter := range []int{1, 3, 200} {
		got, ga, err := lloyd(context.Background(), x, sqNorms(rowsOf(x)), w, mat.DenseCopyOf(c0), maxIter, 0)
		if err != nil {
			t.Fatal(err)
		}
		want, wa := naiveLloyd(m.x, w, init, maxIter)
		if !slices.Equal(ga, wa) {
			diff := 0
			for i := range ga {
				if ga[i] != wa[i] {
					diff++
				}
			}
			t.Errorf("max_iter %d: %d of %d assignments differ from plain Lloyd", maxIter, diff, len(ga))
		}
		for j := range want {
			for f := range want[j] {
				if math.Abs(got.At(j, f)-want[j][f]) > 1e-9 {
					t.Fatalf("max_iter %d: centre %d = %v, plain Lloyd %v", maxIter, j, got.RawRowView(j), want[j])
				}
			}
		}
	}
}
