package strategies

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/alrl/alrl/learner"
)

func TestStochasticBatchDeterministicAndValid(t *testing.T) {
	scores := []float64{0.1, 0.5, 0.3, 0.9, 0.2, 0.7, 0.4, 0.05}
	cands := []int{10, 11, 12, 13, 14, 15, 16, 17}
	for _, mode := range []string{ModePower, ModeSoftmax, ModeSoftrank} {
		a, err := StochasticBatch(scores, cands, 4, mode, 1, seeded(1, 2))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := StochasticBatch(scores, cands, 4, mode, 1, seeded(1, 2))
		if !slices.Equal(a, b) {
			t.Errorf("%s: same seed gave %v and %v", mode, a, b)
		}
		differs := false
		for s := uint64(3); s < 20 && !differs; s++ {
			c, _ := StochasticBatch(scores, cands, 4, mode, 1, seeded(s, 2))
			differs = !slices.Equal(a, c)
		}
		if !differs {
			t.Errorf("%s: 17 other seeds all gave %v", mode, a)
		}
		seen := map[int]bool{}
		for _, i := range a {
			if seen[i] || !slices.Contains(cands, i) {
				t.Errorf("%s: %v has a duplicate or a non-candidate", mode, a)
			}
			seen[i] = true
		}
	}
}

func TestStochasticBatchLargeBetaIsTopK(t *testing.T) {
	scores := []float64{0.1, 0.5, 0.3, 0.9, 0.2, 0.7, 0.4, 0.05}
	cands := []int{10, 11, 12, 13, 14, 15, 16, 17}
	want, _ := TopK(scores, cands, 4)
	for _, mode := range []string{ModePower, ModeSoftmax, ModeSoftrank} {
		for s := uint64(0); s < 20; s++ {
			got, err := StochasticBatch(scores, cands, 4, mode, 1e6, seeded(s, 5))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s, beta 1e6, seed %d: %v, top-k %v", mode, s, got, want)
			}
		}
	}
}

func TestStochasticBatchZeroScoreUnderPower(t *testing.T) {
	scores := []float64{0, 1, 2, 0, 3}
	cands := []int{0, 1, 2, 3, 4}
	for s := uint64(0); s < 500; s++ {
		got, err := StochasticBatch(scores, cands, 3, ModePower, 1, seeded(s, 1))
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(got, 0) || slices.Contains(got, 3) {
			t.Fatalf("seed %d: zero-score candidate chosen: %v", s, got)
		}
	}
	// More than the positive ones: all positives first, then the zeros.
	got, err := StochasticBatch(scores, cands, 5, ModePower, 1, seeded(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	first := slices.Clone(got[:3])
	slices.Sort(first)
	if !slices.Equal(first, []int{1, 2, 4}) {
		t.Errorf("k = 5: %v should start with the three positive-score candidates", got)
	}
}

func TestStochasticBatchInclusionFrequencies(t *testing.T) {
	// k = 1: P(i) = w_i / sum w.
	cands := []int{0, 1, 2, 3}
	tests := []struct {
		mode   string
		beta   float64
		scores []float64
		want   []float64
	}{
		{ModePower, 1, []float64{1, 2, 3, 4}, []float64{0.1, 0.2, 0.3, 0.4}},
		{ModePower, 2, []float64{1, 0, 1, 2}, []float64{1.0 / 6, 0, 1.0 / 6, 4.0 / 6}},
		{ModeSoftmax, 1, []float64{0, math.Log(2), math.Log(3), math.Log(4)}, []float64{0.1, 0.2, 0.3, 0.4}},
		{ModeSoftrank, 1, []float64{0.9, 0.1, 0.5, 0.3}, []float64{12.0 / 25, 3.0 / 25, 6.0 / 25, 4.0 / 25}},
		{ModePower, 0, []float64{5, 1, 0, 2}, []float64{0.25, 0.25, 0.25, 0.25}},
	}
	const draws = 40000
	for _, tc := range tests {
		rng := seeded(77, 1)
		counts := make([]float64, 4)
		for d := 0; d < draws; d++ {
			got, err := StochasticBatch(tc.scores, cands, 1, tc.mode, tc.beta, rng)
			if err != nil {
				t.Fatal(err)
			}
			counts[got[0]]++
		}
		for i := range counts {
			f := counts[i] / draws
			// 5 standard errors of a binomial proportion
			tol := 5 * math.Sqrt(tc.want[i]*(1-tc.want[i])/draws)
			if math.Abs(f-tc.want[i]) > tol+1e-9 {
				t.Errorf("%s beta %g scores %v: candidate %d drawn %.4f, want %.4f", tc.mode, tc.beta, tc.scores, i, f, tc.want[i])
			}
		}
	}
}

func TestStochasticBatchErrors(t *testing.T) {
	c := []int{5, 6, 7}
	tests := []struct {
		name   string
		scores []float64
		mode   string
		beta   float64
		k      int
		want   string
	}{
		{"negative under power", []float64{0.1, -0.2, 0.3}, ModePower, 1, 1, "pool index 6"},
		{"NaN", []float64{0.1, 0.2, math.NaN()}, ModeSoftmax, 1, 1, "pool index 7"},
		{"bad mode", []float64{0.1, 0.2, 0.3}, "boltzmann", 1, 1, "boltzmann"},
		{"negative beta", []float64{0.1, 0.2, 0.3}, ModePower, -1, 1, "beta"},
		{"k too large", []float64{0.1, 0.2, 0.3}, ModePower, 1, 4, "k = 4"},
		{"length mismatch", []float64{0.1}, ModePower, 1, 1, "1 scores"},
	}
	for _, tc := range tests {
		_, err := StochasticBatch(tc.scores, c, tc.k, tc.mode, tc.beta, seeded(1, 1))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
	// Negative scores are fine under softmax and softrank.
	for _, mode := range []string{ModeSoftmax, ModeSoftrank} {
		if _, err := StochasticBatch([]float64{-1, -2, -3}, c, 2, mode, 1, seeded(1, 1)); err != nil {
			t.Errorf("%s with negative scores: %v", mode, err)
		}
	}
}

func TestStochasticStrategies(t *testing.T) {
	ctx := context.Background()
	mc := &mcModel{samples: randomSamples(seeded(4, 4), 3, 8, 3, 0.5)}
	tests := []struct {
		name  string
		opts  map[string]any
		model Model
		needs learner.Capability
	}{
		{"power_bald", map[string]any{"samples": 3}, mc, learner.CapMCDropout},
		{"softmax_bald", map[string]any{"samples": 3, "beta": 2.0}, mc, learner.CapMCDropout},
		{"softrank_bald", map[string]any{"samples": 3}, mc, learner.CapMCDropout},
		{"power_entropy", nil, &fakeModel{probs: probMatrix}, learner.CapProbs},
		{"softmax_entropy", map[string]any{"beta": 0.5}, &fakeModel{probs: probMatrix}, learner.CapProbs},
		{"softrank_entropy", nil, &fakeModel{probs: probMatrix}, learner.CapProbs},
		{"stochastic", map[string]any{"base": "margin", "mode": "softmax"}, &fakeModel{probs: probMatrix}, learner.CapProbs},
		{"stochastic", map[string]any{"base": "bald", "base_options": map[string]any{"samples": 3}, "mode": "rank"}, mc, learner.CapMCDropout},
	}
	for _, tc := range tests {
		s, err := New(tc.name, tc.opts)
		if err != nil {
			t.Fatalf("%s %v: %v", tc.name, tc.opts, err)
		}
		if s.Name() != tc.name {
			t.Errorf("Name() = %q, want %q", s.Name(), tc.name)
		}
		if n, ok := s.(Needer); !ok || !slices.Equal(n.Needs(), []learner.Capability{tc.needs}) {
			t.Errorf("%s: Needs should be [%s]", tc.name, tc.needs)
		}
		q := Query{Model: tc.model, Candidates: []int{0, 2, 3, 5, 6}, Labeled: []int{1}, K: 3, RNG: seeded(9, 9)}
		a, err := s.Select(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		q.RNG = seeded(9, 9)
		b, _ := s.Select(ctx, q)
		if !slices.Equal(a, b) || len(a) != 3 {
			t.Errorf("%s: %v and %v from the same seed", tc.name, a, b)
		}
		for _, i := range a {
			if !slices.Contains(q.Candidates, i) {
				t.Errorf("%s chose %d, not a candidate", tc.name, i)
			}
		}
	}
	// power over margin (negative scores) fails with the fix in the message.
	s, _ := New("stochastic", map[string]any{"base": "margin"})
	_, err := s.Select(ctx, Query{Model: &fakeModel{probs: probMatrix}, Candidates: []int{1, 2}, K: 1, RNG: seeded(1, 1)})
	if err == nil || !strings.Contains(err.Error(), "softmax") {
		t.Errorf("power over margin: err = %v", err)
	}
	for _, o := range []map[string]any{
		{"base": "random"},
		{"base": "no_such"},
		{"base": "stochastic"},
		{"mode": "boltzmann"},
		{"beta": -1.0},
		{"base_options": "samples=3"},
		{"base": "entropy", "base_options": map[string]any{"samples": 3}},
	} {
		if _, err := New("stochastic", o); err == nil {
			t.Errorf("New(stochastic, %v) succeeded", o)
		}
	}
	if _, err := New("power_entropy", map[string]any{"samples": 3}); err == nil {
		t.Error("power_entropy accepted a samples option")
	}
}
