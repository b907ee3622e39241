// Package experiments turns a config into reproducible active-learning runs:
// seeds, the runner, results on disk, metrics (learning curves, AULC,
// labels-to-target), plots, and checkpoint / resume.
package experiments

import (
	"embed"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/internal/strictyaml"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/strategies"
)

// Config is a whole experiment: one run per (strategy, seed).
type Config struct {
	Name       string           `yaml:"name"`       // experiment name, used in plot titles
	Seeds      []uint64         `yaml:"seeds"`      // one run per seed and strategy; the split and initial set depend only on the seed
	Data       datasets.Source  `yaml:"data"`       // the data set
	Split      SplitConfig      `yaml:"split"`      // pool / validation / test sizes
	AL         envs.Config      `yaml:"al"`         // initial set, query size, budget
	Learner    learner.Config   `yaml:"learner"`    // model and training
	Strategies []StrategyConfig `yaml:"strategies"` // acquisition functions to compare
	Targets    []float64        `yaml:"targets"`    // test accuracies for labels-to-target
	Out        string           `yaml:"out"`        // output folder
}

// SplitConfig sizes the data splits; 0 for pool or test means all that remain.
type SplitConfig struct {
	Pool int `yaml:"pool"`
	Val  int `yaml:"val"`
	Test int `yaml:"test"`
}

// StrategyConfig names a registered strategy and its options.
type StrategyConfig struct {
	Name    string         `yaml:"name"`
	Label   string         `yaml:"label"`   // run folder and legend name; defaults to name
	Options map[string]any `yaml:"options"` // strategy options, see `alrl list strategies`
}

// ID returns the label, or the name when no label is set.
func (s StrategyConfig) ID() string {
	if s.Label != "" {
		return s.Label
	}
	return s.Name
}

// Default returns the documented defaults of every key.
func Default() Config {
	return Config{
		Name:       "experiment",
		Seeds:      []uint64{0},
		Data:       datasets.Source{Name: "mnist"},
		Split:      SplitConfig{Pool: 0, Val: 1000, Test: 0},
		AL:         envs.DefaultConfig(),
		Learner:    learner.DefaultConfig(),
		Strategies: []StrategyConfig{{Name: "entropy"}, {Name: "random"}},
		Targets:    []float64{0.8, 0.9, 0.95},
		Out:        "runs",
	}
}

//go:embed configs/*.yaml
var shipped embed.FS

// Shipped returns the names of the configs embedded in the binary.
func Shipped() []string {
	ents, _ := shipped.ReadDir("configs")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	return out
}

// ShippedYAML returns the text of an embedded config.
func ShippedYAML(name string) ([]byte, error) {
	b, err := shipped.ReadFile("configs/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no shipped config %q (shipped: %s)", name, strings.Join(Shipped(), ", "))
	}
	return b, nil
}

// Load reads a config file (or a shipped config named "builtin:NAME"),
// applies --set overrides ("key.path=value"), decodes it strictly over the
// defaults and validates it.
func Load(path string, sets []string) (Config, error) {
	var data []byte
	var err error
	if name, ok := strings.CutPrefix(path, "builtin:"); ok {
		data, err = ShippedYAML(name)
	} else {
		data, err = os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("config file %s does not exist (shipped configs: %s, use builtin:NAME)", path, strings.Join(Shipped(), ", "))
		}
	}
	if err != nil {
		return Config{}, err
	}
	return Parse(path, data, sets)
}

// Parse is Load on config text.
func Parse(name string, data []byte, sets []string) (Config, error) {
	doc, err := strictyaml.Parse(name, data)
	if err != nil {
		return Config{}, err
	}
	for _, s := range sets {
		if err := strictyaml.Set(doc, s); err != nil {
			return Config{}, fmt.Errorf("--set %s: %w", s, err)
		}
	}
	cfg := Default()
	if err := strictyaml.Decode(doc, &cfg); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return cfg, nil
}

// Validate checks what can be checked without loading the data.
func (c Config) Validate() error {
	var errs []error
	if len(c.Seeds) == 0 {
		errs = append(errs, fmt.Errorf("seeds: list at least one seed"))
	}
	if len(c.Strategies) == 0 {
		errs = append(errs, fmt.Errorf("strategies: list at least one strategy"))
	}
	seen := map[string]bool{}
	for i, s := range c.Strategies {
		if _, err := strategies.New(s.Name, s.Options); err != nil {
			errs = append(errs, fmt.Errorf("strategies[%d]: %w", i, err))
		}
		if seen[s.ID()] {
			errs = append(errs, fmt.Errorf("strategies[%d]: %q appears twice; give one a distinct label", i, s.ID()))
		}
		seen[s.ID()] = true
		if strings.ContainsAny(s.ID(), `/\ `) {
			errs = append(errs, fmt.Errorf("strategies[%d].label: %q must not contain slashes or spaces (it names a folder)", i, s.ID()))
		}
	}
	if err := checkInitMode(c.AL); err != nil {
		errs = append(errs, err)
	}
	for i, t := range c.Targets {
		if t <= 0 || t > 1 {
			errs = append(errs, fmt.Errorf("targets[%d]: %g is not an accuracy in (0, 1]", i, t))
		}
	}
	if c.Split.Pool < 0 || c.Split.Val < 0 || c.Split.Test < 0 {
		errs = append(errs, fmt.Errorf("split: sizes must be >= 0"))
	}
	if c.Out == "" {
		errs = append(errs, fmt.Errorf("out: empty; name an output folder"))
	}
	found := false
	for _, n := range datasets.Names() {
		if strings.EqualFold(n, c.Data.Name) {
			found = true
		}
	}
	if !found {
		errs = append(errs, fmt.Errorf("data.name: %q is not one of %s", c.Data.Name, strings.Join(datasets.Names(), ", ")))
	}
	return errors.Join(errs...)
}

// YAML renders the resolved config.
func (c Config) YAML() ([]byte, error) { return strictyaml.Encode(c) }
