package sweep

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/alrl/alrl/experiments"
	"github.com/alrl/alrl/internal/atomicfile"
)

// SlurmConfig is the `slurm:` section of a sweep file.
type SlurmConfig struct {
	Partition   string        `yaml:"partition"`    // --partition ("" = the cluster's default)
	CPUs        int           `yaml:"cpus"`         // --cpus-per-task, also the run's thread budget [1]
	Mem         string        `yaml:"mem"`          // --mem, e.g. 4G ("" = the cluster's default)
	Time        string        `yaml:"time"`         // --time, e.g. 02:00:00 ("" = the partition's limit)
	GPUs        int           `yaml:"gpus"`         // --gres=gpu:N (0 = none)
	MaxParallel int           `yaml:"max_parallel"` // array throttle: at most this many tasks at once (0 = no limit)
	JobName     string        `yaml:"job_name"`     // --job-name ("" = alrl-<sweep name>)
	Options     []string      `yaml:"options"`      // extra sbatch options, e.g. ["--account=lab", "--qos=short"]
	Command     []string      `yaml:"command"`      // worker command on the nodes ([] = this alrl binary's sweep-task)
	Poll        time.Duration `yaml:"poll"`         // squeue polling interval [10s]
}

// DefaultSlurm returns the documented defaults.
func DefaultSlurm() SlurmConfig { return SlurmConfig{CPUs: 1, Poll: 10 * time.Second} }

func (c SlurmConfig) validate() error {
	switch {
	case c.CPUs < 1:
		return fmt.Errorf("slurm.cpus: must be >= 1, got %d", c.CPUs)
	case c.GPUs < 0 || c.MaxParallel < 0:
		return fmt.Errorf("slurm.gpus and slurm.max_parallel must be >= 0")
	case c.Poll < 100*time.Millisecond:
		return fmt.Errorf("slurm.poll: %v is too short; use at least 100ms (10s is kind to the scheduler)", c.Poll)
	}
	for i, o := range c.Options {
		if !strings.HasPrefix(o, "-") {
			return fmt.Errorf("slurm.options[%d]: %q is not an sbatch option (they start with -)", i, o)
		}
	}
	return nil
}

// Slurm runs tasks as a Slurm job array: one array task per run, each
// running the worker command on the run folder, which must be on a file
// system shared with the nodes. It tracks the array with squeue (and sacct
// when accounting is enabled) and records submitted jobs in
// DIR/slurm/jobs.json, so that a rerun of the sweep waits for a job that is
// still active instead of submitting its runs twice.
type Slurm struct {
	Config  SlurmConfig
	Dir     string   // the sweep folder (scripts, task lists and job logs go in Dir/slurm)
	Sweep   string   // sweep name (job name)
	Command []string // worker command; empty = Config.Command, else this binary's sweep-task
	Log     *zap.Logger
	// Done reports whether a task's folder holds its finished result (nil:
	// a run's summary.json); tasks other than sweep runs, such as the
	// shards of a round's pool scoring, set their own.
	Done func(dir string) error
}

func (s *Slurm) done(dir string) error {
	if s.Done != nil {
		return s.Done(dir)
	}
	_, err := experiments.ReadSummary(dir)
	return err
}

// Name returns "slurm".
func (s *Slurm) Name() string { return "slurm" }

type slurmJob struct {
	ID        string    `json:"id"`
	Tasks     []Task    `json:"tasks"`
	Submitted time.Time `json:"submitted"`
	Script    string    `json:"script"`
}

func (s *Slurm) log() *zap.Logger {
	if s.Log == nil {
		return zap.NewNop()
	}
	return s.Log
}

func (s *Slurm) slurmDir() string { return filepath.Join(s.Dir, "slurm") }

func (s *Slurm) jobsPath() string { return filepath.Join(s.slurmDir(), "jobs.json") }

func (s *Slurm) readJobs() []slurmJob {
	var jobs []slurmJob
	b, err := os.ReadFile(s.jobsPath())
	if err == nil {
		_ = json.Unmarshal(b, &jobs)
	}
	return jobs
}

// Execute submits the tasks as one job array and waits for it.
func (s *Slurm) Execute(ctx context.Context, tasks []Task, started func(Task), finished func(Outcome)) error {
	if _, err := exec.LookPath("sbatch"); err != nil {
		return fmt.Errorf("slurm executor: sbatch not found on PATH; run the sweep on a Slurm login node (Debian: apt-get install slurm-client) or use --executor local")
	}
	if err := os.MkdirAll(s.slurmDir(), 0o755); err != nil {
		return err
	}
	// A job of an earlier invocation that is still active owns its runs: wait for it.
	for _, j := range s.readJobs() {
		if active, _ := s.active(ctx, j.ID); active {
			s.log().Info("waiting for a job submitted earlier", zap.String("job", j.ID))
			if err := s.wait(ctx, j, func(Task) {}, func(Outcome) {}); err != nil {
				return err
			}
		}
	}
	var toRun []Task
	for _, t := range tasks {
		if s.done(t.Dir) == nil {
			started(t)
			finished(Outcome{Task: t})
			continue
		}
		toRun = append(toRun, t)
	}
	if len(toRun) == 0 || ctx.Err() != nil {
		return nil
	}
	job, err := s.submit(ctx, toRun)
	if err != nil {
		return err
	}
	for _, t := range toRun {
		started(t)
	}
	return s.wait(ctx, job, started, finished)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// submit writes the task list and batch script and calls sbatch.
func (s *Slurm) submit(ctx context.Context, tasks []Task) (slurmJob, error) {
	cmd := s.Command
	if len(cmd) == 0 {
		cmd = s.Config.Command
	}
	if len(cmd) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return slurmJob{}, fmt.Errorf("slurm executor: finding this binary for the jobs: %w; set slurm.command", err)
		}
		cmd = []string{exe, "sweep-task"}
	}
	stamp := time.Now().UTC().Format("20060102-150405.000")
	var list bytes.Buffer
	for _, t := range tasks {
		if strings.ContainsAny(t.Dir, "\t\n") {
			return slurmJob{}, fmt.Errorf("slurm executor: run folder %q contains a tab or newline", t.Dir)
		}
		fmt.Fprintf(&list, "%s\t%d\n", t.Dir, t.Attempt)
	}
	taskFile := filepath.Join(s.slurmDir(), "tasks-"+stamp+".txt")
	if err := atomicfile.WriteBytes(taskFile, list.Bytes()); err != nil {
		return slurmJob{}, err
	}
	args := s.sbatchArgs(len(tasks))
	var q []string
	for _, c := range cmd {
		q = append(q, shellQuote(c))
	}
	script := fmt.Sprintf(`#!/bin/bash
# alrl sweep %q: %d runs, submitted as
#   sbatch %s <this script>
set -euo pipefail
line=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" %s)
run=${line%%%%$'\t'*}
attempt=${line##*$'\t'}
echo "alrl task ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} on $(hostname): $run (attempt $attempt)"
exec %s --dir "$run" --threads "${SLURM_CPUS_PER_TASK:-1}" --attempt "$attempt"
`, s.Sweep, len(tasks), strings.Join(args, " "), shellQuote(taskFile), strings.Join(q, " "))
	scriptPath := filepath.Join(s.slurmDir(), "job-"+stamp+".sh")
	if err := atomicfile.WriteBytes(scriptPath, []byte(script)); err != nil {
		return slurmJob{}, err
	}
	if err := os.Chmod(scriptPath, 0o755); err != nil {
		return slurmJob{}, err
	}
	out, err := exec.CommandContext(ctx, "sbatch", append(args, scriptPath)...).CombinedOutput()
	if err != nil {
		return slurmJob{}, fmt.Errorf("sbatch %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	id := strings.TrimSpace(string(out))
	if i := strings.IndexByte(id, ';'); i >= 0 {
		id = id[:i] // "jobid;cluster"
	}
	if _, err := strconv.Atoi(id); err != nil {
		return slurmJob{}, fmt.Errorf("sbatch --parsable printed %q, not a job id", out)
	}
	job := slurmJob{ID: id, Tasks: tasks, Submitted: time.Now().UTC(), Script: scriptPath}
	jobs := append(s.readJobs(), job)
	if err := atomicfile.WriteJSON(s.jobsPath(), jobs); err != nil {
		return job, err
	}
	s.log().Info("submitted", zap.String("job", id), zap.Int("tasks", len(tasks)), zap.String("script", scriptPath))
	return job, nil
}

// sbatchArgs are the options of the array job.
func (s *Slurm) sbatchArgs(n int) []string {
	c := s.Config
	name := c.JobName
	if name == "" {
		name = "alrl-" + s.Sweep
	}
	array := fmt.Sprintf("--array=0-%d", n-1)
	if c.MaxParallel > 0 {
		array += fmt.Sprintf("%%%d", c.MaxParallel)
	}
	args := []string{"--parsable", "--job-name=" + name, array, fmt.Sprintf("--cpus-per-task=%d", max(c.CPUs, 1)),
		"--chdir=" + s.Dir, "--output=" + filepath.Join(s.slurmDir(), "%A_%a.out")}
	if c.Partition != "" {
		args = append(args, "--partition="+c.Partition)
	}
	if c.Mem != "" {
		args = append(args, "--mem="+c.Mem)
	}
	if c.Time != "" {
		args = append(args, "--time="+c.Time)
	}
	if c.GPUs > 0 {
		args = append(args, fmt.Sprintf("--gres=gpu:%d", c.GPUs))
	}
	return append(args, c.Options...)
}

// terminal reports whether a Slurm job state is final.
func terminal(state string) bool {
	switch strings.TrimSuffix(state, "+") {
	case "PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
		"RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD", "SPECIAL_EXIT":
		return false
	}
	return true
}

var taskIDRe = regexp.MustCompile(`^(\d+)_(\d+)$`)

// queue returns the states squeue knows for the job's array tasks ("N" ->
// state) and whether any task (including still-unsplit pending ones) is active.
func (s *Slurm) queue(ctx context.Context, job string) (map[int]string, bool, error) {
	out, err := exec.CommandContext(ctx, "squeue", "-h", "-j", job, "--states=all", "-o", "%i|%T").CombinedOutput()
	if err != nil {
		// squeue rejects a job id it no longer knows: the job is over.
		if strings.Contains(string(out), "Invalid job id") {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("squeue -j %s: %v: %s", job, err, strings.TrimSpace(string(out)))
	}
	states := map[int]string{}
	active := false
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		id, state, ok := strings.Cut(strings.TrimSpace(line), "|")
		if !ok {
			continue
		}
		if !terminal(state) {
			active = true
		}
		if m := taskIDRe.FindStringSubmatch(id); m != nil && m[1] == job {
			n, _ := strconv.Atoi(m[2])
			states[n] = state
		}
	}
	return states, active, nil
}

func (s *Slurm) active(ctx context.Context, job string) (bool, error) {
	_, a, err := s.queue(ctx, job)
	return a, err
}

// accounting returns sacct's final state and exit code per array task, or
// nil when accounting is disabled.
func (s *Slurm) accounting(ctx context.Context, job string) map[int][2]string {
	out, err := exec.CommandContext(ctx, "sacct", "-j", job, "-n", "-P", "-X", "-o", "JobID,State,ExitCode").Output()
	if err != nil {
		return nil
	}
	res := map[int][2]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) < 3 {
			continue
		}
		if m := taskIDRe.FindStringSubmatch(f[0]); m != nil && m[1] == job {
			n, _ := strconv.Atoi(m[2])
			res[n] = [2]string{strings.Fields(f[1] + " ")[0], f[2]}
		}
	}
	return res
}

// wait polls the job until no task is active, reporting each task as it ends.
func (s *Slurm) wait(ctx context.Context, job slurmJob, started func(Task), finished func(Outcome)) error {
	poll := s.Config.Poll
	if poll <= 0 {
		poll = 10 * time.Second
	}
	reported := make([]bool, len(job.Tasks))
	seen := make([]bool, len(job.Tasks))
	lastState := make([]string, len(job.Tasks))
	report := func(i int, state, exit string) {
		if reported[i] {
			return
		}
		reported[i] = true
		t := job.Tasks[i]
		logPath := filepath.Join(s.slurmDir(), fmt.Sprintf("%s_%d.out", job.ID, i))
		o := Outcome{Task: t, Log: logPath, Seconds: time.Since(job.Submitted).Seconds()}
		if err := s.done(t.Dir); err != nil {
			msg := fmt.Sprintf("slurm task %s_%d ended %s", job.ID, i, state)
			if exit != "" {
				msg += " (exit " + exit + ")"
			}
			if line := lastErrorLine(logPath); line != "" {
				msg += ": " + line
			}
			o.Err = errors.New(msg)
		}
		finished(o)
	}
	for {
		states, active, err := s.queue(ctx, job.ID)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		for i := range job.Tasks {
			st, ok := states[i]
			if !ok {
				continue
			}
			lastState[i] = st
			if st == "RUNNING" && !seen[i] {
				seen[i] = true
				started(job.Tasks[i])
			}
			if terminal(st) {
				report(i, st, "")
			}
		}
		if !active {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(poll):
		}
		if ctx.Err() != nil {
			break
		}
	}
	if ctx.Err() != nil {
		s.log().Warn("sweep interrupted; the Slurm job keeps running (rerun the sweep to wait for it and collect its results, or scancel it)",
			zap.String("job", job.ID))
		return nil
	}
	acct := s.accounting(ctx, job.ID)
	for i := range job.Tasks {
		state, exit := lastState[i], ""
		if a, ok := acct[i]; ok {
			state, exit = a[0], a[1]
		}
		if state == "" {
			state = "(gone from squeue)"
		}
		report(i, state, exit)
	}
	return nil
}
