package experiments

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/strategies"
)

// TestExecPluginHelper is not a test: TestExecPluginCrashThenResume starts
// the test binary itself as an exec plugin, with its arguments after "--".
// Mode "least-probable-unless FILE ROUND": answer with the k candidates whose
// top probability is lowest, except in round ROUND while FILE does not exist,
// where it crashes.
func TestExecPluginHelper(t *testing.T) {
	args := flag.Args()
	if len(args) != 3 || !slices.Contains(os.Args, "--") || args[0] != "least-probable-unless" {
		return
	}
	h, arrays, err := strategies.ReadExecMessage(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(3)
	}
	crashRound, _ := strconv.Atoi(args[2])
	if _, err := os.Stat(args[1]); err != nil && h.Round == crashRound {
		fmt.Fprintf(os.Stderr, "helper: simulated crash in round %d\n", h.Round)
		os.Exit(2)
	}
	c := h.NumClasses
	top := make([]float32, len(h.Candidates))
	for i := range top {
		top[i] = slices.Max(arrays[0][i*c : (i+1)*c])
	}
	order := make([]int, len(top))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case top[a] < top[b]:
			return -1
		case top[a] > top[b]:
			return 1
		}
		return 0
	})
	sel := make([]int, h.K)
	for i := range sel {
		sel[i] = h.Candidates[order[i]]
	}
	b, _ := json.Marshal(map[string]any{"indices": sel})
	fmt.Println(string(b))
	os.Exit(0)
}

// stripTimes zeroes the wall-clock fields of round records.
func stripTimes(recs []envs.Record) []envs.Record {
	out := slices.Clone(recs)
	for i := range out {
		out[i].TrainSeconds, out[i].EvalSeconds, out[i].QuerySeconds = 0, 0, 0
	}
	return out
}

func TestExecPluginCrashThenResume(t *testing.T) {
	okFile := filepath.Join(t.TempDir(), "plugin-fixed")
	cfg := runTestConfig(t)
	cfg.Seeds = []uint64{1}
	cfg.Strategies = []StrategyConfig{{Name: "exec", Label: "plugin", Options: map[string]any{
		"command": []any{os.Args[0], "-test.run=^TestExecPluginHelper$", "--", "least-probable-unless", okFile, "2"},
		"name":    "flaky",
		"timeout": "60s",
	}}}
	dirA := RunDir(cfg.Out, cfg.Strategies[0], 1)

	// The plugin crashes in round 2: the run stops with an error naming the
	// plugin and its stderr, after round 1's checkpoint.
	_, err := Run(context.Background(), cfg, Options{})
	if err == nil {
		t.Fatal("run with a crashing plugin succeeded")
	}
	for _, w := range []string{`exec plugin "flaky"`, "round 2", "exit status 2", "simulated crash in round 2"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	recs := readRounds(t, dirA)
	if len(recs) != 2 || recs[1].Round != 1 {
		t.Fatalf("after the crash rounds.jsonl has %d records, want rounds 0 and 1", len(recs))
	}
	ck, ok, err := readCheckpoint(dirA)
	if err != nil || !ok || ck.Env.Round != 1 || len(ck.Env.Labeled) != 10 {
		t.Fatalf("checkpoint after the crash: %+v, %v, %v; want round 1 with 10 labels", ck.Env, ok, err)
	}
	if _, err := os.Stat(filepath.Join(dirA, "summary.json")); err == nil {
		t.Error("a crashed run wrote summary.json")
	}

	// Fixed plugin: --resume continues from round 1 and finishes.
	if err := os.WriteFile(okFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), cfg, Options{Resume: true}); err != nil {
		t.Fatalf("resume after fixing the plugin: %v", err)
	}
	resumed := readRounds(t, dirA)

	// The same run without the crash gives the same records.
	cfgB := cfg
	cfgB.Out = t.TempDir()
	if _, err := Run(context.Background(), cfgB, Options{}); err != nil {
		t.Fatal(err)
	}
	clean := readRounds(t, RunDir(cfgB.Out, cfg.Strategies[0], 1))
	if len(clean) != 5 {
		t.Fatalf("uninterrupted run has %d records, want 5", len(clean))
	}
	a, b := stripTimes(resumed), stripTimes(clean)
	for i := range b {
		ja, _ := json.Marshal(a[i])
		jb, _ := json.Marshal(b[i])
		if string(ja) != string(jb) {
			t.Errorf("round %d differs:\n resumed %s\n clean   %s", i, ja, jb)
		}
	}
	// The plugin's choices are the least confident candidates, not arbitrary ones.
	if len(clean[1].Chosen) != 4 {
		t.Errorf("round 1 chose %v", clean[1].Chosen)
	}
	// Its stderr, query by query, is kept in the run folder across the resume.
	log, err := os.ReadFile(filepath.Join(dirA, strategies.PluginLog))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"=== round 1,", "simulated crash in round 2", "=== end of round 2", "=== round 4,"} {
		if !strings.Contains(string(log), w) {
			t.Errorf("%s lacks %q:\n%s", strategies.PluginLog, w, log)
		}
	}
}

func TestCompositionConfigErrorPaths(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"nested unknown strategy",
			"strategies: [{name: prefilter, options: {first: {name: entropy}, then: {name: nope}}}]",
			`strategies[0].options.then.name: unknown strategy "nope"`},
		{"nested unknown option",
			"strategies: [{name: random}, {name: weighted, options: {terms: [{name: entropy}, {name: margin, options: {t: 1}}]}}]",
			`strategies[1].options.terms[1].options.t: strategy margin has no option "t"`},
		{"first not a scorer",
			"strategies: [{name: prefilter, options: {first: random, then: entropy}}]",
			"strategies[0].options.first.name: strategy random has no per-sample score"},
		{"top-level unknown strategy",
			"strategies: [{name: nope}]",
			`strategies[0].name: unknown strategy "nope"`},
		{"exec without command",
			"strategies: [{name: exec}]",
			"strategies[0].options.command: expected the program and its arguments as a list"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("cfg.yaml", []byte(tc.yaml), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// A valid composition parses, survives the resolved-config round trip and builds.
	yaml := `
strategies:
  - name: prefilter
    label: entropy-then-margin
    options:
      first: {name: weighted, options: {normalize: zscore, terms: [{name: entropy, weight: 2}, {name: margin}]}}
      keep_factor: 5
      then: margin
`
	cfg, err := Parse("cfg.yaml", []byte(yaml), []string{"strategies.0.options.keep=30"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("resolved.yaml", out, nil)
	if err != nil {
		t.Fatalf("resolved config does not parse: %v\n%s", err, out)
	}
	s, err := strategies.New(again.Strategies[0].Name, again.Strategies[0].Options)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := s.(*strategies.Prefilter)
	if !ok || p.Keep != 30 || p.KeepFactor != 5 || p.Then.Name() != "margin" || p.First.Name() != "weighted" {
		t.Errorf("built %#v", s)
	}
	w := p.First.(*strategies.Weighted)
	if w.Normalize != "zscore" || len(w.Terms) != 2 || w.Terms[0].Weight != 2 || w.Terms[1].Weight != 1 {
		t.Errorf("weighted = %+v", w)
	}
}
