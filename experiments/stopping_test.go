package experiments

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/experiments/provenance"
	"github.com/alrl/alrl/learner"
)

// fixedProbs is a learner whose class probabilities are set by the test.
type fixedProbs struct {
	learner.Learner
	rows [][]float64 // by pool index
}

func (f *fixedProbs) Probs(_ context.Context, idx []int) (*mat.Dense, error) {
	out := mat.NewDense(len(idx), len(f.rows[0]), nil)
	for i, j := range idx {
		out.SetRow(i, f.rows[j])
	}
	return out, nil
}

func (f *fixedProbs) NumClasses() int { return len(f.rows[0]) }

func TestStopTrackerHandComputed(t *testing.T) {
	cfg := StoppingConfig{StopSet: 4, Criteria: []CriterionConfig{
		{Name: StabilizingPredictions, Window: 2}, {Name: MaxUncertainty}, {Name: OverallUncertainty, Threshold: 0.2}, {Name: ClassificationChange}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tr := newStopTracker(cfg, []int{0, 1, 2, 3}, 1)
	if len(tr.set) != 4 {
		t.Fatalf("stop set %v", tr.set)
	}
	m := &fixedProbs{rows: [][]float64{{1, 0}, {1, 0}, {0.5, 0.5}, {0, 1}}}
	ctx := context.Background()
	type want struct {
		kappa, maxU, overall, change float64 // NaN = undefined this round
	}
	// Round 0: predictions 0 0 0 1; normalised entropies 0 0 1 0.
	// Round 1: index 2 flips to class 1 (0.4, 0.6; entropy 0.971) and index 0
	// is labeled. Predictions 0 0 1 1 vs 0 0 0 1: po 0.75, pe 0.75*0.5 +
	// 0.25*0.5 = 0.5, kappa 0.5; 1 of 3 unlabeled changed.
	// Round 2: unchanged: kappa 1, mean of the last 2 kappas 0.75; no change.
	// Round 3: unchanged: kappa window mean 1 -> stabilizing fires.
	steps := []struct {
		rows    [][]float64
		labeled []int
		want    want
		fired   []string
	}{
		{nil, nil, want{math.NaN(), 1, 0.25, math.NaN()}, nil},
		{[][]float64{{1, 0}, {1, 0}, {0.4, 0.6}, {0, 1}}, []int{0}, want{math.NaN(), 0.9709505944546686, 0.9709505944546686 / 3, 1.0 / 3}, nil},
		{nil, []int{0}, want{0.75, 0.9709505944546686, 0.9709505944546686 / 3, 0}, []string{ClassificationChange}},
		{nil, []int{0, 2}, want{1, 0, 0, 0}, []string{OverallUncertainty, ClassificationChange, StabilizingPredictions, MaxUncertainty}},
	}
	for r, st := range steps {
		if st.rows != nil {
			m.rows = st.rows
		}
		rec := envs.Record{Round: r, Labels: 10 + r, TestAcc: envs.Float(0.5 + 0.1*float64(r))}
		if _, err := tr.observe(ctx, m, rec, st.labeled); err != nil {
			t.Fatal(err)
		}
		got := tr.state.Rounds[r].Values
		for name, w := range map[string]float64{StabilizingPredictions: st.want.kappa, MaxUncertainty: st.want.maxU,
			OverallUncertainty: st.want.overall, ClassificationChange: st.want.change} {
			g := float64(got[name])
			if !(math.IsNaN(w) && math.IsNaN(g)) && math.Abs(g-w) > 1e-12 {
				t.Errorf("round %d %s = %v, want %v", r, name, g, w)
			}
		}
		for _, name := range st.fired {
			if tr.state.Fired[name] == nil {
				t.Errorf("round %d: %s has not fired", r, name)
			}
		}
	}
	if k := tr.state.Kappas; len(k) != 3 || k[0] != 0.5 || k[1] != 1 || k[2] != 1 {
		t.Errorf("kappas %v", k)
	}
	// Each criterion's stop point is the first round it fired.
	wantStop := map[string]int{OverallUncertainty: 3, ClassificationChange: 2, StabilizingPredictions: 3, MaxUncertainty: 3}
	for name, r := range wantStop {
		if p := tr.stops()[name]; p == nil || p.Round != r || p.Labels != 10+r || math.Abs(float64(p.TestAcc)-(0.5+0.1*float64(r))) > 1e-12 {
			t.Errorf("%s stop point %+v, want round %d", name, p, r)
		}
	}
}

func TestStoppingConfigErrors(t *testing.T) {
	tests := []struct {
		yaml string
		want string
	}{
		{"stopping: {criteria: [{name: patience}]}", "stopping.criteria[0].name"},
		{"stopping: {criteria: [{name: max_uncertainty}, {name: max_uncertainty}]}", "twice"},
		{"stopping: {criteria: [{name: max_uncertainty, threshold: 2}]}", "threshold"},
		{"stopping: {stop: max_uncertainty}", "stopping.stop"},
		{"stopping: {stop_set: -1}", "stop_set"},
	}
	for _, tc := range tests {
		_, err := Parse("t.yaml", []byte(tc.yaml), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.yaml, err, tc.want)
		}
	}
	// No stopping section: the resolved config has none either.
	cfg := Default()
	b, _ := cfg.YAML()
	if strings.Contains(string(b), "stopping") {
		t.Errorf("default config renders a stopping section:\n%s", b)
	}
}

func TestRunStopsAtCriterion(t *testing.T) {
	cfg := runTestConfig(t)
	cfg.Seeds = []uint64{1}
	cfg.Strategies = cfg.Strategies[:1]
	cfg.AL.Budget = 42
	cfg.Stopping = StoppingConfig{StopSet: 50, Stop: "any", Criteria: []CriterionConfig{{Name: ClassificationChange, Threshold: 0.2}, {Name: StabilizingPredictions, Window: 1, Threshold: 0.9}}}
	res, err := Run(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := res[0].Summary
	if !strings.HasPrefix(s.EndReason, StoppedBy) || s.Labels >= 42 {
		t.Fatalf("run ended %q at %d labels; want a stop before the budget", s.EndReason, s.Labels)
	}
	name := strings.TrimPrefix(s.EndReason, StoppedBy)
	if p := s.Stops[name]; p == nil || p.Labels != s.Labels || p.Round != s.Rounds {
		t.Errorf("stop point %+v for a run that ended at round %d", p, s.Rounds)
	}
	// Recorded per round.
	if b, err := os.ReadFile(filepath.Join(res[0].Dir, "stopping.json")); err != nil || !strings.Contains(string(b), ClassificationChange) {
		t.Errorf("stopping.json: %v\n%s", err, b)
	}
}

func TestReproduce(t *testing.T) {
	cfg := runTestConfig(t)
	cfg.Seeds = []uint64{2}
	cfg.Strategies = cfg.Strategies[:1]
	res, err := Run(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := res[0].Dir
	rep, err := Reproduce(context.Background(), dir, filepath.Join(t.TempDir(), "again"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Matched != 5 || len(rep.Environment) != 0 {
		t.Fatalf("reproduction:\n%s", rep.Summary())
	}
	// Tamper with round 2 of the original: the rerun reports it.
	recs := readRounds(t, dir)
	recs[2].TestAcc += 0.01
	recs[3].Chosen[0], recs[3].Chosen[1] = recs[3].Chosen[1], recs[3].Chosen[0]
	var lines []byte
	for _, r := range recs {
		b, _ := json.Marshal(r)
		lines = append(append(lines, b...), '\n')
	}
	if err := os.WriteFile(filepath.Join(dir, "rounds.jsonl"), lines, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err = Reproduce(context.Background(), dir, filepath.Join(t.TempDir(), "again"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Matched != 3 || rep.Rounds[2].Match || rep.Rounds[3].Match ||
		!strings.Contains(rep.Rounds[2].Diffs[0], "test_acc") || !strings.Contains(rep.Rounds[3].Diffs[0], "chosen: 2 of 4") {
		t.Errorf("tampered reproduction:\n%s", rep.Summary())
	}
	if _, err := Reproduce(context.Background(), dir, dir, Options{}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("reproducing into a full folder: %v", err)
	}
}

func TestResumeKeepsStoppingState(t *testing.T) {
	cfgA := runTestConfig(t)
	cfgA.Seeds = []uint64{3}
	cfgA.Strategies = cfgA.Strategies[:1]
	cfgA.Stopping = StoppingConfig{StopSet: 40, Criteria: []CriterionConfig{{Name: StabilizingPredictions, Window: 2, Threshold: 0.8},
		{Name: ClassificationChange, Threshold: 0.1}, {Name: OverallUncertainty, Threshold: 0.5}}}
	cfgB := cfgA
	cfgB.Out = t.TempDir()
	a, err := Run(context.Background(), cfgA, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := Run(ctx, cfgB, interruptAfter(2, cancel)); err == nil {
		t.Fatal("interrupted run returned no error")
	}
	b, err := Run(context.Background(), cfgB, Options{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	sa, _ := os.ReadFile(filepath.Join(a[0].Dir, "stopping.json"))
	sb, _ := os.ReadFile(filepath.Join(b[0].Dir, "stopping.json"))
	if string(sa) != string(sb) || len(sa) == 0 {
		t.Errorf("stopping.json after resume differs:\n%s\nvs\n%s", sa, sb)
	}
	ja, _ := json.Marshal(a[0].Summary.Stops)
	jb, _ := json.Marshal(b[0].Summary.Stops)
	if string(ja) != string(jb) {
		t.Errorf("stop points %s vs %s", ja, jb)
	}
	// A resumed session is recorded in the provenance.
	p, err := provenance.Read(b[0].Dir)
	if err != nil || len(p.Sessions) != 2 || !p.Sessions[1].Resumed || p.Sessions[1].FromRound != 3 {
		t.Errorf("provenance %+v %v", p, err)
	}
}
