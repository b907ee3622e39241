//go:build torch

package app

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alrl/alrl/experiments"
	"github.com/alrl/alrl/experiments/provenance"
	"github.com/alrl/alrl/experiments/sweep"
	"github.com/alrl/alrl/internal/slurmtest"
)

// cliEnv makes the test binary act as the alrl command (see TestMain).
const cliEnv = "ALRL_TEST_CLI"

// TestMain runs the CLI instead of the tests when ALRL_TEST_CLI is set, so
// that tests can start alrl (and its sweep workers) as real processes
// without building a second binary.
func TestMain(m *testing.M) {
	if os.Getenv(cliEnv) != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := New().RunContext(ctx, os.Args)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "alrl:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// moonsBase is a tiny torch run config: an MLP on moons, a few rounds.
const moonsBase = `
name: moons-sweep
seeds: [1]
data: {name: moons, n: 400, noise: 0.2}
split: {test: 100}
al: {init_size: 6, init_mode: balanced, k: 6, budget: 24}
learner:
  threads: 1
  model: {name: mlp, hidden: [16], dropout: 0.2}
  train: {lr: 0.01, batch_size: 16, epochs: 10, min_epoch_samples: 64, patience: 3, holdout: 0.2}
targets: [0.8]
stopping:
  stop_set: 100
  criteria: [{name: stabilizing_predictions}, {name: classification_change, threshold: 0.05}]
`

// writeMoonsSweep writes a sweep over moonsBase; axes (and any other
// top-level sweep keys) follow "axes:".
func writeMoonsSweep(t *testing.T, axes string) (sweepFile, out string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "base.yaml"), []byte(moonsBase), 0o644); err != nil {
		t.Fatal(err)
	}
	out = filepath.Join(dir, "out")
	sweepFile = filepath.Join(dir, "sweep.yaml")
	text := "name: moons-sweep\nbase: base.yaml\nout: " + out + "\naxes:\n" + axes
	if err := os.WriteFile(sweepFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return sweepFile, out
}

func TestSweepReportReproduce(t *testing.T) {
	sweepFile, out := writeMoonsSweep(t, "  - grid: {strategy: [random, entropy], seed: [1, 2]}\n")
	// --set values are YAML, commas included.
	one, _ := writeMoonsSweep(t, "  - grid: {strategy: [random]}\n")
	stdout, err := runCLI(t, "sweep", "-c", one, "--dry-run", "--set", "seeds=[7,8]")
	if err != nil || strings.Count(stdout, "to run") != 2 || !strings.Contains(stdout, "random-seed8") {
		t.Fatalf("dry run with --set seeds=[7,8]: %v\n%s", err, stdout)
	}
	stdout, err = runCLI(t, "sweep", "-c", sweepFile, "--in-process", "-j", "2", "--threads", "1", "--dry-run")
	if err != nil || strings.Count(stdout, "to run") != 4 {
		t.Fatalf("dry run: %v\n%s", err, stdout)
	}
	// In process, runs go one at a time (libtorch's generator is process-wide).
	if _, err := runCLI(t, "sweep", "-c", sweepFile, "--in-process", "-j", "2"); err == nil || !strings.Contains(err.Error(), "process-wide") {
		t.Errorf("--in-process -j 2: %v", err)
	}
	stdout, err = runCLI(t, "sweep", "-c", sweepFile, "--in-process", "-j", "1", "--threads", "1")
	if err != nil {
		t.Fatalf("sweep: %v\n%s", err, stdout)
	}
	if !strings.Contains(stdout, "4 done (0 already before), 0 failed") || !strings.Contains(stdout, "report.html") {
		t.Errorf("sweep output:\n%s", stdout)
	}
	for _, f := range []string{"sweep.json", "sweep.yaml", "report/report.md", "report/report.html", "report/penalty.csv", "report/curves-1.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, "report", "report.md"))
	for _, w := range []string{"| entropy | 2 |", "| random | 2 |", "Paired comparison with random", "stabilizing_predictions"} {
		if !strings.Contains(string(md), w) {
			t.Errorf("report.md lacks %q:\n%s", w, md)
		}
	}
	// Rerun: nothing left to do.
	if stdout, err = runCLI(t, "sweep", "-c", sweepFile, "--in-process", "--report=false"); err != nil || !strings.Contains(stdout, "(4 already before)") {
		t.Errorf("rerun: %v\n%s", err, stdout)
	}
	// report on the runs folder, elsewhere, with options.
	rdir := filepath.Join(t.TempDir(), "r")
	if stdout, err = runCLI(t, "report", "--out", rdir, "--alpha", "0.1", "--targets", "0.7", "--targets", "0.9", filepath.Join(out, "runs")); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout)
	}
	if b, _ := os.ReadFile(filepath.Join(rdir, "report.md")); !strings.Contains(string(b), "labels to 0.9") || !strings.Contains(string(b), "p < 0.1") {
		t.Errorf("report options not applied")
	}
	if _, err := runCLI(t, "report"); err == nil || !strings.Contains(err.Error(), "at least one folder") {
		t.Errorf("report without folders: %v", err)
	}
	if _, err := runCLI(t, "report", out, "--alpha", "0.1"); err == nil || !strings.Contains(err.Error(), "options first") {
		t.Errorf("option after the folders: %v", err)
	}
	// reproduce one run: every round matches.
	ix, err := sweep.ReadIndex(out)
	if err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(out, ix.Runs[1].Dir)
	stdout, err = runCLI(t, "reproduce", "--out", filepath.Join(t.TempDir(), "again"), run)
	if err != nil || !strings.Contains(stdout, "4 of 4 rounds match") {
		t.Errorf("reproduce: %v\n%s", err, stdout)
		b, _ := os.ReadFile(filepath.Join(run, "rounds.jsonl"))
		t.Logf("original rounds:\n%s", b)
	}
}

func TestSweepRejectsBadInput(t *testing.T) {
	sweepFile, _ := writeMoonsSweep(t, "  - grid: {strategy: [random, bald_not_registered]}\n")
	_, err := runCLI(t, "sweep", "-c", sweepFile)
	if err == nil || !strings.Contains(err.Error(), `"bald_not_registered"`) || !strings.Contains(err.Error(), "strategy=bald_not_registered") {
		t.Errorf("unknown strategy: %v", err)
	}
	sweepFile, _ = writeMoonsSweep(t, "  - grid: {strategy: [random]}\n")
	if _, err := runCLI(t, "sweep", "-c", sweepFile, "--executor", "cloud"); err == nil || !strings.Contains(err.Error(), "local or slurm") {
		t.Errorf("unknown executor: %v", err)
	}
}

// TestSweepKilledForReal starts the alrl CLI as a process running a sweep
// with worker subprocesses, kills the sweep with SIGKILL after its first run finished
// and while the next one is mid-way, and reruns it.
func TestSweepKilledForReal(t *testing.T) {
	// The test binary is the alrl CLI (torch backend compiled in) when
	// ALRL_TEST_CLI is set, see TestMain; its workers inherit the variable.
	bin := os.Args[0]
	t.Setenv(cliEnv, "1")
	sweepFile, out := writeMoonsSweep(t, "  - grid: {strategy: [random, entropy, margin], seed: [3]}\n")
	t0 := time.Now()
	cmd := exec.Command(bin, "--log-level", "warn", "sweep", "-c", sweepFile, "-j", "1", "--threads", "1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	var finished []string
	for {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("no run finished within 2 minutes")
		}
		time.Sleep(10 * time.Millisecond)
		finished, _ = filepath.Glob(filepath.Join(out, "runs", "*", "summary.json"))
		cks, _ := filepath.Glob(filepath.Join(out, "runs", "*", "checkpoint", "state.json"))
		if len(finished) > 0 && len(cks) > len(finished) {
			break
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	t.Logf("killed after %.1f s", time.Since(t0).Seconds())
	before := map[string]string{}
	for _, f := range finished {
		b, _ := os.ReadFile(f)
		before[f] = string(b)
	}
	// The worker died with the sweep: its checkpoint stops changing.
	states, _ := filepath.Glob(filepath.Join(out, "runs", "*", "checkpoint", "state.json"))
	stat := func() map[string]time.Time {
		m := map[string]time.Time{}
		for _, s := range states {
			if st, err := os.Stat(s); err == nil {
				m[s] = st.ModTime()
			}
		}
		return m
	}
	time.Sleep(300 * time.Millisecond)
	m0 := stat()
	time.Sleep(1500 * time.Millisecond)
	for s, tm := range stat() {
		if !tm.Equal(m0[s]) {
			t.Errorf("%s still changes after the sweepFile was killed: an orphaned worker", s)
		}
	}
	if len(before) == 3 {
		t.Fatal("all runs finished before the kill")
	}

	t0 = time.Now()
	rerun := exec.Command(bin, "--log-level", "warn", "sweep", "-c", sweepFile, "-j", "1", "--threads", "1")
	stdout, err := rerun.CombinedOutput()
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, stdout)
	}
	t.Logf("rerun: %.1f s", time.Since(t0).Seconds())
	if !strings.Contains(string(stdout), "3 done ("+string(rune('0'+len(before)))+" already before)") {
		t.Errorf("rerun output:\n%s", stdout)
	}
	for f, sum := range before {
		if b, _ := os.ReadFile(f); string(b) != sum {
			t.Errorf("%s was rewritten by the rerun", f)
		}
	}
	// The interrupted run resumed from its checkpoint: a second, resumed session.
	resumed := 0
	dirs, _ := filepath.Glob(filepath.Join(out, "runs", "*"))
	for _, d := range dirs {
		p, err := provenance.Read(d)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Sessions) == 2 && p.Sessions[1].Resumed && p.Sessions[1].FromRound > 0 {
			resumed++
		}
		if recs, _ := experiments.ReadRounds(d); len(recs) != 4 {
			t.Errorf("%s: %d rounds", d, len(recs))
		}
	}
	if resumed != 1 {
		t.Errorf("%d runs resumed from a checkpoint, want 1", resumed)
	}
	// The resumed run has the numbers of an uninterrupted one.
	for _, d := range dirs {
		if p, _ := provenance.Read(d); len(p.Sessions) == 2 {
			b, err := exec.Command(bin, "--log-level", "warn", "reproduce", "--out", filepath.Join(t.TempDir(), "again"), d).CombinedOutput()
			if err != nil || !strings.Contains(string(b), "4 of 4 rounds match") {
				t.Errorf("reproducing the resumed run: %v\n%s", err, b)
			}
		}
	}
}

// TestSweepOnSlurm runs `alrl sweep --executor slurm` against a one-node
// Slurm cluster on localhost: the job array's tasks run this test binary as
// the alrl CLI (sweep-task) with the torch backend.
func TestSweepOnSlurm(t *testing.T) {
	slurmtest.Start(t)
	t.Setenv(cliEnv, "1") // sbatch exports the environment to the jobs
	sweepFile, out := writeMoonsSweep(t, "  - grid: {strategy: [random, entropy], seed: [1, 2]}\nslurm: {cpus: 1, mem: 200M, time: \"10\", poll: 200ms}\n")
	stdout, err := runCLI(t, "sweep", "-c", sweepFile, "--executor", "slurm")
	if err != nil {
		t.Fatalf("sweep on slurm: %v\n%s", err, stdout)
	}
	if !strings.Contains(stdout, "4 done (0 already before), 0 failed") {
		t.Errorf("output:\n%s", stdout)
	}
	ix, err := sweep.ReadIndex(out)
	if err != nil || ix.Executor != "slurm" || ix.Counts[sweep.StatusDone] != 4 {
		t.Fatalf("index %+v %v", ix.Counts, err)
	}
	logs, _ := filepath.Glob(filepath.Join(out, "slurm", "*_*.out"))
	if len(logs) != 4 {
		t.Errorf("%d job logs, want 4", len(logs))
	}
	for _, r := range ix.Runs {
		p, err := provenance.Read(filepath.Join(out, r.Dir))
		if err != nil || p.Sessions[0].Threads != 1 || p.Sessions[0].Backend["libtorch"] == "" {
			t.Errorf("%s provenance %+v %v", r.Dir, p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "report", "report.html")); err != nil {
		t.Error("no report after the slurm sweep")
	}
}
