package strategies

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// explicitGrad is the flattened outer product q ⊗ h.
func explicitGrad(q, h []float64) []float64 {
	out := make([]float64, 0, len(q)*len(h))
	for _, a := range q {
		for _, b := range h {
			out = append(out, a*b)
		}
	}
	return out
}

func randomProbs(rng *rand.Rand, n, c int) *mat.Dense {
	p := mat.NewDense(n, c, nil)
	for i := 0; i < n; i++ {
		row := p.RawRowView(i)
		for j := range row {
			row[j] = rng.ExpFloat64()
		}
		floats.Scale(1/floats.Sum(row), row)
	}
	return p
}

func randomMatrix(rng *rand.Rand, n, d int) *mat.Dense {
	m := mat.NewDense(n, d, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			m.Set(i, j, rng.NormFloat64())
		}
	}
	return m
}

func TestGradEmbeddingsKnownValues(t *testing.T) {
	p := mat.NewDense(2, 3, []float64{0.2, 0.5, 0.3, 0.4, 0.4, 0.2})
	got := GradEmbeddings(p)
	want := mat.NewDense(2, 3, []float64{0.2, -0.5, 0.3, -0.6, 0.4, 0.2}) // ties: lowest class
	if !mat.EqualApprox(got, want, 1e-15) {
		t.Errorf("GradEmbeddings = %v, want %v", mat.Formatted(got), mat.Formatted(want))
	}
}

func TestBadgeImplicitProductsEqualExplicit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const n, c, d = 6, 4, 5
	q := GradEmbeddings(randomProbs(rng, n, c))
	h := randomMatrix(rng, n, d)
	for i := 0; i < n; i++ {
		gi := explicitGrad(q.RawRowView(i), h.RawRowView(i))
		qi, hi := q.RawRowView(i), h.RawRowView(i)
		if a, b := floats.Dot(gi, gi), floats.Dot(qi, qi)*floats.Dot(hi, hi); math.Abs(a-b) > 1e-12 {
			t.Errorf("||g_%d||^2: explicit %g, implicit %g", i, a, b)
		}
		for j := 0; j < n; j++ {
			gj := explicitGrad(q.RawRowView(j), h.RawRowView(j))
			qj, hj := q.RawRowView(j), h.RawRowView(j)
			dot := floats.Dot(qi, qj) * floats.Dot(hi, hj)
			if a := floats.Dot(gi, gj); math.Abs(a-dot) > 1e-12 {
				t.Errorf("<g_%d, g_%d>: explicit %g, implicit %g", i, j, a, dot)
			}
			diff := make([]float64, len(gi))
			floats.SubTo(diff, gi, gj)
			implicit := sqDist(floats.Dot(qi, qi)*floats.Dot(hi, hi), floats.Dot(qj, qj)*floats.Dot(hj, hj), dot)
			if a := floats.Dot(diff, diff); math.Abs(a-implicit) > 1e-12 {
				t.Errorf("||g_%d - g_%d||^2: explicit %g, implicit %g", i, j, a, implicit)
			}
		}
	}
}

func TestBadgeSeedingHasTheKMeansPPDistribution(t *testing.T) {
	// On 6 explicit gradient embeddings, the exact probability of every
	// (second, third) pick pair under k-means++ is computed from the
	// explicit vectors; the lazy rejection sampler's frequencies over many
	// seeds must match it.
	rng := rand.New(rand.NewPCG(2, 2))
	const n, c, d, runs = 6, 3, 4, 40000
	q := GradEmbeddings(randomProbs(rng, n, c))
	h := randomMatrix(rng, n, d)
	g := make([][]float64, n)
	for i := range g {
		g[i] = explicitGrad(q.RawRowView(i), h.RawRowView(i))
	}
	sq := func(a, b []float64) float64 {
		diff := make([]float64, len(a))
		floats.SubTo(diff, a, b)
		return floats.Dot(diff, diff)
	}
	first := 0
	for i := range g {
		if floats.Dot(g[i], g[i]) > floats.Dot(g[first], g[first]) {
			first = i
		}
	}
	want := map[[2]int]float64{}
	d1 := make([]float64, n)
	for i := range g {
		d1[i] = sq(g[i], g[first])
	}
	for j := 0; j < n; j++ {
		if j == first {
			continue
		}
		pj := d1[j] / floats.Sum(d1)
		d2 := make([]float64, n)
		for i := range g {
			d2[i] = math.Min(d1[i], sq(g[i], g[j]))
		}
		for l := 0; l < n; l++ {
			if l != first && l != j {
				want[[2]int{j, l}] = pj * d2[l] / floats.Sum(d2)
			}
		}
	}
	got := map[[2]int]int{}
	for r := 0; r < runs; r++ {
		p, err := BadgeSeeding(context.Background(), q, h, 3, seeded(uint64(r), 77))
		if err != nil {
			t.Fatal(err)
		}
		if p[0] != first {
			t.Fatalf("first pick %d, want %d (largest norm)", p[0], first)
		}
		got[[2]int{p[1], p[2]}]++
	}
	for pair, pw := range want {
		f := float64(got[pair]) / runs
		sd := math.Sqrt(pw * (1 - pw) / runs)
		if math.Abs(f-pw) > 5*sd+1e-4 {
			t.Errorf("picks %v: frequency %.4f, k-means++ probability %.4f (sd %.4f)", pair, f, pw, sd)
		}
	}
	for pair, cnt := range got {
		if _, ok := want[pair]; !ok {
			t.Errorf("impossible picks %v drawn %d times", pair, cnt)
		}
	}
}

func TestSumTree(t *testing.T) {
	tr := newSumTree([]float64{0, 2, 0, 3, 5})
	if tr.total() != 10 {
		t.Fatalf("total %g", tr.total())
	}
	for _, tc := range []struct {
		u    float64
		want int
	}{{0, 1}, {1.99, 1}, {2, 3}, {4.99, 3}, {5, 4}, {9.99, 4}, {10, 4}, {11, 4}} {
		if got := tr.find(tc.u); got != tc.want {
			t.Errorf("find(%g) = %d, want %d", tc.u, got, tc.want)
		}
	}
	tr.set(4, 0)
	tr.set(0, 1)
	if tr.total() != 6 || tr.find(0.5) != 0 || tr.find(5.9) != 3 || tr.find(100) != 3 {
		t.Errorf("after updates: total %g, find(0.5) %d, find(5.9) %d, find(100) %d", tr.total(), tr.find(0.5), tr.find(5.9), tr.find(100))
	}
}

func TestBadgeFirstPickHasLargestGradientNorm(t *testing.T) {
	// Candidate 3 is both uncertain and has a long embedding.
	m := &geoModel{
		x: [][]float64{{1, 0}, {0, 1}, {3, 0}, {2, 2}, {0.5, 0.5}},
		probs: [][]float64{
			{0.9, 0.1}, {0.6, 0.4}, {0.99, 0.01}, {0.55, 0.45}, {0.5, 0.5},
		},
	}
	q := Query{Model: m, Candidates: seq(0, 5), K: 3, RNG: seeded(1, 2)}
	got, err := Badge{}.Select(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	// ||g||^2 = 2(1-p_max)^2 ||h||^2: 0.02, 0.32, 0.0018, 1.62, 0.25.
	if got[0] != 3 {
		t.Errorf("first pick %d, want 3 (largest gradient norm)", got[0])
	}
	if err := checkSelection(got, q); err != nil {
		t.Error(err)
	}
}

func TestBadgeDistinctEvenWhenAllEqual(t *testing.T) {
	// Identical gradient embeddings: every D^2 weight is zero after the first
	// pick, so the rest are drawn uniformly; still k distinct candidates.
	m := &geoModel{x: make([][]float64, 8), probs: make([][]float64, 8)}
	for i := range m.x {
		m.x[i] = []float64{1, 2}
		m.probs[i] = []float64{0.7, 0.3}
	}
	q := Query{Model: m, Candidates: seq(0, 8), K: 8, RNG: seeded(1, 2)}
	got, err := Badge{}.Select(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkSelection(got, q); err != nil {
		t.Error(err)
	}
}

func TestBadgeSpreadsOverBlobs(t *testing.T) {
	// Four tight blobs with equal uncertainty: four picks land in four blobs
	// with high probability under D^2 sampling (the blobs are 100 apart,
	// their width 0.01), for every seed tried.
	rng := rand.New(rand.NewPCG(7, 7))
	m := blobs(rng, [][]float64{{0, 0}, {100, 0}, {0, 100}, {100, 100}}, 25, 0.01)
	for range m.x {
		m.probs = append(m.probs, []float64{0.6, 0.4})
	}
	for seed := uint64(0); seed < 5; seed++ {
		q := Query{Model: m, Candidates: seq(0, 100), K: 4, RNG: seeded(seed, 1)}
		got, err := Badge{}.Select(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		blob := map[int]bool{}
		for _, i := range got {
			blob[i/25] = true
		}
		if len(blob) != 4 {
			t.Errorf("seed %d: picks %v cover blobs %v, want all four", seed, got, blob)
		}
	}
}
