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
