package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDryRun: train --dry-run and sweep --dry-run check every config
// against its data and the learner, name the fix, and write nothing.
func TestDryRun(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "rows.csv")
	rows := "a,b,y\n"
	for i := 0; i < 60; i++ {
		rows += strings.Join([]string{string(rune('0' + i%7)), string(rune('0' + i%5)), "c" + string(rune('0'+i%3))}, ",") + "\n"
	}
	if err := os.WriteFile(csv, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	base := []string{"--set", "data.name=csv", "--set", "data.path=" + csv, "--set", "data.label_column=y", "--set", "split.pool=0",
		"--set", "split.test=10", "--set", "al.init_size=6", "--set", "al.init_mode=random", "--set", "al.k=3", "--set", "al.budget=12",
		"--set", "learner.backend=testcentroid", "--out", out}
	tests := []struct {
		name string
		args []string
		want string // "" = passes
	}{
		{"cnn on rows", []string{"--set", "learner.model.name=cnn"}, "use learner.model.name: mlp"},
		{"missing file", []string{"--set", "data.path=" + csv + ".none"}, "file not found"},
		{"mlp on rows", []string{"--set", "learner.model.name=mlp"}, ""},
	}
	// A short epoch on a small initial set is warned about, with the fix.
	msg, err := runCLI(t, append(append([]string{"train", "-c", "builtin:default"}, base...), "--set", "learner.model.name=mlp",
		"--set", "learner.train.min_epoch_samples=0", "--dry-run")...)
	if err != nil || !strings.Contains(msg, "warning: round 0 trains for only 10 optimizer steps") || !strings.Contains(msg, "min_epoch_samples") {
		t.Fatalf("no epoch warning: %v\n%s", err, msg)
	}
	if msg, _ := runCLI(t, append(append([]string{"train", "-c", "builtin:default"}, base...), "--set", "learner.model.name=mlp", "--dry-run")...); strings.Contains(msg, "warning") {
		t.Fatalf("warned with min_epoch_samples 1024: %s", msg)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append(append([]string{"train", "-c", "builtin:default"}, base...), tc.args...), "--dry-run")
			msg, err := runCLI(t, args...)
			switch {
			case tc.want == "" && (err != nil || !strings.Contains(msg, "check out")):
				t.Fatalf("%v\n%s", err, msg)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Fatalf("--dry-run wrote %s", out)
			}
		})
	}
	sweep := filepath.Join(dir, "sweep.yaml")
	if err := os.WriteFile(sweep, []byte(`name: rows
base: builtin:default
config:
  data: {name: csv, path: `+csv+`, label_column: y}
  split: {pool: 0, test: 10}
  al: {init_size: 6, init_mode: random, k: 3, budget: 12}
  learner: {backend: testcentroid}
axes:
  - grid:
      seed: [1, 2]
out: `+out+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "sweep", "-c", sweep, "--dry-run"); err == nil || !strings.Contains(err.Error(), "use learner.model.name: mlp") {
		t.Fatalf("sweep --dry-run with a CNN on rows: %v", err)
	}
	if msg, err := runCLI(t, "sweep", "-c", sweep, "--dry-run", "--set", "learner.model.name=mlp"); err != nil || !strings.Contains(msg, "runs") {
		t.Fatalf("sweep --dry-run: %v\n%s", err, msg)
	}
}
