package sweep

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/alrl/alrl/experiments"
	"github.com/alrl/alrl/internal/strictyaml"
)

// Config is a sweep file: a base run config, overrides of it, and axes
// whose combinations give the runs.
//
//	name: mnist-sweep
//	base: builtin:default          # run config the sweep starts from ("" = defaults)
//	config: {al: {budget: 300}}     # overrides of the base, merged key by key
//	axes:                           # the product of all axes gives the runs
//	  - grid: {strategy: [random, entropy], seed: [0, 1, 2]}
//	  - zip: {al.k: [10, 20], al.budget: [300, 600]}
//	  - list: [{learner.train.lr: 0.001}, {learner.train.lr: 0.01}]
//	out: runs/mnist-sweep
//	retries: 1
//	local: {parallel: 2, threads: 1}
//	slurm: {partition: cpu, cpus: 4, mem: 8G, time: "02:00:00"}
type Config struct {
	Name    string      `yaml:"name"`
	Base    string      `yaml:"base"`
	Out     string      `yaml:"out"`
	Retries int         `yaml:"retries"`
	Local   LocalConfig `yaml:"local"`
	Slurm   SlurmConfig `yaml:"slurm"`
	Report  Report      `yaml:"report"`
}

// Report sets up the report a sweep writes when it ends (the options
// of alrl report).
type Report struct {
	// By lists the config keys that define the compared methods ("model":
	// task models); empty = the strategy.
	By []string `yaml:"by"`
	// Baseline is the method the others are compared with, by its report
	// name; empty = random when comparing strategies.
	Baseline string `yaml:"baseline"`
}

// LocalConfig sizes the local executor.
type LocalConfig struct {
	Parallel int `yaml:"parallel"` // runs at once; 0 = 1
	Threads  int `yaml:"threads"`  // libtorch threads per run; 0 = CPUs / parallel
}

// Run is one run of a sweep: a resolved config with one strategy and one seed.
type Run struct {
	ID       string             `json:"id"`  // hash of the resolved config (RunID)
	Dir      string             `json:"dir"` // run folder, relative to the sweep folder
	Strategy string             `json:"strategy"`
	Seed     uint64             `json:"seed"`
	Params   []Param            `json:"params,omitempty"` // axis values other than strategy and seed
	Config   experiments.Config `json:"-"`
}

// Param is one axis value of a run, as written in the sweep file.
type Param struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Sweep is a parsed sweep: its settings and the runs its axes expand to.
type Sweep struct {
	Config Config
	Source []byte // the sweep file's text
	Runs   []Run
}

// sweepKeys are the top-level keys of a sweep file.
var sweepKeys = []string{"name", "base", "config", "axes", "out", "retries", "local", "slurm", "report"}

// Load reads a sweep file (or a shipped one, "builtin:NAME") and
// expands it; sets are --set overrides applied to every run's config.
func Load(path string, sets []string) (*Sweep, error) {
	var data []byte
	var err error
	dir := filepath.Dir(path)
	if name, ok := strings.CutPrefix(path, "builtin:"); ok {
		data, err = experiments.ShippedSweep(name)
		if err != nil {
			return nil, fmt.Errorf("no shipped sweep %q (shipped: %s)", name, strings.Join(experiments.ShippedSweeps(), ", "))
		}
		dir = "."
	} else {
		data, err = os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("sweep file %s does not exist (shipped sweeps: %s, use builtin:NAME)", path, strings.Join(experiments.ShippedSweeps(), ", "))
		}
		if err != nil {
			return nil, err
		}
	}
	return Parse(path, data, dir, sets)
}

// Parse parses sweep text; a relative base path is read from baseDir.
func Parse(name string, data []byte, baseDir string, sets []string) (*Sweep, error) {
	doc, err := strictyaml.Parse(name, data)
	if err != nil {
		return nil, err
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: a sweep file is a mapping with keys %s", name, strings.Join(sweepKeys, ", "))
	}
	// Decode the plain settings strictly; config and axes are read by hand.
	settings := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	var overlay, axes *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "config":
			overlay = v
		case "axes":
			axes = v
		case "name", "base", "out", "retries", "local", "slurm", "report":
			settings.Content = append(settings.Content, k, v)
		default:
			return nil, fmt.Errorf("%s: line %d: unknown key %q; a sweep file has %s", name, k.Line, k.Value, strings.Join(sweepKeys, ", "))
		}
	}
	sc := Config{Name: "sweep", Out: "runs/sweep", Retries: 1, Slurm: DefaultSlurm()}
	if err := strictyaml.Decode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{settings}}, &sc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := sc.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var baseText []byte
	baseName := "defaults"
	if sc.Base != "" {
		baseName = sc.Base
		if n, ok := strings.CutPrefix(sc.Base, "builtin:"); ok {
			baseText, err = experiments.ShippedYAML(n)
		} else {
			p := sc.Base
			if !filepath.IsAbs(p) {
				p = filepath.Join(baseDir, p)
			}
			baseName = p
			baseText, err = os.ReadFile(p)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: base: %w", name, err)
		}
	}
	var overrides []assignment
	if overlay != nil && !isNullNode(overlay) {
		if overlay.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s: line %d: config: expected a mapping of run-config keys", name, overlay.Line)
		}
		overrides = flatten("", overlay)
	}
	combos, err := expandAxes(name, axes)
	if err != nil {
		return nil, err
	}
	s := &Sweep{Config: sc, Source: data}
	seen := map[string]string{}
	var errs []string
	for _, combo := range combos {
		cfg, err := resolveCombo(baseName, baseText, overrides, sets, combo)
		if err != nil {
			msg := fmt.Sprintf("%s: run %s: %v", name, describeCombo(combo), err)
			if !slices.Contains(errs, msg) {
				errs = append(errs, msg)
			}
			continue
		}
		var params []Param
		for _, a := range combo {
			if a.key != "seed" && a.key != "strategy" {
				params = append(params, Param{Key: a.key, Value: nodeText(a.value)})
			}
		}
		for _, seed := range cfg.Seeds {
			for _, st := range cfg.Strategies {
				rc := experiments.RunConfig(cfg, st, seed)
				rc.Name, rc.Out = sc.Name, sc.Out
				id, err := RunID(rc)
				if err != nil {
					return nil, err
				}
				dir := fmt.Sprintf("%s-seed%d-%s", st.ID(), seed, id[:12])
				desc := fmt.Sprintf("strategy=%s seed=%d %s", st.ID(), seed, describeParams(params))
				if prev, dup := seen[id]; dup {
					return nil, fmt.Errorf("%s: two axis combinations give the same run (%s and %s); remove the duplicate", name, prev, desc)
				}
				seen[id] = desc
				s.Runs = append(s.Runs, Run{ID: id, Dir: filepath.Join("runs", dir), Strategy: st.ID(), Seed: seed, Params: params, Config: rc})
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	if len(s.Runs) == 0 {
		return nil, fmt.Errorf("%s: the sweep has no runs", name)
	}
	return s, nil
}

func (c Config) validate() error {
	switch {
	case c.Out == "":
		return fmt.Errorf("out: empty; name the sweep's output folder")
	case c.Retries < 0:
		return fmt.Errorf("retries: must be >= 0, got %d", c.Retries)
	case c.Local.Parallel < 0 || c.Local.Threads < 0:
		return fmt.Errorf("local.parallel and local.threads must be >= 0")
	}
	for i, k := range c.Report.By {
		if strings.TrimSpace(k) == "" || k == "seed" || k == "seeds" {
			return fmt.Errorf("report.by[%d]: %q cannot define the compared methods; name config keys such as strategies, nas or learner.model, or model", i, k)
		}
	}
	return c.Slurm.validate()
}

// RunID is a run's identity: the first 16 hex digits of the SHA-256 of its
// resolved config with name and out cleared (they do not change results),
// followed by the contents of the files that strategy options name with the
// key "path" (a trained policy), so retraining an agent to the same path
// makes its runs new ones. Run-time settings that are not in the config (the
// executor's thread budget) do not enter it, so changing -j does not rerun a
// sweep.
func RunID(rc experiments.Config) (string, error) {
	c := rc
	c.Name, c.Out = "", ""
	b, err := c.YAML()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(b)
	var paths []string
	for _, s := range c.Strategies {
		paths = optionPaths(s.Options, paths)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("run id: the file of a strategy's path option: %w", err)
		}
		fmt.Fprintf(h, "\x00%s\x00%d\x00", p, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}

// optionPaths appends the string values of "path" keys in strategy options,
// nested ones (a policy inside prefilter) included, in a deterministic order.
func optionPaths(v any, out []string) []string {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if p, ok := t[k].(string); ok && k == "path" && p != "" {
				out = append(out, p)
				continue
			}
			out = optionPaths(t[k], out)
		}
	case []any:
		for _, e := range t {
			out = optionPaths(e, out)
		}
	}
	return out
}

// assignment sets one config key to a YAML value.
type assignment struct {
	key   string
	value *yaml.Node
}

// flatten turns a mapping into leaf assignments, so that an overlay changes
// only the keys it names (a deep merge); sequences and scalars are leaves.
func flatten(prefix string, m *yaml.Node) []assignment {
	var out []assignment
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i].Value
		if prefix != "" {
			k = prefix + "." + k
		}
		v := m.Content[i+1]
		if v.Kind == yaml.MappingNode && len(v.Content) > 0 {
			out = append(out, flatten(k, v)...)
		} else {
			out = append(out, assignment{k, v})
		}
	}
	return out
}

// expandAxes returns every combination of the axes' values (their product).
func expandAxes(name string, axes *yaml.Node) ([][]assignment, error) {
	combos := [][]assignment{nil}
	if axes == nil || isNullNode(axes) {
		return combos, nil
	}
	if axes.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s: line %d: axes: expected a list of {grid: ...}, {zip: ...} or {list: [...]}", name, axes.Line)
	}
	for i, ax := range axes.Content {
		where := fmt.Sprintf("%s: line %d: axes[%d]", name, ax.Line, i)
		if ax.Kind != yaml.MappingNode || len(ax.Content) != 2 {
			return nil, fmt.Errorf("%s: each axis is a mapping with exactly one of grid, zip or list", where)
		}
		kind, body := ax.Content[0].Value, ax.Content[1]
		var values [][]assignment
		switch kind {
		case "grid", "zip":
			if body.Kind != yaml.MappingNode || len(body.Content) == 0 {
				return nil, fmt.Errorf("%s.%s: expected a mapping from config keys to lists of values", where, kind)
			}
			var keys []string
			var lists [][]*yaml.Node
			for j := 0; j+1 < len(body.Content); j += 2 {
				k, v := body.Content[j], body.Content[j+1]
				if err := checkAxisKey(k.Value); err != nil {
					return nil, fmt.Errorf("%s.%s: %w", where, kind, err)
				}
				if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
					return nil, fmt.Errorf("%s.%s.%s: expected a non-empty list of values (line %d)", where, kind, k.Value, v.Line)
				}
				keys = append(keys, k.Value)
				lists = append(lists, v.Content)
			}
			if kind == "zip" {
				for j := range lists {
					if len(lists[j]) != len(lists[0]) {
						return nil, fmt.Errorf("%s.zip: %s has %d values but %s has %d; zipped lists advance together and need equal lengths", where, keys[j], len(lists[j]), keys[0], len(lists[0]))
					}
				}
				for r := range lists[0] {
					var c []assignment
					for j := range keys {
						c = append(c, assignment{keys[j], lists[j][r]})
					}
					values = append(values, c)
				}
			} else {
				values = [][]assignment{nil}
				for j := range keys {
					var next [][]assignment
					for _, prefix := range values {
						for _, v := range lists[j] {
							next = append(next, append(slices.Clone(prefix), assignment{keys[j], v}))
						}
					}
					values = next
				}
			}
		case "list":
			if body.Kind != yaml.SequenceNode || len(body.Content) == 0 {
				return nil, fmt.Errorf("%s.list: expected a non-empty list of {key: value} mappings", where)
			}
			for j, item := range body.Content {
				if item.Kind != yaml.MappingNode || len(item.Content) == 0 {
					return nil, fmt.Errorf("%s.list[%d]: expected a mapping of config keys to values (line %d)", where, j, item.Line)
				}
				var c []assignment
				for k := 0; k+1 < len(item.Content); k += 2 {
					if err := checkAxisKey(item.Content[k].Value); err != nil {
						return nil, fmt.Errorf("%s.list[%d]: %w", where, j, err)
					}
					c = append(c, assignment{item.Content[k].Value, item.Content[k+1]})
				}
				values = append(values, c)
			}
		default:
			return nil, fmt.Errorf("%s: unknown axis kind %q; use grid, zip or list", where, kind)
		}
		var next [][]assignment
		for _, prefix := range combos {
			for _, v := range values {
				next = append(next, append(slices.Clone(prefix), v...))
			}
		}
		combos = next
	}
	return combos, nil
}

func checkAxisKey(k string) error {
	if strings.TrimSpace(k) == "" {
		return fmt.Errorf("empty key")
	}
	if k == "out" || k == "name" {
		return fmt.Errorf("key %q cannot vary in a sweep (the sweep sets it)", k)
	}
	return nil
}

// resolveCombo builds one combination's run config: base text, overlay,
// --set overrides, then the axis values. The pseudo-keys seed and strategy
// set a single seed and a single strategy (a name or {name, label, options}).
func resolveCombo(baseName string, baseText []byte, overlay []assignment, sets []string, combo []assignment) (experiments.Config, error) {
	doc, err := strictyaml.Parse(baseName, baseText)
	if err != nil {
		return experiments.Config{}, err
	}
	for _, a := range overlay {
		if err := strictyaml.SetNode(doc, a.key, a.value); err != nil {
			return experiments.Config{}, fmt.Errorf("config: %w", err)
		}
	}
	for _, s := range sets {
		if err := strictyaml.Set(doc, s); err != nil {
			return experiments.Config{}, fmt.Errorf("--set %s: %w", s, err)
		}
	}
	for _, a := range combo {
		key, v := a.key, a.value
		switch a.key {
		case "seed":
			key = "seeds"
			v = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{v}}
		case "strategy":
			key = "strategies"
			if v.Kind == yaml.ScalarNode {
				v = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: v.Line, Content: []*yaml.Node{
					{Kind: yaml.ScalarNode, Tag: "!!str", Value: "name", Line: v.Line}, v}}
			}
			v = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{v}}
		}
		if err := strictyaml.SetNode(doc, key, v); err != nil {
			return experiments.Config{}, err
		}
	}
	// Optional sections (fast, agent, nas) keep their defaults, as in experiments.Parse.
	return experiments.DecodeDoc(doc)
}

func isNullNode(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// nodeText renders a YAML value on one line (flow style).
func nodeText(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	c := *n
	c.Style = yaml.FlowStyle
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(&c); err != nil {
		return "?"
	}
	_ = enc.Close()
	return strings.TrimSpace(buf.String())
}

func describeCombo(c []assignment) string {
	if len(c) == 0 {
		return "(base config)"
	}
	var parts []string
	for _, a := range c {
		parts = append(parts, a.key+"="+nodeText(a.value))
	}
	return strings.Join(parts, " ")
}

func describeParams(ps []Param) string {
	var parts []string
	for _, p := range ps {
		parts = append(parts, p.Key+"="+p.Value)
	}
	return strings.Join(parts, " ")
}
