package strategies

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/alrl/alrl/learner"
)

// scoredModel answers PredictedLoss and LabeledProb from fixed per-index values.
type scoredModel struct {
	fakeModel
	loss, labeled []float64
}

func (m *scoredModel) PredictedLoss(_ context.Context, idx []int) ([]float64, error) {
	out := make([]float64, len(idx))
	for i, j := range idx {
		out[i] = m.loss[j]
	}
	return out, nil
}

func (m *scoredModel) LabeledProb(_ context.Context, idx []int) ([]float64, error) {
	out := make([]float64, len(idx))
	for i, j := range idx {
		out[i] = m.labeled[j]
	}
	return out, nil
}

func TestVAALAndLearningLossSelection(t *testing.T) {
	m := &scoredModel{fakeModel: fakeModel{probs: [][]float64{{1, 0}}},
		loss:    []float64{0.1, 3, 0.5, 2, 9, 0.2},
		labeled: []float64{0.9, 0.2, 0.6, 0.05, 0.99, 0.3}}
	cands := []int{0, 1, 2, 3, 4, 5}
	ctx := context.Background()
	q := Query{Model: m, Candidates: cands, K: 2, RNG: seeded(1, 2)}

	v, err := New("vaal", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Select(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{3, 1}; !slices.Equal(got, want) {
		t.Errorf("vaal chose %v, want %v (least likely labeled first)", got, want)
	}
	if n, ok := v.(Needer); !ok || !slices.Equal(n.Needs(), []learner.Capability{learner.CapVAAL}) {
		t.Error("vaal does not declare vaal_scores")
	}

	ll, err := New("learning_loss", map[string]any{"subset": 0})
	if err != nil {
		t.Fatal(err)
	}
	if got, err = ll.Select(ctx, q); err != nil {
		t.Fatal(err)
	}
	if want := []int{4, 1}; !slices.Equal(got, want) {
		t.Errorf("learning_loss chose %v, want %v (highest predicted loss first)", got, want)
	}
	// With a subset, the choice is the top of a random subset drawn with the
	// query's RNG: the same RNG seed gives the same choice, and it lies in
	// the subset of that size.
	ll3, _ := New("learning_loss", map[string]any{"subset": 3})
	a, err := ll3.Select(ctx, Query{Model: m, Candidates: cands, K: 2, RNG: seeded(7, 7)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ll3.Select(ctx, Query{Model: m, Candidates: cands, K: 2, RNG: seeded(7, 7)})
	if !slices.Equal(a, b) || len(a) != 2 || a[0] == a[1] {
		t.Errorf("subset choices %v and %v: want the same 2 distinct indices", a, b)
	}
	sub := seeded(7, 7).Perm(6)[:3]
	for _, i := range a {
		if !slices.Contains(sub, i) {
			t.Errorf("chose %d outside the random subset %v", i, sub)
		}
	}
	ll1, _ := New("learning_loss", map[string]any{"subset": 1})
	if _, err := ll1.Select(ctx, q); err == nil || !strings.Contains(err.Error(), "subset") {
		t.Errorf("subset smaller than k: %v", err)
	}
	if _, err := New("learning_loss", map[string]any{"subset": -1}); err == nil {
		t.Error("negative subset: no error")
	}
	// A model without the capability gives a capability error.
	plain := Query{Model: &fakeModel{probs: [][]float64{{1, 0}, {0, 1}, {1, 0}}}, Candidates: []int{0, 1, 2}, K: 1, RNG: seeded(1, 1)}
	for _, s := range []Strategy{v, ll} {
		if _, err := s.Select(ctx, plain); !learner.IsCapabilityError(err) {
			t.Errorf("%s on a model without its capability: %v", s.Name(), err)
		}
	}
}
