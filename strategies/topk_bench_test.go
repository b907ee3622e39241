package strategies

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func topKInputs(n int) ([]float64, []int) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := make([]float64, n)
	c := make([]int, n)
	for i := range s {
		s[i] = float64(rng.IntN(n / 4)) // many ties
		c[i] = 3 * i
	}
	return s, c
}

func BenchmarkTopK(b *testing.B) {
	for _, n := range []int{60_000, 1_000_000} {
		for _, k := range []int{10, 1000, n / 2} {
			s, c := topKInputs(n)
			b.Run(fmt.Sprintf("n=%d/k=%d", n, k), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if _, err := TopK(s, c, k); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestTopKMatchesStableSort checks TopK against the definition (stable sort
// by score, descending) on inputs with many ties, for small and large k.
func TestTopKMatchesStableSort(t *testing.T) {
	for _, n := range []int{1, 7, 100, 5000} {
		s, c := topKInputs(n * 4)
		s, c = s[:n], c[:n]
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			switch {
			case s[a] > s[b]:
				return -1
			case s[a] < s[b]:
				return 1
			}
			return 0
		})
		for _, k := range []int{0, 1, 3, n / 10, n / 2, n - 1, n} {
			if k < 0 || k > n {
				continue
			}
			got, err := TopK(s, c, k)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]int, k)
			for i := range want {
				want[i] = c[order[i]]
			}
			if !slices.Equal(got, want) {
				t.Fatalf("n=%d k=%d: TopK = %v, want %v", n, k, got, want)
			}
		}
	}
}
