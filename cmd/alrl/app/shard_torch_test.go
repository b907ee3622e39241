//go:build torch

package app

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/alrl/alrl/experiments"
	"github.com/alrl/alrl/internal/slurmtest"
)

// chosen trains the moons config with one strategy (YAML) and returns each
// round's chosen pool indices.
func chosen(t *testing.T, strategy string) [][]int {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cfg.yaml")
	text := moonsBase + "strategies: [" + strategy + "]\n"
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if stdout, err := runCLI(t, "train", "-c", cfg, "--out", out); err != nil {
		t.Fatalf("train %s: %v\n%s", strategy, err, stdout)
	}
	runs, _ := filepath.Glob(filepath.Join(out, "*", "seed-1"))
	if len(runs) != 1 {
		t.Fatalf("%d run folders under %s", len(runs), out)
	}
	recs, err := experiments.ReadRounds(runs[0])
	if err != nil {
		t.Fatal(err)
	}
	var picks [][]int
	for _, r := range recs {
		picks = append(picks, r.Chosen)
	}
	if _, err := os.Stat(filepath.Join(runs[0], "shards")); err == nil {
		if ents, _ := os.ReadDir(filepath.Join(runs[0], "shards")); len(ents) > 0 {
			t.Errorf("the round folders were not removed after merging: %v", ents)
		}
	}
	return picks
}

func TestShardedScoringEqualsLocal(t *testing.T) {
	t.Setenv(cliEnv, "1") // the workers are this test binary acting as alrl
	want := chosen(t, "{name: bald, options: {samples: 6}}")
	if len(want) < 3 {
		t.Fatalf("only %d rounds", len(want))
	}
	got := chosen(t, "{name: sharded, options: {of: {name: bald, options: {samples: 6}}, shards: 3, executor: local}}")
	if !slices.EqualFunc(got, want, slices.Equal[[]int]) {
		t.Errorf("BALD scored in 3 worker processes chose\n%v\nlocal scoring\n%v", got, want)
	}
}

func TestShardedScoringOnSlurm(t *testing.T) {
	slurmtest.Start(t)
	t.Setenv(cliEnv, "1") // sbatch exports the environment to the jobs
	want := chosen(t, "{name: entropy}")
	got := chosen(t, `{name: sharded, options: {of: entropy, shards: 3, executor: slurm, slurm: {cpus: 1, mem: 200M, time: "10", poll: 200ms}}}`)
	if !slices.EqualFunc(got, want, slices.Equal[[]int]) {
		t.Errorf("entropy scored as a Slurm job array chose\n%v\nlocal scoring\n%v", got, want)
	}
}
