//go:build torch

package app

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/experiments"
)

const moonsConfig = `
name: moons-e2e
seeds: [3]
data: {name: moons, n: 400, noise: 0.15}
split: {test: 100}
al: {init_size: 6, init_mode: balanced, k: 6, budget: 30}
learner:
  threads: 1
  model: {name: mlp, hidden: [16], dropout: 0.2}
  train: {lr: 0.01, batch_size: 16, epochs: 20, min_epoch_samples: 64, patience: 4, holdout: 0.2}
strategies:
  - name: entropy
  - name: random
targets: [0.8]
`

func TestTrainEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cfg.yaml")
	if err := os.WriteFile(cfg, []byte(moonsConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	// A --set value with commas is one override (YAML), not several.
	stdout, err := runCLI(t, "train", "-c", cfg, "--out", out, "--set", "al.k=8", "--set", "al.budget=30", "--set", "targets=[0.5, 0.9]")
	if err != nil {
		t.Fatalf("train: %v\n%s", err, stdout)
	}
	for _, f := range []string{"summary.md", "summary.csv", "curves.png",
		"entropy/seed-3/config.yaml", "entropy/seed-3/rounds.jsonl", "entropy/seed-3/summary.json", "entropy/seed-3/curve.png",
		"random/seed-3/summary.json", "random/seed-3/checkpoint/state.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	recs, err := experiments.ReadRounds(filepath.Join(out, "entropy", "seed-3"))
	if err != nil {
		t.Fatal(err)
	}
	labels := []int{}
	for _, r := range recs {
		labels = append(labels, r.Labels)
	}
	// --set al.k=8 took effect: 6, 14, 22, 30.
	if !reflect.DeepEqual(labels, []int{6, 14, 22, 30}) {
		t.Fatalf("labels per round %v", labels)
	}
	if !strings.Contains(stdout, "entropy") || !strings.Contains(stdout, "summary.md") {
		t.Fatalf("stdout lacks the summary table:\n%s", stdout)
	}
	// The same seed gives both strategies the same initial set (paired runs).
	rr, _ := experiments.ReadRounds(filepath.Join(out, "random", "seed-3"))
	if recs[0].TestAcc != rr[0].TestAcc {
		t.Fatalf("round 0 differs between strategies on one seed: %v vs %v", recs[0].TestAcc, rr[0].TestAcc)
	}
	// A second train into the same folder needs --resume, which skips finished runs.
	if _, err := runCLI(t, "train", "-c", cfg, "--out", out, "--set", "al.k=8"); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("rerun without --resume: %v", err)
	}
	if _, err := runCLI(t, "train", "-c", cfg, "--out", out, "--set", "al.k=8", "--resume"); err != nil {
		t.Fatalf("rerun with --resume: %v", err)
	}
}

func TestTrainRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("al: {k: ten}\nlearner: {modle: {}}\n"), 0o644)
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"wrong type and unknown key", []string{"train", "-c", bad}, []string{"al.k", "learner.modle"}},
		{"missing file", []string{"train", "-c", filepath.Join(dir, "nope.yaml")}, []string{"does not exist", "builtin:"}},
		{"unknown strategy", []string{"train", "--set", "strategies.0.name=oracle"}, []string{"unknown strategy", "entropy"}},
		{"bad set", []string{"train", "--set", "al.k"}, []string{"--set"}},
		{"budget above pool", []string{"train", "--set", "data.name=moons", "--set", "data.n=100", "--set", "split.pool=0", "--set", "split.test=10",
			"--set", "learner.model.name=mlp", "--set", "al.budget=500", "--out", filepath.Join(dir, "o")}, []string{"al.budget", "pool"}},
		{"missing data dir", []string{"train", "--data-dir", filepath.Join(dir, "nodata"), "--out", filepath.Join(dir, "o2")}, []string{"nodata", "ALRL_DATA_DIR"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := runCLI(t, c.args...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestListAndVersion(t *testing.T) {
	out, err := runCLI(t, "list", "strategies")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"random", "entropy", "margin", "least_confidence"} {
		if !strings.Contains(out, s) {
			t.Errorf("list strategies lacks %s", s)
		}
	}
	out, _ = runCLI(t, "version")
	if !strings.Contains(out, "torch") {
		t.Errorf("version does not name the torch backend: %s", out)
	}
	out, _ = runCLI(t, "list", "configs")
	if !strings.Contains(out, "builtin:default") {
		t.Errorf("list configs: %s", out)
	}
}

// TestResumeEqualsUninterrupted interrupts a run after round 2 and resumes
// it: every remaining round must equal the uninterrupted run's.
func TestResumeEqualsUninterrupted(t *testing.T) {
	cfg, err := experiments.Parse("moons", []byte(moonsConfig), []string{"strategies=[{name: entropy}]", "al.budget=36"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfg.Out = filepath.Join(t.TempDir(), "a")
	if _, err := experiments.Run(ctx, cfg, experiments.Options{}); err != nil {
		t.Fatal(err)
	}
	cfgB := cfg
	cfgB.Out = filepath.Join(t.TempDir(), "b")
	cctx, cancel := context.WithCancel(ctx)
	_, err = experiments.Run(cctx, cfgB, experiments.Options{OnRound: func(_ string, r envs.Record) {
		if r.Round == 2 {
			cancel()
		}
	}})
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("interrupted run: %v", err)
	}
	if _, err := experiments.Run(ctx, cfgB, experiments.Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
	a, _ := experiments.ReadRounds(experiments.RunDir(cfg.Out, cfg.Strategies[0], 3))
	b, _ := experiments.ReadRounds(experiments.RunDir(cfgB.Out, cfg.Strategies[0], 3))
	if len(a) != 6 || len(a) != len(b) {
		t.Fatalf("rounds: %d uninterrupted, %d resumed", len(a), len(b))
	}
	for i := range a {
		a[i].TrainSeconds, a[i].EvalSeconds, a[i].QuerySeconds = 0, 0, 0
		b[i].TrainSeconds, b[i].EvalSeconds, b[i].QuerySeconds = 0, 0, 0
		ja, _ := json.Marshal(a[i])
		jb, _ := json.Marshal(b[i])
		if string(ja) != string(jb) {
			t.Fatalf("round %d differs after resume:\n%s\n%s", i, ja, jb)
		}
	}
}
