package strategies

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

func TestTypicalityKnownValues(t *testing.T) {
	xr := [][]float64{{0}, {1}, {3}, {100}}
	// K = 1 over rows {0, 1, 2}: nearest distances 1, 1, 2.
	got := Typicality(xr, []int{0, 1, 2}, 1)
	want := []float64{1 / (1 + 1e-5), 1 / (1 + 1e-5), 1 / (2 + 1e-5)}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("K=1: typicality[%d] = %g, want %g", i, got[i], want[i])
		}
	}
	// K = 2 over all four: 0 -> (1+3)/2, 1 -> (1+2)/2, 3 -> (2+3)/2, 100 -> (97+99)/2.
	got = Typicality(xr, []int{0, 1, 2, 3}, 2)
	for i, md := range []float64{2, 1.5, 2.5, 98} {
		if w := 1 / (md + 1e-5); math.Abs(got[i]-w) > 1e-12 {
			t.Errorf("K=2: typicality[%d] = %g, want %g", i, got[i], w)
		}
	}
}

func TestTypicalityLargeMatchesBruteForce(t *testing.T) {
	// More rows than one block, so the blocked and parallel path runs.
	rng := rand.New(rand.NewPCG(2, 3))
	const m, d, K = 2*gemmBlock + 17, 3, 5
	xr := make([][]float64, m)
	for i := range xr {
		xr[i] = []float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
	}
	got := Typicality(xr, seq(0, m), K)
	for _, i := range []int{0, 100, gemmBlock, m - 1} {
		var ds []float64
		for j := range xr {
			if j != i {
				diff := make([]float64, d)
				floats.SubTo(diff, xr[i], xr[j])
				ds = append(ds, floats.Norm(diff, 2))
			}
		}
		sort.Float64s(ds)
		want := 1 / (floats.Sum(ds[:K])/K + 1e-5)
		if math.Abs(got[i]-want) > 1e-9*want {
			t.Errorf("row %d: typicality %g, brute force %g", i, got[i], want)
		}
	}
}

func fiveBlobs(seed uint64) (*geoModel, [][]float64) {
	centres := [][]float64{{0, 0}, {30, 0}, {0, 30}, {30, 30}, {15, 60}}
	return blobs(rand.New(rand.NewPCG(seed, 1)), centres, 40, 1), centres
}

// coreRings returns, per centre, a dense core (the centre and 9 points at
// radius 0.1) followed by a ring of 30 points at radius 3: the typical
// samples are the core's.
func coreRings(centres [][]float64) *geoModel {
	var rows [][]float64
	for _, c := range centres {
		rows = append(rows, []float64{c[0], c[1]})
		for i := 0; i < 9; i++ {
			a := 2 * math.Pi * float64(i) / 9
			rows = append(rows, []float64{c[0] + 0.1*math.Cos(a), c[1] + 0.1*math.Sin(a)})
		}
		for i := 0; i < 30; i++ {
			a := 2 * math.Pi * (float64(i) + 0.5) / 30
			rows = append(rows, []float64{c[0] + 3*math.Cos(a), c[1] + 3*math.Sin(a)})
		}
	}
	return points(rows...)
}

func TestTypiClustOnePickPerClusterFromItsCore(t *testing.T) {
	m := coreRings([][]float64{{0, 0}, {30, 0}, {0, 30}, {30, 30}, {15, 60}})
	for seed := uint64(0); seed < 4; seed++ {
		s, err := New("typiclust", map[string]any{"dim": 0})
		if err != nil {
			t.Fatal(err)
		}
		q := Query{Model: m, Candidates: seq(0, 200), K: 5, RNG: seeded(seed, 2)}
		got, err := s.Select(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkSelection(got, q); err != nil {
			t.Fatal(err)
		}
		seen := map[int]bool{}
		for _, i := range got {
			seen[i/40] = true
			if i%40 >= 10 {
				t.Errorf("seed %d: pick %d is on a ring, want a core (typical) sample", seed, i)
			}
		}
		if len(seen) != 5 {
			t.Errorf("seed %d: picks %v cover %d of 5 clusters", seed, got, len(seen))
		}
	}
}

func TestTypiClustPrefersUncoveredClusters(t *testing.T) {
	// Blobs 0 and 1 hold labeled samples; 3 picks go to blobs 2, 3, 4.
	m, _ := fiveBlobs(4)
	lab := []int{0, 1, 40, 41}
	var cands []int
	for i := 0; i < 200; i++ {
		if !slices.Contains(lab, i) {
			cands = append(cands, i)
		}
	}
	s, _ := New("typiclust", map[string]any{"dim": 0})
	q := Query{Model: m, Candidates: cands, Labeled: lab, K: 3, RNG: seeded(1, 2)}
	got, err := s.Select(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkSelection(got, q); err != nil {
		t.Fatal(err)
	}
	var blobsHit []int
	for _, i := range got {
		blobsHit = append(blobsHit, i/40)
	}
	sort.Ints(blobsHit)
	if !slices.Equal(blobsHit, []int{2, 3, 4}) {
		t.Errorf("picks %v in blobs %v, want blobs 2, 3, 4", got, blobsHit)
	}
}

func TestTypiClustColdStart(t *testing.T) {
	m, _ := fiveBlobs(5)
	var ts TypiClust
	s, _ := New("typiclust", nil)
	ts = s.(TypiClust)
	var cs ColdStarter = ts
	pool := seq(0, 200)
	got, err := cs.SelectInitial(context.Background(), m, pool, 5, seeded(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, i := range got {
		seen[i/40] = true
	}
	if len(seen) != 5 || len(got) != 5 {
		t.Errorf("cold start picks %v cover %d of 5 blobs", got, len(seen))
	}
	// More picks than clusters' eligible members: all distinct, all in the pool.
	got, err = cs.SelectInitial(context.Background(), m, pool[:12], 12, seeded(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	sorted := slices.Clone(got)
	sort.Ints(sorted)
	if !slices.Equal(sorted, pool[:12]) {
		t.Errorf("choosing the whole pool of 12 gave %v", got)
	}
	if _, err := cs.SelectInitial(context.Background(), m, pool[:3], 4, seeded(1, 1)); err == nil {
		t.Error("n > pool accepted")
	}
}

func TestTypiClustCapabilitiesAndOptions(t *testing.T) {
	m, _ := fiveBlobs(1)
	s, _ := New("typiclust", nil)
	if n := s.(Needer).Needs(); !slices.Equal(n, []learner.Capability{learner.CapInputs}) {
		t.Errorf("features inputs needs %v", n)
	}
	_, err := s.Select(context.Background(), Query{Model: noExtras{m}, Candidates: seq(0, 10), K: 2, RNG: seeded(1, 1)})
	if !learner.IsCapabilityError(err) {
		t.Errorf("model without inputs: err = %v, want a CapabilityError", err)
	}
	e, _ := New("typiclust", map[string]any{"features": "embeddings"})
	if n := e.(Needer).Needs(); !slices.Equal(n, []learner.Capability{learner.CapEmbeddings}) {
		t.Errorf("features embeddings needs %v", n)
	}
	if _, err := e.Select(context.Background(), Query{Model: noExtras{m}, Candidates: seq(0, 10), K: 2, RNG: seeded(1, 1)}); err != nil {
		t.Errorf("features embeddings: %v", err)
	}
	for _, opts := range []map[string]any{{"features": "simclr"}, {"knn": 0}, {"dim": -1}, {"max_clusters": 0}} {
		if _, err := New("typiclust", opts); err == nil {
			t.Errorf("options %v accepted", opts)
		}
	}
}

func TestProjectedInputsStandardises(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	rows := make([][]float64, 5000)
	for i := range rows {
		rows[i] = []float64{3 + 2*rng.NormFloat64(), -1 + 0.5*rng.NormFloat64(), 7, rng.Float64()}
	}
	m := points(rows...)
	x, err := ProjectedInputs(context.Background(), m, seq(0, 5000), 0, true)
	if err != nil {
		t.Fatal(err)
	}
	for j := 0; j < 4; j++ {
		col := mat.Col(nil, j, x)
		mean := floats.Sum(col) / 5000
		v := 0.0
		for _, c := range col {
			v += (c - mean) * (c - mean)
		}
		v /= 5000
		wantVar := 1.0
		if j == 2 {
			wantVar = 0 // constant feature: centred only
		}
		if math.Abs(mean) > 1e-9 || math.Abs(v-wantVar) > 1e-9 {
			t.Errorf("feature %d: mean %g, variance %g, want 0 and %g", j, mean, v, wantVar)
		}
	}
	// Projection to 2 dimensions: fixed (same output twice), N x 2.
	p1, err := ProjectedInputs(context.Background(), m, seq(0, 100), 2, true)
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := ProjectedInputs(context.Background(), m, seq(0, 100), 2, true)
	if r, c := p1.Dims(); r != 100 || c != 2 || !mat.Equal(p1, p2) {
		t.Errorf("projection: %d x %d, deterministic %v", r, c, mat.Equal(p1, p2))
	}
	// Without standardisation or projection the inputs come back as they are.
	raw, err := ProjectedInputs(context.Background(), m, []int{7, 3}, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if !mat.Equal(raw, mat.NewDense(2, 4, append(append([]float64(nil), rows[7]...), rows[3]...))) {
		t.Errorf("raw inputs changed: %v", mat.Formatted(raw))
	}
	nan := points([]float64{1, 2}, []float64{math.NaN(), 1})
	if _, err := ProjectedInputs(context.Background(), nan, []int{0, 1}, 0, false); err == nil || !strings.Contains(err.Error(), "pool index 1") {
		t.Errorf("NaN input: err = %v", err)
	}
}
