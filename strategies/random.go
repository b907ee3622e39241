package strategies

import (
	"context"
	"fmt"
)

// Random samples k candidates uniformly without replacement: the baseline
// every DAL comparison needs.
type Random struct{}

func init() {
	Register(Info{
		Name:        "random",
		Description: "uniform random sampling without replacement (the baseline)",
		New:         func(Options) (Strategy, error) { return Random{}, nil },
	})
}

// Name returns "random".
func (Random) Name() string { return "random" }

// Select draws k distinct candidates with the query's RNG (partial Fisher-Yates).
func (Random) Select(_ context.Context, q Query) ([]int, error) {
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("random: %w", err)
	}
	c := append([]int(nil), q.Candidates...)
	for i := 0; i < q.K; i++ {
		j := i + q.RNG.IntN(len(c)-i)
		c[i], c[j] = c[j], c[i]
	}
	return c[:q.K], nil
}
