package sweep

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/experiments"
	"github.com/alrl/alrl/experiments/provenance"
	"github.com/alrl/alrl/internal/testlearner"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/nas"
	"github.com/alrl/alrl/strategies"
)

func init() {
	strategies.Register(strategies.Info{Name: "test_fail", Description: "always fails to select",
		New: func(strategies.Options) (strategies.Strategy, error) { return failing{}, nil }})
	strategies.Register(strategies.Info{Name: "test_panic", Description: "panics when selecting",
		New: func(strategies.Options) (strategies.Strategy, error) { return panicking{}, nil }})
	learner.RegisterBackend("testslow", "test learner that sleeps in Fit", func(in datasets.Inputs, c int, _ learner.Config) (learner.Learner, error) {
		return slowLearner{testlearner.New(in, c)}, nil
	})
}

type failing struct{ strategies.Random }

func (failing) Name() string { return "test_fail" }
func (failing) Select(context.Context, strategies.Query) ([]int, error) {
	return nil, errors.New("test_fail refuses to choose")
}

type panicking struct{ strategies.Random }

func (panicking) Name() string { return "test_panic" }
func (panicking) Select(context.Context, strategies.Query) ([]int, error) {
	panic("test_panic was asked to choose")
}

// slowLearner makes a round take long enough for a test to kill a sweep mid-run.
type slowLearner struct{ *testlearner.Learner }

func (l slowLearner) Fit(ctx context.Context, train, val learner.Labeled, seed uint64) (learner.FitStats, error) {
	time.Sleep(40 * time.Millisecond)
	return l.Learner.Fit(ctx, train, val, seed)
}

// TestMain doubles as the sweep worker and as a sweep driver, so tests can
// run sweeps in real subprocesses (and kill them):
//
//	<test binary> sweep-task --dir DIR --threads N --attempt A
//	<test binary> sweep-helper SWEEP_FILE
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "sweep-task":
			fs := flag.NewFlagSet("sweep-task", flag.ExitOnError)
			dir := fs.String("dir", "", "")
			threads := fs.Int("threads", 1, "")
			attempt := fs.Int("attempt", 1, "")
			_ = fs.Parse(os.Args[2:])
			if _, err := RunTask(context.Background(), *dir, *attempt, experiments.Options{Threads: *threads}); err != nil {
				fmt.Fprintln(os.Stderr, "alrl:", err)
				os.Exit(1)
			}
			os.Exit(0)
		case "sweep-helper":
			s, err := Load(os.Args[2], nil)
			if err == nil {
				_, err = Execute(context.Background(), s, s.Config.Out, Options{Executor: &Local{Parallel: 1}})
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "alrl:", err)
				os.Exit(1)
			}
			os.Exit(0)
		}
	}
	os.Exit(m.Run())
}

// sweepBase is a small blobs run config for sweeps with the test learner.
const sweepBase = `
name: base
seeds: [1]
data: {name: blobs, n: 300, classes: 3, dim: 2}
split: {test: 60}
al: {init_size: 6, init_mode: balanced, k: 4, budget: 22}
learner: {backend: testcentroid, model: {name: mlp, hidden: [8]}}
strategies: [{name: entropy}, {name: random}]
targets: [0.5]
`

// writeSweep writes base.yaml and sweep.yaml (with out set) into a temp folder.
func writeSweep(t *testing.T, sweep string) (path, out string) {
	t.Helper()
	dir := t.TempDir()
	out = filepath.Join(dir, "out")
	if err := os.WriteFile(filepath.Join(dir, "base.yaml"), []byte(sweepBase), 0o644); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "sweep.yaml")
	if err := os.WriteFile(path, []byte(sweep+"\nout: "+out+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, out
}

// runKey describes a run for comparisons: strategy, seed and params.
func runKey(r Run) string {
	return fmt.Sprintf("%s/%d/%s", r.Strategy, r.Seed, describeParams(r.Params))
}

func TestSweepAxisExpansion(t *testing.T) {
	tests := []struct {
		name  string
		sweep string
		sets  []string
		want  []string // runKey of every run, in order
		check func(t *testing.T, runs []Run)
	}{
		{"no axes: the base's strategies x seeds", "base: base.yaml\nconfig: {seeds: [1, 2]}", nil,
			[]string{"entropy/1/", "random/1/", "entropy/2/", "random/2/"}, nil},
		{"grid over strategy and seed", "base: base.yaml\naxes:\n  - grid: {strategy: [random, margin], seed: [3, 4, 5]}", nil,
			[]string{"random/3/", "random/4/", "random/5/", "margin/3/", "margin/4/", "margin/5/"}, nil},
		{"zip advances together", "base: base.yaml\nconfig: {strategies: [{name: random}]}\naxes:\n  - zip: {al.k: [2, 4], al.budget: [14, 22]}", nil,
			[]string{"random/1/al.k=2 al.budget=14", "random/1/al.k=4 al.budget=22"},
			func(t *testing.T, runs []Run) {
				if runs[0].Config.AL.K != 2 || runs[0].Config.AL.Budget != 14 || runs[1].Config.AL.K != 4 || runs[1].Config.AL.Budget != 22 {
					t.Errorf("zip values not applied: %+v %+v", runs[0].Config.AL, runs[1].Config.AL)
				}
			}},
		{"explicit list", "base: base.yaml\nconfig: {strategies: [{name: random}]}\naxes:\n  - list:\n      - {al.k: 2}\n      - {al.k: 5, al.init_size: 9}", nil,
			[]string{"random/1/al.k=2", "random/1/al.k=5 al.init_size=9"},
			func(t *testing.T, runs []Run) {
				if runs[1].Config.AL.InitSize != 9 || runs[0].Config.AL.InitSize != 6 {
					t.Errorf("list entries leak into each other: %+v %+v", runs[0].Config.AL, runs[1].Config.AL)
				}
			}},
		{"product of grid, zip and list", `base: base.yaml
axes:
  - grid: {strategy: [random, entropy]}
  - zip: {al.k: [2, 4], al.budget: [14, 22]}
  - list: [{seed: 7}, {seed: 8, learner.train.lr: 0.5}]
`, nil, []string{
			"random/7/al.k=2 al.budget=14", "random/8/al.k=2 al.budget=14 learner.train.lr=0.5",
			"random/7/al.k=4 al.budget=22", "random/8/al.k=4 al.budget=22 learner.train.lr=0.5",
			"entropy/7/al.k=2 al.budget=14", "entropy/8/al.k=2 al.budget=14 learner.train.lr=0.5",
			"entropy/7/al.k=4 al.budget=22", "entropy/8/al.k=4 al.budget=22 learner.train.lr=0.5",
		}, nil},
		{"strategy with options and label", "base: base.yaml\naxes:\n  - grid: {strategy: [{name: entropy, label: ent2}], seed: [1]}", nil,
			[]string{"ent2/1/"}, func(t *testing.T, runs []Run) {
				if runs[0].Config.Strategies[0].Name != "entropy" {
					t.Errorf("strategy %+v", runs[0].Config.Strategies)
				}
			}},
		{"overlay merges key by key, --set applies to every run", "base: base.yaml\nconfig: {al: {k: 2}}\naxes:\n  - grid: {strategy: [random]}",
			[]string{"al.budget=10"}, []string{"random/1/"}, func(t *testing.T, runs []Run) {
				al := runs[0].Config.AL
				if al.K != 2 || al.Budget != 10 || al.InitSize != 6 {
					t.Errorf("al %+v: want k 2 (overlay), budget 10 (--set), init_size 6 (base)", al)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, out := writeSweep(t, tc.sweep)
			s, err := Load(path, tc.sets)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			ids := map[string]bool{}
			for _, r := range s.Runs {
				got = append(got, runKey(r))
				ids[r.ID] = true
				if len(r.Config.Seeds) != 1 || len(r.Config.Strategies) != 1 || r.Config.Out != out {
					t.Errorf("run %s: seeds %v strategies %d out %q", runKey(r), r.Config.Seeds, len(r.Config.Strategies), r.Config.Out)
				}
				if !strings.HasPrefix(r.Dir, filepath.Join("runs", r.Strategy+"-seed")) || !strings.HasSuffix(r.Dir, r.ID[:12]) {
					t.Errorf("run dir %s", r.Dir)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("runs:\n got %q\nwant %q", got, tc.want)
			}
			if len(ids) != len(s.Runs) {
				t.Errorf("%d distinct ids for %d runs", len(ids), len(s.Runs))
			}
			if tc.check != nil {
				tc.check(t, s.Runs)
			}
		})
	}
}

func TestSweepErrors(t *testing.T) {
	tests := []struct {
		name, sweep string
		want        []string
	}{
		{"unknown strategy", "base: base.yaml\naxes:\n  - grid: {strategy: [random, badge_typo], seed: [1, 2]}", []string{"strategy=badge_typo", `"badge_typo"`, "unknown strategy", "random"}},
		{"unknown config key", "base: base.yaml\naxes:\n  - grid: {al.kk: [1]}", []string{"al.kk", "unknown key"}},
		{"zip lengths", "base: base.yaml\naxes:\n  - zip: {al.k: [1, 2], al.budget: [10]}", []string{"zip", "equal lengths"}},
		{"axis kind", "base: base.yaml\naxes:\n  - cross: {al.k: [1]}", []string{`"cross"`, "grid, zip or list"}},
		{"two kinds in one axis", "base: base.yaml\naxes:\n  - {grid: {al.k: [1]}, zip: {al.k: [2]}}", []string{"exactly one"}},
		{"unknown top-level key", "base: base.yaml\naxis: []", []string{`"axis"`, "axes"}},
		{"empty values", "base: base.yaml\naxes:\n  - grid: {al.k: []}", []string{"al.k", "non-empty"}},
		{"duplicate runs", "base: base.yaml\naxes:\n  - list: [{al.k: 4}, {al.k: 4}]", []string{"same run"}},
		{"out cannot vary", "base: base.yaml\naxes:\n  - grid: {out: [a, b]}", []string{"out", "cannot vary"}},
		{"missing base", "base: nope.yaml", []string{"base", "nope.yaml"}},
		{"bad retries", "base: base.yaml\nretries: -1", []string{"retries"}},
		{"bad slurm option", "base: base.yaml\nslurm: {options: [account=x]}", []string{"slurm.options[0]"}},
		{"invalid value type", "base: base.yaml\naxes:\n  - grid: {al.k: [ten]}", []string{"al.k", "ten"}},
		{"report by seed", "base: base.yaml\nreport: {by: [seed]}", []string{"report.by[0]", "seed"}},
		{"unknown report key", "base: base.yaml\nreport: {baseline: cnn, compare: nas}", []string{"compare"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, _ := writeSweep(t, tc.sweep)
			_, err := Load(path, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if _, err := Load("builtin:nope", nil); err == nil || !strings.Contains(err.Error(), "mnist") {
		t.Errorf("unknown shipped sweep: %v", err)
	}
}

func TestShippedSweepsParse(t *testing.T) {
	for _, n := range experiments.ShippedSweeps() {
		s, err := Load("builtin:"+n, nil)
		// Policy runs need a trained agent's file (relative to the repository
		// root, not to this test's folder); the error must say which file.
		policyFile := map[string]string{"pg-fashion": "runs/pg-mnist-to-fashion/agent/policy.json",
			"imitation-tabular": "results/agent-imitation/agent/policy.json", "imitation-fashion": "results/agent-imitation/agent/policy.json",
			"imitation-fashion-fast": "results/agent-imitation/agent/policy.json", "agents-fashion": "results/agent-pg-mnist/agent/policy.json"}
		if f, ok := policyFile[n]; ok && err != nil {
			if !strings.Contains(err.Error(), f) || !strings.Contains(err.Error(), "no such file") {
				t.Errorf("shipped sweep %s without its policy file: %v", n, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("shipped sweep %s: %v", n, err)
			continue
		}
		if n == "inas" || n == "inas-w64" {
			// The report compares task models against the search, named as the report names it.
			var names []string
			for _, r := range s.Runs {
				if r.Config.NASEnabled() && r.Config.NAS.Search && !slices.Contains(names, r.Config.ModelLabel()) {
					names = append(names, r.Config.ModelLabel())
				}
			}
			if rp := s.Config.Report; !slices.Equal(rp.By, []string{"model"}) || !slices.Equal(names, []string{rp.Baseline}) {
				t.Errorf("inas sweep: report %+v, iNAS runs named %v", rp, names)
			}
		}
		if n == "mnist" {
			c := s.Runs[0].Config
			if c.AL.InitSize != 20 || c.AL.K != 10 || c.AL.Budget != 300 || c.Data.Name != "mnist" || len(s.Runs) < 10 {
				t.Errorf("mnist sweep: %d runs, al %+v", len(s.Runs), c.AL)
			}
		}
	}
}

// TestSweepBaseOptionalSections: a base config's optional sections (fast,
// agent, nas) keep the defaults of the keys they leave out, as in alrl train,
// and a sweep can drop a section with null.
func TestSweepBaseOptionalSections(t *testing.T) {
	path, _ := writeSweep(t, "base: builtin:agent-pg-mnist-to-fashion\nconfig: {agent: null, nas: {max_stacks: 2}}\n"+
		"axes:\n  - grid: {strategy: [random, entropy], seed: [1]}")
	s, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := experiments.Load("builtin:agent-pg-mnist-to-fashion", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Runs {
		c := r.Config
		if c.Agent != nil {
			t.Errorf("%s: agent section kept after agent: null", r.Strategy)
		}
		if c.Fast == nil || *c.Fast != *want.Fast {
			t.Errorf("%s: fast section %+v, want %+v (alrl train's)", r.Strategy, c.Fast, want.Fast)
		}
		if c.NAS == nil || c.NAS.MaxStacks != 2 || c.NAS.MaxBlocks != nas.DefaultConfig().MaxBlocks {
			t.Errorf("%s: nas section %+v lost its defaults", r.Strategy, c.NAS)
		}
	}
}

func TestRunIDIgnoresNameOutAndThreadBudget(t *testing.T) {
	cfg := runTestConfig(t)
	rc := experiments.RunConfig(cfg, cfg.Strategies[0], 1)
	id, err := RunID(rc)
	if err != nil {
		t.Fatal(err)
	}
	other := rc
	other.Name, other.Out = "renamed", "/elsewhere"
	if id2, _ := RunID(other); id2 != id {
		t.Error("name and out change the run id")
	}
	other = rc
	other.AL.K = 5
	if id2, _ := RunID(other); id2 == id {
		t.Error("al.k does not change the run id")
	}
	other = rc
	other.Seeds = []uint64{2}
	if id2, _ := RunID(other); id2 == id {
		t.Error("the seed does not change the run id")
	}
}

// TestRunIDFollowsPolicyFile: a run that uses a trained policy file is a new
// run once the file changes (the agent was retrained to the same path).
func TestRunIDFollowsPolicyFile(t *testing.T) {
	cfg := runTestConfig(t)
	path := filepath.Join(t.TempDir(), "policy.json")
	sc := experiments.StrategyConfig{Name: "prefilter", Options: map[string]any{
		"first": map[string]any{"name": "policy", "options": map[string]any{"path": path}}}}
	rc := experiments.RunConfig(cfg, sc, 1)
	if _, err := RunID(rc); err == nil || !strings.Contains(err.Error(), "policy.json") {
		t.Fatalf("missing policy file: %v", err)
	}
	ids := map[string]bool{}
	for _, content := range []string{"weights A", "weights B", "weights A"} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		id, err := RunID(rc)
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	if len(ids) != 2 {
		t.Errorf("3 files with 2 distinct contents gave %d run ids, want 2", len(ids))
	}
	plain, _ := RunID(experiments.RunConfig(cfg, experiments.StrategyConfig{Name: "random"}, 1))
	if ids[plain] {
		t.Error("the policy file does not enter the run id")
	}
}

// localSweep loads a sweep and runs it in process, observing rounds.
func localSweep(t *testing.T, path string, parallel int, retries int) (Result, map[string][]int, error) {
	t.Helper()
	s, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	rounds := map[string][]int{}
	ex := &Local{Parallel: parallel, Options: experiments.Options{OnRound: func(run string, rec envs.Record) {
		mu.Lock()
		rounds[filepath.Base(run)] = append(rounds[filepath.Base(run)], rec.Round)
		mu.Unlock()
	}}}
	res, err := Execute(context.Background(), s, s.Config.Out, Options{Executor: ex, Retries: retries})
	return res, rounds, err
}

func TestSweepPairedInitialSets(t *testing.T) {
	path, out := writeSweep(t, "base: base.yaml\naxes:\n  - grid: {strategy: [entropy, random, margin], seed: [1, 2]}")
	res, _, err := localSweep(t, path, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Index.Counts[StatusDone] != 6 || len(res.Failed) != 0 {
		t.Fatalf("counts %v", res.Index.Counts)
	}
	init := map[uint64][]int{}
	round0 := map[uint64]envs.Record{}
	for _, r := range res.Index.Runs {
		recs := readRounds(t, filepath.Join(out, r.Dir))
		first := slices.Clone(recs[0].Chosen)
		slices.Sort(first)
		if len(first) != 6 {
			t.Fatalf("%s: initial set %v", r.Dir, first)
		}
		if prev, ok := init[r.Seed]; ok {
			if !slices.Equal(prev, first) {
				t.Errorf("seed %d: %s starts from %v, another strategy from %v", r.Seed, r.Strategy, first, prev)
			}
			// Same split and initial set: the round-0 model and its test and
			// validation accuracy are the same too.
			if p := round0[r.Seed]; p.TestAcc != recs[0].TestAcc || !sameFloat(p.ValAcc, recs[0].ValAcc) || p.TestLoss != recs[0].TestLoss {
				t.Errorf("seed %d: round 0 of %s differs: %+v vs %+v", r.Seed, r.Strategy, recs[0], p)
			}
		} else {
			init[r.Seed] = first
			round0[r.Seed] = recs[0]
		}
	}
	if slices.Equal(init[1], init[2]) {
		t.Error("seeds 1 and 2 share an initial set")
	}
}

func TestSweepSkipsFinishedRuns(t *testing.T) {
	path, out := writeSweep(t, "base: base.yaml\naxes:\n  - grid: {strategy: [entropy, random], seed: [1, 2]}")
	res, rounds, err := localSweep(t, path, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rounds) != 4 || res.Skipped != 0 {
		t.Fatalf("first invocation ran %d runs, skipped %d", len(rounds), res.Skipped)
	}
	for _, r := range res.Index.Runs {
		if r.Status != StatusDone || r.Attempts != 1 {
			t.Errorf("%s: %s after %d attempts", r.Dir, r.Status, r.Attempts)
		}
		for _, f := range []string{"config.yaml", "summary.json", "rounds.jsonl", "provenance.json"} {
			if _, err := os.Stat(filepath.Join(out, r.Dir, f)); err != nil {
				t.Errorf("missing %s/%s", r.Dir, f)
			}
		}
	}
	ix, err := ReadIndex(out)
	if err != nil || ix.Counts[StatusDone] != 4 || len(ix.Runs) != 4 {
		t.Fatalf("index on disk: %+v %v", ix.Counts, err)
	}
	res, rounds, err = localSweep(t, path, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rounds) != 0 || res.Skipped != 4 {
		t.Errorf("rerun ran %v, skipped %d", rounds, res.Skipped)
	}
	// Provenance records this process.
	p, err := provenance.Read(filepath.Join(out, res.Index.Runs[0].Dir))
	if err != nil || len(p.Sessions) != 1 || p.Sessions[0].GoVersion == "" || p.Sessions[0].Threads < 1 || p.Sessions[0].Host == "" {
		t.Errorf("provenance %+v %v", p, err)
	}
}

func TestSweepFailingRunIsIsolated(t *testing.T) {
	path, out := writeSweep(t, "base: base.yaml\naxes:\n  - grid: {strategy: [entropy, test_fail, test_panic, random], seed: [1]}")
	res, rounds, err := localSweep(t, path, 2, 1)
	if err == nil {
		t.Fatal("sweep with failing runs returned no error")
	}
	if res.Index.Counts[StatusDone] != 2 || res.Index.Counts[StatusFailed] != 2 || len(res.Failed) != 2 {
		t.Fatalf("counts %v", res.Index.Counts)
	}
	for _, r := range res.Failed {
		dir := filepath.Join(out, r.Dir)
		if !strings.Contains(err.Error(), dir) {
			t.Errorf("error does not name %s:\n%v", dir, err)
		}
		if r.Attempts != 2 {
			t.Errorf("%s: %d attempts, want 2 (1 retry)", r.Dir, r.Attempts)
		}
		want := map[string]string{"test_fail": "refuses to choose", "test_panic": "panic"}[r.Strategy]
		if !strings.Contains(r.Error, want) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q lacks %q", r.Dir, r.Error, want)
		}
		if _, err := os.Stat(filepath.Join(dir, "error.json")); err != nil {
			t.Errorf("%s: no error.json", r.Dir)
		}
	}
	for _, r := range res.Index.Runs {
		if (r.Strategy == "entropy" || r.Strategy == "random") && (r.Status != StatusDone || len(rounds[filepath.Base(r.Dir)]) != 5) {
			t.Errorf("%s: %s with rounds %v", r.Dir, r.Status, rounds[filepath.Base(r.Dir)])
		}
	}
	if !strings.Contains(err.Error(), "2 of 4 runs failed") {
		t.Errorf("error: %v", err)
	}
}

func TestSweepSubprocessWorkers(t *testing.T) {
	path, out := writeSweep(t, "base: base.yaml\naxes:\n  - grid: {strategy: [entropy, test_fail], seed: [1]}")
	s, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ex := &Local{Parallel: 2, Threads: 1, Command: []string{os.Args[0], "sweep-task"}}
	res, err := Execute(context.Background(), s, out, Options{Executor: ex})
	if err == nil || res.Index.Counts[StatusDone] != 1 || len(res.Failed) != 1 {
		t.Fatalf("counts %v err %v", res.Index.Counts, err)
	}
	f := res.Failed[0]
	if !strings.Contains(f.Error, "refuses to choose") || f.Log != filepath.Join(out, f.Dir, "worker.log") {
		t.Errorf("failure %q log %q", f.Error, f.Log)
	}
	log, _ := os.ReadFile(f.Log)
	if !strings.Contains(string(log), "=== attempt 1") || !strings.Contains(string(log), "refuses to choose") {
		t.Errorf("worker log:\n%s", log)
	}
	p, err := provenance.Read(filepath.Join(out, res.Index.Runs[0].Dir))
	if err != nil || p.Sessions[0].Threads != 1 {
		t.Errorf("the worker's thread budget is not recorded: %+v %v", p, err)
	}
}

func TestRunTaskLocksTheRun(t *testing.T) {
	path, out := writeSweep(t, "base: base.yaml\naxes:\n  - grid: {strategy: [random]}")
	s, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Prepare(out); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(out, s.Runs[0].Dir)
	unlock, err := lockRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = RunTask(context.Background(), dir, 1, experiments.Options{})
	if err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("second worker on a locked run: %v", err)
	}
	unlock()
	if _, err := RunTask(context.Background(), dir, 1, experiments.Options{}); err != nil {
		t.Errorf("after unlock: %v", err)
	}
}

// TestSweepKilledAndRerun kills a sweep process with SIGKILL once its first
// run has finished, then reruns the sweep: finished runs are not repeated and
// interrupted ones continue from their checkpoint.
func TestSweepKilledAndRerun(t *testing.T) {
	path, out := writeSweep(t, "base: base.yaml\nconfig: {learner: {backend: testslow}}\naxes:\n  - grid: {strategy: [entropy, random], seed: [1, 2]}")
	cmd := newHelper(path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	// Kill once a run has finished and the next one has checkpointed a round.
	var finished []string
	for {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("no run finished within 30 s")
		}
		time.Sleep(2 * time.Millisecond)
		finished, _ = filepath.Glob(filepath.Join(out, "runs", "*", "summary.json"))
		cks, _ := filepath.Glob(filepath.Join(out, "runs", "*", "checkpoint", "state.json"))
		if len(finished) > 0 && len(cks) > len(finished) {
			break
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	before := map[string]string{}
	for _, f := range finished {
		b, _ := os.ReadFile(f)
		before[filepath.Base(filepath.Dir(f))] = string(b)
	}
	// Checkpointed rounds of the runs the kill interrupted.
	ckRound := map[string]int{}
	dirs, _ := filepath.Glob(filepath.Join(out, "runs", "*"))
	for _, d := range dirs {
		if _, done := before[filepath.Base(d)]; done {
			continue
		}
		if round, ok := checkpointRound(d); ok {
			ckRound[filepath.Base(d)] = round
		}
	}
	if len(before) == 4 || len(ckRound) == 0 {
		t.Fatalf("%d runs finished and %d were checkpointed mid-way at the kill; the test did not interrupt a run", len(before), len(ckRound))
	}

	res, rounds, err := localSweep(t, path, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Index.Counts[StatusDone] != 4 || res.Skipped != len(before) {
		t.Fatalf("rerun: counts %v, skipped %d, finished before %d", res.Index.Counts, res.Skipped, len(before))
	}
	for name, sum := range before {
		if rs := rounds[name]; len(rs) != 0 {
			t.Errorf("finished run %s repeated rounds %v", name, rs)
		}
		b, _ := os.ReadFile(filepath.Join(out, "runs", name, "summary.json"))
		if string(b) != sum {
			t.Errorf("finished run %s: summary.json rewritten", name)
		}
	}
	for name, r := range ckRound {
		if rs := rounds[name]; len(rs) == 0 || rs[0] != r+1 {
			t.Errorf("interrupted run %s (checkpoint at round %d) resumed with rounds %v", name, r, rs)
		}
	}
	for _, r := range res.Index.Runs {
		if n := len(readRounds(t, filepath.Join(out, r.Dir))); n != 5 {
			t.Errorf("%s: %d rounds on disk, want 5", r.Dir, n)
		}
	}
	t.Logf("killed after %d finished runs; %d interrupted runs had checkpoints %v", len(before), len(ckRound), ckRound)
}

// newHelper returns this test binary running a sweep (see TestMain).
func newHelper(path string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "sweep-helper", path)
	cmd.Stderr = os.Stderr
	return cmd
}

func TestSweepInterruptedRunsStayPending(t *testing.T) {
	path, out := writeSweep(t, "base: base.yaml\nconfig: {learner: {backend: testslow}}\naxes:\n  - grid: {strategy: [entropy, random], seed: [1]}")
	s, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ex := &Local{Parallel: 2, Options: experiments.Options{OnRound: func(_ string, rec envs.Record) {
		if rec.Round == 1 {
			cancel()
		}
	}}}
	res, err := Execute(ctx, s, out, Options{Executor: ex, Retries: 2})
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("interrupted sweep: %v", err)
	}
	if len(res.Failed) != 0 || res.Index.Counts[StatusPending] != 2 {
		t.Errorf("after an interruption: counts %v, failed %d", res.Index.Counts, len(res.Failed))
	}
	res, _, err = localSweep(t, path, 2, 0)
	if err != nil || res.Index.Counts[StatusDone] != 2 {
		t.Errorf("rerun: %v %v", res.Index.Counts, err)
	}
}

func TestSweepPrepareChecksExistingRunFolders(t *testing.T) {
	path, out := writeSweep(t, "name: prep\nbase: base.yaml\naxes:\n  - grid: {strategy: [random]}")
	s, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Runs[0].Config.Name != "prep" {
		t.Errorf("run config name %q, want the sweep's", s.Runs[0].Config.Name)
	}
	if err := s.Prepare(out); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(out, s.Runs[0].Dir, "config.yaml")
	// Another name (same identity) is kept as it is.
	c := s.Runs[0].Config
	c.Name = "renamed"
	b, _ := c.YAML()
	os.WriteFile(cfgPath, b, 0o644)
	if err := s.Prepare(out); err != nil {
		t.Errorf("renamed run config: %v", err)
	}
	if got, _ := os.ReadFile(cfgPath); string(got) != string(b) {
		t.Error("Prepare rewrote a config with the same identity")
	}
	// A different config in the run's folder is refused.
	c.AL.K = 3
	b, _ = c.YAML()
	os.WriteFile(cfgPath, b, 0o644)
	if err := s.Prepare(out); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Errorf("foreign config: %v", err)
	}
}

// TestSweepDoesNotRetryConfigErrors: a run whose config fails against its
// data (a budget above the pool) fails once, however many retries there
// are, and says why; the others run.
func TestSweepDoesNotRetryConfigErrors(t *testing.T) {
	path, _ := writeSweep(t, "base: base.yaml\naxes:\n  - list: [{split.pool: 200}, {split.pool: 15}]\n  - grid: {strategy: [random]}")
	res, _, err := localSweep(t, path, 1, 3)
	if err == nil {
		t.Fatal("a sweep with a failed run reported success")
	}
	if res.Index.Counts[StatusDone] != 1 || len(res.Failed) != 1 {
		t.Fatalf("counts %v, failed %+v", res.Index.Counts, res.Failed)
	}
	f := res.Failed[0]
	if f.Attempts != 1 || !strings.Contains(f.Error, "al.budget") {
		t.Fatalf("the config error was tried %d times: %s", f.Attempts, f.Error)
	}
}
