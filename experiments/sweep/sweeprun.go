package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/alrl/alrl/experiments"
	"github.com/alrl/alrl/internal/atomicfile"
)

// Run states in a sweep index.
const (
	StatusPending = "pending"
	StatusRunning = "running"
	StatusDone    = "done"
	StatusFailed  = "failed"
)

// RunStatus is one run's entry in the sweep index.
type RunStatus struct {
	Run
	Status   string  `json:"status"`
	Attempts int     `json:"attempts"`        // attempts over all invocations of the sweep
	Error    string  `json:"error,omitempty"` // the last failure
	Log      string  `json:"log,omitempty"`   // the last attempt's log file
	Seconds  float64 `json:"seconds,omitempty"`
}

// Index is sweep.json: the state of every run, rewritten atomically on
// every change. Finished results live in the run folders (summary.json), so
// a sweep killed at any moment loses none; the index is rebuilt from them.
type Index struct {
	Name     string         `json:"name"`
	Executor string         `json:"executor"`
	Updated  time.Time      `json:"updated"`
	Counts   map[string]int `json:"counts"`
	Runs     []RunStatus    `json:"runs"`
}

// Options are the run-time settings of a sweep.
type Options struct {
	Executor Executor
	Retries  int         // extra attempts for a failed run in this invocation
	Log      *zap.Logger // nil = quiet
	// OnChange, if set, sees every run whose status changed.
	OnChange func(RunStatus)
}

// Result summarises an invocation.
type Result struct {
	Index   Index
	Skipped int         // runs already finished before this invocation
	Failed  []RunStatus // runs that still failed after their retries
}

// IndexPath is where a sweep folder keeps its index.
func IndexPath(out string) string { return filepath.Join(out, "sweep.json") }

// ReadIndex reads a sweep folder's index.
func ReadIndex(out string) (Index, error) {
	var ix Index
	b, err := os.ReadFile(IndexPath(out))
	if err != nil {
		return ix, err
	}
	if err := json.Unmarshal(b, &ix); err != nil {
		return ix, fmt.Errorf("%s is corrupt (%v); delete it, the next run of the sweep rebuilds it from the run folders", IndexPath(out), err)
	}
	return ix, nil
}

// Prepare creates the sweep folder: the sweep file's copy, one folder per
// run holding its resolved config.yaml, and the index. A run folder that
// holds a different config is an error (it would mix results).
func (s *Sweep) Prepare(out string) error {
	if err := os.MkdirAll(filepath.Join(out, "runs"), 0o755); err != nil {
		return fmt.Errorf("creating the sweep folder: %w", err)
	}
	if err := atomicfile.WriteBytes(filepath.Join(out, "sweep.yaml"), s.Source); err != nil {
		return err
	}
	for _, r := range s.Runs {
		dir := filepath.Join(out, r.Dir)
		b, err := r.Config.YAML()
		if err != nil {
			return err
		}
		old, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
		if err == nil {
			// Same identity (only name or out differ): keep the folder's file,
			// which its checkpoint was made with.
			oc, derr := experiments.DecodeConfig(filepath.Join(dir, "config.yaml"), old)
			if derr != nil {
				return derr
			}
			if id, _ := RunID(oc); id != r.ID {
				return fmt.Errorf("%s/config.yaml differs from the sweep's config for this run; move the folder away or use another out", dir)
			}
			continue
		}
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := atomicfile.WriteBytes(filepath.Join(dir, "config.yaml"), b); err != nil {
			return err
		}
	}
	return nil
}

// Execute runs every unfinished run of the sweep in out with the executor:
// finished runs (summary.json present) are skipped, interrupted ones resume
// from their checkpoint, failed ones are retried up to opt.Retries times, and
// a failing run never stops the others. It returns an error naming every run
// that still failed, with its folder and log.
func Execute(ctx context.Context, s *Sweep, out string, opt Options) (Result, error) {
	log := opt.Log
	if log == nil {
		log = zap.NewNop()
	}
	if opt.Executor == nil {
		return Result{}, fmt.Errorf("sweep: no executor")
	}
	if err := s.Prepare(out); err != nil {
		return Result{}, err
	}
	prev := map[string]RunStatus{}
	if ix, err := ReadIndex(out); err == nil {
		for _, r := range ix.Runs {
			prev[r.ID] = r
		}
	}
	st := &sweepState{out: out, ix: Index{Name: s.Config.Name, Executor: opt.Executor.Name()}, onChange: opt.OnChange}
	byID := map[string]int{}
	var res Result
	var toRun []Task
	for i, r := range s.Runs {
		rs := RunStatus{Run: r, Status: StatusPending}
		if p, ok := prev[r.ID]; ok {
			rs.Attempts, rs.Error, rs.Log = p.Attempts, p.Error, p.Log
		}
		dir := filepath.Join(out, r.Dir)
		if sum, err := experiments.ReadSummary(dir); err == nil {
			rs.Status, rs.Error, rs.Seconds = StatusDone, "", sum.WallSeconds
			res.Skipped++
		} else {
			abs, err := filepath.Abs(dir)
			if err != nil {
				return res, err
			}
			toRun = append(toRun, Task{ID: r.ID, Dir: abs})
		}
		st.ix.Runs = append(st.ix.Runs, rs)
		byID[r.ID] = i
	}
	if err := st.save(); err != nil {
		return res, err
	}
	log.Info("sweep", zap.String("out", out), zap.Int("runs", len(s.Runs)), zap.Int("finished", res.Skipped),
		zap.Int("to_run", len(toRun)), zap.String("executor", opt.Executor.Name()))
	var execErr error
	for attempt := 0; attempt <= opt.Retries && len(toRun) > 0; attempt++ {
		if ctx.Err() != nil {
			break
		}
		for i := range toRun {
			toRun[i].Attempt = st.ix.Runs[byID[toRun[i].ID]].Attempts + 1
		}
		started := func(t Task) {
			st.update(byID[t.ID], func(r *RunStatus) { r.Status, r.Attempts = StatusRunning, t.Attempt })
		}
		var failedMu sync.Mutex
		var failed []Task
		finished := func(o Outcome) {
			if o.Err == nil {
				if _, err := experiments.ReadSummary(o.Task.Dir); err != nil {
					o.Err = fmt.Errorf("the task ended without writing summary.json: %v", err)
				}
			}
			interrupted := o.Err != nil && ctx.Err() != nil
			st.update(byID[o.Task.ID], func(r *RunStatus) {
				r.Attempts, r.Log, r.Seconds = o.Task.Attempt, o.Log, o.Seconds
				switch {
				case o.Err == nil:
					r.Status, r.Error = StatusDone, ""
				case interrupted:
					// Stopped by the user, not failed: it resumes next time.
					r.Status, r.Error = StatusPending, "interrupted: "+o.Err.Error()
				default:
					r.Status, r.Error = StatusFailed, o.Err.Error()
				}
			})
			if interrupted {
				return
			}
			if o.Err != nil {
				if permanentFailure(o) {
					// A config or data error: every retry would fail the same way.
					log.Warn("run failed (not retried: the error is in the config or the data)", zap.String("run", o.Task.Dir), zap.Error(o.Err))
					return
				}
				log.Warn("run failed", zap.String("run", o.Task.Dir), zap.Int("attempt", o.Task.Attempt), zap.Error(o.Err))
				failedMu.Lock()
				failed = append(failed, o.Task)
				failedMu.Unlock()
			} else {
				log.Info("run finished", zap.String("run", o.Task.Dir), zap.Float64("seconds", o.Seconds))
			}
		}
		if err := opt.Executor.Execute(ctx, toRun, started, finished); err != nil {
			execErr = err
			break
		}
		toRun = failed
	}
	// Runs left running by an interruption are pending again.
	for i := range st.ix.Runs {
		if st.ix.Runs[i].Status == StatusRunning {
			st.update(i, func(r *RunStatus) { r.Status = StatusPending })
		}
	}
	if err := st.save(); err != nil && execErr == nil {
		execErr = err
	}
	res.Index = st.snapshot()
	for _, r := range res.Index.Runs {
		if r.Status == StatusFailed {
			res.Failed = append(res.Failed, r)
		}
	}
	if execErr != nil {
		return res, execErr
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("sweep interrupted (finished runs are kept; rerun the same command to continue): %w", err)
	}
	if len(res.Failed) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "%d of %d runs failed:", len(res.Failed), len(s.Runs))
		for _, r := range res.Failed {
			fmt.Fprintf(&b, "\n  %s (attempts %d): %s", filepath.Join(out, r.Dir), r.Attempts, r.Error)
			if r.Log != "" {
				fmt.Fprintf(&b, " [log %s]", r.Log)
			}
		}
		return res, errors.New(b.String())
	}
	return res, nil
}

// sweepState guards the index, which executors update from several goroutines.
type sweepState struct {
	mu       sync.Mutex
	out      string
	ix       Index
	onChange func(RunStatus)
}

func (s *sweepState) update(i int, f func(*RunStatus)) {
	s.mu.Lock()
	f(&s.ix.Runs[i])
	r := s.ix.Runs[i]
	err := s.saveLocked()
	s.mu.Unlock()
	if err != nil {
		// The index is derived from the run folders; a failed write loses nothing.
		fmt.Fprintf(os.Stderr, "alrl: writing the sweep index: %v\n", err)
	}
	if s.onChange != nil {
		s.onChange(r)
	}
}

func (s *sweepState) save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saveLocked()
}

func (s *sweepState) saveLocked() error {
	s.ix.Updated = time.Now().UTC()
	s.ix.Counts = map[string]int{}
	for _, r := range s.ix.Runs {
		s.ix.Counts[r.Status]++
	}
	return atomicfile.WriteJSON(IndexPath(s.out), s.ix)
}

func (s *sweepState) snapshot() Index {
	s.mu.Lock()
	defer s.mu.Unlock()
	ix := s.ix
	ix.Runs = append([]RunStatus(nil), s.ix.Runs...)
	return ix
}
