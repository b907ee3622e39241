package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alrl/alrl/experiments"
	"github.com/alrl/alrl/internal/atomicfile"
	"github.com/alrl/alrl/internal/childproc"
)

// Task is one run for an executor: a run folder holding config.yaml.
type Task struct {
	ID      string // run identity (RunID)
	Dir     string // absolute run folder
	Attempt int    // 1 for the first attempt
}

// Outcome is how a task ended.
type Outcome struct {
	Task    Task
	Err     error  // nil when the worker reported success
	Log     string // the worker's log file, if any
	Seconds float64
}

// Executor runs sweep tasks somewhere: in this process, in subprocesses, or
// as a Slurm job array. Execute calls started when a task begins and
// finished when it ends (possibly from several goroutines) and returns when
// every task has ended or ctx is done. A task's failure is an Outcome, never
// Execute's error, which is kept for failures of the executor itself.
type Executor interface {
	Name() string
	Execute(ctx context.Context, tasks []Task, started func(Task), finished func(Outcome)) error
}

// Local runs tasks on this machine, Parallel at a time, each with a budget
// of Threads libtorch threads. With Command empty a task runs in this
// process (panics are caught); otherwise each task is a subprocess
//
//	Command... --dir RUN_DIR --threads N
//
// (alrl's hidden `sweep-task` command) whose output goes to RUN_DIR/worker.log,
// so that a crash in one run cannot take the others down. Use in-process
// execution with Parallel > 1 only for learners without process-wide state:
// libtorch's random generator is global to a process, so parallel torch runs
// sharing one are not reproducible.
type Local struct {
	Parallel int                 // runs at once; 0 = 1
	Threads  int                 // threads per run; 0 = CPUs / Parallel (at least 1)
	Command  []string            // worker command; empty = in process
	Env      []string            // extra environment for workers
	Options  experiments.Options // for in-process runs (data folder, version, logger, observers)
}

// Name returns "local".
func (l *Local) Name() string { return "local" }

func (l *Local) parallel() int { return max(l.Parallel, 1) }

// ThreadsPerRun returns the per-run thread budget.
func (l *Local) ThreadsPerRun() int {
	if l.Threads > 0 {
		return l.Threads
	}
	return max(runtime.NumCPU()/l.parallel(), 1)
}

// Execute runs the tasks with at most Parallel at once.
func (l *Local) Execute(ctx context.Context, tasks []Task, started func(Task), finished func(Outcome)) error {
	sem := make(chan struct{}, l.parallel())
	var wg sync.WaitGroup
	for _, t := range tasks {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return nil
		}
		if ctx.Err() != nil {
			<-sem
			break
		}
		wg.Add(1)
		go func(t Task) {
			defer wg.Done()
			defer func() { <-sem }()
			started(t)
			t0 := time.Now()
			var o Outcome
			if len(l.Command) == 0 {
				o = l.inProcess(ctx, t)
			} else {
				o = l.subprocess(ctx, t)
			}
			o.Task, o.Seconds = t, time.Since(t0).Seconds()
			finished(o)
		}(t)
	}
	wg.Wait()
	return nil
}

func (l *Local) inProcess(ctx context.Context, t Task) (o Outcome) {
	defer func() {
		if p := recover(); p != nil {
			o.Err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
			writeTaskError(t.Dir, t.Attempt, o.Err)
		}
	}()
	opt := l.Options
	opt.Threads = l.ThreadsPerRun()
	_, err := RunTask(ctx, t.Dir, t.Attempt, opt)
	return Outcome{Err: err}
}

func (l *Local) subprocess(ctx context.Context, t Task) Outcome {
	logPath := filepath.Join(t.Dir, "worker.log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Outcome{Err: fmt.Errorf("opening the worker log: %w", err)}
	}
	defer f.Close()
	host, _ := os.Hostname()
	fmt.Fprintf(f, "=== attempt %d on %s at %s\n", t.Attempt, host, time.Now().UTC().Format(time.RFC3339))
	args := append(append([]string(nil), l.Command[1:]...), "--dir", t.Dir, "--threads", strconv.Itoa(l.ThreadsPerRun()),
		"--attempt", strconv.Itoa(t.Attempt))
	cmd := exec.CommandContext(ctx, l.Command[0], args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), l.Env...)
	// On cancellation ask the worker to stop (it checkpoints every round) before killing it.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	// The worker dies with this process (Linux), so a killed sweep leaves no
	// orphan writing into a run folder that the next invocation resumes.
	// Pdeathsig follows the thread that started the child: keep it alive.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	childproc.DieWithParent(cmd)
	err = cmd.Run()
	if err == nil {
		return Outcome{Log: logPath}
	}
	msg := lastErrorLine(logPath)
	if sig := killedBy(err); sig != "" {
		// The worker did not fail on its own: its last line is not the reason.
		msg = fmt.Sprintf("the worker was killed by %s; its last log line: %q", sig, msg)
	} else if msg == "" {
		msg = err.Error()
	} else {
		msg = fmt.Sprintf("%s (%v)", msg, err)
	}
	return Outcome{Err: errors.New(msg), Log: logPath}
}

// lastErrorLine returns the worker's last "alrl: ..." line, or its last line.
func lastErrorLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := len(lines) - 1; i >= 0 && i >= len(lines)-50; i-- {
		if strings.HasPrefix(lines[i], "alrl: ") {
			return strings.TrimPrefix(lines[i], "alrl: ")
		}
		if strings.HasPrefix(lines[i], "=== attempt") {
			break
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}

// RunTask runs or resumes the sweep run in dir (its config.yaml): the work of
// one executor task, also reached through `alrl sweep-task`. It holds an
// exclusive lock on the folder, so two workers never run one run at once,
// and records a failure in dir/error.json.
func RunTask(ctx context.Context, dir string, attempt int, opt experiments.Options) (experiments.RunResult, error) {
	unlock, err := lockRun(dir)
	if err != nil {
		return experiments.RunResult{Dir: dir}, err
	}
	defer unlock()
	b, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		return experiments.RunResult{Dir: dir}, fmt.Errorf("run folder %s: %w", dir, err)
	}
	cfg, err := experiments.ParseRun(filepath.Join(dir, "config.yaml"), b)
	if err != nil {
		err = experiments.Permanent(err)
		writeTaskError(dir, attempt, err)
		return experiments.RunResult{Dir: dir}, err
	}
	opt.Resume = true
	res, err := experiments.RunAt(ctx, cfg, dir, opt)
	if err != nil {
		writeTaskError(dir, attempt, err)
		return res, err
	}
	_ = os.Remove(filepath.Join(dir, "error.json"))
	return res, nil
}

// permanentFailure reports whether a failed task's error cannot be fixed by
// a retry: marked permanent in this process, or in the worker's error.json.
func permanentFailure(o Outcome) bool {
	if experiments.IsPermanent(o.Err) {
		return true
	}
	b, err := os.ReadFile(filepath.Join(o.Task.Dir, "error.json"))
	if err != nil {
		return false
	}
	var te TaskError
	return json.Unmarshal(b, &te) == nil && te.Permanent && te.Attempt == o.Task.Attempt
}

// TaskError is a failed attempt's record, dir/error.json.
type TaskError struct {
	Error string `json:"error"`
	// Permanent says the error is in the config or the data (validation, a
	// missing or corrupt file): retrying cannot help, so the sweep does not.
	Permanent bool      `json:"permanent,omitempty"`
	Attempt   int       `json:"attempt"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Time      time.Time `json:"time"`
}

func writeTaskError(dir string, attempt int, err error) {
	host, _ := os.Hostname()
	_ = atomicfile.WriteJSON(filepath.Join(dir, "error.json"), TaskError{Error: err.Error(), Permanent: experiments.IsPermanent(err), Attempt: attempt, Host: host, PID: os.Getpid(), Time: time.Now().UTC()})
}

// lockRun takes an exclusive lock on dir/.lock without waiting.
func lockRun(dir string) (func(), error) { return experiments.LockDir(dir, "run") }

// killedBy names the signal that killed a worker ("signal 9 (SIGKILL: out
// of memory, or killed from outside)"), or "" when it exited by itself.
func killedBy(err error) string {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return ""
	}
	ws, ok := ee.Sys().(interface {
		Signaled() bool
		Signal() syscall.Signal
	})
	if !ok || !ws.Signaled() {
		return ""
	}
	sig := ws.Signal()
	switch sig {
	case syscall.SIGKILL:
		return fmt.Sprintf("signal %d (SIGKILL: out of memory, or killed from outside)", int(sig))
	case syscall.SIGSEGV, syscall.SIGABRT, syscall.SIGBUS:
		return fmt.Sprintf("signal %d (%v: a crash in native code, e.g. libtorch)", int(sig), sig)
	}
	return fmt.Sprintf("signal %d (%v)", int(sig), sig)
}
