package strategies

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

func points(vals ...[]float64) *geoModel {
	m := &geoModel{x: vals}
	d := len(vals[0])
	m.W = [][]float64{make([]float64, d), make([]float64, d)}
	m.b = []float64{0, 0}
	return m
}

func oneD(vals ...float64) *geoModel {
	rows := make([][]float64, len(vals))
	for i, v := range vals {
		rows[i] = []float64{v}
	}
	return points(rows...)
}

// naiveKCenter is the textbook greedy k-center with explicit distances.
func naiveKCenter(x [][]float64, centres [][]float64, k int) []int {
	dist := func(a, b []float64) float64 {
		s := 0.0
		for i := range a {
			s += (a[i] - b[i]) * (a[i] - b[i])
		}
		return math.Sqrt(s)
	}
	cs := append([][]float64(nil), centres...)
	chosen := map[int]bool{}
	var out []int
	for len(out) < k {
		best, bv := -1, -1.0
		for i, p := range x {
			if chosen[i] {
				continue
			}
			m := math.Inf(1)
			for _, c := range cs {
				m = math.Min(m, dist(p, c))
			}
			if m > bv {
				best, bv = i, m
			}
		}
		out = append(out, best)
		chosen[best] = true
		cs = append(cs, x[best])
	}
	return out
}

func TestCoresetKnownSequence1D(t *testing.T) {
	// Labeled: 0. Candidates 1, 2.5, 4, 10, 11.8, 20. Greedy k-center takes
	// 20 (farthest from 0), then 10 (10 from both), then 4, 11.8, 2.5, 1.
	m := oneD(0, 1, 2.5, 4, 10, 11.8, 20)
	q := Query{Model: m, Candidates: seq(1, 7), Labeled: []int{0}, K: 6, RNG: seeded(1, 2)}
	got, err := Coreset{}.Select(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{6, 4, 3, 5, 2, 1}; !slices.Equal(got, want) {
		t.Errorf("picks %v, want %v", got, want)
	}
	for k := 1; k <= 6; k++ {
		q.K = k
		got, err := Coreset{}.Select(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{6, 4, 3, 5, 2, 1}[:k]; !slices.Equal(got, want) {
			t.Errorf("k=%d: picks %v, want the prefix %v", k, got, want)
		}
	}
}

func TestCoresetFarthestFromLabeledFirst(t *testing.T) {
	// Two labeled points; the candidate farthest from both is picked first,
	// even though it is not the farthest from either one alone.
	m := points(
		[]float64{0, 0}, []float64{10, 0}, // labeled
		[]float64{5, 4},  // 6.40 from both
		[]float64{-3, 0}, // 3 from (0,0)
		[]float64{14, 1}, // 4.12 from (10,0)
		[]float64{5, -6}, // 7.81 from both: farthest
		[]float64{1, 1},
	)
	q := Query{Model: m, Candidates: []int{2, 3, 4, 5, 6}, Labeled: []int{0, 1}, K: 1, RNG: seeded(1, 2)}
	got, err := Coreset{}.Select(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 5 {
		t.Errorf("first pick %d, want 5", got[0])
	}
}

func TestCoresetMatchesNaiveGreedy(t *testing.T) {
	// Random data larger than one chunk, so the parallel path runs; the picks
	// equal the textbook algorithm's.
	rng := rand.New(rand.NewPCG(3, 4))
	const n, d, nl = 2*chunkRows + 123, 5, 7
	x := make([][]float64, n)
	for i := range x {
		x[i] = make([]float64, d)
		for j := range x[i] {
			x[i][j] = rng.NormFloat64() * float64(j+1)
		}
	}
	m := points(x...)
	cands, lab := seq(nl, n), seq(0, nl)
	got, err := Coreset{}.Select(context.Background(), Query{Model: m, Candidates: cands, Labeled: lab, K: 12, RNG: seeded(1, 2)})
	if err != nil {
		t.Fatal(err)
	}
	ref := naiveKCenter(x[nl:], x[:nl], 12)
	for i := range ref {
		ref[i] += nl
	}
	if !slices.Equal(got, ref) {
		t.Errorf("picks %v, naive greedy %v", got, ref)
	}
}

func TestCoresetWithoutLabeledDrawsFirstThenFarthest(t *testing.T) {
	m := oneD(0, 1, 2, 3, 100)
	q := Query{Model: m, Candidates: seq(0, 5), K: 2, RNG: seeded(5, 6)}
	a, err := Coreset{}.Select(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	q.RNG = seeded(5, 6)
	b, _ := Coreset{}.Select(context.Background(), q)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, picks %v and %v", a, b)
	}
	want := 4
	if a[0] == 4 {
		want = 0
	}
	if a[1] != want {
		t.Errorf("picks %v: the second should be the point farthest from the first (%d)", a, want)
	}
}

func TestCoresetDuplicatePointsStayDistinct(t *testing.T) {
	m := oneD(1, 1, 1, 1, 1, 1)
	q := Query{Model: m, Candidates: seq(1, 6), Labeled: []int{0}, K: 5, RNG: seeded(1, 2)}
	got, err := Coreset{}.Select(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkSelection(got, q); err != nil {
		t.Error(err)
	}
}

func TestCoresetErrors(t *testing.T) {
	ctx := context.Background()
	m := oneD(0, 1, 2)
	if _, err := (Coreset{}).Select(ctx, Query{Model: noExtras{&geoModel{x: m.x, W: m.W, b: m.b}}, Candidates: []int{1}, K: 1, RNG: seeded(1, 1)}); err != nil {
		t.Errorf("embeddings are in Model: %v", err)
	}
	nan := oneD(0, math.NaN(), 2)
	_, err := Coreset{}.Select(ctx, Query{Model: nan, Candidates: []int{1, 2}, Labeled: []int{0}, K: 1, RNG: seeded(1, 1)})
	if err == nil || !strings.Contains(err.Error(), "pool index 1") || !strings.Contains(err.Error(), "coreset") {
		t.Errorf("NaN embedding: err = %v", err)
	}
	_, err = Coreset{}.Select(ctx, Query{Model: &fakeModel{probs: probMatrix}, Candidates: []int{1, 2}, K: 1, RNG: seeded(1, 1)})
	if !learner.IsCapabilityError(err) {
		t.Errorf("model without embeddings: err = %v, want a CapabilityError", err)
	}
	if _, err := KCenterGreedy(ctx, mat.NewDense(2, 1, []float64{1, 2}), nil, 3, seeded(1, 1)); err == nil {
		t.Error("k > rows accepted")
	}
	if _, err := KCenterGreedy(ctx, mat.NewDense(2, 1, []float64{1, 2}), mat.NewDense(1, 2, nil), 1, nil); err == nil {
		t.Error("centre width mismatch accepted")
	}
}
