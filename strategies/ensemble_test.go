package strategies

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/internal/testlearner"
	"github.com/alrl/alrl/learner"
)

// twoMembers is an ensemble of two nearest-centroid learners on a 1-D pool
// x = -2, 0, 0.7, 2.5 whose decision boundaries are 0 and 1.4: they agree on
// every point except x = 0.7 (member A says class 1, B class 0, both
// confidently); at x = 0 member A is undecided and B confident.
func twoMembers(t *testing.T) *learner.Memo {
	t.Helper()
	d := &datasets.Dataset{Name: "pool", X: []float32{-2, 0, 0.7, 2.5}, Y: []int{0, 0, 1, 1}, Shape: []int{1}, NumClasses: 2, TrainN: 4}
	a := testlearner.New(d.Inputs(), 2)
	a.Centroids = [][]float64{{-1}, {1}}
	b := testlearner.New(d.Inputs(), 2)
	b.Centroids = [][]float64{{-0.2}, {3}}
	e, err := learner.NewEnsemble([]learner.Learner{a, b})
	if err != nil {
		t.Fatal(err)
	}
	return learner.NewMemo(e)
}

func TestEnsemblePicksTheDisagreement(t *testing.T) {
	ctx := context.Background()
	m := twoMembers(t)
	for _, score := range []string{"var_ratios", "bald", "entropy"} {
		s, err := New("ensemble", map[string]any{"score": score})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Select(ctx, Query{Model: m, Candidates: []int{0, 1, 2, 3}, K: 1, RNG: seeded(1, 1)})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, []int{2}) {
			t.Errorf("%s picked %v, want [2] (x = 0.7, where the members disagree)", score, got)
		}
	}
	s, _ := New("ensemble", nil)
	sc, err := s.(Scorer).Score(ctx, Query{Model: m, Candidates: []int{0, 1, 2, 3}, K: 1, RNG: seeded(1, 1)})
	if err != nil {
		t.Fatal(err)
	}
	// Variation ratios over 2 members: 0.5 where the argmaxes differ (a tie
	// within member A at x = 0 goes to class 0, as B's does).
	if !slices.Equal(sc, []float64{0, 0, 0.5, 0}) {
		t.Errorf("var_ratios scores %v, want [0 0 0.5 0]", sc)
	}
	if n := s.(Needer).Needs(); !slices.Equal(n, []learner.Capability{learner.CapEnsemble}) {
		t.Errorf("Needs() = %v", n)
	}
}

func TestEnsembleStrategyErrors(t *testing.T) {
	ctx := context.Background()
	s, _ := New("ensemble", nil)
	d := &datasets.Dataset{Name: "pool", X: []float32{0, 1}, Y: []int{0, 1}, Shape: []int{1}, NumClasses: 2, TrainN: 2}
	single := testlearner.New(d.Inputs(), 2)
	single.Centroids = [][]float64{{0}, {1}}
	_, err := s.Select(ctx, Query{Model: learner.NewMemo(single), Candidates: []int{0, 1}, K: 1, RNG: seeded(1, 1)})
	if !learner.IsCapabilityError(err) || !strings.Contains(err.Error(), "learner.ensemble") {
		t.Errorf("single learner: err = %v, want a capability error telling to set learner.ensemble", err)
	}
	s3, _ := New("ensemble", map[string]any{"members": 3})
	_, err = s3.Select(ctx, Query{Model: twoMembers(t), Candidates: []int{0, 1}, K: 1, RNG: seeded(1, 1)})
	if err == nil || !strings.Contains(err.Error(), "learner.ensemble: 3") {
		t.Errorf("members 3 over an ensemble of 2: err = %v", err)
	}
	for _, o := range []map[string]any{{"score": "margin"}, {"members": 1}, {"members": -2}} {
		if _, err := New("ensemble", o); err == nil {
			t.Errorf("New(ensemble, %v) succeeded", o)
		}
	}
}
