// Package app is the alrl command line: it parses flags, calls the library
// packages and prints; it holds no experiment logic of its own.
package app

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/alrl/alrl/agents"
	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/experiments"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/strategies"
	"github.com/alrl/alrl/trainers"
)

// Version is the alrl version, set at build time with -ldflags.
var Version = "0.1.0-dev"

// Commit is the VCS revision alrl was built from, set at build time with
// -ldflags "-X github.com/alrl/alrl/cmd/alrl/app.Commit=..." (make build does);
// runs record it in provenance.json.
var Commit = ""

// New returns the CLI application.
func New() *cli.App {
	return &cli.App{
		// --set values are YAML and may hold commas ('seeds=[1,2]'): never
		// split a repeated flag's value on them.
		DisableSliceFlagSeparator: true,
		EnableBashCompletion:      true,
		Name:                      "alrl",
		Usage:                     "deep active learning in which acquisition can be learned",
		Description: `alrl runs active-learning experiments on libtorch (build tag torch) or on its
pure-Go gorgonia backend: every acquisition rule is a policy acting in one AL
environment. Start with the shipped default:

   alrl train                       # builtin:default, MNIST, entropy vs random
   alrl train -c my.yaml --set al.budget=500 --set seeds=[0,1,2]
   alrl list strategies
   alrl sweep -c builtin:mnist -j 2   # several strategies x seeds, then a report
   alrl report runs/sweep-mnist`,
		Version: Version,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "log-format", Value: "console", Usage: "log format: console (human-readable) or json"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
		},
		Commands: []*cli.Command{trainCmd(), sweepCmd(), sweepTaskCmd(), scoreShardCmd(), reportCmd(), reproduceCmd(), queryCmd(), answerCmd(), labelCmd(), listCmd(), benchCmd(), completionCmd(), versionCmd()},
	}
}

func newLogger(c *cli.Context) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(c.String("log-level"))
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	var cfg zap.Config
	switch c.String("log-format") {
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
		cfg.EncoderConfig.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05")
		cfg.DisableStacktrace = true
		cfg.EncoderConfig.CallerKey = ""
	case "json":
		cfg = zap.NewProductionConfig()
	default:
		return nil, fmt.Errorf("--log-format: %q is not console or json", c.String("log-format"))
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.OutputPaths = []string{"stderr"}
	return cfg.Build()
}

func trainCmd() *cli.Command {
	return &cli.Command{
		Name:  "train",
		Usage: "run an active-learning experiment from a config",
		Description: `Runs one AL episode per (strategy, seed) of the config and writes, per run,
OUT/<strategy>/seed-<seed>/ with config.yaml, rounds.jsonl, summary.json,
curve.png and checkpoint/; and OUT/summary.md, summary.csv, curves.png.

Examples:
   alrl train                                   # the shipped default config
   alrl train -c experiments/configs/default.yaml --out runs/try1
   alrl train -c builtin:default --set al.budget=300 --set 'seeds=[1,2,3]'
   alrl train -c cfg.yaml --resume              # continue an interrupted experiment
   alrl train -c cfg.yaml --dry-run             # check config, data and learner; write nothing`,
		Flags: append(configFlags("builtin:default"),
			&cli.BoolFlag{Name: "resume", Usage: "continue interrupted runs and skip finished ones"},
			&cli.BoolFlag{Name: "dry-run", Usage: "check the config against its data and the learner, write nothing, and exit"}),
		Action: func(c *cli.Context) error {
			log, err := newLogger(c)
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck
			cfg, err := configFromFlags(c)
			if err != nil {
				return err
			}
			if c.Bool("dry-run") {
				if err := experiments.Check(cfg, c.String("data-dir"), nil); err != nil {
					return err
				}
				if w := experiments.EpochWarning(cfg); w != "" {
					fmt.Fprintln(c.App.Writer, "warning:", w)
				}
				fmt.Fprintf(c.App.Writer, "%s: the config, its data and the learner check out (%d runs); nothing was written\n", cfg.Name, len(cfg.Seeds)*len(cfg.Strategies))
				return nil
			}
			ctx := c.Context
			if bar := newProgress(os.Stderr); bar != nil {
				ctx = learner.WithProgress(ctx, bar.update)
				defer bar.clear()
			}
			results, err := experiments.Run(ctx, cfg, experiments.Options{DataDir: c.String("data-dir"), Resume: c.Bool("resume"), Log: log, Version: Version, Commit: Commit})
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(c.App.Writer, 0, 2, 2, ' ', 0)
			fmt.Fprintln(w, "strategy\tseed\tlabels\tfinal acc\tAULC\tseconds\trun")
			for _, r := range results {
				s := r.Summary
				fmt.Fprintf(w, "%s\t%d\t%d\t%.4f\t%.4f\t%.0f\t%s\n", s.Strategy, s.Seed, s.Labels, float64(s.FinalAcc), float64(s.AULC), s.WallSeconds, r.Dir)
			}
			w.Flush()
			if cfg.Agent != nil {
				fmt.Fprintf(c.App.Writer, "agent: %s (train.jsonl, training.png), policy: %s\n", experiments.AgentDir(cfg.Out), experiments.PolicyPath(cfg.Out))
				if !cfg.Agent.Evaluate {
					return nil
				}
			}
			fmt.Fprintf(c.App.Writer, "summary: %s, plot: %s\n", filepath.Join(cfg.Out, "summary.md"), filepath.Join(cfg.Out, "curves.png"))
			return nil
		},
	}
}

// configFlags are the flags that name an experiment's config: --config
// (default def, none when empty), --set, --out and --data-dir.
func configFlags(def string) []cli.Flag {
	usage := "config file, or builtin:NAME for a shipped one"
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Value: def, Required: def == "", Usage: usage},
		&cli.StringSliceFlag{Name: "set", Usage: "override a config key: --set key.path=value (repeatable)"},
		&cli.StringFlag{Name: "out", Usage: "output folder (overrides the config's out)"},
		&cli.StringFlag{Name: "data-dir", EnvVars: []string{datasets.EnvDataDir}, Usage: "folder to read data files from"},
	}
}

// configFromFlags loads the config that configFlags name.
func configFromFlags(c *cli.Context) (experiments.Config, error) {
	sets := c.StringSlice("set")
	if o := c.String("out"); o != "" {
		sets = append(sets, "out="+o)
	}
	return experiments.Load(c.String("config"), sets)
}

func listCmd() *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "list strategies, learned agents, trainers, backends, data sets or shipped configs",
		ArgsUsage: "strategies|agents|trainers|backends|datasets|configs",
		Description: `Examples:
   alrl list strategies
   alrl list configs`,
		Action: func(c *cli.Context) error {
			w := tabwriter.NewWriter(c.App.Writer, 0, 2, 2, ' ', 0)
			defer w.Flush()
			switch c.Args().First() {
			case "strategies", "":
				for _, n := range strategies.Names() {
					info, err := strategies.Lookup(n)
					if err != nil {
						fmt.Fprintf(w, "%s\t%v\n", n, err)
						continue
					}
					fmt.Fprintf(w, "%s\t%s\n", n, info.Description)
					opts := append([]strategies.Option(nil), info.Options...)
					sort.Slice(opts, func(i, j int) bool { return opts[i].Name < opts[j].Name })
					for _, o := range opts {
						switch d := o.Default.(type) {
						case nil:
							fmt.Fprintf(w, "  %s\t%s\n", o.Name, o.Doc)
						case string:
							fmt.Fprintf(w, "  %s\t%s (default %q)\n", o.Name, o.Doc, d)
						default:
							fmt.Fprintf(w, "  %s\t%s (default %v)\n", o.Name, o.Doc, d)
						}
					}
				}
			case "trainers":
				for _, n := range trainers.Names() {
					info, err := trainers.Lookup(n)
					if err != nil {
						fmt.Fprintf(w, "%s\t%v\n", n, err)
						continue
					}
					fmt.Fprintf(w, "%s\t%s\n", n, info.Description)
					for _, o := range info.Options {
						fmt.Fprintf(w, "  %s\t%s (default %v)\n", o.Name, o.Doc, o.Default)
					}
				}
			case "backends":
				for _, name := range learner.Backends() {
					b, _ := learner.Backend(name)
					def := ""
					if name == learner.DefaultBackend() {
						def = " (default)"
					}
					fmt.Fprintf(w, "%s%s\t%s\n", name, def, b.Doc)
				}
			case "datasets":
				fmt.Fprintln(w, strings.Join(datasets.Names(), "\n"))
			case "agents":
				for _, k := range agents.Kinds() {
					fmt.Fprintf(w, "%s\t%s (agent.name: %s; a trained one runs as strategy policy)\n", k.Name, k.Doc, k.Name)
				}
			case "configs":
				for _, n := range experiments.Shipped() {
					fmt.Fprintf(w, "builtin:%s\n", n)
				}
				for _, n := range experiments.ShippedSweeps() {
					fmt.Fprintf(w, "builtin:%s\t(sweep: alrl sweep -c builtin:%s)\n", n, n)
				}
			default:
				return fmt.Errorf("list: unknown kind %q; use strategies, agents, trainers, backends, datasets or configs", c.Args().First())
			}
			return nil
		},
	}
}

func versionCmd() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version and the compiled-in learner backends",
		Description: `Example:
   alrl version     # alrl 0.1.0-dev (go1.26.8, linux/amd64), backends: torch`,
		Action: func(c *cli.Context) error {
			b := strings.Join(learner.Backends(), ", ")
			if b == "" {
				b = "none"
			} else {
				b += " (default " + learner.DefaultBackend() + ")"
			}
			fmt.Fprintf(c.App.Writer, "alrl %s (%s, %s/%s), backends: %s\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, b)
			return nil
		},
	}
}
