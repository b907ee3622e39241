package features_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/agents/features"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/learner"
)

// fake answers capability calls from fixed rows: pool index i has probs[i], emb[i], mc[t][i].
type fake struct {
	probs [][]float64
	emb   [][]float64
	mc    [][][]float64
}

func rows(src [][]float64, idx []int) (*mat.Dense, error) {
	out := mat.NewDense(len(idx), len(src[0]), nil)
	for i, j := range idx {
		if j < 0 || j >= len(src) {
			return nil, fmt.Errorf("index %d", j)
		}
		out.SetRow(i, src[j])
	}
	return out, nil
}

func (f *fake) Probs(_ context.Context, idx []int) (*mat.Dense, error) { return rows(f.probs, idx) }
func (f *fake) Embed(_ context.Context, idx []int) (*mat.Dense, error) {
	if f.emb == nil {
		return nil, &learner.CapabilityError{Capability: learner.CapEmbeddings, Learner: "fake"}
	}
	return rows(f.emb, idx)
}
func (f *fake) MCProbs(_ context.Context, idx []int, T int) ([]*mat.Dense, error) {
	if f.mc == nil {
		return nil, &learner.CapabilityError{Capability: learner.CapMCDropout, Learner: "fake"}
	}
	var out []*mat.Dense
	for t := 0; t < T; t++ {
		m, err := rows(f.mc[t%len(f.mc)], idx)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
func (f *fake) NumClasses() int { return len(f.probs[0]) }

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestKnownValues(t *testing.T) {
	m := &fake{
		probs: [][]float64{{1, 0}, {0.5, 0.5}, {0.8, 0.2}, {0.3, 0.7}},
		emb:   [][]float64{{0, 0}, {1, 0}, {3, 0}, {0, 2}},
		mc: [][][]float64{
			{{1, 0}, {1, 0}, {0.8, 0.2}, {0.3, 0.7}},
			{{1, 0}, {0, 1}, {0.8, 0.2}, {0.3, 0.7}},
		},
	}
	spec := []string{"max_prob", "margin", "entropy", "bald", "pred_class", "pred_class_share", "knn_dist", "density"}
	b, err := features.New(spec, 2, features.Options{MCSamples: 2})
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{"max_prob", "margin", "entropy", "bald", "pred_class[0]", "pred_class[1]", "pred_class_share", "knn_dist", "density"}
	if !slices.Equal(b.Names(), wantNames) {
		t.Errorf("Names = %v, want %v", b.Names(), wantNames)
	}
	ep := envs.Episode{Budget: 10, BudgetUsed: 4, ValAcc: 0.75, ClassCounts: []int{3, 1}, Labeled: []int{0}, LabeledY: []int{0}}
	f, err := b.Compute(context.Background(), features.Input{Model: m, Candidates: []int{1, 2, 3}, Episode: ep, RNG: rand.New(rand.NewPCG(1, 1))})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Check(3); err != nil {
		t.Fatal(err)
	}
	h := func(p float64) float64 { return -(p*math.Log(p) + (1-p)*math.Log(1-p)) / math.Ln2 }
	// knn: distances to the labeled sample at the origin are 1, 3, 2 (mean 2).
	// density: cosines between (1,0), (3,0), (0,2) are 1, 0, 0.
	want := [][]float64{
		{0.5, 0, 1, 1, 1, 0, 0.75, 0.5, 0.5},
		{0.8, 0.6, h(0.8), 0, 1, 0, 0.75, 1.5, 0.5},
		{0.7, 0.4, h(0.3), 0, 0, 1, 0.25, 1, 0},
	}
	for i, row := range want {
		for j, w := range row {
			if got := f.X.At(i, j); math.Abs(got-w) > 1e-9 {
				t.Errorf("candidate %d, %s = %.12g, want %.12g", i, wantNames[j], got, w)
			}
		}
	}
	// Global: budget used 0.4, left 0.6, val acc, mean max prob over the reference (= candidates), histogram.
	wantG := []float64{0.4, 0.6, 0.75, (0.5 + 0.8 + 0.7) / 3, 0.75, 0.25}
	if !slices.EqualFunc(f.Global, wantG, near) || !slices.Equal(f.GlobalNames, features.GlobalNames(2)) {
		t.Errorf("global %v (%v), want %v", f.Global, f.GlobalNames, wantG)
	}
}

func TestReferenceSetAnchorsScale(t *testing.T) {
	// One candidate (the stream env): its knn_dist is relative to the reference set.
	m := &fake{probs: [][]float64{{1, 0}, {0.5, 0.5}, {0.5, 0.5}, {0.5, 0.5}}, emb: [][]float64{{0}, {2}, {4}, {6}}}
	b, err := features.New([]string{"knn_dist", "strategy:entropy"}, 2, features.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ep := envs.Episode{Labeled: []int{0}, Reference: []int{2, 3}}
	f, err := b.Compute(context.Background(), features.Input{Model: m, Candidates: []int{1}, Episode: ep, RNG: rand.New(rand.NewPCG(1, 1))})
	if err != nil {
		t.Fatal(err)
	}
	// distance 2, reference distances 4 and 6 (mean 5); entropy ties both reference rows: percentile 0.5.
	if got := f.X.At(0, 0); !near(got, 0.4) {
		t.Errorf("knn_dist = %v, want 0.4", got)
	}
	if got := f.X.At(0, 1); !near(got, 0.5) {
		t.Errorf("strategy:entropy percentile = %v, want 0.5", got)
	}
}

func TestStrategyScorePercentile(t *testing.T) {
	m := &fake{probs: [][]float64{{0.9, 0.1}, {0.5, 0.5}, {0.7, 0.3}, {0.6, 0.4}}}
	b, err := features.New([]string{"strategy:entropy", "strategy:margin"}, 2, features.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := b.Compute(context.Background(), features.Input{Model: m, Candidates: []int{0, 1, 2, 3}, RNG: rand.New(rand.NewPCG(1, 1))})
	if err != nil {
		t.Fatal(err)
	}
	// Entropy order: 0 < 2 < 3 < 1; a candidate's own score counts half.
	want := []float64{0.125, 0.875, 0.375, 0.625}
	for i, w := range want {
		if got := f.X.At(i, 0); !near(got, w) {
			t.Errorf("candidate %d: entropy percentile %v, want %v", i, got, w)
		}
		if got := f.X.At(i, 1); !near(got, w) {
			t.Errorf("candidate %d: margin percentile %v, want %v (same order as entropy for 2 classes)", i, got, w)
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		spec []string
		want []string
	}{
		{nil, []string{"empty", "max_prob"}},
		{[]string{"max_prob", "nope"}, []string{`features[1]`, `unknown feature "nope"`, "entropy", "strategy:entropy"}},
		{[]string{"strategy:random"}, []string{"not a Scorer", "strategy:entropy"}},
		{[]string{"strategy:bald_not_registered"}, []string{`unknown strategy "bald_not_registered"`}},
		{[]string{"entropy", "entropy"}, []string{"twice"}},
	}
	for _, tc := range tests {
		_, err := features.New(tc.spec, 3, features.Options{})
		if err == nil {
			t.Errorf("New(%v) succeeded", tc.spec)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("New(%v) = %q, want it to mention %q", tc.spec, err, w)
			}
		}
	}
	// A missing capability is reported with its name.
	b, err := features.New([]string{"bald"}, 2, features.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.Needs(), []learner.Capability{learner.CapMCDropout}) {
		t.Errorf("Needs = %v", b.Needs())
	}
	m := &fake{probs: [][]float64{{1, 0}}}
	if _, err := b.Compute(context.Background(), features.Input{Model: m, Candidates: []int{0}}); err == nil || !strings.Contains(err.Error(), "mc_dropout") {
		t.Errorf("bald without MC samples: %v", err)
	}
	// Class-count mismatch.
	b3, _ := features.New([]string{"entropy"}, 3, features.Options{})
	if _, err := b3.Compute(context.Background(), features.Input{Model: m, Candidates: []int{0}}); err == nil || !strings.Contains(err.Error(), "3 classes") {
		t.Errorf("class mismatch: %v", err)
	}
	// NaN probabilities name the pool index.
	mn := &fake{probs: [][]float64{{math.NaN(), 0.5}}}
	b2, _ := features.New([]string{"max_prob"}, 2, features.Options{})
	if _, err := b2.Compute(context.Background(), features.Input{Model: mn, Candidates: []int{0}}); err == nil || !strings.Contains(err.Error(), "pool index 0") {
		t.Errorf("NaN: %v", err)
	}
}

func TestAvailableListsScorers(t *testing.T) {
	a := features.Available()
	for _, w := range []string{"max_prob", "bald", "strategy:entropy", "strategy:margin", "strategy:least_confidence"} {
		if !slices.Contains(a, w) {
			t.Errorf("Available() = %v lacks %s", a, w)
		}
	}
	if slices.Contains(a, "strategy:random") {
		t.Error("random has no score but is listed")
	}
}

func TestLargeReferenceIsSubsampled(t *testing.T) {
	n := features.MaxReference + 200
	m := &fake{}
	for i := 0; i < n; i++ {
		m.probs = append(m.probs, []float64{0.5 + 0.4*float64(i%5)/5, 0.5 - 0.4*float64(i%5)/5})
		m.emb = append(m.emb, []float64{float64(i%7) + 1, float64(i%3) + 1})
	}
	cands := make([]int, n)
	for i := range cands {
		cands[i] = i
	}
	b, err := features.New([]string{"density", "knn_dist", "strategy:entropy"}, 2, features.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := features.Input{Model: m, Candidates: cands, Episode: envs.Episode{Labeled: []int{0}}, RNG: rand.New(rand.NewPCG(4, 4))}
	f, err := b.Compute(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Check(n); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		for j := 0; j < 3; j++ {
			if v := f.X.At(i, j); math.IsNaN(v) || v < 0 {
				t.Fatalf("candidate %d feature %d = %v", i, j, v)
			}
		}
		if p := f.X.At(i, 2); p > 1 {
			t.Fatalf("percentile %v > 1", p)
		}
	}
}
