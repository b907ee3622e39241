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
	if err := checkInitMode("kmeans"); err == nil || !strings.Contains(err.Error(), "typiclust") {
		t.Errorf("init_mode kmeans (not a cold starter): err = %v, want one listing typiclust", err)
	}
	if _, err := Parse("t.yaml", []byte("al: {init_mode: typiclust}"), nil); err != nil {
		t.Errorf("init_mode typiclust rejected: %v", err)
	}
	if _, err := Parse("t.yaml", []byte("al: {init_mode: typical}"), nil); err == nil || !strings.Contains(err.Error(), "al.init_mode") {
		t.Errorf("init_mode typical: err = %v", err)
	}
}

func TestRunTypiClustInitAndDiversityStrategies(t *testing.T) {
	// Every strategy of the diversity family runs end to end with the
	// pure-Go test learner, from a TypiClust cold start: the initial set is
	// the same for every strategy of a seed and chosen without labels.
	cfg := runTestConfig(t)
	cfg.Seeds = []uint64{3}
	cfg.AL.InitMode = "typiclust"
	cfg.AL.Budget = 14
	cfg.Strategies = []StrategyConfig{
		{Name: "coreset"}, {Name: "kmeans"}, {Name: "badge"}, {Name: "dbal_kmeans"},
		{Name: "discriminative", Options: map[string]any{"epochs": 20}}, {Name: "dfal"}, {Name: "typiclust"},
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
