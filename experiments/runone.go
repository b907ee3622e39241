package experiments

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"go.uber.org/zap"

	"github.com/alrl/alrl/agents"
	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/experiments/provenance"
	"github.com/alrl/alrl/internal/atomicfile"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/nas"
	"github.com/alrl/alrl/strategies"
	"github.com/alrl/alrl/trainers"
)

// runOne executes the run of rc (one strategy, one seed) in dir, in the
// steps of the loop: check everything before the first write, build the
// learner and environment, start (from the checkpoint or the initial set),
// run the rounds, and summarise.
func runOne(ctx context.Context, rc Config, dir string, data *datasets.Dataset, opt Options, log *zap.Logger) (RunResult, error) {
	r := &oneRun{cfg: rc, sc: rc.Strategies[0], seed: rc.Seeds[0], dir: dir, data: data, opt: opt, log: log}
	res := RunResult{Dir: dir}
	done, err := r.check()
	if err != nil || done {
		res.Summary = r.finished
		return res, err
	}
	defer r.close()
	if err := r.build(ctx); err != nil {
		return res, err
	}
	if err := r.start(ctx); err != nil {
		return res, err
	}
	if err := r.rounds(ctx); err != nil {
		return res, err
	}
	res.Summary, err = r.summarize()
	return res, err
}

// oneRun is one run's state as its steps share it.
type oneRun struct {
	cfg  Config
	sc   StrategyConfig
	seed uint64
	dir  string
	data *datasets.Dataset
	opt  Options
	log  *zap.Logger

	// set by check
	finished Summary // the summary of a run that already finished
	resolved []byte  // the run's config.yaml
	ck       checkpoint
	hasCk    bool
	split    datasets.Split
	agent    *agents.Heuristic

	// set by build
	l       learner.Learner
	env     *envs.Env
	answers *Answers // a person's labels (human oracle), else nil
	stopper *stopTracker
	tc      trainers.Config
	session provenance.Session

	// the loop's progress
	began     time.Time
	records   []envs.Record
	obs       envs.Observation
	stoppedBy string
}

// check does everything that can reject the run before anything is
// written, so that a rejected run leaves no folder that blocks the
// corrected rerun; done reports a run that already finished (r.finished).
func (r *oneRun) check() (done bool, err error) {
	// The backend must be able to run the model.
	if err := validateLearner(r.cfg, r.data); err != nil {
		return false, Permanent(err)
	}
	if r.resolved, err = r.cfg.YAML(); err != nil {
		return false, err
	}
	// The caller holds the folder's lock (Run's or the sweep task's), so a
	// temporary file here is debris of an interrupted write.
	for _, d := range []string{r.dir, filepath.Join(r.dir, "checkpoint")} {
		if _, err := atomicfile.Sweep(d); err != nil {
			return false, err
		}
	}
	if s, err := ReadSummary(r.dir); err == nil {
		if !r.opt.Resume {
			return false, fmt.Errorf("the run already finished; use --resume to skip finished runs, or another --out")
		}
		r.log.Info("run already finished, skipping", zap.String("run", r.dir))
		r.finished = s
		return true, nil
	}
	if r.ck, r.hasCk, err = readCheckpoint(r.dir); err != nil {
		return false, err
	}
	if !r.opt.Resume {
		if ents, _ := os.ReadDir(r.dir); len(ents) > 0 {
			return false, fmt.Errorf("the run folder is not empty; use --resume to continue it, or another --out")
		}
	}
	if r.hasCk {
		if same, err := sameConfig(filepath.Join(r.dir, "config.yaml"), r.resolved); err == nil && !same {
			return false, fmt.Errorf("cannot resume: the config differs from the one in %s/config.yaml; use another --out", r.dir)
		}
	}
	r.split, err = r.data.Split(r.seed, datasets.SplitConfig{PoolSize: r.cfg.Split.Pool, ValSize: r.cfg.Split.Val, TestSize: r.cfg.Split.Test})
	if err != nil {
		return false, Permanent(fmt.Errorf("split: %w", err))
	}
	if r.agent, err = agents.NewHeuristic(r.sc.Name, r.sc.Options); err != nil {
		return false, Permanent(err)
	}
	if err := r.cfg.AL.Validate(len(r.split.Pool), r.data.NumClasses, ColdStarts()...); err != nil {
		return false, Permanent(err)
	}
	return false, nil
}

// build writes the run's config and makes its learner, strategy,
// environment, trainer and stopping criteria.
func (r *oneRun) build(ctx context.Context) error {
	cfg, sc, seed, dir, log := r.cfg, r.sc, r.seed, r.dir, r.log
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, "config.yaml"), r.resolved); err != nil {
		return err
	}
	lcfg := cfg.Learner
	if r.opt.Threads > 0 {
		lcfg.Threads = r.opt.Threads
	}
	var err error
	if cfg.NASEnabled() {
		r.l, err = nas.New(r.data.Inputs(), r.data.NumClasses, lcfg, *cfg.NAS,
			nas.Options{Log: log.With(zap.String("strategy", sc.ID()), zap.Uint64("seed", seed))})
	} else {
		r.l, err = NewLearner(ctx, cfg.Mode, cfg.Fast, lcfg, r.data, r.split, seed)
	}
	if err != nil {
		r.l = nil
		return err
	}
	// Self-supervised features (typiclust) come from a network of their own.
	ssl := newSelfSupervised(r.data, r.split.Pool, seed, lcfg, log)
	if r.agent.Strategy, err = ssl.install(r.agent.Strategy); err != nil {
		return err
	}
	if err := checkNeeds(r.agent.Strategy, r.l); err != nil {
		return Permanent(err)
	}
	if u, ok := r.agent.Strategy.(strategies.RunDirUser); ok {
		u.UseRunDir(dir)
	}
	initOpts, err := initOptions(cfg.AL, ssl)
	if err != nil {
		return err
	}
	envOpts := append(initOpts, envs.WithHoldout(cfg.Learner.Train.Holdout))
	if cfg.HumanOracle() {
		if r.answers, err = ReadAnswers(dir); err != nil {
			return err
		}
		envOpts = append(envOpts, envs.WithAnnotator(r.answers))
	}
	if r.env, err = envs.New(r.data, r.split, r.l, cfg.AL, envOpts...); err != nil {
		return err
	}
	r.stopper = newStopTracker(cfg.Stopping, r.split.Pool, seed)
	r.tc = cfg.TrainerOf(sc)
	tr, err := newRoundTrainer(r.tc, r.data, r.split, seed, cfg.Learner, r.l)
	if err != nil {
		return err
	}
	r.env.SetTrainer(tr)
	r.log = log.With(zap.String("strategy", sc.ID()), zap.Uint64("seed", seed))
	if w := EpochWarning(cfg); w != "" {
		r.log.Warn(w)
	}
	r.log.Info("run start", zap.String("dir", dir), zap.String("learner", r.l.Describe()), zap.String("trainer", r.tc.ID()),
		zap.Int("pool", len(r.split.Pool)), zap.Int("val", len(r.split.Val)), zap.Int("test", len(r.split.Test)))
	threads := lcfg.Threads
	if threads == 0 {
		threads = runtime.NumCPU()
	}
	r.session = provenance.New(r.opt.Version, r.opt.Commit, r.l.Describe(), threads)
	return nil
}

// close frees the learner.
func (r *oneRun) close() {
	if r.l != nil {
		r.l.Close()
	}
}

// start resumes from the checkpoint, or draws the initial set and records
// round 0; either way the session joins provenance.json.
func (r *oneRun) start(ctx context.Context) error {
	r.began = time.Now()
	if r.hasCk {
		ck := r.ck
		if err := r.env.Learner().Load(filepath.Join(r.dir, "checkpoint", ck.Weights)); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		obs, err := r.env.Restore(ck.Env)
		if err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		r.obs, r.records = obs, ck.Records
		if r.stopper != nil {
			if ck.Stopping == nil {
				return fmt.Errorf("resume: the checkpoint in %s has no stopping-criteria state; delete the run folder to start it again", r.dir)
			}
			r.stopper.state = *ck.Stopping
			if r.stopper.state.Fired == nil {
				r.stopper.state.Fired = map[string]*StopPoint{}
			}
			r.stoppedBy = r.stopper.stopper()
		}
		r.began = r.began.Add(-time.Duration(ck.Seconds * float64(time.Second)))
		r.session.Resumed, r.session.FromRound = true, ck.Env.Round+1
		r.log.Info("resumed", zap.Int("round", ck.Env.Round), zap.Int("labels", len(ck.Env.Labeled)))
	}
	if err := provenance.Append(r.dir, r.session); err != nil {
		return err
	}
	if r.hasCk {
		return nil
	}
	obs, rec, err := r.env.Reset(ctx, r.seed)
	if err != nil {
		return r.waiting(err)
	}
	r.obs = obs
	return r.record(ctx, rec)
}

// rounds queries, labels and refits until the budget is spent, the pool is
// empty or a stopping criterion fires.
func (r *oneRun) rounds(ctx context.Context) error {
	for r.env.Done() == envs.NotDone && r.stoppedBy == "" {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted after round %d (resume with --resume): %w", r.env.Round(), err)
		}
		t0 := time.Now()
		action, err := r.agent.Act(ctx, r.obs)
		if err != nil {
			return fmt.Errorf("%w\n(nothing of this round was applied; the checkpoint holds round %d: fix the cause and continue with --resume)", err, r.env.Round())
		}
		qs := time.Since(t0).Seconds()
		obs, _, _, rec, err := r.env.Step(ctx, action)
		if err != nil {
			return r.waiting(err)
		}
		r.obs = obs
		rec.QuerySeconds = qs
		if err := r.record(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

// record keeps a finished round: stopping criteria, results and checkpoint
// on disk, then the log and observers.
func (r *oneRun) record(ctx context.Context, rec envs.Record) error {
	r.records = append(r.records, rec)
	var st *stopState
	if r.stopper != nil {
		by, err := r.stopper.observe(ctx, r.env.Learner(), rec, r.env.Labeled())
		if err != nil {
			return err
		}
		if r.stoppedBy == "" {
			r.stoppedBy = by
		}
		st = &r.stopper.state
		if err := atomicfile.WriteJSON(filepath.Join(r.dir, "stopping.json"), r.stopper.state.Rounds); err != nil {
			return err
		}
	}
	if err := saveRound(r.dir, r.env, r.records, st, time.Since(r.began)); err != nil {
		return err
	}
	if r.answers != nil {
		// The round that waited is done: its queries are answered.
		if err := os.Remove(filepath.Join(r.dir, QueriesFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	logRound(r.log, rec)
	learner.Report(ctx, "round", len(r.records), r.cfg.AL.TotalRounds())
	if r.opt.OnRound != nil {
		r.opt.OnRound(r.dir, rec)
	}
	return nil
}

// waiting turns a round that lacks a person's labels into queries.json
// and WaitingForLabelsError; the checkpoint holds the round before it.
func (r *oneRun) waiting(err error) error {
	var w *envs.AwaitingLabelsError
	if r.answers == nil || !errors.As(err, &w) {
		return err
	}
	if werr := writeQueries(r.dir, w, r.data, r.answers); werr != nil {
		return werr
	}
	r.log.Info("waiting for labels", zap.String("run", r.dir), zap.Int("round", w.Round), zap.Int("missing", w.Missing))
	return &WaitingForLabelsError{Dir: r.dir, Round: w.Round, Missing: w.Missing}
}

// summarize writes the run's summary.json and curve.png.
func (r *oneRun) summarize() (Summary, error) {
	cfg, sc := r.cfg, r.sc
	sum := Summarize(r.records, cfg.Targets)
	sum.Strategy, sum.Seed, sum.EndReason = sc.ID(), r.seed, string(r.env.Done())
	if r.stoppedBy != "" {
		sum.EndReason = StoppedBy + r.stoppedBy
	}
	if r.stopper != nil {
		sum.Stops = r.stopper.stops()
	}
	sum.WallSeconds = time.Since(r.began).Seconds()
	sum.Learner = r.l.Describe()
	sum.Backend = learner.ResolveBackend(cfg.Learner.Backend)
	sum.Trainer = r.tc.ID()
	sum.FreeValLabels, sum.Protocol = cfg.Split.FreeVal(), cfg.Split.ProtocolNote()
	if err := PlotCurves(filepath.Join(r.dir, "curve.png"), cfg.Split.TitleNote(fmt.Sprintf("%s, seed %d", sc.ID(), r.seed)),
		[]Curve{CurveOf(sc.ID(), r.records)}); err != nil {
		return sum, err
	}
	if err := atomicfile.WriteJSON(filepath.Join(r.dir, "summary.json"), sum); err != nil {
		return sum, err
	}
	r.log.Info("run done", zap.Float64("final_acc", float64(sum.FinalAcc)), zap.Float64("aulc", float64(sum.AULC)),
		zap.Float64("seconds", sum.WallSeconds))
	return sum, nil
}

// sameConfig reports whether the config.yaml at path means the same config
// as resolved: both are decoded over this binary's defaults and re-encoded,
// so a key written by an older alrl that this one omits when empty (or a
// new key at its default) does not block a resume.
func sameConfig(path string, resolved []byte) (bool, error) {
	old, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	if string(old) == string(resolved) {
		return true, nil
	}
	a, err := DecodeConfig(path, old)
	if err != nil {
		return false, nil
	}
	b, err := DecodeConfig("resolved config", resolved)
	if err != nil {
		return false, err
	}
	ya, err := a.YAML()
	if err != nil {
		return false, err
	}
	yb, err := b.YAML()
	if err != nil {
		return false, err
	}
	return string(ya) == string(yb), nil
}
