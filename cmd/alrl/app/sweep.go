package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/experiments"
	"github.com/alrl/alrl/experiments/report"
	"github.com/alrl/alrl/experiments/shard"
	"github.com/alrl/alrl/experiments/sweep"
)

func sweepCmd() *cli.Command {
	return &cli.Command{
		Name:  "sweep",
		Usage: "run a sweep: a base config and axes (grid, zip, list) over any config key",
		Description: `Expands the sweep file into runs (one strategy and one seed each, identified by a
hash of the resolved config) and runs every unfinished one: finished runs are
skipped, interrupted ones resume from their checkpoint, failed ones are retried
up to --retries times, and a failing run never stops the others. Results go to
OUT/runs/<strategy>-seed<N>-<hash>/, the index to OUT/sweep.json, and the
report (alrl report) to OUT/report/.

Examples:
   alrl sweep -c builtin:mnist -j 2 --threads 1
   alrl sweep -c builtin:mnist --set al.budget=60 --out runs/mnist-short
   alrl sweep -c sweep.yaml --dry-run               # list the runs
   alrl sweep -c sweep.yaml --executor slurm        # a Slurm job array`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Required: true, Usage: "sweep file, or builtin:NAME for a shipped one"},
			&cli.StringSliceFlag{Name: "set", Usage: "override a run-config key in every run: --set key.path=value (repeatable)"},
			&cli.StringFlag{Name: "out", Usage: "sweep folder (overrides the sweep file's out)"},
			&cli.StringFlag{Name: "executor", Value: "local", Usage: "local or slurm"},
			&cli.IntFlag{Name: "parallel", Aliases: []string{"j"}, Usage: "local: runs at once (default: the sweep file's local.parallel, else 1)"},
			&cli.IntFlag{Name: "threads", Usage: "local: libtorch threads per run (default: local.threads, else CPUs / parallel)"},
			&cli.IntFlag{Name: "retries", Value: -1, Usage: "extra attempts for a failed run (default: the sweep file's retries)"},
			&cli.BoolFlag{Name: "in-process", Usage: "local: run tasks in this process instead of one subprocess each (no crash isolation)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "list the runs and exit"},
			&cli.BoolFlag{Name: "report", Value: true, Usage: "write OUT/report when the sweep ends"},
			&cli.StringFlag{Name: "data-dir", EnvVars: []string{datasets.EnvDataDir}, Usage: "folder to read data files from"},
		},
		Action: func(c *cli.Context) error {
			log, err := newLogger(c)
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck
			s, err := sweep.Load(c.String("config"), c.StringSlice("set"))
			if err != nil {
				return err
			}
			out := s.Config.Out
			if o := c.String("out"); o != "" {
				out = o
			}
			if c.Bool("dry-run") {
				// Every run's config against its data, as the run will check it.
				loaded := map[string]*datasets.Dataset{}
				for _, r := range s.Runs {
					if err := experiments.Check(r.Config, c.String("data-dir"), loaded); err != nil {
						return fmt.Errorf("run %s: %w", r.Dir, err)
					}
				}
				w := tabwriter.NewWriter(c.App.Writer, 0, 2, 2, ' ', 0)
				fmt.Fprintln(w, "strategy\tseed\tparams\tid\tfolder\tstatus")
				for _, r := range s.Runs {
					status := "to run"
					if _, err := experiments.ReadSummary(filepath.Join(out, r.Dir)); err == nil {
						status = "finished"
					}
					params := ""
					for _, p := range r.Params {
						params += p.Key + "=" + p.Value + " "
					}
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", r.Strategy, r.Seed, params, r.ID, filepath.Join(out, r.Dir), status)
				}
				w.Flush()
				fmt.Fprintf(c.App.Writer, "%d runs\n", len(s.Runs))
				return nil
			}
			absOut, err := filepath.Abs(out)
			if err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("finding this binary to start workers: %w", err)
			}
			worker := []string{exe, "--log-format", c.String("log-format"), "--log-level", c.String("log-level"), "sweep-task"}
			if d := c.String("data-dir"); d != "" {
				worker = append(worker, "--data-dir", d)
			}
			var ex sweep.Executor
			switch c.String("executor") {
			case "local":
				l := &sweep.Local{Parallel: s.Config.Local.Parallel, Threads: s.Config.Local.Threads, Command: worker,
					Options: experiments.Options{DataDir: c.String("data-dir"), Log: log, Version: Version, Commit: Commit}}
				if c.IsSet("parallel") {
					l.Parallel = c.Int("parallel")
				}
				if c.IsSet("threads") {
					l.Threads = c.Int("threads")
				}
				if l.Parallel < 0 || l.Threads < 0 {
					return fmt.Errorf("--parallel and --threads must be >= 0")
				}
				if c.Bool("in-process") {
					if l.Parallel > 1 {
						return fmt.Errorf("--in-process runs share libtorch's process-wide random generator, so parallel runs in one process are not reproducible; use -j 1, or leave out --in-process (one worker process per run)")
					}
					l.Command = nil
				}
				log.Info("local executor", zap.Int("parallel", max(l.Parallel, 1)), zap.Int("threads_per_run", l.ThreadsPerRun()))
				ex = l
			case "slurm":
				ex = &sweep.Slurm{Config: s.Config.Slurm, Dir: absOut, Sweep: s.Config.Name, Command: s.Config.Slurm.Command, Log: log}
				if len(s.Config.Slurm.Command) == 0 {
					ex.(*sweep.Slurm).Command = worker
				}
			default:
				return fmt.Errorf("--executor: %q is not local or slurm", c.String("executor"))
			}
			retries := s.Config.Retries
			if c.Int("retries") >= 0 {
				retries = c.Int("retries")
			}
			start := time.Now()
			counter := newSweepCounter(len(s.Runs), finishedRuns(out, s.Runs), start)
			res, err := sweep.Execute(c.Context, s, out, sweep.Options{
				Executor: ex, Retries: retries, Log: log,
				OnChange: func(r sweep.RunStatus) {
					if r.Status == sweep.StatusDone || r.Status == sweep.StatusFailed {
						fmt.Fprintf(c.App.Writer, "%-7s %s (%.0f s) %s\n", r.Status, filepath.Join(out, r.Dir), r.Seconds, counter.add(time.Now()))
					}
				},
			})
			fmt.Fprintf(c.App.Writer, "sweep %s: %d done (%d already before), %d failed, %d runs, %.0f s; index %s\n", s.Config.Name,
				res.Index.Counts[sweep.StatusDone], res.Skipped, len(res.Failed), len(s.Runs), time.Since(start).Seconds(), sweep.IndexPath(out))
			if c.Bool("report") && res.Index.Counts[sweep.StatusDone] > 0 {
				dir := filepath.Join(out, "report")
				// This sweep's runs only: OUT/runs may hold runs of an earlier version of the sweep.
				var runDirs []string
				for _, r := range s.Runs {
					runDirs = append(runDirs, filepath.Join(out, r.Dir))
				}
				if rerr := writeReport(runDirs, dir, report.Options{Title: s.Config.Name,
					By: s.Config.Report.By, Baseline: s.Config.Report.Baseline}, c); rerr != nil {
					err = errors.Join(err, fmt.Errorf("report: %w", rerr))
				}
			}
			return err
		},
	}
}

func sweepTaskCmd() *cli.Command {
	return workerCmd("sweep-task", "run or resume one sweep run (started by sweep executors)", "run folder holding config.yaml",
		func(c *cli.Context, opt experiments.Options) error {
			_, err := sweep.RunTask(c.Context, c.String("dir"), c.Int("attempt"), opt)
			return err
		})
}

func scoreShardCmd() *cli.Command {
	return workerCmd("score-shard", "score one shard of a round's pool (started by the sharded strategy's executors)",
		"shard folder (its round folder holds spec.json)",
		func(c *cli.Context, opt experiments.Options) error {
			return shard.WorkDir(c.Context, c.String("dir"), opt)
		})
}

// workerCmd is a hidden command that executors start on a folder (--dir,
// --threads, --attempt, --data-dir), running work with the options they set.
func workerCmd(name, usage, dirUsage string, work func(*cli.Context, experiments.Options) error) *cli.Command {
	return &cli.Command{
		Name:   name,
		Usage:  usage,
		Hidden: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Required: true, Usage: dirUsage},
			&cli.IntFlag{Name: "threads", Usage: "libtorch threads (0 = the config's)"},
			&cli.IntFlag{Name: "attempt", Value: 1, Usage: "attempt number (recorded on failure)"},
			&cli.StringFlag{Name: "data-dir", EnvVars: []string{datasets.EnvDataDir}, Usage: "folder to read data files from"},
		},
		Action: func(c *cli.Context) error {
			log, err := newLogger(c)
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck
			return work(c, experiments.Options{DataDir: c.String("data-dir"), Threads: c.Int("threads"), Log: log, Version: Version, Commit: Commit})
		},
	}
}

func reportCmd() *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "aggregate finished runs into Markdown, HTML and CSV",
		ArgsUsage: "DIR...",
		Description: `Reads every finished run under the given folders (sweep, train output or run
folders), groups runs by everything in their config but the seed, and writes
report.md, a self-contained report.html, and CSV files: mean learning curves
with confidence bands, AULC, labels to target accuracies, times, the paired
comparison with the baseline (t-test and Wilcoxon signed-rank on the same
seeds), the pairwise penalty matrix of Ash et al. 2020, stopping criteria,
and Active-iNAS runs' architectures. The compared methods are the strategies
unless --by names other config keys (--by model: the task models).

Examples:
   alrl report runs/sweep-mnist
   alrl report runs/a runs/b --out reports/ab --alpha 0.01
   alrl report --by model --baseline cnn runs/sweep-inas   # compare task models per data set and strategy`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "report folder (default: FIRST_DIR/report)"},
			&cli.StringFlag{Name: "title", Usage: "report title (default: the runs' experiment name)"},
			&cli.Float64Flag{Name: "level", Value: 0.95, Usage: "confidence level of intervals"},
			&cli.Float64Flag{Name: "alpha", Value: 0.05, Usage: "significance level of the penalty matrix"},
			&cli.StringFlag{Name: "baseline", Usage: "method the others are compared with, by its name in the report (default: random when comparing strategies; none with --by)"},
			&cli.StringSliceFlag{Name: "by", Usage: "config keys whose values define the compared methods (repeatable; a key covers the keys under it, e.g. nas); 'model' compares task models (learner.model and nas); default: the strategy"},
			&cli.Float64SliceFlag{Name: "targets", Usage: "a target accuracy for labels-to-target (repeatable; default: the runs' targets)"},
			&cli.Float64Flag{Name: "saturation", Usage: "penalty matrix only up to the budget where every method reaches this fraction of its final accuracy (0 = all budgets)"},
		},
		Action: func(c *cli.Context) error {
			dirs := c.Args().Slice()
			if len(dirs) == 0 {
				return fmt.Errorf("report: name at least one folder of runs, e.g. alrl report runs/sweep-mnist")
			}
			if err := optionsFirst(dirs); err != nil {
				return err
			}
			out := c.String("out")
			if out == "" {
				out = filepath.Join(dirs[0], "report")
			}
			return writeReport(dirs, out, report.Options{Title: c.String("title"), Level: c.Float64("level"), Alpha: c.Float64("alpha"),
				Baseline: c.String("baseline"), By: c.StringSlice("by"), Targets: c.Float64Slice("targets"), Saturation: c.Float64("saturation")}, c)
		},
	}
}

// optionsFirst rejects options written after the positional arguments, which
// the CLI would otherwise read as folder names.
func optionsFirst(args []string) error {
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			return fmt.Errorf("option %s after the folders: put options first (alrl report --out DIR RUNS...)", a)
		}
	}
	return nil
}

func writeReport(dirs []string, out string, opt report.Options, c *cli.Context) error {
	runs, notes, err := report.Load(dirs...)
	if err != nil {
		return err
	}
	rep, err := report.Build(runs, opt)
	if err != nil {
		return err
	}
	rep.Notes = append(notes, rep.Notes...)
	if err := report.Write(rep, out); err != nil {
		return err
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(c.App.Writer, "note:", n)
	}
	fmt.Fprintf(c.App.Writer, "report of %d runs: %s, %s (CSV beside them)\n", len(runs),
		filepath.Join(out, "report.md"), filepath.Join(out, "report.html"))
	return nil
}

func reproduceCmd() *cli.Command {
	return &cli.Command{
		Name:      "reproduce",
		Usage:     "rerun one run from its folder and report per round whether the numbers match",
		ArgsUsage: "RUN_DIR",
		Description: `Reruns the run from RUN_DIR/config.yaml into a new folder and compares every
round (labels, chosen indices, test accuracy and loss, validation accuracy,
epochs); it also lists how the software and machine differ from the ones
recorded in RUN_DIR/provenance.json. Exits with an error if a round differs.

Example:
   alrl reproduce runs/sweep-mnist/runs/entropy-seed1-0123456789ab`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "folder for the rerun (default: RUN_DIR/reproduce-<time>)"},
			&cli.IntFlag{Name: "threads", Usage: "libtorch threads (0 = as the original run recorded)"},
			&cli.StringFlag{Name: "data-dir", EnvVars: []string{datasets.EnvDataDir}, Usage: "folder to read data files from"},
		},
		Action: func(c *cli.Context) error {
			dir := c.Args().First()
			if err := optionsFirst(c.Args().Slice()); err != nil {
				return err
			}
			if dir == "" || c.Args().Len() > 1 {
				return fmt.Errorf("reproduce: name exactly one run folder")
			}
			log, err := newLogger(c)
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck
			out := c.String("out")
			if out == "" {
				out = filepath.Join(dir, "reproduce-"+time.Now().UTC().Format("20060102-150405"))
			}
			rep, err := experiments.Reproduce(c.Context, dir, out,
				experiments.Options{DataDir: c.String("data-dir"), Threads: c.Int("threads"), Log: log, Version: Version, Commit: Commit})
			if err != nil {
				return err
			}
			fmt.Fprint(c.App.Writer, rep.Summary())
			if !rep.OK() {
				return fmt.Errorf("reproduce: %d of %d rounds differ", len(rep.Rounds)-rep.Matched, len(rep.Rounds))
			}
			return nil
		},
	}
}

// finishedRuns counts the runs of a sweep that have a summary already.
func finishedRuns(out string, runs []sweep.Run) int {
	n := 0
	for _, r := range runs {
		if _, err := experiments.ReadSummary(filepath.Join(out, r.Dir)); err == nil {
			n++
		}
	}
	return n
}

// sweepCounter counts a sweep's finished runs and estimates the time left
// from the runs this invocation finished (they ran in parallel, so the
// rate already includes the executor's parallelism).
type sweepCounter struct {
	total, before, now int
	start              time.Time
}

func newSweepCounter(total, before int, start time.Time) *sweepCounter {
	return &sweepCounter{total: total, before: before, start: start}
}

// add counts one more finished (done or failed) run at t and returns
// "[k/n, ETA d]".
func (s *sweepCounter) add(t time.Time) string {
	s.now++
	k := s.before + s.now
	left := s.total - k
	if left <= 0 {
		return fmt.Sprintf("[%d/%d]", k, s.total)
	}
	per := t.Sub(s.start) / time.Duration(s.now)
	return fmt.Sprintf("[%d/%d, ETA %s]", k, s.total, (per * time.Duration(left)).Round(time.Second))
}
