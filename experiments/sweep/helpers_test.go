package sweep

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/experiments"
	"github.com/alrl/alrl/internal/testlearner"
	"github.com/alrl/alrl/learner"
)

func init() {
	learner.RegisterBackend("testcentroid", "test", testlearner.Factory)
}

// runTestConfig is a small experiment on blobs with the test learner.
func runTestConfig(t *testing.T) experiments.Config {
	t.Helper()
	cfg := experiments.Default()
	cfg.Name = "test"
	cfg.Seeds = []uint64{1, 2}
	cfg.Data = datasets.Source{Name: "blobs", N: 300, Classes: 3, Dim: 2}
	cfg.Split = experiments.SplitConfig{Test: 60}
	cfg.AL = envs.Config{InitSize: 6, InitMode: "balanced", K: 4, Budget: 22}
	cfg.Learner.Backend = "testcentroid"
	cfg.Learner.Model = learner.ModelSpec{Name: "mlp", Hidden: []int{8}}
	cfg.Strategies = []experiments.StrategyConfig{{Name: "entropy"}, {Name: "random"}}
	cfg.Targets = []float64{0.5, 0.99}
	cfg.Out = t.TempDir()
	return cfg
}

func readRounds(t *testing.T, dir string) []envs.Record {
	t.Helper()
	recs, err := experiments.ReadRounds(dir)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func sameFloat(a, b envs.Float) bool {
	return a == b || (math.IsNaN(float64(a)) && math.IsNaN(float64(b)))
}

// checkpointRound is the round of a run's checkpoint, if it has one.
func checkpointRound(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "checkpoint", "state.json"))
	if err != nil {
		return 0, false
	}
	var ck struct {
		Env struct {
			Round int `json:"round"`
		} `json:"env"`
	}
	if json.Unmarshal(b, &ck) != nil {
		return 0, false
	}
	return ck.Env.Round, true
}
