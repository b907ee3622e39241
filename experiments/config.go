// Package experiments turns a config into reproducible active-learning runs:
// seeds, the runner, results on disk, metrics (learning curves, AULC,
// labels-to-target), plots, and checkpoint / resume.
package experiments

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/internal/strictyaml"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/nas"
	"github.com/alrl/alrl/strategies"
	"github.com/alrl/alrl/trainers"
)

// Config is a whole experiment: one run per (strategy, seed).
type Config struct {
	Name       string           `yaml:"name"`               // experiment name, used in plot titles
	Seeds      []uint64         `yaml:"seeds"`              // one run per seed and strategy; the split and initial set depend only on the seed
	Data       datasets.Source  `yaml:"data"`               // the data set
	Split      SplitConfig      `yaml:"split"`              // pool / validation / test sizes
	AL         envs.Config      `yaml:"al"`                 // initial set, query size, budget
	Learner    learner.Config   `yaml:"learner"`            // model and training
	NAS        *nas.Config      `yaml:"nas,omitempty"`      // Active-iNAS: grow the architecture each round (nil = off; replaces learner.model when enabled)
	Strategies []StrategyConfig `yaml:"strategies"`         // acquisition functions to compare
	Trainer    trainers.Config  `yaml:"trainer"`            // how the model is fitted each round (default supervised)
	Targets    []float64        `yaml:"targets"`            // test accuracies for labels-to-target
	Stopping   StoppingConfig   `yaml:"stopping,omitempty"` // stopping criteria to record (and optionally stop at)
	Out        string           `yaml:"out"`                // output folder
	// Mode is the runs' learner: full (the configured learner, "" = full)
	// or fast (a logistic-regression head on frozen embeddings, see Fast).
	Mode  string           `yaml:"mode,omitempty"`
	Fast  *envs.FastConfig `yaml:"fast,omitempty"`  // fast mode's encoder and head (nil = defaults)
	Agent *AgentConfig     `yaml:"agent,omitempty"` // a learning agent to train, then evaluate as strategy "policy"
	// Oracle says where labels come from; nil is the data set's labels (a
	// simulation).
	Oracle *OracleConfig `yaml:"oracle,omitempty"`
}

// SplitConfig sizes the data splits; 0 for pool or test means all that remain.
type SplitConfig struct {
	Pool int `yaml:"pool"`
	// Val is a labeled validation split outside the pool. Its labels are not
	// bought through the oracle, so an evaluation run may hold one only to
	// reproduce a paper's protocol, saying so with val_counts: false; every
	// output then names the free labels. 0 (the default) = none.
	Val  int `yaml:"val"`
	Test int `yaml:"test"`
	// ValCounts must be false, explicitly, whenever val > 0: the validation
	// labels are free (outside the budget and the curves' x axis). nil reads
	// as false only in the config.yaml of a run made before the key existed.
	ValCounts *bool `yaml:"val_counts,omitempty"`
}

// FreeVal is the number of labeled validation samples the runs use outside
// the budget (0 under the budget-honest protocol).
func (s SplitConfig) FreeVal() int {
	if s.Val > 0 && (s.ValCounts == nil || !*s.ValCounts) {
		return s.Val
	}
	return 0
}

// FreeValNote is the phrase every output adds to its title when the runs
// use free validation labels ("plus 500 free validation labels"), else "".
func FreeValNote(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf("plus %d free validation labels", n)
}

// ProtocolNote is how outputs describe the runs' label use: "budget-honest"
// or "plus N free validation labels".
func (s SplitConfig) ProtocolNote() string {
	if n := s.FreeVal(); n > 0 {
		return FreeValNote(n)
	}
	return "budget-honest"
}

// TitleNote appends ", plus N free validation labels" to a title when the
// runs used free validation labels; honest runs keep the title as it is.
func (s SplitConfig) TitleNote(title string) string {
	if n := s.FreeVal(); n > 0 {
		return title + ", " + FreeValNote(n)
	}
	return title
}

// validate checks the split sizes and the honest-protocol rule.
func (s SplitConfig) validate(tc learner.TrainConfig) []error {
	var errs []error
	if s.Pool < 0 || s.Val < 0 || s.Test < 0 {
		errs = append(errs, fmt.Errorf("split: sizes must be >= 0"))
	}
	switch {
	case s.Val > 0 && s.ValCounts == nil:
		errs = append(errs, fmt.Errorf("split.val: %d labeled validation samples would be used outside the label budget; "+
			"set split.val: 0 and stop early on a share of the labeled set (learner.train.holdout, e.g. 0.2) or train a fixed schedule (learner.train.patience: 0), "+
			"or, to reproduce a paper's protocol, say split.val_counts: false (every output then reads \"%s\")", s.Val, FreeValNote(s.Val)))
	case s.Val > 0 && *s.ValCounts:
		errs = append(errs, fmt.Errorf("split.val_counts: true with split.val %d is not supported (a validation split is never bought through the oracle); "+
			"use learner.train.holdout to stop early on a share of the labeled set, which the budget counts, or split.val_counts: false", s.Val))
	}
	if tc.Holdout < 0 || tc.Holdout > 0.5 {
		errs = append(errs, fmt.Errorf("learner.train.holdout: must be in [0, 0.5] (a share of the labeled set), got %g", tc.Holdout))
	}
	if s.Val > 0 && tc.Holdout > 0 {
		errs = append(errs, fmt.Errorf("learner.train.holdout: %g with split.val %d: early stopping uses the validation split; set one of them to 0", tc.Holdout, s.Val))
	}
	if tc.Patience > 0 && s.Val == 0 && tc.Holdout == 0 {
		errs = append(errs, fmt.Errorf("learner.train.patience: %d asks for early stopping but no labels are held out to stop on (split.val and learner.train.holdout are 0); "+
			"set learner.train.holdout (e.g. 0.2, a share of the labeled set, counted in the budget) or learner.train.patience: 0 for a fixed schedule", tc.Patience))
	}
	return errs
}

// StrategyConfig names a registered strategy and its options.
type StrategyConfig struct {
	Name    string         `yaml:"name"`
	Label   string         `yaml:"label"`   // run folder and legend name; defaults to name
	Options map[string]any `yaml:"options"` // strategy options, see `alrl list strategies`
	// Trainer, when its name is set, replaces the experiment's trainer for
	// this strategy's runs (so one experiment can compare trainers).
	Trainer trainers.Config `yaml:"trainer"`
}

// TrainerOf returns the trainer of a strategy's runs: its own when set, else the experiment's.
func (c Config) TrainerOf(s StrategyConfig) trainers.Config {
	if s.Trainer.Name != "" {
		return s.Trainer
	}
	return c.Trainer
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
		Split:      SplitConfig{Pool: 0, Val: 0, Test: 0},
		AL:         envs.DefaultConfig(),
		Learner:    learner.DefaultConfig(),
		Strategies: []StrategyConfig{{Name: "entropy"}, {Name: "random"}},
		Trainer:    trainers.Config{Name: "supervised"},
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
	if len(bytes.TrimSpace(stripComments(data))) == 0 {
		return Config{}, fmt.Errorf("config file %s is empty; write the experiment into it (see experiments/configs/default.yaml), or use -c builtin:default for the default experiment", path)
	}
	return Parse(path, data, sets)
}

// stripComments drops YAML comment lines, so that a file of comments only counts as empty.
func stripComments(data []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(data, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' && !bytes.Equal(t, []byte("---")) {
			out = append(out, t...)
		}
	}
	return out
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
	presetSections(doc, &cfg)
	if err := strictyaml.Decode(doc, &cfg); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return cfg, nil
}

// ParseRun is Parse on the config.yaml of a run. A run made before
// split.val_counts existed and that held a validation split used its labels
// for free: it reads as split.val_counts: false, which it was.
func ParseRun(name string, data []byte) (Config, error) {
	var sets []string
	if c, err := DecodeConfig(name, data); err == nil && c.Split.Val > 0 && c.Split.ValCounts == nil {
		sets = append(sets, "split.val_counts=false")
	}
	return Parse(name, data, sets)
}

// DecodeConfig decodes config text strictly over the defaults without
// validating it: for reading the config.yaml of a finished run, whose
// strategy may not be registered in this binary.
func DecodeConfig(name string, data []byte) (Config, error) {
	doc, err := strictyaml.Parse(name, data)
	if err != nil {
		return Config{}, err
	}
	cfg := Default()
	presetSections(doc, &cfg)
	if err := strictyaml.Decode(doc, &cfg); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return cfg, nil
}

// DecodeDoc decodes a parsed config document strictly over the defaults
// (optional sections that it names start from their own defaults) and
// validates it.
func DecodeDoc(doc *yaml.Node) (Config, error) {
	cfg := Default()
	presetSections(doc, &cfg)
	if err := strictyaml.Decode(doc, &cfg); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Oracle names: labels from the data set, or from a person through files.
const (
	OracleData = "data"
	OracleFile = "file"
)

// OracleConfig is the oracle: section.
type OracleConfig struct {
	Name string `yaml:"name"` // data | file
}

// HumanOracle reports whether a person answers the queries (oracle: file).
func (c Config) HumanOracle() bool { return c.Oracle != nil && c.Oracle.Name == OracleFile }

func (c Config) validateOracle() error {
	if c.Oracle == nil {
		return nil
	}
	switch c.Oracle.Name {
	case OracleData:
		return nil
	case OracleFile:
	default:
		return fmt.Errorf("oracle.name: %q is not one of data, file", c.Oracle.Name)
	}
	if err := c.AL.CheckAnnotated(); err != nil {
		return fmt.Errorf("oracle file: %w", err)
	}
	switch {
	case c.Agent != nil:
		return fmt.Errorf("oracle file: agent training needs thousands of simulated episodes; train the agent in a config with oracle data and use its policy file here")
	}
	return nil
}

// Validate checks what can be checked without loading the data.
func (c Config) Validate() error {
	var errs []error
	errs = append(errs, c.validateOracle())
	if len(c.Seeds) == 0 {
		errs = append(errs, fmt.Errorf("seeds: list at least one seed"))
	}
	if len(c.Strategies) == 0 {
		errs = append(errs, fmt.Errorf("strategies: list at least one strategy"))
	}
	seen := map[string]bool{}
	for i, s := range c.Strategies {
		if _, err := strategies.Lookup(s.Name); err != nil {
			errs = append(errs, fmt.Errorf("strategies[%d].name: %w", i, err))
		} else if _, err := strategies.New(s.Name, s.Options); err != nil {
			var ce *strategies.ConfigError
			if errors.As(err, &ce) {
				errs = append(errs, fmt.Errorf("strategies[%d].%s: %w", i, ce.Path, ce.Err))
			} else {
				errs = append(errs, fmt.Errorf("strategies[%d]: %w", i, err))
			}
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
	errs = append(errs, c.validateRL())
	if err := c.Trainer.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("trainer: %w", err))
	}
	for i, s := range c.Strategies {
		if s.Trainer.Name == "" && len(s.Trainer.Options) > 0 {
			errs = append(errs, fmt.Errorf("strategies[%d].trainer: options without a name; name the trainer", i))
		} else if s.Trainer.Name != "" {
			if err := s.Trainer.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("strategies[%d].trainer: %w", i, err))
			}
		}
		if err := checkTrainerFor(s, c.TrainerOf(s)); err != nil {
			errs = append(errs, fmt.Errorf("strategies[%d]: %w", i, err))
		}
	}
	for i, t := range c.Targets {
		if t <= 0 || t > 1 {
			errs = append(errs, fmt.Errorf("targets[%d]: %g is not an accuracy in (0, 1]", i, t))
		}
	}
	errs = append(errs, c.Split.validate(c.Learner.Train)...)
	if err := c.Stopping.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.NAS != nil {
		if err := c.NAS.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.NASEnabled() && c.NAS.Search && c.NAS.Holdout == 0 {
		errs = append(errs, fmt.Errorf("nas.holdout: 0 would score the architecture candidates on labels outside the budget; Active-iNAS chooses on a held-out share of the labeled set: set nas.holdout (e.g. 0.2)"))
	}
	if c.NASEnabled() && c.Mode == ModeFast {
		errs = append(errs, fmt.Errorf("nas.enabled: Active-iNAS trains whole networks, fast mode a head on frozen embeddings; use mode: full or nas.enabled: false"))
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

// NASEnabled reports whether the runs use the Active-iNAS learner.
func (c Config) NASEnabled() bool { return c.NAS != nil && c.NAS.Enabled }

// ModelLabel names the task model for reports: learner.model's name (e.g.
// "cnn"), "fixed 3x3 w16" for a fixed Active-iNAS architecture, or
// "iNAS 1x1 w16, max 3x3" for the search (a bound of 0 reads "any").
func (c Config) ModelLabel() string {
	if !c.NASEnabled() {
		return c.Learner.Model.Name
	}
	n := c.NAS
	if !n.Search {
		return fmt.Sprintf("fixed %dx%d w%d", n.Stacks, n.Blocks, n.Width)
	}
	bound := func(b int) string {
		if b <= 0 {
			return "any"
		}
		return strconv.Itoa(b)
	}
	label := fmt.Sprintf("iNAS %dx%d w%d, max %sx%s", n.Stacks, n.Blocks, n.Width, bound(n.MaxStacks), bound(n.MaxBlocks))
	if n.MaxParams > 0 {
		label += fmt.Sprintf(" (%d params)", n.MaxParams)
	}
	return label
}

// presetSections fills the optional sections that the document names with
// their defaults before decoding, so that keys left out keep documented values.
func presetSections(doc *yaml.Node, cfg *Config) {
	root := doc
	if root != nil && root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	if root == nil || root.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if v := root.Content[i+1]; v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
			continue // "agent: null" drops the section (a sweep's way to remove it from its base)
		}
		switch root.Content[i].Value {
		case "agent":
			a := DefaultAgentConfig()
			cfg.Agent = &a
		case "fast":
			f := envs.DefaultFastConfig()
			cfg.Fast = &f
		case "nas":
			n := nas.DefaultConfig()
			cfg.NAS = &n
		}
	}
}

// validateRL checks the mode, fast and agent sections.
func (c Config) validateRL() error {
	var errs []error
	if c.Mode != "" && c.Mode != ModeFull && c.Mode != ModeFast {
		errs = append(errs, fmt.Errorf("mode: %q is not one of full, fast", c.Mode))
	}
	if c.Fast != nil {
		errs = append(errs, c.Fast.Validate())
	}
	if c.Agent != nil {
		errs = append(errs, c.Agent.Validate())
		for i, s := range c.Strategies {
			if s.ID() == c.Agent.ID() && s.Name != "policy" {
				errs = append(errs, fmt.Errorf("strategies[%d]: %q is also the trained agent's label; set agent.label", i, s.ID()))
			}
		}
	}
	return errors.Join(errs...)
}

// YAML renders the resolved config.
func (c Config) YAML() ([]byte, error) { return strictyaml.Encode(c) }

// checkTrainerFor rejects a strategy that reads a capability only another
// trainer trains (e.g. strategy vaal without trainer vaal).
func checkTrainerFor(s StrategyConfig, t trainers.Config) error {
	st, err := strategies.New(s.Name, s.Options)
	if err != nil {
		return nil // reported by the strategy check
	}
	n, ok := st.(strategies.Needer)
	if !ok {
		return nil
	}
	for _, c := range n.Needs() {
		if by := trainers.TrainedBy(c); by != "" && by != t.ID() {
			return fmt.Errorf("strategy %s needs %q, which only trainer %s trains; set trainer: {name: %s} (or this strategy's own trainer)", s.Name, c, by, by)
		}
	}
	return nil
}
