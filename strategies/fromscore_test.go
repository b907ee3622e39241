package strategies

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/alrl/alrl/learner"
)

func TestFromScore(t *testing.T) {
	calls := 0
	score := func(_ context.Context, q Query) ([]float64, error) {
		calls++
		out := make([]float64, len(q.Candidates))
		for i, c := range q.Candidates {
			out[i] = float64(c % 7) // hand-made: pool index mod 7
			if c == 13 {
				out[i] = math.NaN()
			}
		}
		return out, nil
	}
	info := FromScore("test_mod7", "pool index mod 7", []learner.Capability{learner.CapProbs}, score)
	s, err := info.New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	q := Query{Candidates: []int{3, 6, 20, 8, 12}, K: 2, RNG: rand.New(rand.NewPCG(1, 1))}
	got, err := s.Select(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	// scores 3, 6, 6, 1, 5: the two 6s, in candidate order.
	if !slices.Equal(got, []int{6, 20}) || calls != 1 {
		t.Fatalf("Select = %v after %d calls", got, calls)
	}
	if _, ok := s.(Scorer); !ok {
		t.Fatal("not a Scorer")
	}
	if n, ok := s.(Needer); !ok || !slices.Equal(n.Needs(), []learner.Capability{learner.CapProbs}) {
		t.Fatal("needs not declared")
	}
	q.Candidates = []int{13, 1}
	if _, err := s.Select(context.Background(), q); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Fatalf("a NaN score: %v", err)
	}
	q.K = 5
	if _, err := s.Select(context.Background(), q); err == nil {
		t.Fatal("k above the candidates was accepted")
	}
}

func TestFromProbs(t *testing.T) {
	gini := func(p []float64) float64 {
		s := 1.0
		for _, v := range p {
			s -= v * v
		}
		return s
	}
	m := &fakeModel{probs: [][]float64{{1, 0}, {0.5, 0.5}, {0.8, 0.2}, {0.6, 0.4}}}
	s, err := FromProbs("test_gini", "Gini impurity", gini).New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	q := Query{Model: m, Candidates: []int{0, 1, 2, 3}, K: 2, RNG: rand.New(rand.NewPCG(1, 1))}
	v, err := s.(Scorer).Score(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	// 1 - sum p^2 by hand: 0, 0.5, 0.32, 0.48.
	for i, want := range []float64{0, 0.5, 0.32, 0.48} {
		if math.Abs(v[i]-want) > 1e-12 {
			t.Errorf("score[%d] = %g, want %g", i, v[i], want)
		}
	}
	if got, err := s.Select(context.Background(), q); err != nil || !slices.Equal(got, []int{1, 3}) {
		t.Errorf("Select = %v, %v; want [1 3]", got, err)
	}
	if n := s.(Needer).Needs(); !slices.Equal(n, []learner.Capability{learner.CapProbs}) {
		t.Errorf("needs %v", n)
	}
	nan, _ := FromProbs("test_nan", "", func([]float64) float64 { return math.NaN() }).New(Options{})
	if _, err := nan.Select(context.Background(), q); err == nil || !strings.Contains(err.Error(), "NaN score for pool index 0") {
		t.Errorf("NaN score: %v", err)
	}
	if _, err := FromProbs("test_nil", "", nil).New(Options{}); err == nil {
		t.Error("a nil score function was accepted")
	}
}
