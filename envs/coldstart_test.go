package envs_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/internal/testlearner"
	"github.com/alrl/alrl/learner"
)

// lastN is a label-free selector: the n pool samples with the largest first
// input feature, read through the InputSource it is given.
type lastN struct {
	calls int
	bad   string
}

func (s *lastN) SelectInitial(ctx context.Context, in learner.InputSource, pool []int, n int, _ *rand.Rand) ([]int, error) {
	s.calls++
	switch s.bad {
	case "error":
		return nil, errors.New("boom")
	case "short":
		return pool[:n-1], nil
	case "dup":
		return append(pool[:n-1:n-1], pool[0]), nil
	}
	x, err := in.Inputs(ctx, pool)
	if err != nil {
		return nil, err
	}
	order := slices.Clone(pool)
	pos := map[int]int{}
	for i, p := range pool {
		pos[p] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		va, vb := x.At(pos[a], 0), x.At(pos[b], 0)
		switch {
		case va > vb:
			return -1
		case va < vb:
			return 1
		}
		return 0
	})
	return order[:n], nil
}

func TestColdStartSelector(t *testing.T) {
	f := newFixture(t, 3)
	c := envs.Config{InitSize: 4, InitMode: "largest", K: 2, Budget: 10}
	sel := &lastN{}
	l := testlearner.New(f.data.Inputs(), numClasses)
	e, err := envs.New(f.data, f.split, l, c, envs.WithInitialSelector("largest", sel))
	if err != nil {
		t.Fatal(err)
	}
	obs, rec, err := e.Reset(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	// The four pool samples with the largest first feature, no labels used.
	order := slices.Clone(f.split.Pool)
	slices.SortStableFunc(order, func(a, b int) int {
		va, vb := f.data.X[a*f.data.Dim()], f.data.X[b*f.data.Dim()]
		switch {
		case va > vb:
			return -1
		case va < vb:
			return 1
		}
		return 0
	})
	if !slices.Equal(obs.Labeled, order[:4]) || !slices.Equal(rec.Chosen, order[:4]) || sel.calls != 1 {
		t.Errorf("initial set %v (record %v, %d calls), want %v", obs.Labeled, rec.Chosen, sel.calls, order[:4])
	}
	if e.Oracle().Count() != 4 {
		t.Errorf("oracle revealed %d labels, want 4", e.Oracle().Count())
	}
}

func TestColdStartSelectorErrors(t *testing.T) {
	f := newFixture(t, 3)
	c := envs.Config{InitSize: 4, InitMode: "largest", K: 2, Budget: 10}
	l := testlearner.New(f.data.Inputs(), numClasses)
	// No selector for the mode: rejected at construction, naming the choices.
	if _, err := envs.New(f.data, f.split, l, c); err == nil || !strings.Contains(err.Error(), "al.init_mode") {
		t.Errorf("no selector: err = %v", err)
	}
	// A selector for another mode does not serve this one.
	if _, err := envs.New(f.data, f.split, l, c, envs.WithInitialSelector("other", &lastN{})); err == nil || !strings.Contains(err.Error(), "other") {
		t.Errorf("selector for another mode: err = %v", err)
	}
	for _, bad := range []string{"error", "short", "dup"} {
		e, err := envs.New(f.data, f.split, l, c, envs.WithInitialSelector("largest", &lastN{bad: bad}))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = e.Reset(context.Background(), 1)
		if err == nil || !strings.Contains(err.Error(), "al.init_mode largest") {
			t.Errorf("%s: err = %v, want an error naming the init mode", bad, err)
		}
		if e.Oracle().Count() != 0 {
			t.Errorf("%s: a failed selection revealed %d labels", bad, e.Oracle().Count())
		}
	}
}
