package experiments

import (
	"strings"
	"testing"
)

// TestShippedConfigsAreBudgetHonest: the defaults and every shipped config
// use no labels outside the budget, except the Active-iNAS configs, which
// keep the free validation split of the committed comparison they
// reproduce and say so with split.val_counts: false.
func TestShippedConfigsAreBudgetHonest(t *testing.T) {
	if d := Default(); d.Split.FreeVal() != 0 || d.Learner.Train.Patience != 0 {
		t.Fatalf("defaults: %d free validation labels, patience %d; want 0 and a fixed schedule", d.Split.FreeVal(), d.Learner.Train.Patience)
	}
	for _, name := range Shipped() {
		cfg, err := Load("builtin:"+name, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		free := cfg.Split.FreeVal()
		switch {
		case strings.HasPrefix(name, "inas-"):
			if free == 0 || cfg.Split.ValCounts == nil || *cfg.Split.ValCounts {
				t.Errorf("%s: want the explicit free validation split of the committed comparison", name)
			}
		case free != 0:
			t.Errorf("%s: %d free validation labels; shipped configs are budget-honest", name, free)
		}
	}
}

// TestFreeValidationMustBeDeclared: a validation split outside the budget
// is rejected unless the config says split.val_counts: false, and early
// stopping needs something inside the budget to stop on.
func TestFreeValidationMustBeDeclared(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // nil = valid
	}{
		{"honest default", "split: {val: 0}", nil},
		{"undeclared validation split", "split: {val: 500}", []string{"split.val", "val_counts: false", "plus 500 free validation labels"}},
		{"declared free validation", "split: {val: 500, val_counts: false}\nlearner: {train: {patience: 5}}", nil},
		{"counted validation split", "split: {val: 500, val_counts: true}", []string{"split.val_counts", "holdout"}},
		{"patience without anything to stop on", "learner: {train: {patience: 5}}", []string{"learner.train.patience", "learner.train.holdout"}},
		{"patience on a labeled holdout", "learner: {train: {patience: 5, holdout: 0.2}}", nil},
		{"holdout beside a validation split", "split: {val: 50, val_counts: false}\nlearner: {train: {holdout: 0.2}}", []string{"learner.train.holdout"}},
		{"holdout out of range", "learner: {train: {holdout: 0.7}}", []string{"learner.train.holdout"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.yaml), nil)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

// TestRunsBeforeValCountsReadAsFree: the config.yaml of a run made before
// split.val_counts existed, with a validation split, parses for resume and
// reproduce as the free split it was.
func TestRunsBeforeValCountsReadAsFree(t *testing.T) {
	cfg, err := ParseRun("config.yaml", []byte("split: {val: 500}\nlearner: {train: {patience: 5}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Split.FreeVal() != 500 {
		t.Fatalf("free validation labels %d, want 500", cfg.Split.FreeVal())
	}
}
