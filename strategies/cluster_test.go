package strategies

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

var square = [][]float64{{0, 0}, {50, 0}, {0, 50}, {50, 50}, {25, 100}}

func TestKMeansSamplingOnePickPerCluster(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	m := blobs(rng, square, 30, 1)
	for seed := uint64(0); seed < 5; seed++ {
		q := Query{Model: m, Candidates: seq(0, 150), K: 5, RNG: seeded(seed, 3)}
		s, err := New("kmeans", nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Select(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkSelection(got, q); err != nil {
			t.Fatal(err)
		}
		blob := map[int]bool{}
		for _, i := range got {
			blob[i/30] = true
		}
		if len(blob) != 5 {
			t.Errorf("seed %d: picks %v cover %d of 5 clusters", seed, got, len(blob))
		}
	}
}

func TestKMeansPicksNearestToCentre(t *testing.T) {
	// One cluster: symmetric points around (0,0) plus the centre itself,
	// which must be the pick.
	m := points([]float64{-1, 0}, []float64{1, 0}, []float64{0, -1}, []float64{0, 1}, []float64{0, 0.01})
	got, err := (KMeansSampling{cfg: KMeansConfig{MaxIter: 10}}).Select(context.Background(),
		Query{Model: m, Candidates: seq(0, 5), K: 1, RNG: seeded(1, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 4 {
		t.Errorf("pick %d, want 4 (nearest the mean)", got[0])
	}
}

func TestKMeansConvergesToBlobMeans(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	m := blobs(rng, square[:3], 50, 0.5)
	x := mat.NewDense(150, 2, nil)
	for i, r := range m.x {
		x.SetRow(i, r)
	}
	centres, assign, err := KMeans(context.Background(), x, nil, 3, seeded(4, 4), KMeansConfig{MaxIter: 100, Tol: 1e-4})
	if err != nil {
		t.Fatal(err)
	}
	// Each blob is one cluster and its centre is the blob's mean.
	for b := 0; b < 3; b++ {
		a := assign[b*50]
		mean := []float64{0, 0}
		for i := b * 50; i < (b+1)*50; i++ {
			if assign[i] != a {
				t.Fatalf("blob %d split across clusters", b)
			}
			mean[0] += m.x[i][0] / 50
			mean[1] += m.x[i][1] / 50
		}
		if math.Hypot(centres.At(a, 0)-mean[0], centres.At(a, 1)-mean[1]) > 1e-9 {
			t.Errorf("blob %d: centre %v, mean %v", b, centres.RawRowView(a), mean)
		}
	}
}

func TestKMeansWeightsPullCentres(t *testing.T) {
	// Two points, one cluster: the centre is the weighted mean.
	x := mat.NewDense(2, 1, []float64{0, 10})
	c, _, err := KMeans(context.Background(), x, []float64{3, 1}, 1, seeded(1, 1), KMeansConfig{MaxIter: 5})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.At(0, 0); math.Abs(got-2.5) > 1e-12 {
		t.Errorf("weighted centre %g, want 2.5", got)
	}
}

func TestKMeansErrors(t *testing.T) {
	ctx := context.Background()
	x := mat.NewDense(3, 1, []float64{0, 1, 2})
	cfg := KMeansConfig{MaxIter: 5}
	cases := []struct {
		name string
		w    []float64
		k    int
		cfg  KMeansConfig
		want string
	}{
		{"k too large", nil, 4, cfg, "k = 4"},
		{"k zero", nil, 0, cfg, "k = 0"},
		{"negative weight", []float64{1, -1, 1}, 1, cfg, "weight -1"},
		{"NaN weight", []float64{1, math.NaN(), 1}, 1, cfg, "row 1"},
		{"too few positive", []float64{1, 0, 0}, 2, cfg, "only 1 rows"},
		{"weights length", []float64{1}, 1, cfg, "1 weights"},
		{"max iter", nil, 1, KMeansConfig{}, "max_iter"},
	}
	for _, tc := range cases {
		_, _, err := KMeans(ctx, x, tc.w, tc.k, seeded(1, 1), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
	if _, err := New("kmeans", map[string]any{"max_iter": 0}); err == nil {
		t.Error("max_iter 0 accepted")
	}
}

func TestNearestDistinct(t *testing.T) {
	x := mat.NewDense(4, 1, []float64{0, 1, 5, 6})
	c := mat.NewDense(3, 1, []float64{0.2, 0.1, 5.9})
	got, err := NearestDistinct(context.Background(), x, c)
	if err != nil {
		t.Fatal(err)
	}
	// Centre 0.1's nearest row (0) is taken by centre 0.2: it gets row 1.
	if want := []int{0, 1, 3}; !slices.Equal(got, want) {
		t.Errorf("NearestDistinct = %v, want %v", got, want)
	}
}

func TestDBALKMeansPrefiltersAndDiversifies(t *testing.T) {
	// Three blobs of 20. Blob 0 is confidently predicted, blobs 1 and 2 are
	// uncertain. With k = 2, beta = 20 keeps the 40 most uncertain: all of
	// blobs 1 and 2 and none of blob 0; weighted k-means with k = 2 puts one
	// centre in each, so one pick per uncertain blob.
	rng := rand.New(rand.NewPCG(5, 5))
	m := blobs(rng, [][]float64{{0, 0}, {40, 0}, {0, 40}}, 20, 1)
	m.probs = nil
	for i := range m.x {
		switch i / 20 {
		case 0:
			m.probs = append(m.probs, []float64{0.97, 0.03})
		default:
			m.probs = append(m.probs, []float64{0.55 + 0.001*float64(i%20), 0.45 - 0.001*float64(i%20)})
		}
	}
	for _, score := range []string{"margin", "entropy", "least_confidence"} {
		s, err := New("dbal_kmeans", map[string]any{"beta": 20, "score": score})
		if err != nil {
			t.Fatal(err)
		}
		q := Query{Model: m, Candidates: seq(0, 60), K: 2, RNG: seeded(1, 1)}
		got, err := s.Select(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkSelection(got, q); err != nil {
			t.Fatal(err)
		}
		b := []int{got[0] / 20, got[1] / 20}
		sort.Ints(b)
		if !slices.Equal(b, []int{1, 2}) {
			t.Errorf("%s: picks %v from blobs %v, want one from each of blobs 1 and 2", score, got, b)
		}
	}
}

func TestDBALKMeansBetaOneIsTopK(t *testing.T) {
	m := &geoModel{x: [][]float64{{0}, {1}, {2}, {3}, {4}, {5}, {6}}, probs: probMatrix}
	s, err := New("dbal_kmeans", map[string]any{"beta": 1, "score": "entropy"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Select(context.Background(), Query{Model: m, Candidates: seq(0, 7), K: 3, RNG: seeded(1, 1)})
	if err != nil {
		t.Fatal(err)
	}
	sort.Ints(got)
	// Entropy top 3 of probMatrix: rows 3, 1, 2.
	if !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("beta 1 picks %v, want the entropy top 3 {1, 2, 3}", got)
	}
}

func TestDBALKMeansOptionErrors(t *testing.T) {
	for _, opts := range []map[string]any{{"beta": 0}, {"score": "bald"}, {"score": 3}, {"max_iter": -1}} {
		if _, err := New("dbal_kmeans", opts); err == nil {
			t.Errorf("options %v accepted", opts)
		}
	}
}
