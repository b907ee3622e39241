// Package report aggregates finished active-learning runs into a report:
// runs are grouped by everything in their config but the seed; each group
// gets a mean learning curve with a confidence band, AULC, labels to target
// accuracies, final accuracy and times; each strategy is compared with random
// sampling on the same seeds (paired t-test and Wilcoxon signed-rank); and the
// pairwise penalty matrix of Ash et al. (2020) ranks the strategies. Output:
// Markdown, a self-contained HTML page and CSV files of every number.
package report

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/experiments"
	"github.com/alrl/alrl/experiments/provenance"
)

// Run is one finished run read from its folder.
type Run struct {
	Dir     string
	Config  experiments.Config
	Summary experiments.Summary
	Records []envs.Record
	// Strategy is the strategy's label (or name); Seed the run's seed.
	Strategy string
	Seed     uint64
	// Provenance is the run's provenance.json (no sessions when the file is missing).
	Provenance provenance.File
	params     map[string]string // flattened config without seeds, out and name
}

// Load finds every finished run (a folder with config.yaml, rounds.jsonl and
// summary.json) under the given folders. Unfinished runs are skipped and
// named in the returned notes.
func Load(dirs ...string) ([]Run, []string, error) {
	var runs []Run
	var unfinished []string
	seen := map[string]bool{}
	for _, root := range dirs {
		st, err := os.Stat(root)
		if err != nil {
			return nil, nil, fmt.Errorf("report: %w", err)
		}
		if !st.IsDir() {
			return nil, nil, fmt.Errorf("report: %s is not a folder; give sweep, experiment or run folders", root)
		}
		err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() || d.Name() == "checkpoint" {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if _, err := os.Stat(filepath.Join(path, "config.yaml")); err != nil {
				return nil
			}
			abs, _ := filepath.Abs(path)
			if seen[abs] {
				return filepath.SkipDir
			}
			seen[abs] = true
			r, err := readRun(path)
			switch {
			case errors.Is(err, os.ErrNotExist):
				unfinished = append(unfinished, path)
			case err != nil:
				return err
			default:
				runs = append(runs, r)
			}
			return filepath.SkipDir
		})
		if err != nil {
			return nil, nil, fmt.Errorf("report: %w", err)
		}
	}
	var notes []string
	if n := len(unfinished); n > 0 {
		const show = 5
		names := unfinished[:min(n, show)]
		more := ""
		if n > show {
			more = fmt.Sprintf(" and %d more", n-show)
		}
		notes = append(notes, fmt.Sprintf("skipped %d unfinished run(s) (no summary.json): %s%s", n, strings.Join(names, ", "), more))
	}
	if len(runs) == 0 {
		return nil, notes, fmt.Errorf("report: no finished runs under %s", strings.Join(dirs, ", "))
	}
	return runs, notes, nil
}

func readRun(dir string) (Run, error) {
	b, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		return Run{}, err
	}
	cfg, err := experiments.DecodeConfig(filepath.Join(dir, "config.yaml"), b)
	if err != nil {
		return Run{}, err
	}
	sum, err := experiments.ReadSummary(dir)
	if err != nil {
		return Run{}, err
	}
	recs, err := experiments.ReadRounds(dir)
	if err != nil {
		return Run{}, err
	}
	if len(cfg.Seeds) != 1 || len(cfg.Strategies) != 1 {
		return Run{}, fmt.Errorf("%s/config.yaml has %d seeds and %d strategies; a run folder holds one of each", dir, len(cfg.Seeds), len(cfg.Strategies))
	}
	if len(recs) == 0 {
		return Run{}, fmt.Errorf("%s/rounds.jsonl is empty", dir)
	}
	r := Run{Dir: dir, Config: cfg, Summary: sum, Records: recs, Strategy: cfg.Strategies[0].ID(), Seed: cfg.Seeds[0]}
	if r.Provenance, err = provenance.Read(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return Run{}, err
	}
	if r.params, err = flatConfig(cfg); err != nil {
		return Run{}, err
	}
	return r, nil
}

// flatConfig flattens the resolved config into "key.path" -> value, without
// the keys that do not define a group: seeds, out and name.
func flatConfig(c experiments.Config) (map[string]string, error) {
	c.Seeds, c.Out, c.Name = nil, "", ""
	b, err := c.YAML()
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	out := map[string]string{}
	var walk func(prefix string, n *yaml.Node)
	walk = func(prefix string, n *yaml.Node) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(prefix, c)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if prefix != "" {
					k = prefix + "." + k
				}
				walk(k, n.Content[i+1])
			}
		case yaml.SequenceNode:
			if len(n.Content) == 0 {
				out[prefix] = "[]"
			}
			for i, c := range n.Content {
				walk(fmt.Sprintf("%s.%d", prefix, i), c)
			}
		default:
			if prefix != "seeds" && prefix != "out" && prefix != "name" {
				out[prefix] = n.Value
			}
		}
	}
	walk("", &doc)
	delete(out, "seeds")
	return out, nil
}

// isStrategyKey reports whether a flattened key belongs to the strategy.
func isStrategyKey(k string) bool { return k == "strategies" || strings.HasPrefix(k, "strategies.") }

// keyOf joins the params that keep accepts canonically.
func keyOf(p map[string]string, keep func(string) bool) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		if keep(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(p[k])
		b.WriteByte('\n')
	}
	return b.String()
}

// varying returns the keys whose values differ between the param sets (a
// key missing from one set counts as differing), sorted.
func varying(sets []map[string]string, filter func(string) bool) []string {
	all := map[string]bool{}
	for _, s := range sets {
		for k := range s {
			if filter(k) {
				all[k] = true
			}
		}
	}
	var out []string
	for k := range all {
		for _, s := range sets[1:] {
			v0, ok0 := sets[0][k]
			v, ok := s[k]
			if ok != ok0 || v != v0 {
				out = append(out, k)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}
