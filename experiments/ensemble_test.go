package experiments

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/internal/testlearner"
	"github.com/alrl/alrl/learner"
)

func init() {
	learner.RegisterBackend("testcentroid_noisy", "test learner whose fit depends on the seed", func(in datasets.Inputs, c int, _ learner.Config) (learner.Learner, error) {
		l := testlearner.New(in, c)
		l.FitNoise = 0.3
		return l, nil
	})
}

func TestRunEnsembleStrategyNeedsLearnerEnsemble(t *testing.T) {
	cfg := runTestConfig(t)
	cfg.Seeds = []uint64{1}
	cfg.Strategies = []StrategyConfig{{Name: "ensemble"}}
	_, err := Run(context.Background(), cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "set learner.ensemble") {
		t.Errorf("ensemble strategy with a single model: err = %v, want it to say to set learner.ensemble", err)
	}
}

func TestRunEnsembleResumes(t *testing.T) {
	cfgA := runTestConfig(t)
	cfgA.Seeds = []uint64{4}
	cfgA.Learner.Backend = "testcentroid_noisy"
	cfgA.Learner.Ensemble = 3
	cfgA.Strategies = []StrategyConfig{{Name: "ensemble", Options: map[string]any{"score": "bald"}}}
	cfgB := cfgA
	cfgB.Out = t.TempDir()
	resA, err := Run(context.Background(), cfgA, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resA[0].Summary.Learner, "ensemble of 3") {
		t.Errorf("summary learner %q", resA[0].Summary.Learner)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := Run(ctx, cfgB, interruptAfter(2, cancel)); err == nil {
		t.Fatal("interrupted run returned no error")
	}
	resB, err := Run(context.Background(), cfgB, Options{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	a, b := readRounds(t, resA[0].Dir), readRounds(t, resB[0].Dir)
	if len(a) != len(b) {
		t.Fatalf("%d vs %d rounds", len(a), len(b))
	}
	for j := range a {
		if a[j].TestAcc != b[j].TestAcc || !slices.Equal(a[j].Chosen, b[j].Chosen) {
			t.Errorf("round %d differs after resume: %+v vs %+v", j, a[j], b[j])
		}
	}
}
