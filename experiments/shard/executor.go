package shard

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/alrl/alrl/experiments/sweep"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/strategies"
)

// Executor runs the shards of a round and returns their results in shard
// order. round is the round folder (spec.json, shard-NNN/), "" in process.
type Executor interface {
	Name() string
	Execute(ctx context.Context, spec *Spec, round string, model strategies.Model) ([]*Result, error)
}

// InProcess scores the shards one after another with the run's own model:
// the reference that the other executors must equal, and a way to bound the
// memory of one scoring call on a large pool.
type InProcess struct{}

// Name returns "inprocess".
func (InProcess) Name() string { return "inprocess" }

// Execute runs Work on each shard in turn, each with a cache of its own rather
// than the round's, so that only one shard's outputs are in memory.
func (InProcess) Execute(ctx context.Context, spec *Spec, _ string, model strategies.Model) ([]*Result, error) {
	out := make([]*Result, spec.Shards)
	for i := range out {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m := model
		if memo, ok := model.(*learner.Memo); ok {
			m = learner.NewMemo(memo.Learner) // this shard's cache, dropped after it
		}
		r, err := Work(ctx, spec, i, m)
		if err != nil {
			return nil, err
		}
		out[i] = r
	}
	return out, nil
}

// Local runs each shard as a worker process on this machine (`alrl
// score-shard`), Parallel at once.
type Local struct {
	Command  []string // worker command; empty = this binary's score-shard
	Parallel int      // workers at once; 0 = one per shard
	Threads  int      // libtorch threads per worker
}

// Name returns "local".
func (*Local) Name() string { return "local" }

// Execute starts the workers and reads their results.
func (l *Local) Execute(ctx context.Context, spec *Spec, round string, _ strategies.Model) ([]*Result, error) {
	cmd, err := workerCommand(l.Command)
	if err != nil {
		return nil, err
	}
	par := l.Parallel
	if par == 0 {
		par = spec.Shards
	}
	ex := &sweep.Local{Parallel: par, Threads: max(l.Threads, 1), Command: cmd}
	return runTasks(ctx, ex, spec, round)
}

// Slurm runs the shards as one Slurm job array; the round folder must be on
// a file system that the nodes share.
type Slurm struct {
	Config  sweep.SlurmConfig
	Command []string // worker command on the nodes; empty = this binary's score-shard
}

// Name returns "slurm".
func (*Slurm) Name() string { return "slurm" }

// Execute submits the array, waits for it and reads the results.
func (s *Slurm) Execute(ctx context.Context, spec *Spec, round string, _ strategies.Model) ([]*Result, error) {
	cmd, err := workerCommand(s.Command)
	if err != nil {
		return nil, err
	}
	ex := &sweep.Slurm{Config: s.Config, Dir: round, Sweep: fmt.Sprintf("score-round-%d", spec.Round), Command: cmd,
		Done: func(dir string) error {
			_, err := ReadResult(dir, spec.Nonce)
			return err
		}}
	return runTasks(ctx, ex, spec, round)
}

func workerCommand(cmd []string) ([]string, error) {
	if len(cmd) > 0 {
		return cmd, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this binary for the shard workers: %w; set the option command", err)
	}
	return []string{exe, "score-shard"}, nil
}

// runTasks runs one sweep-executor task per shard folder and reads the
// results; a failed shard's error names its log.
func runTasks(ctx context.Context, ex sweep.Executor, spec *Spec, round string) ([]*Result, error) {
	tasks := make([]sweep.Task, spec.Shards)
	for i := range tasks {
		tasks[i] = sweep.Task{ID: filepath.Base(ShardDir(round, i)), Dir: ShardDir(round, i), Attempt: 1}
	}
	var mu sync.Mutex
	var errs []error
	err := ex.Execute(ctx, tasks, func(sweep.Task) {}, func(o sweep.Outcome) {
		if o.Err != nil {
			mu.Lock()
			errs = append(errs, fmt.Errorf("%s: %w (log: %s)", o.Task.ID, o.Err, o.Log))
			mu.Unlock()
		}
	})
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	out := make([]*Result, spec.Shards)
	for i := range out {
		r, err := ReadResult(ShardDir(round, i), spec.Nonce)
		if err != nil {
			return nil, fmt.Errorf("shard %d: %w", i, err)
		}
		if lo, hi := spec.Bounds(i); spec.TopK && len(r.Scores) != hi-lo {
			return nil, fmt.Errorf("shard %d: %d scores for %d candidates", i, len(r.Scores), hi-lo)
		}
		out[i] = r
	}
	return out, nil
}
