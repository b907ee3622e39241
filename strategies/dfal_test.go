package strategies

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

// exactAffineDistance is the distance from x to the boundary of its
// predicted class's region for logits W x + b, when the nearest of the
// pairwise boundaries is crossed first: min_k |f_k - f_k0| / ||w_k - w_k0||.
func exactAffineDistance(m *geoModel, x []float64) float64 {
	f := m.logits(x)
	k0 := argmaxRow(f)
	best := math.Inf(1)
	for k := range f {
		if k == k0 {
			continue
		}
		w := make([]float64, len(x))
		floats.SubTo(w, m.W[k], m.W[k0])
		best = math.Min(best, math.Abs(f[k]-f[k0])/floats.Norm(w, 2))
	}
	return best
}

func affine3(rng *rand.Rand, n int) *geoModel {
	m := &geoModel{
		W: [][]float64{{1, 0}, {0, 1}, {-1, -1}},
		b: []float64{0, 0.5, -0.2},
	}
	for i := 0; i < n; i++ {
		m.x = append(m.x, []float64{4*rng.Float64() - 2, 4*rng.Float64() - 2})
	}
	return m
}

func TestDeepFoolIsExactOnAffineModels(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	m := affine3(rng, 50)
	x := mat.NewDense(50, 2, nil)
	for i, r := range m.x {
		x.SetRow(i, r)
	}
	dist, flipped, err := DeepFool(context.Background(), m, x, 50, 0.02)
	if err != nil {
		t.Fatal(err)
	}
	for i := range dist {
		want := exactAffineDistance(m, m.x[i]) + 1e-4
		if !flipped[i] || math.Abs(dist[i]-want) > 1e-9 {
			t.Errorf("x=%v: DeepFool distance %.12g (flipped %v), exact %.12g", m.x[i], dist[i], flipped[i], want)
		}
	}
	// One linearisation step reaches an affine boundary: one InputGrads
	// call to start and one to confirm the flip.
	if m.grads != 2 {
		t.Errorf("%d InputGrads calls, want 2", m.grads)
	}
}

func TestDeepFoolRanksClosestToTheBoundaryFirst(t *testing.T) {
	// Two classes, boundary x0 = 0: distances are |x0|.
	m := points([]float64{3, 1}, []float64{-0.5, 7}, []float64{0.1, -2}, []float64{-2, 0}, []float64{1, 1})
	m.W = [][]float64{{1, 0}, {-1, 0}}
	s, err := New("deepfool", nil)
	if err != nil {
		t.Fatal(err)
	}
	q := Query{Model: m, Candidates: seq(0, 5), K: 5, RNG: seeded(1, 1)}
	scores, err := s.(Scorer).Score(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range m.x {
		// |w1 - w0| = 2, |f1 - f0| = 2|x0|: distance |x0|.
		if want := -(math.Abs(x[0]) + 1e-4); math.Abs(scores[i]-want) > 1e-9 {
			t.Errorf("score of %v = %g, want %g", x, scores[i], want)
		}
	}
	got, err := s.Select(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{2, 1, 4, 3, 0}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func TestDeepFoolBatchesAndUnflippable(t *testing.T) {
	// Identical class weights: no direction changes the class, so every
	// candidate is unflipped and scores -Inf; with batch 2 the candidates
	// are attacked in three batches.
	m := points([]float64{1}, []float64{2}, []float64{3}, []float64{4}, []float64{5})
	m.W = [][]float64{{1}, {1}}
	m.b = []float64{1, 0}
	s, err := New("deepfool", map[string]any{"batch": 2})
	if err != nil {
		t.Fatal(err)
	}
	q := Query{Model: m, Candidates: seq(0, 5), K: 2, RNG: seeded(1, 1)}
	scores, err := s.(Scorer).Score(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range scores {
		if !math.IsInf(v, -1) {
			t.Errorf("candidate %d: score %g, want -Inf", i, v)
		}
	}
	if m.grads != 3 {
		t.Errorf("%d InputGrads calls, want 3 (one per batch)", m.grads)
	}
	got, err := s.Select(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkSelection(got, q); err != nil {
		t.Error(err)
	}
}

func TestDeepFoolNeedsInputGradients(t *testing.T) {
	m := affine3(rand.New(rand.NewPCG(1, 1)), 3)
	s, _ := New("deepfool", nil)
	_, err := s.Select(context.Background(), Query{Model: noExtras{m}, Candidates: seq(0, 3), K: 1, RNG: seeded(1, 1)})
	if !learner.IsCapabilityError(err) {
		t.Errorf("err = %v, want a CapabilityError", err)
	}
	for _, opts := range []map[string]any{{"max_iter": 0}, {"batch": 0}, {"overshoot": -1.0}} {
		if _, err := New("deepfool", opts); err == nil {
			t.Errorf("options %v accepted", opts)
		}
	}
}

func TestDFALNameReportsTheRename(t *testing.T) {
	info, err := Lookup("deepfool")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info.Description, "DFAL's selection without its adversarial-example training") {
		t.Errorf("deepfool's description %q does not say it is DFAL's selection only", info.Description)
	}
	s, err := New("deepfool", nil)
	if err != nil || s.Name() != "deepfool" {
		t.Fatalf("deepfool: %v, %v", s, err)
	}
	for _, opts := range []map[string]any{nil, {"batch": 2}} {
		_, err := New("dfal", opts)
		var ce *ConfigError
		if !errors.Is(err, ErrDFALRenamed) || !errors.As(err, &ce) || ce.Path != "name" {
			t.Fatalf("dfal %v: %v, want the rename error at name", opts, err)
		}
		for _, want := range []string{"dfal was renamed deepfool", "without the paper's adversarial-example training"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("dfal %v: %q does not mention %q", opts, err, want)
			}
		}
	}
}
