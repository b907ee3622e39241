package app

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/experiments/bench"
	"github.com/alrl/alrl/internal/atomicfile"
)

func benchCmd() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "time every registered strategy's query on a large pool",
		Description: `Fits the learner briefly on a few labels, computes the capabilities the
strategies need (class probabilities, MC-dropout samples, embeddings) once
for the whole candidate set, then times one query per strategy and k.
"query s" is what a real round costs: the strategy's own work ("own s") plus
the forward passes it used. Strategies that need options or capabilities the
learner lacks are listed as skipped, with the reason.

Default: the full MNIST training set (60,000) as the pool, the DBAL/BatchBALD
CNN fitted on 100 labels, k = 10 and 100, T = 20.
--synthetic: N = 1,000,000 tabular samples of dimension 128 (10 Gaussian
blobs), an MLP with 128 penultimate units, k = 1,000, strategies coreset,
badge and entropy (the floor), with peak memory.

Examples:
   alrl bench                                    # what make bench runs
   alrl bench --strategies entropy,margin --k 10 --out runs/bench.csv
   alrl bench --opt prefilter.first=entropy --opt prefilter.then=margin --strategies prefilter
   alrl bench --synthetic --n 200000             # a smaller synthetic pool
   alrl bench --strategies ensemble --ensemble 5 # the ensemble strategy over 5 models
   alrl bench --strategies vaal --trainer vaal   # strategies whose networks a trainer trains`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "strategies", Usage: "comma-separated strategies to time (default: every registered one; --synthetic: coreset,badge,entropy)"},
			&cli.StringFlag{Name: "k", Usage: "comma-separated query sizes (default 10,100; --synthetic: 1000)"},
			&cli.IntFlag{Name: "samples", Value: 20, Usage: "MC-dropout samples T, set on strategies with a samples option"},
			&cli.IntFlag{Name: "pool", Usage: "pool size drawn from the training samples (0 = all)"},
			&cli.IntFlag{Name: "labels", Value: 100, Usage: "labeled samples the learner is fitted on"},
			&cli.IntFlag{Name: "epochs", Value: 10, Usage: "training epochs over the labeled samples"},
			&cli.IntFlag{Name: "ensemble", Usage: "M >= 2 fits a deep ensemble of M models (learner.ensemble), which the ensemble strategy needs; every capability then costs M forward passes"},
			&cli.StringSliceFlag{Name: "opt", Usage: "strategy option: --opt strategy.option=value (YAML value; repeatable)"},
			&cli.StringFlag{Name: "trainer", Usage: "fit the learner with this trainer (`alrl list trainers`; vaal and learning_loss train what their strategies need) instead of a supervised fit"},
			&cli.StringSliceFlag{Name: "trainer-opt", Usage: "trainer option: --trainer-opt option=value (YAML value; repeatable)"},
			&cli.DurationFlag{Name: "timeout", Usage: "give up on a query after this long (0 = never)"},
			&cli.BoolFlag{Name: "synthetic", Usage: "time on a large synthetic tabular pool instead of MNIST"},
			&cli.IntFlag{Name: "n", Value: 1_000_000, Usage: "--synthetic: pool size"},
			&cli.IntFlag{Name: "dim", Value: 128, Usage: "--synthetic: input and embedding dimension"},
			&cli.StringFlag{Name: "data", Value: "mnist", Usage: "data set without --synthetic: mnist or fashion-mnist"},
			&cli.StringFlag{Name: "data-dir", EnvVars: []string{datasets.EnvDataDir}, Usage: "folder to read data files from"},
			&cli.StringFlag{Name: "backend", Usage: "learner backend (default: torch when compiled in)"},
			&cli.StringFlag{Name: "device", Value: "cpu", Usage: "cpu, cuda, cuda:N or auto"},
			&cli.IntFlag{Name: "threads", Usage: "libtorch intra-op threads (0 = all CPUs)"},
			&cli.Uint64Flag{Name: "seed", Usage: "seed of the labeled set, the fit and the strategies"},
			&cli.StringFlag{Name: "out", Usage: "also write the results as CSV to this file"},
		},
		Action: func(c *cli.Context) error {
			log, err := newLogger(c)
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck
			cfg := bench.Default()
			if c.Bool("synthetic") {
				if c.Int("n") < 2 || c.Int("dim") < 1 {
					return fmt.Errorf("--n must be >= 2 and --dim >= 1")
				}
				cfg = bench.Synthetic(c.Int("n"), c.Int("dim"))
			} else {
				cfg.Data.Name = c.String("data")
			}
			if s := c.String("strategies"); s != "" {
				cfg.Strategies = splitList(s)
			}
			if s := c.String("k"); s != "" {
				if cfg.Ks, err = intList(s); err != nil {
					return fmt.Errorf("--k: %w", err)
				}
			}
			cfg.Samples, cfg.Pool, cfg.Labels = c.Int("samples"), c.Int("pool"), c.Int("labels")
			cfg.Learner.Train.Epochs = c.Int("epochs")
			if m := c.Int("ensemble"); m != 0 {
				if m < 2 {
					return fmt.Errorf("--ensemble %d: an ensemble needs at least 2 members (leave the flag out for one model)", m)
				}
				cfg.Learner.Ensemble = m
			}
			cfg.Learner.Backend, cfg.Learner.Device, cfg.Learner.Threads = c.String("backend"), c.String("device"), c.Int("threads")
			cfg.Timeout, cfg.Seed, cfg.DataDir = c.Duration("timeout"), c.Uint64("seed"), c.String("data-dir")
			cfg.Options = map[string]map[string]any{}
			for _, o := range c.StringSlice("opt") {
				if err := bench.ParseOption(cfg.Options, o); err != nil {
					return err
				}
			}
			cfg.Trainer.Name = c.String("trainer")
			if tos := c.StringSlice("trainer-opt"); len(tos) > 0 {
				if cfg.Trainer.Name == "" {
					return fmt.Errorf("--trainer-opt needs --trainer NAME")
				}
				opts := map[string]map[string]any{}
				for _, o := range tos {
					if err := bench.ParseOption(opts, cfg.Trainer.Name+"."+o); err != nil {
						return fmt.Errorf("--trainer-opt %q: write option=value, e.g. epochs=5: %w", o, err)
					}
				}
				cfg.Trainer.Options = opts[cfg.Trainer.Name]
			}
			cfg.Progress = func(t bench.Timing) {
				switch {
				case t.Kind == bench.Capability:
					log.Info("capability", zap.String("name", t.Name), zap.Int("samples", t.Rows), zap.Int("T", t.T),
						zap.Float64("seconds", t.Seconds), zap.Float64("per_second", t.PerSecond))
				case t.Status == bench.OK:
					log.Info("strategy", zap.String("name", t.Name), zap.Int("k", t.K), zap.Float64("query_s", t.Seconds),
						zap.Float64("own_s", t.OwnSeconds), zap.Float64("peak_rss_mib", t.PeakRSSMiB))
				default:
					log.Info("strategy "+t.Status, zap.String("name", t.Name), zap.Int("k", t.K), zap.String("why", t.Note))
				}
			}
			res, err := bench.Run(c.Context, cfg)
			if err != nil {
				return err
			}
			if err := res.WriteTable(c.App.Writer); err != nil {
				return err
			}
			if out := c.String("out"); out != "" {
				if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
					return err
				}
				var b strings.Builder
				if err := res.WriteCSV(&b); err != nil {
					return err
				}
				if err := atomicfile.WriteBytes(out, []byte(b.String())); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "\nCSV: %s\n", out)
			}
			return nil
		},
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func intList(s string) ([]int, error) {
	var out []int
	for _, p := range splitList(s) {
		v, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", p)
		}
		out = append(out, v)
	}
	return out, nil
}
