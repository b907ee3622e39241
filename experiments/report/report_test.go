package report

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/experiments"
	"github.com/alrl/alrl/experiments/provenance"
	"github.com/alrl/alrl/experiments/stats"
	"github.com/alrl/alrl/experiments/sweep"
	"github.com/alrl/alrl/internal/testlearner"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/nas"
)

func init() {
	learner.RegisterBackend("testcentroid", "test", testlearner.Factory)
}

func near(a, b float64) bool { return a == b || math.Abs(a-b) <= 1e-9 }

// writeRun writes a finished run folder by hand: labels 10, 20, 30 with the
// given test accuracies.
func writeRun(t *testing.T, root, strategy string, seed uint64, k int, acc []float64, stops map[string]*experiments.StopPoint, endReason string) string {
	t.Helper()
	cfg := experiments.Default()
	cfg.Name = "hand"
	cfg.Seeds = []uint64{seed}
	cfg.Strategies = []experiments.StrategyConfig{{Name: strategy}}
	cfg.AL.K = k
	cfg.Targets = []float64{0.7}
	cfg.Stopping.Criteria = []experiments.CriterionConfig{{Name: experiments.ClassificationChange}, {Name: experiments.MaxUncertainty}}
	if stops == nil {
		stops = map[string]*experiments.StopPoint{experiments.ClassificationChange: nil, experiments.MaxUncertainty: nil}
	}
	dir := filepath.Join(root, strategy, "k"+string(rune('0'+k)), "seed-"+string(rune('0'+seed)))
	var recs []envs.Record
	for i, a := range acc {
		recs = append(recs, envs.Record{Round: i, Labels: 10 * (i + 1), TestAcc: envs.Float(a), TrainSeconds: 1, QuerySeconds: 0.5})
	}
	writeRunFiles(t, dir, cfg, recs, func(s *experiments.Summary) { s.Stops, s.EndReason = stops, endReason })
	return dir
}

// writeRunFiles writes a finished run's config.yaml, rounds.jsonl and
// summary.json into dir; edit adjusts the summary.
func writeRunFiles(t *testing.T, dir string, cfg experiments.Config, recs []envs.Record, edit func(*experiments.Summary)) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	var lines []byte
	for _, r := range recs {
		j, _ := json.Marshal(r)
		lines = append(append(lines, j...), '\n')
	}
	sum := experiments.Summarize(recs, cfg.Targets)
	sum.Strategy, sum.Seed = cfg.Strategies[0].ID(), cfg.Seeds[0]
	if edit != nil {
		edit(&sum)
	}
	sj, _ := json.Marshal(sum)
	for f, data := range map[string][]byte{"config.yaml": b, "rounds.jsonl": lines, "summary.json": sj} {
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// handRuns: two settings (al.k 10 and 20); in k=10, three methods on seeds
// 1..3, with entropy better than random by 0.1 at every point.
func handRuns(t *testing.T) string {
	root := t.TempDir()
	accs := map[string][][]float64{
		"random":  {{0.5, 0.6, 0.7}, {0.4, 0.6, 0.65}, {0.45, 0.62, 0.72}},
		"entropy": {{0.6, 0.7, 0.8}, {0.5, 0.7, 0.75}, {0.55, 0.72, 0.82}},
		"margin":  {{0.55, 0.6, 0.8}, {0.45, 0.7, 0.7}, {0.5, 0.6, 0.75}},
	}
	for name, runs := range accs {
		for i, acc := range runs {
			var stops map[string]*experiments.StopPoint
			if name == "entropy" {
				stops = map[string]*experiments.StopPoint{
					experiments.MaxUncertainty:       {Round: 1, Labels: 20, TestAcc: envs.Float(acc[1])},
					experiments.ClassificationChange: nil,
				}
			}
			writeRun(t, root, name, uint64(i+1), 1, acc, stops, "budget_spent")
		}
	}
	// A second setting with two methods on two seeds.
	writeRun(t, root, "random", 1, 2, []float64{0.5, 0.6, 0.7}, nil, "budget_spent")
	writeRun(t, root, "random", 2, 2, []float64{0.5, 0.6, 0.7}, nil, "budget_spent")
	writeRun(t, root, "entropy", 1, 2, []float64{0.6, 0.7, 0.8}, nil, "budget_spent")
	writeRun(t, root, "entropy", 2, 2, []float64{0.6, 0.7, 0.9}, nil, "budget_spent")
	// An unfinished run is skipped with a note.
	dir := filepath.Join(root, "unfinished")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("al: {k: 3}\n"), 0o644)
	return root
}

func TestBuildHandMade(t *testing.T) {
	root := handRuns(t)
	runs, notes, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 13 || len(notes) != 1 || !strings.Contains(notes[0], "unfinished") {
		t.Fatalf("%d runs, notes %v", len(runs), notes)
	}
	rep, err := Build(runs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Settings) != 2 {
		t.Fatalf("%d settings", len(rep.Settings))
	}
	var s1, s2 *Setting
	for _, s := range rep.Settings {
		switch s.Label {
		case "al.k=1":
			s1 = s
		case "al.k=2":
			s2 = s
		default:
			t.Fatalf("setting label %q, want al.k=1 / al.k=2", s.Label)
		}
	}
	names := []string{}
	for _, g := range s1.Groups {
		names = append(names, g.Name)
	}
	if !slices.Equal(names, []string{"entropy", "margin", "random"}) {
		t.Fatalf("groups %v", names)
	}
	ent, rnd := s1.Groups[0], s1.Groups[2]
	// Curve at 30 labels for entropy: 0.8, 0.75, 0.82.
	c := ent.Curve[2]
	want := stats.Describe([]float64{0.8, 0.75, 0.82}, 0.95)
	if c.Labels != 30 || !near(c.Acc.Mean, want.Mean) || !near(c.Acc.Lo, want.Lo) || !near(c.Acc.Hi, want.Hi) || c.Acc.N != 3 {
		t.Errorf("curve point %+v, want %+v", c, want)
	}
	// AULC (normalised) of entropy seed 1: trapezoid (0.65 + 0.75) * 10 / 20 = 0.7.
	if !near(float64(ent.Runs[0].Summary.AULC), 0.7) {
		t.Errorf("AULC seed 1 %v", ent.Runs[0].Summary.AULC)
	}
	// Labels to 0.7: entropy reaches it at 20, 20, 20; random at 30, never, 30.
	if r := ent.To[0]; r.Reached != 3 || !near(r.Labels.Mean, 20) {
		t.Errorf("entropy labels to 0.7: %+v", r)
	}
	if r := rnd.To[0]; r.Reached != 2 || r.Of != 3 || !near(r.Labels.Mean, 30) {
		t.Errorf("random labels to 0.7: %+v", r)
	}
	// Paired AULC difference entropy - random equals the t-test on the per-seed AULCs.
	var row *PairedRow
	for i := range s1.Paired {
		if s1.Paired[i].Method == "entropy" && s1.Paired[i].Metric == "aulc" {
			row = &s1.Paired[i]
		}
	}
	if row == nil || row.Baseline != "random" || !slices.Equal(row.Seeds, []uint64{1, 2, 3}) {
		t.Fatalf("paired rows %+v", s1.Paired)
	}
	var a, b []float64
	for i := range ent.Runs {
		a = append(a, float64(ent.Runs[i].Summary.AULC))
		b = append(b, float64(rnd.Runs[i].Summary.AULC))
	}
	tt, _ := stats.PairedT(a, b, 0.95)
	if !near(row.T.T, tt.T) || !near(row.T.P, tt.P) || !near(row.T.MeanDiff, 0.1) {
		t.Errorf("paired aulc %+v, want %+v", row.T, tt)
	}
	// Penalty matrix: at each of the 3 budgets entropy - random = 0.1 on every
	// seed (t = inf): entropy beats random everywhere. Margin - random:
	// budget 10: 0.05 x3 (wins); 20: 0, 0.1, -0.02 (no); 30: 0.1, 0.05, 0.03
	// (t = 2.88, p = 0.10: no). Entropy - margin: 10: 0.05 x3 (wins); 20:
	// 0.1, 0, 0.12 (no); 30: 0, 0.05, 0.07 (no).
	if !slices.Equal(s1.Methods, names) || !slices.Equal(s1.Budgets, []int{10, 20, 30}) || len(s1.Seeds) != 3 {
		t.Fatalf("matrix over %v at %v, seeds %v", s1.Methods, s1.Budgets, s1.Seeds)
	}
	wantP := [][]float64{{0, 1.0 / 3, 1}, {0, 0, 1.0 / 3}, {0, 0, 0}}
	for i := range wantP {
		for j := range wantP {
			if !near(s1.Penalty[i][j], wantP[i][j]) {
				t.Errorf("P[%s][%s] = %v, want %v", s1.Methods[i], s1.Methods[j], s1.Penalty[i][j], wantP[i][j])
			}
		}
	}
	// Setting 2: entropy beats random at 10 and 20 (constant +0.1), not at 30 (0.1, 0.2: t = 3, p = 0.2).
	if !near(s2.Penalty[0][1], 2.0/3) || s2.Penalty[1][0] != 0 {
		t.Errorf("setting 2 matrix %v over %v", s2.Penalty, s2.Methods)
	}
	// Overall: summed over the two settings by method name.
	if rep.OverallCount != 2 || !slices.Equal(rep.OverallMethods, names) {
		t.Fatalf("overall over %v (%d)", rep.OverallMethods, rep.OverallCount)
	}
	if !near(rep.Overall[0][2], 1+2.0/3) || !near(rep.Overall[0][1], 1.0/3) {
		t.Errorf("overall %v", rep.Overall)
	}
	// Stopping: max uncertainty fired at 20 labels in all 3 entropy runs:
	// saves 10 labels and gives up final - acc at 20 = 0.1, 0.05, 0.1.
	if len(ent.Stops) != 2 {
		t.Fatalf("stops %+v", ent.Stops)
	}
	for _, r := range ent.Stops {
		switch r.Criterion {
		case experiments.MaxUncertainty:
			if r.Fired != 3 || r.Of != 3 || !near(r.Saved.Mean, 10) || !near(r.GivenUp.Mean, 0.25/3) || !near(r.StopLabels.Mean, 20) {
				t.Errorf("max uncertainty %+v", r)
			}
		case experiments.ClassificationChange:
			if r.Fired != 0 || r.Of != 3 || r.Saved.N != 0 {
				t.Errorf("classification change %+v", r)
			}
		}
	}
	// Saturation 0.8: mean accuracies at 20 labels (entropy 0.707, margin
	// 0.633, random 0.607) all reach 0.8 x their final means (0.632, 0.6,
	// 0.552), so the matrix keeps the budgets 10 and 20.
	rep2, err := Build(runs, Options{Saturation: 0.8})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rep2.Settings {
		if s.Label == "al.k=1" && !slices.Equal(s.Budgets, []int{10, 20}) {
			t.Errorf("saturation 0.8 keeps budgets %v", s.Budgets)
		}
	}
}

func TestBuildRejects(t *testing.T) {
	root := handRuns(t)
	runs, _, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []Options{{Level: 1.5}, {Alpha: 2}, {Saturation: -1}, {Targets: []float64{0}}} {
		if _, err := Build(runs, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	// The same run given twice.
	if _, err := Build(append(runs, runs[0]), Options{}); err == nil || !strings.Contains(err.Error(), "same run") {
		t.Errorf("duplicate run: %v", err)
	}
	if _, _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no finished runs") {
		t.Errorf("empty folder: %v", err)
	}
	if _, _, err := Load(filepath.Join(root, "nope")); err == nil {
		t.Error("missing folder accepted")
	}
}

func TestWriteReportFromSweep(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.yaml")
	os.WriteFile(base, []byte(`
seeds: [1]
data: {name: blobs, n: 400, classes: 4, dim: 2, noise: 4}
split: {test: 100}
al: {init_size: 8, init_mode: balanced, k: 4, budget: 28}
learner: {backend: testcentroid, model: {name: mlp, hidden: [8]}}
targets: [0.5, 0.9]
stopping:
  stop_set: 50
  criteria: [{name: stabilizing_predictions, window: 2}, {name: overall_uncertainty, threshold: 0.5}, {name: classification_change, threshold: 0.05}, {name: max_uncertainty}]
`), 0o644)
	sw := filepath.Join(dir, "sweep.yaml")
	out := filepath.Join(dir, "out")
	os.WriteFile(sw, []byte("name: tiny\nbase: base.yaml\nout: "+out+"\naxes:\n  - grid: {strategy: [random, entropy, margin], seed: [1, 2, 3]}\n"), 0o644)
	s, err := sweep.Load(sw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sweep.Execute(context.Background(), s, out, sweep.Options{Executor: &sweep.Local{Parallel: 2}}); err != nil {
		t.Fatal(err)
	}
	runs, _, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Build(runs, Options{Title: "tiny sweep"})
	if err != nil {
		t.Fatal(err)
	}
	rdir := filepath.Join(out, "report")
	if d := os.Getenv("ALRL_KEEP_REPORT"); d != "" {
		rdir = d
	}
	if err := Write(rep, rdir); err != nil {
		t.Fatal(err)
	}
	for _, f := range append(slices.Clone(Files), "curves-1.png") {
		if st, err := os.Stat(filepath.Join(rdir, f)); err != nil || st.Size() == 0 {
			t.Errorf("missing %s", f)
		}
	}
	page, _ := os.ReadFile(filepath.Join(rdir, "report.html"))
	// Self-contained: every src is a data: URI; the plot is an embedded SVG.
	for _, m := range regexp.MustCompile(`src="([^"]*)"`).FindAllStringSubmatch(string(page), -1) {
		if !strings.HasPrefix(m[1], "data:image/svg+xml;base64,") {
			t.Errorf("report.html refers to %s", m[1][:min(40, len(m[1]))])
		}
	}
	md, _ := os.ReadFile(filepath.Join(rdir, "report.md"))
	for _, w := range []string{"# tiny sweep", "Paired comparison with random", "Pairwise penalty matrix", "Stopping criteria", "stabilizing_predictions", "![Learning curves"} {
		if !strings.Contains(string(md), w) {
			t.Errorf("report.md lacks %q", w)
		}
	}
	for f, rows := range map[string]int{"summary.csv": 1 + 3*7, "paired.csv": 1 + 2*2, "penalty.csv": 1 + 6 + 3, "stopping.csv": 1 + 3*4, "targets.csv": 1 + 3*2} {
		fh, _ := os.Open(filepath.Join(rdir, f))
		recs, err := csv.NewReader(fh).ReadAll()
		fh.Close()
		if err != nil || len(recs) != rows {
			t.Errorf("%s: %d rows (%v), want %d", f, len(recs), err, rows)
		}
	}
	// The stop criteria were recorded per round and in the summaries.
	for _, r := range runs {
		if len(r.Summary.Stops) != 4 {
			t.Errorf("%s: stops %v", r.Dir, r.Summary.Stops)
		}
		var rounds []experiments.StopRound
		b, _ := os.ReadFile(filepath.Join(r.Dir, "stopping.json"))
		if err := json.Unmarshal(b, &rounds); err != nil || len(rounds) != len(r.Records) {
			t.Errorf("%s: stopping.json %d rounds for %d records (%v)", r.Dir, len(rounds), len(r.Records), err)
		}
	}
}

// writeModelRun writes a finished run folder of one task model: labels 10,
// 20, 30 with the given accuracies and per-round infos (nil = none).
func writeModelRun(t *testing.T, root, variant, strategy string, seed uint64, acc []float64, infos []map[string]any) {
	t.Helper()
	cfg := experiments.Default()
	cfg.Name = "models"
	cfg.Seeds = []uint64{seed}
	cfg.Strategies = []experiments.StrategyConfig{{Name: strategy}}
	n := nas.DefaultConfig()
	switch variant {
	case "inas":
		n.Enabled = true
	case "fixed":
		n.Enabled, n.Search = true, false
	}
	cfg.NAS = &n
	var recs []envs.Record
	for i, a := range acc {
		r := envs.Record{Round: i, Labels: 10 * (i + 1), TestAcc: envs.Float(a), TrainSeconds: 1}
		if infos != nil {
			r.Info = infos[i]
		}
		recs = append(recs, r)
	}
	writeRunFiles(t, filepath.Join(root, variant, strategy, fmt.Sprint(seed)), cfg, recs, nil)
}

// TestByModel compares task models (the CNN, a fixed iNAS architecture and
// the search) within each strategy, and reports the search's architectures.
func TestByModel(t *testing.T) {
	root := t.TempDir()
	infos := []map[string]any{
		{"arch": "1x1 w16", "params": 5000, "nas_trainings": 2, "nas_search_seconds": 4.0, "nas_final_seconds": 1.0},
		{"arch": "2x1 w16", "params": 20000, "nas_trainings": 3, "nas_search_seconds": 6.0, "nas_final_seconds": 1.5},
		{"arch": "2x1 w16", "params": 20000, "nas_trainings": 0, "nas_search_seconds": 0.0, "nas_final_seconds": 0.5},
	}
	for _, st := range []string{"least_confidence", "entropy"} {
		for seed := uint64(1); seed <= 2; seed++ {
			base := []float64{0.5, 0.6 + 0.01*float64(seed), 0.7}
			up := func(d float64) []float64 { return []float64{base[0] + d, base[1] + d, base[2] + d} }
			writeModelRun(t, root, "cnn", st, seed, base, nil)
			writeModelRun(t, root, "fixed", st, seed, up(-0.1), []map[string]any{{"arch": "1x1 w16"}, {"arch": "1x1 w16"}, {"arch": "1x1 w16"}})
			writeModelRun(t, root, "inas", st, seed, up(0.05), infos)
		}
	}
	runs, _, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	// The default groups by strategy: one setting per task model.
	rep, err := Build(runs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Settings) != 3 || len(rep.Settings[0].Groups) != 2 {
		t.Fatalf("by strategy: %d settings, %d groups in the first", len(rep.Settings), len(rep.Settings[0].Groups))
	}
	rep, err = Build(runs, Options{By: []string{ByModel}, Baseline: "cnn"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Settings) != 2 {
		t.Fatalf("by model: %d settings, want one per strategy", len(rep.Settings))
	}
	const inas = "iNAS 1x1 w16, max 3x3"
	for _, s := range rep.Settings {
		var names []string
		for _, g := range s.Groups {
			names = append(names, g.Name)
		}
		if want := []string{"cnn", "fixed 1x1 w16", inas}; !slices.Equal(names, want) {
			t.Fatalf("setting %q: groups %v, want %v", s.Label, names, want)
		}
		if !strings.HasPrefix(s.Label, "strategy=") {
			t.Errorf("setting label %q does not name the strategy", s.Label)
		}
		diffs := map[string]float64{}
		for _, p := range s.Paired {
			if p.Baseline != "cnn" || p.Err != "" {
				t.Fatalf("paired row %+v", p)
			}
			if p.Metric == "aulc" {
				diffs[p.Method] = p.T.MeanDiff
			}
		}
		if !near(diffs[inas], 0.05) || !near(diffs["fixed 1x1 w16"], -0.1) {
			t.Errorf("AULC differences against the CNN: %v", diffs)
		}
		for _, g := range s.Groups {
			if g.Name != inas {
				if g.Name == "cnn" && len(g.Archs) != 0 {
					t.Errorf("cnn has architectures %v", g.Archs)
				}
				continue
			}
			if len(g.Archs) != 2 {
				t.Fatalf("iNAS: %d architecture rows", len(g.Archs))
			}
			a := g.Archs[0]
			if a.Path() != "10: 1x1 w16 -> 20: 2x1 w16" || a.Trainings != 5 || !near(a.SearchSeconds, 10) || !near(a.FinalSeconds, 3) {
				t.Errorf("iNAS seed 1: path %q, %d trainings, search %g s, final %g s", a.Path(), a.Trainings, a.SearchSeconds, a.FinalSeconds)
			}
			if !near(g.Search.Mean, 10) {
				t.Errorf("mean search seconds %g", g.Search.Mean)
			}
		}
	}
	out := t.TempDir()
	if err := Write(rep, out); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	if !strings.Contains(string(md), "Architectures (Active-iNAS)") || !strings.Contains(string(md), "10: 1x1 w16 -> 20: 2x1 w16") {
		t.Errorf("report.md lacks the architecture table")
	}
	if st, err := os.Stat(filepath.Join(out, "architectures-1.png")); err != nil || st.Size() == 0 || !strings.Contains(string(md), "architectures-1.png") {
		t.Errorf("architecture plot missing: %v", err)
	}
	f, _ := os.Open(filepath.Join(out, "architectures.csv"))
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	// Header, then 3 rounds x 2 seeds x 2 strategies for each of iNAS and the fixed architecture.
	if err != nil || len(rows) != 1+2*3*2*2 {
		t.Fatalf("architectures.csv: %d rows, %v", len(rows), err)
	}
	// Generic keys name groups by the keys in which they differ; no baseline, no paired test.
	rep, err = Build(runs, Options{By: []string{"nas"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Settings) != 2 || len(rep.Settings[0].Groups) != 3 || len(rep.Settings[0].Paired) != 0 {
		t.Fatalf("by nas: %d settings", len(rep.Settings))
	}
	for _, g := range rep.Settings[0].Groups {
		if !strings.Contains(g.Name, "nas.") {
			t.Errorf("group name %q does not show its nas keys", g.Name)
		}
	}
	if _, err := Build(runs, Options{By: []string{"seed"}}); err == nil {
		t.Error("by seed: no error")
	}
}

func TestProvenanceBuilds(t *testing.T) {
	const a, b = "0123456789abcdef0123456789abcdef01234567", "fedcba9876543210fedcba9876543210fedcba98"
	torch := map[string]string{"libtorch": "1.13.0"}
	tests := []struct {
		name      string
		sessions  [][]provenance.Session // per run; nil = no provenance.json
		builds    []BuildRow
		noteParts []string
	}{
		{"one build", [][]provenance.Session{{{Commit: a, Backend: torch}}, {{Commit: a, Backend: torch}, {Commit: a, Backend: torch, Resumed: true}}},
			[]BuildRow{{Commit: "0123456789ab", Backend: "libtorch 1.13.0", Runs: 2, Sessions: 3}}, nil},
		{"two builds, one run resumed across them",
			[][]provenance.Session{{{Commit: a, Backend: torch}}, {{Commit: a, Backend: torch}, {Commit: b + "-dirty", Backend: torch, Resumed: true}}, {{Commit: b + "-dirty", Backend: torch}}},
			[]BuildRow{{Commit: "0123456789ab", Backend: "libtorch 1.13.0", Runs: 2, Sessions: 2}, {Commit: "fedcba987654-dirty", Backend: "libtorch 1.13.0", Runs: 2, Sessions: 2}},
			[]string{"2 builds", "0123456789ab (libtorch 1.13.0)", "fedcba987654-dirty", "1 run(s) were resumed under another build"}},
		{"a run without provenance", [][]provenance.Session{{{Commit: a}}, nil},
			[]BuildRow{{Commit: "0123456789ab", Runs: 1, Sessions: 1}, {Commit: noProvenance, Runs: 1}}, []string{"2 builds"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for i, ss := range tc.sessions {
				dir := writeRun(t, root, "random", uint64(i+1), 1, []float64{0.5, 0.6, 0.7}, nil, "budget_spent")
				if ss != nil {
					j, _ := json.Marshal(provenance.File{Sessions: ss})
					if err := os.WriteFile(filepath.Join(dir, "provenance.json"), j, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			runs, _, err := Load(root)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Build(runs, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rep.Builds, tc.builds) {
				t.Errorf("builds %+v, want %+v", rep.Builds, tc.builds)
			}
			notes := strings.Join(rep.Notes, "\n")
			for _, p := range tc.noteParts {
				if !strings.Contains(notes, p) {
					t.Errorf("notes lack %q:\n%s", p, notes)
				}
			}
			if tc.noteParts == nil && strings.Contains(notes, "builds") {
				t.Errorf("one build, yet a note: %s", notes)
			}
			out := t.TempDir()
			if err := Write(rep, out); err != nil {
				t.Fatal(err)
			}
			md, _ := os.ReadFile(filepath.Join(out, "report.md"))
			if !strings.Contains(string(md), "## Provenance") || !strings.Contains(string(md), tc.builds[0].Commit) {
				t.Errorf("report.md has no provenance table naming %s", tc.builds[0].Commit)
			}
		})
	}
}

func TestLoadSummarisesUnfinishedRuns(t *testing.T) {
	root := t.TempDir()
	writeRun(t, root, "random", 1, 1, []float64{0.5, 0.6, 0.7}, nil, "budget_spent")
	for i := range 7 {
		dir := filepath.Join(root, fmt.Sprintf("unfinished-%d", i))
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("al: {k: 3}\n"), 0o644)
	}
	runs, notes, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || len(notes) != 1 {
		t.Fatalf("%d runs, notes %q: want 1 run and one note for the 7 unfinished", len(runs), notes)
	}
	for _, w := range []string{"skipped 7 unfinished run(s)", "unfinished-0", "unfinished-4", "and 2 more"} {
		if !strings.Contains(notes[0], w) {
			t.Errorf("note %q lacks %q", notes[0], w)
		}
	}
	if strings.Contains(notes[0], "unfinished-5") {
		t.Errorf("note %q lists more than 5 folders", notes[0])
	}
}
