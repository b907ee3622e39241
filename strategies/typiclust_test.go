package strategies

import (
	"context"
	"errors"
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
	// Typicality is 1 / (mean SQUARED distance to the K nearest + 1e-5).
	xr := [][]float64{{0}, {1}, {3}, {100}}
	// K = 1 over rows {0, 1, 2}: nearest squared distances 1, 1, 4.
	got := Typicality(xr, []int{0, 1, 2}, 1)
	want := []float64{1 / (1 + 1e-5), 1 / (1 + 1e-5), 1 / (4 + 1e-5)}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("K=1: typicality[%d] = %g, want %g", i, got[i], want[i])
		}
	}
	// K = 2 over all four: 0 -> (1+9)/2, 1 -> (1+4)/2, 3 -> (4+9)/2,
	// 100 -> (97^2+99^2)/2.
	got = Typicality(xr, []int{0, 1, 2, 3}, 2)
	for i, md := range []float64{5, 2.5, 6.5, 9605} {
		if w := 1 / (md + 1e-5); math.Abs(got[i]-w) > 1e-12*w {
			t.Errorf("K=2: typicality[%d] = %g, want %g", i, got[i], w)
		}
	}
}

func TestTypicalityKnownValues2D(t *testing.T) {
	// Five points in the plane, K = 2, worked by hand. Squared distances:
	//   A-B 4, A-C 1, A-D 18, A-E 2, B-C 5, B-D 10, B-E 2, C-D 13, C-E 1, D-E 8.
	// Two nearest per point and their mean:
	//   A: 1, 2 -> 1.5   B: 2, 4 -> 3   C: 1, 1 -> 1   D: 8, 10 -> 9   E: 1, 2 -> 1.5
	// (the mean Euclidean distance would give A (1 + sqrt 2)/2 = 1.207 instead).
	xr := [][]float64{{0, 0}, {2, 0}, {0, 1}, {3, 3}, {1, 1}}
	got := Typicality(xr, []int{0, 1, 2, 3, 4}, 2)
	for i, md := range []float64{1.5, 3, 1, 9, 1.5} {
		if w := 1 / (md + 1e-5); math.Abs(got[i]-w) > 1e-12*w {
			t.Errorf("typicality[%c] = %.12g, want 1/(%g + 1e-5) = %.12g", 'A'+i, got[i], md, w)
		}
	}
	// A subset is its own neighbourhood: over {A, B, D}, K = 1: A 4, B 4, D 10.
	got = Typicality(xr, []int{0, 1, 3}, 1)
	for i, md := range []float64{4, 4, 10} {
		if w := 1 / (md + 1e-5); math.Abs(got[i]-w) > 1e-12*w {
			t.Errorf("subset: typicality[%d] = %g, want %g", i, got[i], w)
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
				ds = append(ds, floats.Dot(diff, diff)) // squared distance
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
		s, err := New("typiclust", map[string]any{"dim": 0, "features": "inputs"})
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
	s, _ := New("typiclust", map[string]any{"dim": 0, "features": "inputs"})
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
	s, _ := New("typiclust", map[string]any{"features": "inputs"})
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
	s, _ := New("typiclust", map[string]any{"features": "inputs"})
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
	for _, opts := range []map[string]any{{"features": "simclr"}, {"knn": 0}, {"dim": -1}, {"max_clusters": 0},
		{"dc_epochs": 0}, {"dc_clusters": 1}, {"dc_pca": 0}, {"dc_kmeans_iters": 0}, {"dc_lr": -0.1}} {
		if _, err := New("typiclust", opts); err == nil {
			t.Errorf("options %v accepted", opts)
		}
	}
}

// tableFeatures is a FeatureSource over fixed rows, counting its calls.
type tableFeatures struct {
	rows  [][]float64
	calls int
}

func (f *tableFeatures) Features(_ context.Context, idx []int) (*mat.Dense, error) {
	f.calls++
	out := mat.NewDense(len(idx), len(f.rows[0]), nil)
	for i, j := range idx {
		out.SetRow(i, f.rows[j])
	}
	return out, nil
}

func TestTypiClustSelfSupervisedIsTheDefault(t *testing.T) {
	s, err := New("typiclust", nil)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := s.(SelfSupervisedUser).Pretraining()
	if !ok || p != (Pretraining{Epochs: 20, PCA: 256, KMeansIters: 20}) {
		t.Errorf("default pre-training %+v, %v; want ssal's DeepCluster defaults", p, ok)
	}
	if n := s.(Needer).Needs(); !slices.Equal(n, []learner.Capability{CapSelfSupervised}) {
		t.Errorf("features selfsupervised needs %v before a source is installed", n)
	}
	if got := NeedsPretraining(s); len(got) != 1 || got[0] != p {
		t.Errorf("NeedsPretraining = %v", got)
	}
	// Without a source: errors that name the fallback.
	m := coreRings([][]float64{{0, 0}, {30, 0}, {0, 30}, {30, 30}, {15, 60}})
	_, err = s.Select(context.Background(), Query{Model: m, Candidates: seq(0, 200), K: 5, RNG: seeded(1, 1)})
	if !learner.IsCapabilityError(err) || !strings.Contains(err.Error(), "features: inputs") {
		t.Errorf("Select without features: err = %v, want a CapabilityError naming features: inputs", err)
	}
	_, err = s.(ColdStarter).SelectInitial(context.Background(), m, seq(0, 200), 5, seeded(1, 1))
	if err == nil || !strings.Contains(err.Error(), "features: inputs") {
		t.Errorf("SelectInitial without features: err = %v, want one naming features: inputs", err)
	}
	// Inputs and embeddings need no pre-training.
	for _, f := range []string{"inputs", "embeddings"} {
		o, _ := New("typiclust", map[string]any{"features": f})
		if got := NeedsPretraining(o); len(got) != 0 {
			t.Errorf("features %s: NeedsPretraining = %v", f, got)
		}
	}
}

func TestTypiClustReadsInstalledFeatures(t *testing.T) {
	// The model's inputs and embeddings are uninformative noise; the
	// installed features are five core-and-ring clusters: the picks must
	// follow the features (one core sample per cluster).
	geo := coreRings([][]float64{{0, 0}, {30, 0}, {0, 30}, {30, 30}, {15, 60}})
	src := &tableFeatures{rows: geo.x}
	rng := rand.New(rand.NewPCG(9, 9))
	noise := make([][]float64, 200)
	for i := range noise {
		noise[i] = []float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
	}
	m := points(noise...)
	s0, _ := New("typiclust", map[string]any{"cache_dir": "/nowhere"})
	var got Pretraining
	s, err := InstallFeatures(s0, func(p Pretraining) (FeatureSource, error) { got = p; return src, nil })
	if err != nil {
		t.Fatal(err)
	}
	if got.CacheDir != "/nowhere" {
		t.Errorf("the source was asked for %+v", got)
	}
	if n := s.(Needer).Needs(); len(n) != 0 {
		t.Errorf("with features installed, typiclust needs %v of the task learner", n)
	}
	check := func(what string, picks []int) {
		t.Helper()
		seen := map[int]bool{}
		for _, i := range picks {
			seen[i/40] = true
			if i%40 >= 10 {
				t.Errorf("%s: pick %d is on a ring, want a core sample", what, i)
			}
		}
		if len(seen) != 5 {
			t.Errorf("%s: picks %v cover %d of 5 clusters", what, picks, len(seen))
		}
	}
	q := Query{Model: m, Candidates: seq(0, 200), K: 5, RNG: seeded(3, 2)}
	picks, err := s.Select(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkSelection(picks, q); err != nil {
		t.Fatal(err)
	}
	check("Select", picks)
	init, err := s.(ColdStarter).SelectInitial(context.Background(), m, seq(0, 200), 5, seeded(3, 2))
	if err != nil {
		t.Fatal(err)
	}
	check("SelectInitial", init)
	if src.calls != 2 {
		t.Errorf("the source was read %d times, want 2", src.calls)
	}
	// The strategy the installer was given is unchanged.
	if _, err := s0.Select(context.Background(), q); !learner.IsCapabilityError(err) {
		t.Errorf("the original strategy got the source too: %v", err)
	}
	// A source that fails, or returns a wrong shape, is an error.
	bad, _ := InstallFeatures(s0, func(Pretraining) (FeatureSource, error) { return &tableFeatures{rows: [][]float64{{math.NaN()}}}, nil })
	if _, err := bad.Select(context.Background(), Query{Model: m, Candidates: []int{0}, K: 1, RNG: seeded(1, 1)}); err == nil {
		t.Error("NaN features accepted")
	}
	if _, err := InstallFeatures(s0, func(Pretraining) (FeatureSource, error) { return nil, errors.New("no torch") }); err == nil ||
		!strings.Contains(err.Error(), "typiclust") || !strings.Contains(err.Error(), "no torch") {
		t.Errorf("installer error: %v", err)
	}
}

func TestInstallFeaturesInsidePrefilter(t *testing.T) {
	s, err := New("prefilter", map[string]any{"first": "entropy", "then": "typiclust", "keep": 50})
	if err != nil {
		t.Fatal(err)
	}
	if n := s.(Needer).Needs(); !slices.Contains(n, CapSelfSupervised) {
		t.Fatalf("prefilter over typiclust needs %v", n)
	}
	calls := 0
	got, err := InstallFeatures(s, func(Pretraining) (FeatureSource, error) { calls++; return &tableFeatures{}, nil })
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || slices.Contains(got.(Needer).Needs(), CapSelfSupervised) {
		t.Errorf("%d installs; needs after: %v", calls, got.(Needer).Needs())
	}
	if !slices.Contains(s.(Needer).Needs(), CapSelfSupervised) {
		t.Error("the original prefilter was modified")
	}
	// No self-supervised part: the strategy comes back as it is.
	e, _ := New("prefilter", map[string]any{"first": "entropy", "then": map[string]any{"name": "typiclust", "options": map[string]any{"features": "inputs"}}, "keep": 50})
	same, err := InstallFeatures(e, func(Pretraining) (FeatureSource, error) { t.Error("source asked for"); return nil, nil })
	if p, ok := same.(*Prefilter); err != nil || !ok || p != e.(*Prefilter) {
		t.Errorf("a prefilter without self-supervised parts was replaced by %v (%v)", same, err)
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
