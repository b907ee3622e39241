package experiments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/internal/atomicfile"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/nas"
	"github.com/alrl/alrl/strategies"
)

// Options are the run-time settings that are not part of the experiment.
type Options struct {
	DataDir string      // overrides where data files are read from ("" = config / ALRL_DATA_DIR / default)
	Resume  bool        // continue interrupted runs, skip finished ones
	Log     *zap.Logger // nil = no logging
	// OnRound, if set, observes every finished round (after its checkpoint is written).
	OnRound func(run string, rec envs.Record)
	// Threads, if > 0, overrides learner.threads at run time without changing
	// the recorded config (a sweep executor's per-run thread budget).
	Threads int
	// Version and Commit are alrl's version and VCS revision, recorded in each
	// run's provenance.json (Commit "" = from the binary's build info).
	Version, Commit string
}

// RunResult is the outcome of one (strategy, seed) run.
type RunResult struct {
	Dir     string
	Summary Summary
}

// RunDir returns the folder of one run inside the experiment's output folder.
func RunDir(out string, s StrategyConfig, seed uint64) string {
	return filepath.Join(out, s.ID(), fmt.Sprintf("seed-%d", seed))
}

// Run executes every (strategy, seed) run of the config in turn, then writes
// the experiment-level summary table and the plot that compares them.
func Run(ctx context.Context, cfg Config, opt Options) ([]RunResult, error) {
	log := opt.Log
	if log == nil {
		log = zap.NewNop()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Record the backend that runs the experiment in every resolved config
	// (a run resumed on another backend is then refused as a different config).
	cfg.Learner.Backend = learner.ResolveBackend(cfg.Learner.Backend)
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("creating output folder: %w", err)
	}
	unlock, err := LockDir(cfg.Out, "experiment")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := atomicfile.Sweep(cfg.Out); err != nil {
		return nil, err
	}
	cfg, evaluate, err := trainAgentFirst(ctx, cfg, opt)
	if err != nil || !evaluate {
		return nil, err
	}
	var results []RunResult
	cache := map[uint64]*datasets.Dataset{}
	for _, seed := range cfg.Seeds {
		for _, sc := range cfg.Strategies {
			data := cache[seed]
			if data == nil {
				var err error
				data, err = datasets.Load(cfg.Data, opt.DataDir, seed)
				if err != nil {
					return results, err
				}
				// Real data sets do not depend on the seed; keep one copy.
				if !isSynthetic(cfg.Data.Name) {
					for _, s := range cfg.Seeds {
						cache[s] = data
					}
				}
				cache[seed] = data
			}
			learner.Report(ctx, "run", len(results), len(cfg.Seeds)*len(cfg.Strategies))
			r, err := runOne(ctx, RunConfig(cfg, sc, seed), RunDir(cfg.Out, sc, seed), data, opt, log)
			if err != nil {
				return results, fmt.Errorf("run %s: %w", RunDir(cfg.Out, sc, seed), err)
			}
			results = append(results, r)
		}
	}
	if err := WriteExperimentSummary(cfg, results); err != nil {
		return results, err
	}
	return results, nil
}

func isSynthetic(name string) bool {
	n := strings.ToLower(name)
	return n == "blobs" || n == "moons"
}

// RunConfig is the resolved config of one run: one strategy, one seed.
func RunConfig(cfg Config, sc StrategyConfig, seed uint64) Config {
	c := cfg
	c.Seeds = []uint64{seed}
	c.Strategies = []StrategyConfig{sc}
	return c
}

// RunAt executes the single run described by rc (exactly one strategy and
// one seed) in dir: the entry point of sweep tasks, which resume whatever
// the folder holds when opt.Resume is set.
func RunAt(ctx context.Context, rc Config, dir string, opt Options) (RunResult, error) {
	log := opt.Log
	if log == nil {
		log = zap.NewNop()
	}
	if err := rc.Validate(); err != nil {
		return RunResult{Dir: dir}, Permanent(err)
	}
	if len(rc.Seeds) != 1 || len(rc.Strategies) != 1 {
		return RunResult{Dir: dir}, fmt.Errorf("run %s: a single run needs exactly one seed and one strategy, the config has %d and %d", dir, len(rc.Seeds), len(rc.Strategies))
	}
	data, err := datasets.Load(rc.Data, opt.DataDir, rc.Seeds[0])
	if err != nil {
		return RunResult{Dir: dir}, Permanent(err)
	}
	return runOne(ctx, rc, dir, data, opt, log)
}

// PermanentError is an error in the config or the data that a retry cannot
// fix (a sweep does not retry it).
type PermanentError struct{ Err error }

func (e PermanentError) Error() string { return e.Err.Error() }
func (e PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as one a retry cannot fix (nil stays nil).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	var p PermanentError
	if errors.As(err, &p) {
		return err
	}
	return PermanentError{err}
}

// IsPermanent reports whether err is marked Permanent.
func IsPermanent(err error) bool {
	var p PermanentError
	return errors.As(err, &p)
}

// EpochWarning says when the first rounds would train on too few optimizer
// steps to learn (a small initial set with min_epoch_samples 0 gives an
// epoch of one or two batches), and how to fix it; "" when fine or in fast mode.
func EpochWarning(cfg Config) string {
	t := cfg.Learner.Train
	if cfg.Mode == ModeFast || cfg.NASEnabled() || t.BatchSize < 1 {
		return ""
	}
	perEpoch := max(cfg.AL.InitSize, t.MinEpochSamples)
	steps := t.Epochs * ((perEpoch + t.BatchSize - 1) / t.BatchSize)
	if steps >= 50 {
		return ""
	}
	return fmt.Sprintf("round 0 trains for only %d optimizer steps (%d epochs of %d samples in batches of %d); set learner.train.min_epoch_samples (e.g. 1024, as BatchBALD does) so that small labeled sets get full-length epochs",
		steps, t.Epochs, perEpoch, t.BatchSize)
}

// Check validates a config against its data as a run does before writing
// anything: the config, the data files (for the first seed; real data sets
// do not depend on it) and the learner on the data's samples. loaded caches
// data sets by source between calls (nil: no cache).
func Check(cfg Config, dataDir string, loaded map[string]*datasets.Dataset) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	seed := uint64(0)
	if len(cfg.Seeds) > 0 {
		seed = cfg.Seeds[0]
	}
	key := fmt.Sprintf("%+v|%s|%d", cfg.Data, dataDir, seed)
	data := loaded[key]
	if data == nil {
		var err error
		if data, err = datasets.Load(cfg.Data, dataDir, seed); err != nil {
			return err
		}
		if loaded != nil {
			loaded[key] = data
		}
	}
	return validateLearner(cfg, data)
}

// validateLearner checks, before anything of a run is written, that the
// backend can run its networks: Active-iNAS's when nas.enabled, else
// learner.model.
func validateLearner(cfg Config, data *datasets.Dataset) error {
	if n := data.NumUnlabeled(); n > 0 && !cfg.HumanOracle() {
		return fmt.Errorf("data: %d rows have no label in the data file, and only a person can label them: add oracle: {name: file} and label with alrl label (or give every row a label)", n)
	}
	if cfg.Learner.Model.Name == "torchscript" {
		if cfg.NASEnabled() {
			return fmt.Errorf("nas: Active-iNAS searches the network itself; it cannot grow a torchscript backbone (drop nas: or use model cnn)")
		}
		if err := cfg.Learner.Validate(data.Shape, data.NumClasses); err != nil {
			return err
		}
		// Run the backbone now (its outputs are cached for the learner), so
		// that a file that does not fit the data fails before any folder.
		_, err := learner.ScriptFeatures(context.Background(), cfg.Learner.Model, data.Inputs(), cfg.Learner.InferenceBatch)
		return err
	}
	if cfg.NASEnabled() {
		return nas.Check(data.Shape, data.NumClasses, cfg.Learner, *cfg.NAS)
	}
	return cfg.Learner.Validate(data.Shape, data.NumClasses)
}

// StoppedBy prefixes a summary's end_reason when a stopping criterion ended the run.
const StoppedBy = "stopping_criterion:"

// checkNeeds rejects a strategy whose declared capabilities the learner lacks.
func checkNeeds(s strategies.Strategy, l learner.Learner) error {
	n, ok := s.(strategies.Needer)
	if !ok {
		return nil
	}
	for _, c := range n.Needs() {
		if !learner.Has(l, c) {
			msg := fmt.Sprintf("strategy %s needs %q, which learner %s cannot provide", s.Name(), c, l.Describe())
			if h := learner.CapabilityHint(c); h != "" {
				msg += ": " + h
			}
			return errors.New(msg)
		}
	}
	return nil
}

func logRound(log *zap.Logger, r envs.Record) {
	fields := []zap.Field{zap.Int("round", r.Round), zap.Int("labels", r.Labels),
		zap.Float64("test_acc", float64(r.TestAcc)), zap.Float64("val_acc", float64(r.ValAcc)),
		zap.Int("epochs", r.Epochs), zap.Float64("train_s", r.TrainSeconds), zap.Float64("query_s", r.QuerySeconds)}
	if len(r.Info) > 0 {
		fields = append(fields, zap.Any("info", r.Info))
	}
	log.Info("round", fields...)
}

// checkpoint is the state saved after every round.
type checkpoint struct {
	Version int           `json:"version"`
	Env     envs.State    `json:"env"`
	Weights string        `json:"weights"` // file name inside checkpoint/
	Records []envs.Record `json:"records"`
	// Stopping is the stopping criteria's state (absent without criteria).
	Stopping *stopState `json:"stopping,omitempty"`
	Seconds  float64    `json:"seconds"` // wall time spent so far
}

// saveRound writes rounds.jsonl and the checkpoint, each atomically: first
// the new weights under a round-specific name, then the state that points at
// them, then the old weights are removed. A crash at any point leaves a
// consistent (older or newer) checkpoint.
func saveRound(dir string, env *envs.Env, records []envs.Record, st *stopState, elapsed time.Duration) error {
	var lines []byte
	for _, r := range records {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		lines = append(append(lines, b...), '\n')
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, "rounds.jsonl"), lines); err != nil {
		return err
	}
	ckDir := filepath.Join(dir, "checkpoint")
	if err := os.MkdirAll(ckDir, 0o755); err != nil {
		return err
	}
	es := env.State()
	wname := fmt.Sprintf("weights-%04d.bin", es.Round)
	if err := env.Learner().Save(filepath.Join(ckDir, wname)); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	ck := checkpoint{Version: 1, Env: es, Weights: wname, Records: records, Stopping: st, Seconds: elapsed.Seconds()}
	if err := atomicfile.WriteJSON(filepath.Join(ckDir, "state.json"), ck); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	ents, _ := os.ReadDir(ckDir)
	for _, e := range ents {
		// Learners may write side files named after the weights (wname + ".x").
		if strings.HasPrefix(e.Name(), "weights-") && e.Name() != wname && !strings.HasPrefix(e.Name(), wname+".") {
			_ = os.Remove(filepath.Join(ckDir, e.Name()))
		}
	}
	return nil
}

func readCheckpoint(dir string) (checkpoint, bool, error) {
	var ck checkpoint
	b, err := os.ReadFile(filepath.Join(dir, "checkpoint", "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return ck, false, nil
	}
	if err != nil {
		return ck, false, err
	}
	if err := json.Unmarshal(b, &ck); err != nil {
		return ck, false, fmt.Errorf("checkpoint %s/checkpoint/state.json is corrupt (%v); delete the run folder to start it again", dir, err)
	}
	if ck.Version != 1 || len(ck.Records) != ck.Env.Round+1 {
		return ck, false, fmt.Errorf("checkpoint %s/checkpoint/state.json is inconsistent; delete the run folder to start it again", dir)
	}
	return ck, true, nil
}
