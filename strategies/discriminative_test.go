package strategies

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestDiscriminativePicksTheUnrepresentedRegion(t *testing.T) {
	// Labeled samples cover the blob at the origin; the candidates are 40
	// more from that blob and 6 from a blob that nothing labeled resembles.
	// One discriminator (one sub-batch) ranks the far blob first. With one
	// sub-batch per pick, the first pick is far; later ones need not be, as
	// the far blob then counts as represented.
	for seed := uint64(0); seed < 3; seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		m := blobs(rng, [][]float64{{0, 0, 0}}, 60, 1)
		far := blobs(rng, [][]float64{{6, 6, 6}}, 6, 1)
		m.x = append(m.x, far.x...)
		lab, cands := seq(0, 20), seq(20, 66)
		for _, sub := range []int{1, 6} {
			s, err := New("discriminative", map[string]any{"sub_batches": sub})
			if err != nil {
				t.Fatal(err)
			}
			q := Query{Model: m, Candidates: cands, Labeled: lab, K: 6, RNG: seeded(seed, 2)}
			got, err := s.Select(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkSelection(got, q); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, i := range got {
				if i >= 60 {
					n++
				}
			}
			if sub == 1 && n < 5 {
				t.Errorf("seed %d, one sub-batch: picks %v hold %d of the 6 far samples, want >= 5", seed, got, n)
			}
			if got[0] < 60 {
				t.Errorf("seed %d, %d sub-batches: first pick %d is not in the far blob", seed, sub, got[0])
			}
			q.RNG = seeded(seed, 2)
			again, _ := s.Select(context.Background(), q)
			if !slices.Equal(got, again) {
				t.Errorf("same seed gave %v and %v", got, again)
			}
		}
	}
}

func TestDiscriminativeSubBatchesSeeEarlierPicksAsLabeled(t *testing.T) {
	// Two far-away duplicate pairs. One sub-batch at a time, the second
	// pick cannot be the twin of the first (now "labeled"), so both
	// regions are covered; a single sub-batch could take both twins.
	m := points(
		[]float64{0, 0}, []float64{0.1, 0}, []float64{0, 0.1}, []float64{0.1, 0.1}, // labeled
		[]float64{0.05, 0.05}, []float64{0.02, 0.08}, []float64{0.07, 0.01}, // candidates like the labeled
		[]float64{10, 0}, []float64{10, 0.01}, // twin pair A
		[]float64{0, 10}, []float64{0.01, 10}, // twin pair B
	)
	s, err := New("discriminative", map[string]any{"sub_batches": 2, "lr": 0.01, "epochs": 300, "stop_accuracy": 1.0, "unlabeled_ratio": 0})
	if err != nil {
		t.Fatal(err)
	}
	q := Query{Model: m, Candidates: seq(4, 11), Labeled: seq(0, 4), K: 2, RNG: seeded(3, 3)}
	got, err := s.Select(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	a := got[0] == 7 || got[0] == 8 || got[1] == 7 || got[1] == 8
	b := got[0] == 9 || got[0] == 10 || got[1] == 9 || got[1] == 10
	if !a || !b {
		t.Errorf("picks %v, want one of pair A {7, 8} and one of pair B {9, 10}", got)
	}
}

func TestDiscriminativeWithoutLabelsAndOptions(t *testing.T) {
	m := oneD(0, 1, 2, 3, 4)
	s, err := New("discriminative", nil)
	if err != nil {
		t.Fatal(err)
	}
	q := Query{Model: m, Candidates: seq(0, 5), K: 3, RNG: seeded(1, 1)}
	got, err := s.Select(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkSelection(got, q); err != nil {
		t.Error(err)
	}
	for _, opts := range []map[string]any{{"sub_batches": 0}, {"lr": 0.0}, {"stop_accuracy": 1.5}, {"layers": -1}, {"epochs": 0}} {
		if _, err := New("discriminative", opts); err == nil {
			t.Errorf("options %v accepted", opts)
		}
	}
}
