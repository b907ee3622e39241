package sweep

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alrl/alrl/internal/slurmtest"
)

func TestSlurmExecutorEndToEnd(t *testing.T) {
	t0 := time.Now()
	slurmtest.Start(t)
	t.Logf("cluster up in %.1f s", time.Since(t0).Seconds())
	path, out := writeSweep(t, `base: base.yaml
axes:
  - grid: {strategy: [entropy, random, test_fail], seed: [1]}
slurm: {cpus: 1, mem: 100M, time: "5", poll: 200ms, options: ["--comment=alrl-test"]}
`)
	s, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(out)
	ex := &Slurm{Config: s.Config.Slurm, Dir: abs, Sweep: s.Config.Name, Command: []string{os.Args[0], "sweep-task"}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t1 := time.Now()
	res, err := Execute(ctx, s, out, Options{Executor: ex, Retries: 1})
	t.Logf("sweep of 3 runs (1 failing, retried once) in %.1f s", time.Since(t1).Seconds())
	if err == nil || res.Index.Counts[StatusDone] != 2 || len(res.Failed) != 1 {
		t.Fatalf("counts %v, err %v", res.Index.Counts, err)
	}
	f := res.Failed[0]
	if f.Strategy != "test_fail" || f.Attempts != 2 || !strings.Contains(f.Error, "refuses to choose") ||
		!strings.HasPrefix(f.Log, filepath.Join(abs, "slurm")) || !strings.Contains(err.Error(), f.Log) {
		t.Errorf("failed run: %+v\nsweep error: %v", f, err)
	}
	for _, r := range res.Index.Runs {
		if r.Strategy != "test_fail" {
			if n := len(readRounds(t, filepath.Join(out, r.Dir))); r.Status != StatusDone || n != 5 {
				t.Errorf("%s: %s with %d rounds", r.Dir, r.Status, n)
			}
		}
	}
	jobs := readJobsFile(t, abs)
	if len(jobs) != 2 || len(jobs[0].Tasks) != 3 || len(jobs[1].Tasks) != 1 {
		t.Fatalf("jobs: %+v", jobs)
	}
	script, _ := os.ReadFile(jobs[0].Script)
	for _, w := range []string{"--array=0-2", "--cpus-per-task=1", "--mem=100M", "--time=5", "--comment=alrl-test", "sweep-task"} {
		if !strings.Contains(string(script), w) {
			t.Errorf("job script lacks %q:\n%s", w, script)
		}
	}
	// The same resume rules: a rerun submits only the unfinished run.
	res, err = Execute(ctx, s, out, Options{Executor: ex})
	if err == nil || res.Skipped != 2 || len(res.Failed) != 1 {
		t.Fatalf("rerun: skipped %d failed %d err %v", res.Skipped, len(res.Failed), err)
	}
	if jobs := readJobsFile(t, abs); len(jobs) != 3 || len(jobs[2].Tasks) != 1 {
		t.Errorf("rerun submitted %+v", jobs[len(jobs)-1])
	}
}

func readJobsFile(t *testing.T, dir string) []slurmJob {
	t.Helper()
	var jobs []slurmJob
	b, err := os.ReadFile(filepath.Join(dir, "slurm", "jobs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &jobs); err != nil {
		t.Fatal(err)
	}
	return jobs
}

func TestSlurmArgs(t *testing.T) {
	s := &Slurm{Dir: "/sweeps/x", Sweep: "x", Config: SlurmConfig{Partition: "gpu", CPUs: 4, Mem: "8G", Time: "01:00:00", GPUs: 1,
		MaxParallel: 3, Options: []string{"--account=lab"}}}
	got := strings.Join(s.sbatchArgs(10), " ")
	want := "--parsable --job-name=alrl-x --array=0-9%3 --cpus-per-task=4 --chdir=/sweeps/x --output=/sweeps/x/slurm/%A_%a.out " +
		"--partition=gpu --mem=8G --time=01:00:00 --gres=gpu:1 --account=lab"
	if got != want {
		t.Errorf("sbatch args:\n got %s\nwant %s", got, want)
	}
	for _, c := range []struct {
		state string
		term  bool
	}{{"PENDING", false}, {"RUNNING", false}, {"COMPLETING", false}, {"COMPLETED", true}, {"FAILED", true},
		{"CANCELLED+", true}, {"TIMEOUT", true}, {"OUT_OF_MEMORY", true}} {
		if terminal(c.state) != c.term {
			t.Errorf("terminal(%s) = %v", c.state, !c.term)
		}
	}
}

// TestSlurmRerunWaitsForActiveJob interrupts a sweep right after it
// submitted its job array, then reruns it while the job is still active: the
// rerun waits for the job and collects its results instead of submitting the
// runs again.
func TestSlurmRerunWaitsForActiveJob(t *testing.T) {
	slurmtest.Start(t)
	path, out := writeSweep(t, "base: base.yaml\nconfig: {learner: {backend: testslow}}\naxes:\n  - grid: {strategy: [entropy, random], seed: [1]}\nslurm: {poll: 200ms}\n")
	s, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(out)
	ex := &Slurm{Config: s.Config.Slurm, Dir: abs, Sweep: s.Config.Name, Command: []string{os.Args[0], "sweep-task"}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err = Execute(ctx, s, out, Options{Executor: ex, OnChange: func(r RunStatus) {
		if r.Status == StatusRunning {
			cancel() // submitted: leave the job to the cluster
		}
	}})
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("interrupted sweep: %v", err)
	}
	jobs := readJobsFile(t, abs)
	if len(jobs) != 1 {
		t.Fatalf("jobs after the interruption: %+v", jobs)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel2()
	if active, err := ex.active(ctx2, jobs[0].ID); err != nil || !active {
		t.Fatalf("job %s is no longer active (%v); the test needs it running at the rerun", jobs[0].ID, err)
	}
	res, err := Execute(ctx2, s, out, Options{Executor: ex})
	if err != nil || res.Index.Counts[StatusDone] != 2 {
		t.Fatalf("rerun: %v %v", res.Index.Counts, err)
	}
	if jobs := readJobsFile(t, abs); len(jobs) != 1 {
		t.Errorf("the rerun submitted again: %d jobs", len(jobs))
	}
}
