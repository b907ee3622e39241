package experiments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/internal/testlearner"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/strategies"
)

func init() {
	strategies.Register(strategies.Info{Name: "test_needs_last_layer", Description: "needs last-layer weights",
		New: func(strategies.Options) (strategies.Strategy, error) { return needsLastLayer{}, nil }})
	learner.RegisterBackend("testcentroid", "test", testlearner.Factory)
	learner.RegisterBackend("testnan", "test learner whose probabilities are NaN", func(in datasets.Inputs, c int, _ learner.Config) (learner.Learner, error) {
		return nanLearner{testlearner.New(in, c)}, nil
	})
}

// nanLearner is a diverged model: every probability is NaN.
type nanLearner struct{ *testlearner.Learner }

func (l nanLearner) Probs(ctx context.Context, idx []int) (*mat.Dense, error) {
	p, err := l.Learner.Probs(ctx, idx)
	if err != nil {
		return nil, err
	}
	r, c := p.Dims()
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			p.Set(i, j, math.NaN())
		}
	}
	return p, nil
}

const tol = 1e-12

func TestAULC(t *testing.T) {
	tests := []struct {
		name      string
		labels    []int
		acc       []float64
		raw, norm float64
	}{
		{"line 0 to 1", []int{0, 10}, []float64{0, 1}, 5, 0.5},
		{"constant", []int{6, 10, 14, 22}, []float64{0.7, 0.7, 0.7, 0.7}, 0.7 * 16, 0.7},
		{"one point", []int{5}, []float64{0.3}, 0.3, 0.3},
		{"uneven steps", []int{0, 2, 6}, []float64{0, 1, 1}, 5, 5.0 / 6},
		{"decreasing", []int{10, 20}, []float64{0.8, 0.6}, 7, 0.7},
		{"zero span", []int{5, 5}, []float64{0.2, 0.4}, 0, 0.4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, norm := AULC(tc.labels, tc.acc)
			if math.Abs(raw-tc.raw) > tol || math.Abs(norm-tc.norm) > tol {
				t.Errorf("AULC = (%v, %v), want (%v, %v)", raw, norm, tc.raw, tc.norm)
			}
		})
	}
	if raw, norm := AULC(nil, nil); !math.IsNaN(raw) || !math.IsNaN(norm) {
		t.Errorf("AULC of nothing = (%v, %v), want NaN", raw, norm)
	}
}

func TestLabelsToTarget(t *testing.T) {
	labels := []int{6, 10, 14, 18}
	acc := []float64{0.5, 0.8, 0.79, 0.9}
	tests := []struct {
		target float64
		want   int
	}{
		{0.4, 6}, {0.5, 6}, {0.8, 10}, {0.85, 18}, {0.9, 18}, {0.91, -1}, {1, -1},
	}
	for _, tc := range tests {
		if got := LabelsToTarget(labels, acc, tc.target); got != tc.want {
			t.Errorf("LabelsToTarget(%v) = %d, want %d", tc.target, got, tc.want)
		}
	}
	if got := LabelsToTarget(nil, nil, 0.5); got != -1 {
		t.Errorf("no points: %d", got)
	}
}

func TestSummarize(t *testing.T) {
	recs := []envs.Record{
		{Round: 0, Labels: 6, TestAcc: 0.4, TestLoss: 1.2, TrainSeconds: 1, QuerySeconds: 0},
		{Round: 1, Labels: 10, TestAcc: 0.85, TestLoss: 0.6, TrainSeconds: 2, QuerySeconds: 0.5},
		{Round: 2, Labels: 14, TestAcc: 0.9, TestLoss: 0.3, TrainSeconds: 3, QuerySeconds: 0.25},
	}
	s := Summarize(recs, []float64{0.5, 0.8, 0.95})
	if s.Rounds != 2 || s.Labels != 14 || s.FinalAcc != 0.9 || s.FinalLoss != 0.3 {
		t.Errorf("final: rounds %d labels %d acc %v loss %v", s.Rounds, s.Labels, s.FinalAcc, s.FinalLoss)
	}
	if math.Abs(float64(s.AULCRaw)-6) > tol || math.Abs(float64(s.AULC)-0.75) > tol {
		t.Errorf("AULC raw %v norm %v, want 6 and 0.75", s.AULCRaw, s.AULC)
	}
	if s.TrainSeconds != 6 || s.QuerySeconds != 0.75 {
		t.Errorf("seconds: train %v query %v", s.TrainSeconds, s.QuerySeconds)
	}
	if len(s.LabelsTo) != 3 {
		t.Fatalf("LabelsTo = %v", s.LabelsTo)
	}
	for key, want := range map[string]int{"0.5": 10, "0.8": 10} {
		if p := s.LabelsTo[key]; p == nil || *p != want {
			t.Errorf("LabelsTo[%s] = %v, want %d", key, p, want)
		}
	}
	if p, ok := s.LabelsTo["0.95"]; !ok || p != nil {
		t.Errorf("LabelsTo[0.95] = %v (present %v), want a nil entry", p, ok)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"0.95":null`)) || !bytes.Contains(b, []byte(`"0.5":10`)) {
		t.Errorf("summary JSON %s", b)
	}
	// Distinct pointers: changing one entry does not change another.
	*s.LabelsTo["0.5"] = 99
	if *s.LabelsTo["0.8"] != 10 {
		t.Error("LabelsTo entries share one pointer")
	}
	empty := Summarize(nil, []float64{0.5})
	if empty.Labels != 0 || empty.LabelsTo["0.5"] != nil {
		t.Errorf("summary of no records: %+v", empty)
	}
}

func TestSummaryWithNaNLossMarshals(t *testing.T) {
	s := Summarize([]envs.Record{{Labels: 6, TestAcc: 0.3, TestLoss: envs.Float(math.NaN())}}, nil)
	if _, err := json.Marshal(s); err != nil {
		t.Errorf("summary with a NaN final loss: %v", err)
	}
}

func TestRunDivergedLearnerFinishes(t *testing.T) {
	cfg := runTestConfig(t)
	cfg.Learner.Backend = "testnan"
	cfg.Seeds = []uint64{1}
	cfg.Strategies = []StrategyConfig{{Name: "random"}}
	if _, err := Run(context.Background(), cfg, Options{}); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestMeanCurve(t *testing.T) {
	runs := [][]envs.Record{
		{{Labels: 6, TestAcc: 0.5}, {Labels: 10, TestAcc: 0.7}, {Labels: 14, TestAcc: 0.9}},
		{{Labels: 6, TestAcc: 0.3}, {Labels: 10, TestAcc: 0.5}},
		{{Labels: 6, TestAcc: 0.4}, {Labels: 10, TestAcc: 0.9}, {Labels: 12, TestAcc: 0.95}},
	}
	c := MeanCurve("s", runs[:2])
	if c.Name != "s" || c.Seeds != 2 || !slices.Equal(c.Labels, []int{6, 10}) {
		t.Fatalf("curve %+v: want labels [6 10] from 2 seeds", c)
	}
	wantAcc := []float64{0.4, 0.6}
	wantStd := []float64{math.Sqrt(0.02), math.Sqrt(0.02)}
	for i := range wantAcc {
		if math.Abs(c.Acc[i]-wantAcc[i]) > tol || math.Abs(c.Std[i]-wantStd[i]) > tol {
			t.Errorf("point %d: acc %v std %v, want %v %v", i, c.Acc[i], c.Std[i], wantAcc[i], wantStd[i])
		}
	}
	c = MeanCurve("s", runs)
	if !slices.Equal(c.Labels, []int{6, 10}) || c.Seeds != 3 {
		t.Fatalf("3 runs: labels %v", c.Labels)
	}
	// 0.7, 0.5, 0.9: mean 0.7, sample std 0.2.
	if math.Abs(c.Acc[1]-0.7) > tol || math.Abs(c.Std[1]-0.2) > tol {
		t.Errorf("3 runs at 10 labels: acc %v std %v, want 0.7 0.2", c.Acc[1], c.Std[1])
	}
	one := MeanCurve("one", runs[:1])
	if !slices.Equal(one.Labels, []int{6, 10, 14}) || !slices.Equal(one.Std, []float64{0, 0, 0}) || one.Acc[2] != 0.9 {
		t.Errorf("one run: %+v", one)
	}
	co := CurveOf("x", runs[0])
	if !slices.Equal(co.Labels, []int{6, 10, 14}) || !slices.Equal(co.Acc, []float64{0.5, 0.7, 0.9}) || co.Seeds != 1 {
		t.Errorf("CurveOf: %+v", co)
	}
}

func TestMeanStd(t *testing.T) {
	m, s := meanStd([]float64{2, 4, 4, 4, 5, 5, 7, 9})
	if math.Abs(m-5) > tol || math.Abs(s-math.Sqrt(32.0/7)) > tol {
		t.Errorf("meanStd = %v, %v", m, s)
	}
	if m, s := meanStd([]float64{3}); m != 3 || s != 0 {
		t.Errorf("one value: %v %v", m, s)
	}
	if m, s := meanStd(nil); !math.IsNaN(m) || !math.IsNaN(s) {
		t.Errorf("no values: %v %v", m, s)
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		sets []string
		want []string // substrings of the error; nil = valid
	}{
		{"unknown key at depth 2", "al: {kk: 3}", nil, []string{"al.kk", "unknown key"}},
		{"unknown key at depth 3", "learner:\n  train:\n    lrr: 0.1\n", nil, []string{"learner.train.lrr", "line 3"}},
		{"unknown top-level key", "seed: 3", nil, []string{"seed", "unknown key"}},
		{"wrong type", "al: {k: ten}", nil, []string{"al.k", "ten"}},
		{"float for int", "al: {k: 2.5}", nil, []string{"al.k"}},
		{"unknown strategy", "strategies: [{name: nope}]", nil, []string{"strategies[0]", `"nope"`, "entropy", "least_confidence", "margin", "random"}},
		{"unknown strategy option", "strategies: [{name: entropy, options: {t: 1}}]", nil, []string{"strategies[0]", `"t"`}},
		{"duplicate strategy", "strategies: [{name: entropy}, {name: random}, {name: entropy}]", nil, []string{"strategies[2]", `"entropy"`, "twice"}},
		{"duplicate label", "strategies: [{name: entropy, label: a}, {name: random, label: a}]", nil, []string{"strategies[1]", `"a"`, "twice"}},
		{"labels disambiguate", "strategies: [{name: entropy}, {name: entropy, label: entropy2}]", nil, nil},
		{"label with slash", "strategies: [{name: entropy, label: a/b}]", nil, []string{"strategies[0].label"}},
		{"target above 1", "targets: [0.8, 1.5]", nil, []string{"targets[1]", "1.5"}},
		{"target zero", "targets: [0]", nil, []string{"targets[0]"}},
		{"no seeds", "seeds: []", nil, []string{"seeds"}},
		{"no strategies", "strategies: []", nil, []string{"strategies"}},
		{"unknown data set", "data: {name: cifar}", nil, []string{"data.name", "cifar"}},
		{"negative split", "split: {val: -1}", nil, []string{"split"}},
		{"empty out", "out: ''", nil, []string{"out"}},
		{"bad override value", "", []string{"al.k=ten"}, []string{"al.k", "command-line override"}},
		{"bad override syntax", "", []string{"al.k"}, []string{"--set al.k"}},
		{"override unknown key", "", []string{"al.kk=1"}, []string{"al.kk"}},
		{"not yaml", "al: [", nil, []string{"t.yaml"}},
		{"empty document", "", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.yaml), tc.sets)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestParseOverridesAndDefaults(t *testing.T) {
	doc := "name: x\nal:\n  k: 3\n  budget: 50\nstrategies:\n  - name: entropy\n  - name: random\n"
	cfg, err := Parse("t.yaml", []byte(doc), []string{"al.k=7", "strategies.1.name=margin", "learner.train.lr=0.5", "seeds=[4, 5]"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AL.K != 7 || cfg.AL.Budget != 50 {
		t.Errorf("al.k %d budget %d, want 7 and 50", cfg.AL.K, cfg.AL.Budget)
	}
	if cfg.Strategies[1].Name != "margin" || len(cfg.Strategies) != 2 {
		t.Errorf("strategies = %+v", cfg.Strategies)
	}
	if cfg.Learner.Train.LR != 0.5 || !slices.Equal(cfg.Seeds, []uint64{4, 5}) {
		t.Errorf("lr %v seeds %v", cfg.Learner.Train.LR, cfg.Seeds)
	}
	// Absent keys keep the defaults.
	def := Default()
	if cfg.AL.InitSize != def.AL.InitSize || cfg.AL.InitMode != def.AL.InitMode || cfg.Out != def.Out ||
		cfg.Learner.Train.BatchSize != def.Learner.Train.BatchSize || cfg.Learner.Model.Name != def.Learner.Model.Name ||
		!slices.Equal(cfg.Targets, def.Targets) || cfg.Split != def.Split || cfg.Data.Name != def.Data.Name {
		t.Errorf("defaults not kept: %+v", cfg)
	}
	if cfg.Name != "x" {
		t.Errorf("name %q", cfg.Name)
	}
	// Strategy options decode as plain YAML values.
	cfg, err = Parse("t.yaml", []byte("strategies: [{name: random}]"), nil)
	if err != nil || len(cfg.Strategies) != 1 || cfg.Strategies[0].ID() != "random" {
		t.Errorf("sequence replaces the default: %+v %v", cfg.Strategies, err)
	}
	// An empty document is the defaults.
	cfg, err = Parse("t.yaml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Errorf("empty document: %+v, want the defaults", cfg)
	}
}

func TestConfigYAMLRoundTrip(t *testing.T) {
	cfg, err := Parse("t.yaml", []byte("al: {k: 5, candidates: 40}\nstrategies: [{name: entropy, label: ent}]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("resolved.yaml", b, nil)
	if err != nil {
		t.Fatalf("resolved YAML does not parse: %v\n%s", err, b)
	}
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("YAML round trip:\n got %+v\nwant %+v", back, cfg)
	}
}

func TestShippedAndLoad(t *testing.T) {
	if !slices.Contains(Shipped(), "default") {
		t.Fatalf("Shipped() = %v lacks default", Shipped())
	}
	for _, name := range Shipped() {
		b, err := ShippedYAML(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(name, b, nil); err != nil {
			t.Errorf("shipped config %s: %v", name, err)
		}
	}
	cfg, err := Load("builtin:default", []string{"al.k=5"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AL.K != 5 || cfg.AL.Budget != 200 || cfg.Data.Name != "mnist" {
		t.Errorf("builtin:default: k %d budget %d data %q", cfg.AL.K, cfg.AL.Budget, cfg.Data.Name)
	}
	_, err = Load("builtin:nope", nil)
	if err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "default") {
		t.Errorf("builtin:nope: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	_, err = Load(missing, nil)
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file: %v", err)
	}
	// A real file.
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte("al: {k: 9}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if cfg, err := Load(p, nil); err != nil || cfg.AL.K != 9 {
		t.Errorf("Load(file): k %d, %v", cfg.AL.K, err)
	}
	if err := os.WriteFile(p, []byte("al: {kk: 9}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p, nil); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "al.kk") {
		t.Errorf("Load(bad file) should name the file and key: %v", err)
	}
}

// runTestConfig is a small blobs experiment with the pure-Go test learner.
func runTestConfig(t *testing.T) Config {
	t.Helper()
	cfg := Default()
	cfg.Name = "test"
	cfg.Seeds = []uint64{1, 2}
	cfg.Data = datasets.Source{Name: "blobs", N: 300, Classes: 3, Dim: 2}
	cfg.Split = SplitConfig{Test: 60}
	cfg.AL = envs.Config{InitSize: 6, InitMode: "balanced", K: 4, Budget: 22}
	cfg.Learner.Backend = "testcentroid"
	cfg.Learner.Model = learner.ModelSpec{Name: "mlp", Hidden: []int{8}}
	cfg.Strategies = []StrategyConfig{{Name: "entropy"}, {Name: "random"}}
	cfg.Targets = []float64{0.5, 0.99}
	cfg.Out = t.TempDir()
	return cfg
}

// TestRunRecordsDefaultBackend: an empty learner.backend is resolved to the
// default backend in the run's config.yaml and summary.json.
func TestRunRecordsDefaultBackend(t *testing.T) {
	cfg := runTestConfig(t)
	cfg.Seeds = []uint64{1}
	cfg.Strategies = []StrategyConfig{{Name: "random"}}
	cfg.Learner.Backend = ""
	res, err := Run(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := learner.DefaultBackend()
	if want == "" || res[0].Summary.Backend != want {
		t.Fatalf("summary backend %q, want the default %q", res[0].Summary.Backend, want)
	}
	b, err := os.ReadFile(filepath.Join(res[0].Dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "backend: "+want) {
		t.Fatalf("config.yaml does not record the backend %q:\n%s", want, b)
	}
}

func readRounds(t *testing.T, dir string) []envs.Record {
	t.Helper()
	recs, err := ReadRounds(dir)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestRunEndToEnd(t *testing.T) {
	cfg := runTestConfig(t)
	var seen []string
	res, err := Run(context.Background(), cfg, Options{OnRound: func(run string, rec envs.Record) {
		seen = append(seen, filepath.Base(filepath.Dir(run)))
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 || len(seen) != 4*5 {
		t.Fatalf("%d results and %d round callbacks, want 4 and 20", len(res), len(seen))
	}
	round0 := map[uint64]envs.Record{}
	i := 0
	for _, seed := range cfg.Seeds {
		for _, sc := range cfg.Strategies {
			dir := RunDir(cfg.Out, sc, seed)
			r := res[i]
			i++
			if r.Dir != dir {
				t.Errorf("result %d dir %s, want %s", i, r.Dir, dir)
			}
			for _, f := range []string{"config.yaml", "rounds.jsonl", "summary.json", "curve.png"} {
				if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
					t.Errorf("%s/%s: %v", dir, f, err)
				}
			}
			recs := readRounds(t, dir)
			var labels []int
			for j, rec := range recs {
				labels = append(labels, rec.Labels)
				if rec.Round != j {
					t.Errorf("%s: record %d has round %d", dir, j, rec.Round)
				}
				if j > 0 && len(rec.Chosen) != 4 {
					t.Errorf("%s: round %d chose %d", dir, j, len(rec.Chosen))
				}
			}
			if !slices.Equal(labels, []int{6, 10, 14, 18, 22}) {
				t.Errorf("%s: labels %v", dir, labels)
			}
			if r0, ok := round0[seed]; ok {
				if r0.TestAcc != recs[0].TestAcc || !slices.Equal(r0.Chosen, recs[0].Chosen) {
					t.Errorf("seed %d: round 0 differs between strategies: %+v vs %+v", seed, r0, recs[0])
				}
			} else {
				round0[seed] = recs[0]
			}
			s, err := ReadSummary(dir)
			if err != nil {
				t.Fatal(err)
			}
			if s.Strategy != sc.ID() || s.Seed != seed || s.Labels != 22 || s.Rounds != 4 || s.EndReason != string(envs.BudgetSpent) {
				t.Errorf("%s: summary %+v", dir, s)
			}
			if s.Backend != "testcentroid" {
				t.Errorf("%s: summary backend %q, want testcentroid", dir, s.Backend)
			}
			if s.FinalAcc != recs[len(recs)-1].TestAcc || s.Learner != "test nearest-centroid" {
				t.Errorf("%s: final acc %v learner %q", dir, s.FinalAcc, s.Learner)
			}
			if !reflect.DeepEqual(s, r.Summary) {
				t.Errorf("%s: summary.json %+v differs from the returned %+v", dir, s, r.Summary)
			}
			b, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			rc, err := Parse("config.yaml", b, nil)
			if err != nil {
				t.Fatalf("%s/config.yaml does not parse: %v", dir, err)
			}
			if rc.Learner.Backend != "testcentroid" {
				t.Errorf("%s/config.yaml: learner.backend %q, want testcentroid", dir, rc.Learner.Backend)
			}
			if !slices.Equal(rc.Seeds, []uint64{seed}) || len(rc.Strategies) != 1 || rc.Strategies[0].Name != sc.Name {
				t.Errorf("%s/config.yaml: seeds %v strategies %+v", dir, rc.Seeds, rc.Strategies)
			}
		}
	}
	if round0[1].TestAcc == round0[2].TestAcc && slices.Equal(round0[1].Chosen, round0[2].Chosen) {
		t.Error("seeds 1 and 2 gave identical initial sets")
	}
	for _, f := range []string{"summary.md", "summary.csv", "curves.png"} {
		if st, err := os.Stat(filepath.Join(cfg.Out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	csv, _ := os.ReadFile(filepath.Join(cfg.Out, "summary.csv"))
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "entropy,2,") || !strings.HasPrefix(lines[2], "random,2,") {
		t.Errorf("summary.csv:\n%s", csv)
	}
	md, _ := os.ReadFile(filepath.Join(cfg.Out, "summary.md"))
	if !strings.Contains(string(md), "# test") || !strings.Contains(string(md), "| entropy | 2 |") ||
		!strings.Contains(string(md), "Learner backend: testcentroid; network: test nearest-centroid.") {
		t.Errorf("summary.md:\n%s", md)
	}

	// Rerunning into the same folder without --resume is refused.
	_, err = Run(context.Background(), cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("rerun without resume: %v", err)
	}
	// With resume, finished runs are skipped and their summaries returned.
	var rounds int
	res2, err := Run(context.Background(), cfg, Options{Resume: true, OnRound: func(string, envs.Record) { rounds++ }})
	if err != nil {
		t.Fatal(err)
	}
	if rounds != 0 {
		t.Errorf("resume of finished runs ran %d rounds", rounds)
	}
	if !reflect.DeepEqual(res2, res) {
		t.Errorf("resume returned different results:\n got %+v\nwant %+v", res2, res)
	}
}

func TestRunRejectsNonEmptyRunFolder(t *testing.T) {
	cfg := runTestConfig(t)
	cfg.Seeds = []uint64{1}
	dir := RunDir(cfg.Out, cfg.Strategies[0], 1)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stray.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("non-empty run folder: %v", err)
	}
}

// interruptAfter returns Options whose OnRound cancels ctx after the first
// run's given round.
func interruptAfter(round int, cancel context.CancelFunc) Options {
	fired := false
	return Options{OnRound: func(_ string, rec envs.Record) {
		if !fired && rec.Round == round {
			fired = true
			cancel()
		}
	}}
}

func TestResumeMatchesUninterrupted(t *testing.T) {
	cfgA := runTestConfig(t)
	cfgA.Seeds = []uint64{3}
	cfgA.AL.Candidates = 50 // resumed runs must also draw the same candidate subsets
	cfgB := cfgA
	cfgB.Out = t.TempDir()

	resA, err := Run(context.Background(), cfgA, Options{})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err = Run(ctx, cfgB, interruptAfter(2, cancel))
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("interrupted run: err = %v", err)
	}
	dirB := RunDir(cfgB.Out, cfgB.Strategies[0], 3)
	if _, err := os.Stat(filepath.Join(dirB, "summary.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("interrupted run wrote summary.json: %v", err)
	}
	if n := len(readRounds(t, dirB)); n != 3 {
		t.Fatalf("interrupted run has %d rounds on disk, want 3", n)
	}
	if _, err := Run(context.Background(), cfgB, Options{}); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("continuing without resume: %v", err)
	}

	var resumedRounds []int
	resB, err := Run(context.Background(), cfgB, Options{Resume: true, OnRound: func(_ string, rec envs.Record) {
		resumedRounds = append(resumedRounds, rec.Round)
	}})
	if err != nil {
		t.Fatal(err)
	}
	// entropy resumes at round 3; random starts fresh.
	if !slices.Equal(resumedRounds, []int{3, 4, 0, 1, 2, 3, 4}) {
		t.Errorf("rounds run on resume: %v", resumedRounds)
	}
	if len(resA) != len(resB) {
		t.Fatalf("%d vs %d results", len(resA), len(resB))
	}
	for i := range resA {
		a, b := readRounds(t, resA[i].Dir), readRounds(t, resB[i].Dir)
		if len(a) != len(b) {
			t.Fatalf("%s: %d vs %d rounds", resB[i].Dir, len(a), len(b))
		}
		for j := range a {
			ra, rb := a[j], b[j]
			if ra.Round != rb.Round || ra.Labels != rb.Labels || ra.TestAcc != rb.TestAcc || ra.TestLoss != rb.TestLoss ||
				!sameFloat(ra.ValAcc, rb.ValAcc) || ra.Epochs != rb.Epochs || !slices.Equal(ra.Chosen, rb.Chosen) ||
				!(ra.Reward == rb.Reward || (math.IsNaN(float64(ra.Reward)) && math.IsNaN(float64(rb.Reward)))) {
				t.Errorf("%s round %d:\nuninterrupted %+v\n      resumed %+v", resB[i].Dir, j, ra, rb)
			}
		}
		sa, sb := resA[i].Summary, resB[i].Summary
		if sa.FinalAcc != sb.FinalAcc || sa.AULC != sb.AULC || sa.Labels != sb.Labels || !reflect.DeepEqual(sa.LabelsTo, sb.LabelsTo) {
			t.Errorf("summaries differ: %+v vs %+v", sa, sb)
		}
	}
}

func TestResumeCorruptCheckpoint(t *testing.T) {
	cfg := runTestConfig(t)
	cfg.Seeds = []uint64{1}
	cfg.Strategies = cfg.Strategies[:1]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := Run(ctx, cfg, interruptAfter(1, cancel)); err == nil {
		t.Fatal("interrupted run returned no error")
	}
	dir := RunDir(cfg.Out, cfg.Strategies[0], 1)
	state := filepath.Join(dir, "checkpoint", "state.json")
	orig, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(state, []byte("\x00garbage{"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), cfg, Options{Resume: true})
	if err == nil || !strings.Contains(err.Error(), state) || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("corrupt checkpoint: %v", err)
	}

	// A well-formed but inconsistent checkpoint is refused too.
	var ck map[string]any
	if err := json.Unmarshal(orig, &ck); err != nil {
		t.Fatal(err)
	}
	ck["records"] = []any{}
	b, _ := json.Marshal(ck)
	if err := os.WriteFile(state, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), cfg, Options{Resume: true})
	if err == nil || !strings.Contains(err.Error(), state) || !strings.Contains(err.Error(), "inconsistent") {
		t.Errorf("inconsistent checkpoint: %v", err)
	}

	// Changing the config makes resume refuse.
	if err := os.WriteFile(state, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	changed := cfg
	changed.AL.K = 2
	_, err = Run(context.Background(), changed, Options{Resume: true})
	if err == nil || !strings.Contains(err.Error(), "config differs") {
		t.Errorf("resume with a changed config: %v", err)
	}
	// The original checkpoint still resumes.
	if _, err := Run(context.Background(), cfg, Options{Resume: true}); err != nil {
		t.Errorf("resume of the restored checkpoint: %v", err)
	}
}

func TestRunRejectsMissingCapability(t *testing.T) {
	cfg := runTestConfig(t)
	cfg.Seeds = []uint64{1}
	cfg.Strategies = []StrategyConfig{{Name: "test_needs_last_layer"}}
	_, err := Run(context.Background(), cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "last_layer_weights") || !strings.Contains(err.Error(), "test nearest-centroid") {
		t.Errorf("strategy needing a missing capability: %v", err)
	}
}

type needsLastLayer struct{ strategies.Random }

func (needsLastLayer) Name() string { return "test_needs_last_layer" }
func (needsLastLayer) Needs() []learner.Capability {
	return []learner.Capability{learner.CapLastLayer}
}

func TestRunValidatesConfig(t *testing.T) {
	cfg := runTestConfig(t)
	cfg.Strategies = nil
	if _, err := Run(context.Background(), cfg, Options{}); err == nil || !strings.Contains(err.Error(), "strategies") {
		t.Errorf("no strategies: %v", err)
	}
	cfg = runTestConfig(t)
	cfg.Learner.Model = learner.ModelSpec{Name: "cnn"} // needs image input; blobs are flat
	if _, err := Run(context.Background(), cfg, Options{}); err == nil || !strings.Contains(err.Error(), "conv2d") {
		t.Errorf("cnn on flat data: %v", err)
	}
	cfg = runTestConfig(t)
	cfg.AL.Budget = 1000
	if _, err := Run(context.Background(), cfg, Options{}); err == nil || !strings.Contains(err.Error(), "al.budget") {
		t.Errorf("budget over pool: %v", err)
	}
}

// sameFloat is == with NaN equal to NaN (a run without a validation split
// records NaN validation accuracy).
func sameFloat(a, b envs.Float) bool {
	return a == b || (math.IsNaN(float64(a)) && math.IsNaN(float64(b)))
}
