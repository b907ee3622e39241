package strategies

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
)

// newStrategies lists the strategies of the diversity / hybrid / adversarial
// / cold-start family with options that keep the test fast.
var newStrategies = []struct {
	name string
	opts map[string]any
}{
	{"coreset", nil},
	{"kmeans", nil},
	{"badge", nil},
	{"dbal_kmeans", nil},
	{"dbal_kmeans", map[string]any{"score": "entropy", "beta": 3}},
	{"discriminative", map[string]any{"sub_batches": 3, "epochs": 20}},
	{"deepfool", nil},
	{"typiclust", map[string]any{"features": "inputs"}},
	{"typiclust", map[string]any{"features": "embeddings", "min_cluster_size": 0}},
}

func TestNewStrategiesInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	m := affine3(rng, 300)
	// Candidates: a shuffled subset of the unlabeled pool, so positions and
	// pool indices differ.
	perm := rng.Perm(300)
	lab := perm[:30]
	for _, tc := range newStrategies {
		for _, k := range []int{1, 7, 40} {
			cands := slices.Clone(perm[30:130])
			s, err := New(tc.name, tc.opts)
			if err != nil {
				t.Fatalf("%s %v: %v", tc.name, tc.opts, err)
			}
			q := Query{Model: m, Candidates: cands, Labeled: lab, K: k, RNG: seeded(uint64(k), 5)}
			got, err := s.Select(context.Background(), q)
			if err != nil {
				t.Fatalf("%s %v k=%d: %v", tc.name, tc.opts, k, err)
			}
			if err := checkSelection(got, q); err != nil {
				t.Errorf("%s %v k=%d: %v", tc.name, tc.opts, k, err)
			}
			if !slices.Equal(cands, perm[30:130]) {
				t.Errorf("%s: modified the candidate slice", tc.name)
			}
			q.RNG = seeded(uint64(k), 5)
			again, err := s.Select(context.Background(), q)
			if err != nil || !slices.Equal(got, again) {
				t.Errorf("%s %v k=%d: same seed gave %v and %v (%v)", tc.name, tc.opts, k, got, again, err)
			}
		}
		// k = every candidate.
		s, _ := New(tc.name, tc.opts)
		q := Query{Model: m, Candidates: perm[30:60], Labeled: lab, K: 30, RNG: seeded(1, 1)}
		got, err := s.Select(context.Background(), q)
		if err != nil {
			t.Fatalf("%s k = all: %v", tc.name, err)
		}
		if err := checkSelection(got, q); err != nil {
			t.Errorf("%s k = all: %v", tc.name, err)
		}
		// Invalid queries are errors naming the strategy.
		if _, err := s.Select(context.Background(), Query{Model: m, Candidates: perm[30:32], K: 3, RNG: seeded(1, 1)}); err == nil {
			t.Errorf("%s: k > candidates accepted", tc.name)
		}
		if _, err := s.Select(context.Background(), Query{Model: m, Candidates: perm[30:32], K: 1}); err == nil {
			t.Errorf("%s: nil RNG accepted", tc.name)
		}
	}
}

func TestNewStrategiesRegisteredWithDocs(t *testing.T) {
	for _, tc := range newStrategies {
		info, err := Lookup(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if info.Description == "" {
			t.Errorf("%s has no description", tc.name)
		}
		for _, o := range info.Options {
			if o.Doc == "" || o.Default == nil {
				t.Errorf("%s option %s lacks a default or a doc", tc.name, o.Name)
			}
		}
		s, _ := New(tc.name, nil)
		if _, ok := s.(Needer); !ok {
			t.Errorf("%s does not declare its capabilities", tc.name)
		}
	}
}
