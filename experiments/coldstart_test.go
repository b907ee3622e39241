package experiments

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func TestColdStartsListsTypiClust(t *testing.T) {
	if cs := ColdStarts(); !slices.Contains(cs, "typiclust") {
		t.Errorf("ColdStarts() = %v, want typiclust in it", cs)
	}
	for _, tc := range []struct {
		yaml string
		want string // "" = valid
	}{
		{"al: {init_mode: typiclust}", ""},
		{"al: {init_mode: typiclust, init_options: {dim: 32, standardise: true}}", ""},
		{"al: {init_mode: kmeans}", "typiclust"}, // kmeans is no cold starter
		{"al: {init_mode: typical}", "al.init_mode"},
		{"al: {init_mode: typiclust, init_options: {knn: 0}}", "al.init_options"},
		{"al: {init_mode: typiclust, init_options: {k_nn: 5}}", "k_nn"},
		{"al: {init_mode: random, init_options: {dim: 3}}", "al.init_options"},
	} {
		_, err := Parse("t.yaml", []byte(tc.yaml), nil)
		if tc.want == "" && err != nil {
			t.Errorf("%s: %v", tc.yaml, err)
		}
		if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: err = %v, want one naming %q", tc.yaml, err, tc.want)
		}
	}
}

func TestRunTypiClustInitAndDiversityStrategies(t *testing.T) {
	// Every strategy of the diversity family runs end to end with the
	// pure-Go test learner, from a TypiClust cold start: the initial set is
	// the same for every strategy of a seed and chosen without labels.
	cfg := runTestConfig(t)
	cfg.Seeds = []uint64{3}
	cfg.AL.InitMode = "typiclust"
	cfg.AL.InitOptions = map[string]any{"knn": 5, "features": "inputs"}
	cfg.AL.Budget = 14
	cfg.Strategies = []StrategyConfig{
		{Name: "coreset"}, {Name: "kmeans"}, {Name: "badge"}, {Name: "dbal_kmeans"},
		{Name: "discriminative", Options: map[string]any{"epochs": 20}}, {Name: "deepfool"},
		{Name: "typiclust", Options: map[string]any{"features": "inputs"}},
	}
	res, err := Run(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var init0 []int
	for i, r := range res {
		recs := readRounds(t, r.Dir)
		if len(recs) != 3 || recs[len(recs)-1].Labels != 14 {
			t.Fatalf("%s: %d rounds, last %+v", r.Dir, len(recs), recs[len(recs)-1])
		}
		if i == 0 {
			init0 = recs[0].Chosen
		} else if !slices.Equal(recs[0].Chosen, init0) {
			t.Errorf("%s: initial set %v differs from %v", r.Dir, recs[0].Chosen, init0)
		}
		seen := map[int]bool{}
		for _, rec := range recs {
			for _, c := range rec.Chosen {
				if seen[c] {
					t.Errorf("%s: pool index %d chosen twice", r.Dir, c)
				}
				seen[c] = true
			}
		}
	}
	if len(init0) != 6 {
		t.Errorf("initial set %v, want 6 samples", init0)
	}
}

func TestTypiClustSelfSupervisedNeedsAPretrainingBackend(t *testing.T) {
	// The test learner cannot pre-train by DeepCluster: features:
	// selfsupervised (the default) stops the run at its start, per-round and
	// at the cold start alike, with an error naming the fallback.
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"strategy", func(c *Config) { c.Strategies = []StrategyConfig{{Name: "typiclust"}} }, "typiclust"},
		{"prefilter", func(c *Config) {
			c.Strategies = []StrategyConfig{{Name: "prefilter", Options: map[string]any{"first": "entropy", "then": "typiclust", "keep": 8}}}
		}, "typiclust"},
		{"cold start", func(c *Config) { c.AL.InitMode = "typiclust" }, "al.init_mode typiclust"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := runTestConfig(t)
			cfg.Seeds = []uint64{1}
			cfg.Strategies = []StrategyConfig{{Name: "random"}}
			tc.mod(&cfg)
			_, err := Run(context.Background(), cfg, Options{})
			if err == nil || !strings.Contains(err.Error(), "features: inputs") || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), "DeepCluster") {
				t.Fatalf("err = %v, want one naming %s, DeepCluster and features: inputs", err, tc.want)
			}
		})
	}
}
