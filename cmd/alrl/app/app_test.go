package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alrl/alrl/experiments"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := New()
	var out bytes.Buffer
	app.Writer = &out
	app.ErrWriter = &out
	err := app.RunContext(context.Background(), append([]string{"alrl", "--log-level", "warn"}, args...))
	return out.String(), err
}

// pureGoConfig is a small moons experiment on the pure-Go backend.
const pureGoConfig = `
name: moons-purego
seeds: [2]
data: {name: moons, n: 300, noise: 0.15}
split: {test: 80}
al: {init_size: 6, init_mode: balanced, k: 6, budget: 18}
learner:
  backend: gorgonia
  model: {name: mlp, hidden: [16], dropout: 0.2}
  train: {lr: 0.01, batch_size: 16, epochs: 10, min_epoch_samples: 64, patience: 3, holdout: 0.2}
strategies:
  - name: entropy
  - name: random
targets: [0.8]
`

// TestPureGoTrain runs `alrl train` on the gorgonia backend, which every
// build has, and checks that the runs record it.
func TestPureGoTrain(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cfg.yaml")
	if err := os.WriteFile(cfg, []byte(pureGoConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	stdout, err := runCLI(t, "train", "-c", cfg, "--out", out)
	if err != nil {
		t.Fatalf("train: %v\n%s", err, stdout)
	}
	for _, s := range []string{"entropy", "random"} {
		run := filepath.Join(out, s, "seed-2")
		sum, err := experiments.ReadSummary(run)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Backend != "gorgonia" || !strings.HasPrefix(sum.Learner, "gorgonia mlp") || sum.Labels != 18 {
			t.Errorf("%s: backend %q learner %q labels %d", run, sum.Backend, sum.Learner, sum.Labels)
		}
		if sum.FinalAcc < 0.6 {
			t.Errorf("%s: final accuracy %v on moons", run, sum.FinalAcc)
		}
		b, err := os.ReadFile(filepath.Join(run, "config.yaml"))
		if err != nil || !strings.Contains(string(b), "backend: gorgonia") {
			t.Errorf("%s/config.yaml does not record the backend (%v)", run, err)
		}
	}
}

// TestPureGoRejectsWhatItCannotRun: a config the gorgonia backend cannot run
// fails before the run starts, naming the backend that can.
func TestPureGoRejectsWhatItCannotRun(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cfg.yaml")
	if err := os.WriteFile(cfg, []byte(pureGoConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	_, err := runCLI(t, "train", "-c", cfg, "--out", out, "--set", "learner.device=cuda")
	if err == nil || !strings.Contains(err.Error(), "learner.backend: torch") || !strings.Contains(err.Error(), "-tags torch") {
		t.Fatalf("device cuda on gorgonia: %v; want an error naming the torch backend and its build", err)
	}
	if _, err := os.Stat(filepath.Join(out, "entropy")); err == nil {
		t.Error("the rejected experiment created a run folder")
	}
}

func TestVersionAndBackends(t *testing.T) {
	out, err := runCLI(t, "version")
	if err != nil || !strings.Contains(out, "gorgonia") || !strings.Contains(out, "(default ") {
		t.Errorf("version does not name the gorgonia backend and the default: %q, %v", out, err)
	}
	out, err = runCLI(t, "list", "backends")
	if err != nil || !strings.Contains(out, "gorgonia") || !strings.Contains(out, "pure Go") {
		t.Errorf("list backends: %q, %v", out, err)
	}
}

func TestSetKeepsCommas(t *testing.T) {
	// A YAML flow value with commas is one override: the later bad key is
	// what fails, not the split value.
	a := New()
	var out bytes.Buffer
	a.Writer, a.ErrWriter = &out, &out
	err := a.Run([]string{"alrl", "--log-level", "error", "train", "--out", t.TempDir(),
		"--set", "strategies=[{name: bald}, {name: batchbald, options: {samples: 3}}]",
		"--set", "seeds=[1,2]", "--set", "al.k=ten"})
	if err == nil || !strings.Contains(err.Error(), "al.k") || strings.Contains(err.Error(), "invalid override") {
		t.Errorf("err = %v, want the al.k type error (the comma-separated values parsed)", err)
	}
}
