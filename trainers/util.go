package trainers

import (
	"fmt"
	"math"
	"sort"

	"github.com/alrl/alrl/learner"
)

// entropy returns -sum p log p of a probability row (natural log; 0 log 0 = 0).
func entropy(p []float64) float64 {
	h := 0.0
	for _, v := range p {
		if v > 0 {
			h -= v * math.Log(v)
		}
	}
	return h
}

// argmax returns the index of the largest entry (the first on ties).
func argmax(r []float64) int {
	b := 0
	for i := range r {
		if r[i] > r[b] {
			b = i
		}
	}
	return b
}

// need returns the learner inside m as T, or a CapabilityError naming c.
func need[T any](m *learner.Memo, c learner.Capability, trainer string) (T, error) {
	var zero T
	t, ok := learner.Unwrap(m).(T)
	if !ok {
		return zero, &learner.CapabilityError{Capability: c, Learner: m.Describe(),
			Hint: fmt.Sprintf("trainer %s needs it; use the torch backend (learner.backend: torch)", trainer)}
	}
	return t, nil
}

// sortStableBy sorts order stably with less over its values.
func sortStableBy(order []int, less func(a, b int) bool) {
	sort.SliceStable(order, func(i, j int) bool { return less(order[i], order[j]) })
}
