package learner

import (
	"context"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// probsCounter is a Learner whose Probs counts its calls.
type probsCounter struct {
	Learner
	probs int
}

func (c *probsCounter) Probs(_ context.Context, idx []int) (*mat.Dense, error) {
	c.probs++
	return mat.NewDense(len(idx), 2, nil), nil
}

func TestMemoHitsAndClone(t *testing.T) {
	ctx := context.Background()
	l := &probsCounter{}
	m := NewMemo(l)
	a, b := []int{1, 2, 3}, []int{4, 5}
	if _, err := m.Probs(ctx, a); err != nil {
		t.Fatal(err)
	}
	if h := m.Hits(CapProbs, 0, a); h != 0 {
		t.Errorf("hits after the first (computing) call = %d, want 0", h)
	}
	for i := 0; i < 2; i++ {
		if _, err := m.Probs(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if h := m.Hits(CapProbs, 0, a); h != 2 || l.probs != 1 {
		t.Errorf("hits = %d and computations = %d, want 2 and 1", h, l.probs)
	}
	c := m.Clone()
	if h := c.Hits(CapProbs, 0, a); h != 0 {
		t.Errorf("a clone starts with %d hits, want 0", h)
	}
	if _, err := c.Probs(ctx, a); err != nil { // served from the shared cache
		t.Fatal(err)
	}
	if _, err := c.Probs(ctx, b); err != nil { // computed, kept in the clone only
		t.Fatal(err)
	}
	if c.Hits(CapProbs, 0, a) != 1 || l.probs != 2 || c.Calls[CapProbs] != 1 {
		t.Errorf("clone: hits %d, computations %d, calls %d; want 1, 2, 1", c.Hits(CapProbs, 0, a), l.probs, c.Calls[CapProbs])
	}
	if _, err := m.Probs(ctx, b); err != nil {
		t.Fatal(err)
	}
	if l.probs != 3 || m.Hits(CapProbs, 0, a) != 2 {
		t.Errorf("the original memo saw the clone's work: computations %d, hits %d", l.probs, m.Hits(CapProbs, 0, a))
	}
	m.Reset()
	if m.Hits(CapProbs, 0, a) != 0 {
		t.Error("Reset kept hit counts")
	}
}
