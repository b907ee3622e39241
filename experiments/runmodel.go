package experiments

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/learner"
)

// LoadRunModel rebuilds the learner of the run in dir (its config.yaml,
// data set and split) and loads the weights file into it: what a worker
// that scores part of a round's pool on another machine needs. The caller
// closes the learner.
func LoadRunModel(ctx context.Context, dir, weights string, opt Options) (learner.Learner, error) {
	text, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		return nil, fmt.Errorf("run model: %w (the run folder must be on a file system the worker shares)", err)
	}
	cfg, err := ParseRun(filepath.Join(dir, "config.yaml"), text)
	if err != nil {
		return nil, fmt.Errorf("run model: %w", err)
	}
	if len(cfg.Seeds) != 1 {
		return nil, fmt.Errorf("run model: %s/config.yaml has %d seeds; a run's config has exactly one", dir, len(cfg.Seeds))
	}
	if cfg.NASEnabled() {
		return nil, fmt.Errorf("run model: Active-iNAS runs change their architecture every round and cannot be rebuilt from their config; score them in the run's process")
	}
	seed := cfg.Seeds[0]
	data, err := datasets.Load(cfg.Data, opt.DataDir, seed)
	if err != nil {
		return nil, fmt.Errorf("run model: %w", err)
	}
	split, err := data.Split(seed, datasets.SplitConfig{PoolSize: cfg.Split.Pool, ValSize: cfg.Split.Val, TestSize: cfg.Split.Test})
	if err != nil {
		return nil, fmt.Errorf("run model: split: %w", err)
	}
	lcfg := cfg.Learner
	if opt.Threads > 0 {
		lcfg.Threads = opt.Threads
	}
	l, err := NewLearner(ctx, cfg.Mode, cfg.Fast, lcfg, data, split, seed)
	if err != nil {
		return nil, fmt.Errorf("run model: %w", err)
	}
	if err := l.Load(weights); err != nil {
		l.Close()
		return nil, fmt.Errorf("run model: loading %s: %w", weights, err)
	}
	return l, nil
}
