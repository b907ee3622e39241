package trainers_test

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/alrl/alrl/agents"
	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/internal/testlearner"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/trainers"
)

type fixture struct {
	data  *datasets.Dataset
	split datasets.Split
}

func blobs(t *testing.T, seed uint64) fixture {
	t.Helper()
	d, err := datasets.Blobs(300, 3, 2, 1.0, seed)
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.Split(seed, datasets.SplitConfig{ValSize: 30, TestSize: 60})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{d, s}
}

func newTrainer(t *testing.T, f fixture, c trainers.Config) envs.Trainer {
	t.Helper()
	tr, err := trainers.New(c, trainers.Setup{Inputs: f.data.Inputs(), Pool: f.split.Pool, NumClasses: f.data.NumClasses})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// episode is one run of an environment with a trainer, acting with a strategy.
type episode struct {
	records []envs.Record
	chosen  [][]int
	// trainedOn[r] is the weighted set the learner trained on in round r.
	trainedOn []learner.Weighted
	labeled   [][]int // labeled set after each round
}

// run plays a whole episode with the heuristic strategy and checks the
// budget invariants after every step.
func run(t *testing.T, f fixture, tr envs.Trainer, strategy string, seed uint64) episode {
	t.Helper()
	l := testlearner.New(f.data.Inputs(), f.data.NumClasses)
	cfg := envs.Config{InitSize: 6, InitMode: "random", K: 5, Budget: 41}
	e, err := envs.New(f.data, f.split, l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.SetTrainer(tr)
	ag, err := agents.NewHeuristic(strategy, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ep episode
	note := func(rec envs.Record) {
		ep.records = append(ep.records, rec)
		ep.trainedOn = append(ep.trainedOn, l.LastWeighted)
		l.LastWeighted = learner.Weighted{}
		ep.labeled = append(ep.labeled, e.Labeled())
		// Pseudo-labels never reach the oracle, the labeled set or the budget.
		if got, want := e.Oracle().Count(), cfg.InitSize+cfg.K*rec.Round; got != want || len(e.Labeled()) != want || rec.Labels != want {
			t.Fatalf("round %d: oracle count %d, labeled %d, record labels %d; want %d each", rec.Round, got, len(e.Labeled()), rec.Labels, want)
		}
	}
	obs, rec, err := e.Reset(context.Background(), seed)
	if err != nil {
		t.Fatal(err)
	}
	note(rec)
	for e.Done() == envs.NotDone {
		act, err := ag.Act(context.Background(), obs)
		if err != nil {
			t.Fatal(err)
		}
		ep.chosen = append(ep.chosen, act)
		obs, _, _, rec, err = e.Step(context.Background(), act)
		if err != nil {
			t.Fatal(err)
		}
		note(rec)
	}
	return ep
}

func TestCEALPseudoLabelsStayOutOfTheLabeledSet(t *testing.T) {
	f := blobs(t, 3)
	tr := newTrainer(t, f, trainers.Config{Name: "ceal", Options: map[string]any{"delta": 0.05, "delta_decay": 0.002}})
	ep := run(t, f, tr, "entropy", 3)
	total := 0
	for r, rec := range ep.records {
		if rec.Info == nil {
			t.Fatalf("round %d has no info", r)
		}
		n := int(rec.Info["pseudo_labels"].(float64))
		wantDelta := 0.05
		if r > 0 {
			wantDelta = 0.05 - 0.002*float64(r-1)
		}
		if d := rec.Info["delta"].(float64); math.Abs(d-wantDelta) > 1e-12 {
			t.Errorf("round %d: delta %v, want %v", r, d, wantDelta)
		}
		if r == 0 {
			if n != 0 {
				t.Errorf("round 0 used %d pseudo-labels; CEAL starts from the labeled set only", n)
			}
			continue
		}
		labeled := map[int]bool{}
		for _, i := range ep.labeled[r] {
			labeled[i] = true
		}
		// The learner trained on the labeled set plus exactly n pseudo-labeled
		// unlabeled samples.
		tw := ep.trainedOn[r]
		pseudo := 0
		for _, i := range tw.Idx {
			if !labeled[i] {
				pseudo++
			}
		}
		if tw.Len() != len(ep.labeled[r])+n || pseudo != n {
			t.Errorf("round %d: trained on %d samples (%d unlabeled), want %d labeled + %d pseudo-labeled", r, tw.Len(), pseudo, len(ep.labeled[r]), n)
		}
		if n > 0 {
			if acc, ok := rec.Info["pseudo_acc"].(envs.Float); !ok || acc < 0 || acc > 1 {
				t.Errorf("round %d: pseudo_acc %v", r, rec.Info["pseudo_acc"])
			}
		}
		total += n
	}
	if total == 0 {
		t.Fatal("no round used pseudo-labels; the test does not exercise CEAL")
	}
}

// The hidden labels of samples that are never acquired must not change
// anything but the diagnostic: permuting them leaves every choice and every
// pseudo-label as it was.
func TestHiddenTruthOnlyReachesTheDiagnostic(t *testing.T) {
	f := blobs(t, 5)
	c := trainers.Config{Name: "ceal", Options: map[string]any{"delta": 0.05}}
	a := run(t, f, newTrainer(t, f, c), "entropy", 5)
	acquired := map[int]bool{}
	for _, i := range a.labeled[len(a.labeled)-1] {
		acquired[i] = true
	}
	// Relabel every never-acquired pool sample (cyclic shift of its class).
	g := fixture{data: &datasets.Dataset{}, split: f.split}
	*g.data = *f.data
	g.data.Y = slices.Clone(f.data.Y)
	changed := 0
	for _, i := range f.split.Pool {
		if !acquired[i] {
			g.data.Y[i] = (g.data.Y[i] + 1) % g.data.NumClasses
			changed++
		}
	}
	b := run(t, g, newTrainer(t, g, c), "entropy", 5)
	if !slices.EqualFunc(a.chosen, b.chosen, slices.Equal[[]int]) {
		t.Fatal("the chosen samples depend on the hidden labels of unlabeled samples")
	}
	differs := false
	for r := range a.records {
		ta, tb := a.trainedOn[r], b.trainedOn[r]
		if !slices.Equal(ta.Idx, tb.Idx) || !slices.Equal(ta.Y, tb.Y) {
			t.Fatalf("round %d: the training data depend on the hidden labels", r)
		}
		if a.records[r].TestAcc != b.records[r].TestAcc {
			t.Fatalf("round %d: the model depends on the hidden labels", r)
		}
		pa, pb := a.records[r].Info["pseudo_acc"], b.records[r].Info["pseudo_acc"]
		if pa != pb {
			differs = true
		}
	}
	if changed == 0 || !differs {
		t.Fatalf("relabeling %d samples changed no pseudo-label accuracy: the diagnostic does not read the truth", changed)
	}
}

// fixedPseudo is a trainer that claims given pseudo-labels.
type fixedPseudo struct {
	pseudo func(r envs.TrainRound) learner.Weighted
}

func (fixedPseudo) Name() string { return "fixed" }

func (p fixedPseudo) Train(ctx context.Context, r envs.TrainRound) (envs.TrainResult, error) {
	st, err := r.Model.Fit(ctx, r.Labeled, r.Val, r.Seed)
	return envs.TrainResult{Stats: st, Pseudo: p.pseudo(r), PseudoLabeling: true}, err
}

func TestPseudoLabelDiagnostic(t *testing.T) {
	f := blobs(t, 7)
	cfg := envs.Config{InitSize: 6, InitMode: "random", K: 5, Budget: 20}
	truth := f.data.Y
	tests := []struct {
		name    string
		pseudo  func(r envs.TrainRound) learner.Weighted
		acc     float64
		wacc    float64
		wantErr string
	}{
		{"half right, weighted", func(r envs.TrainRound) learner.Weighted {
			u := r.Unlabeled[:4]
			c := 3 // number of classes
			return learner.Weighted{Idx: u, Y: []int{truth[u[0]], truth[u[1]], (truth[u[2]] + 1) % c, (truth[u[3]] + 1) % c},
				W: []float64{3, 1, 1, 1}}
		}, 0.5, 4.0 / 6, ""},
		{"none", func(envs.TrainRound) learner.Weighted { return learner.Weighted{} }, math.NaN(), math.NaN(), ""},
		{"on a labeled sample", func(r envs.TrainRound) learner.Weighted {
			return learner.Weighted{Idx: r.Labeled.Idx[:1], Y: []int{0}}
		}, 0, 0, "is labeled"},
		{"twice", func(r envs.TrainRound) learner.Weighted {
			return learner.Weighted{Idx: []int{r.Unlabeled[0], r.Unlabeled[0]}, Y: []int{0, 0}}
		}, 0, 0, "twice"},
		{"validation sample", func(r envs.TrainRound) learner.Weighted {
			return learner.Weighted{Idx: r.Val.Idx[:1], Y: []int{0}}
		}, 0, 0, "not in the pool"},
		{"bad class", func(r envs.TrainRound) learner.Weighted {
			return learner.Weighted{Idx: r.Unlabeled[:1], Y: []int{7}}
		}, 0, 0, "outside"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := envs.New(f.data, f.split, testlearner.New(f.data.Inputs(), 3), cfg)
			if err != nil {
				t.Fatal(err)
			}
			e.SetTrainer(fixedPseudo{tc.pseudo})
			_, rec, err := e.Reset(context.Background(), 1)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			acc, wacc := float64(rec.Info["pseudo_acc"].(envs.Float)), float64(rec.Info["pseudo_weighted_acc"].(envs.Float))
			if !close(acc, tc.acc) || !close(wacc, tc.wacc) {
				t.Errorf("pseudo_acc %v weighted %v, want %v and %v", acc, wacc, tc.acc, tc.wacc)
			}
		})
	}
}

func close(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) < 1e-12
}

func TestRegistryAndOptions(t *testing.T) {
	for _, name := range []string{"supervised", "ceal", "ssal", "vaal", "learning_loss"} {
		if !slices.Contains(trainers.Names(), name) {
			t.Errorf("trainer %s is not registered (have %v)", name, trainers.Names())
		}
	}
	tests := []struct {
		c    trainers.Config
		want []string // error substrings; nil = valid
	}{
		{trainers.Config{}, nil},
		{trainers.Config{Name: "ceal", Options: map[string]any{"delta": 0.01}}, nil},
		{trainers.Config{Name: "nope"}, []string{`"nope"`, "ceal", "supervised"}},
		{trainers.Config{Name: "ceal", Options: map[string]any{"dleta": 1}}, []string{`"dleta"`, "delta_decay"}},
		{trainers.Config{Name: "ceal", Options: map[string]any{"delta": "big"}}, []string{"delta", "number"}},
		{trainers.Config{Name: "ceal", Options: map[string]any{"delta": -1}}, []string{"delta"}},
		{trainers.Config{Name: "ssal", Options: map[string]any{"alpha": 1.5}}, []string{"alpha"}},
		{trainers.Config{Name: "ssal", Options: map[string]any{"dc_clusters": 1}}, []string{"dc_clusters"}},
		{trainers.Config{Name: "vaal", Options: map[string]any{"channels": []any{32, "x"}}}, []string{"channels"}},
		{trainers.Config{Name: "vaal", Options: map[string]any{"latent": 0}}, []string{"latent"}},
		{trainers.Config{Name: "learning_loss", Options: map[string]any{"stop_grad_fraction": 2}}, []string{"stop_grad_fraction"}},
		{trainers.Config{Name: "learning_loss", Options: map[string]any{"taps": []any{2, 6}}}, nil},
	}
	for _, tc := range tests {
		err := tc.c.Validate()
		if tc.want == nil {
			if err != nil {
				t.Errorf("%+v: %v", tc.c, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%+v: no error", tc.c)
			continue
		}
		for _, s := range tc.want {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%+v: error %q does not mention %q", tc.c, err, s)
			}
		}
	}
	if got := trainers.TrainedBy(learner.CapVAAL); got != "vaal" {
		t.Errorf("TrainedBy(vaal_scores) = %q", got)
	}
	if got := trainers.TrainedBy(learner.CapProbs); got != "" {
		t.Errorf("TrainedBy(probabilities) = %q", got)
	}
}

// A trainer whose capability the learner lacks fails with a capability error.
func TestMissingCapability(t *testing.T) {
	f := blobs(t, 1)
	for _, name := range []string{"learning_loss", "vaal", "ssal"} {
		tr := newTrainer(t, f, trainers.Config{Name: name})
		e, err := envs.New(f.data, f.split, testlearner.New(f.data.Inputs(), 3), envs.Config{InitSize: 6, InitMode: "random", K: 5, Budget: 20})
		if err != nil {
			t.Fatal(err)
		}
		e.SetTrainer(tr)
		_, _, err = e.Reset(context.Background(), 1)
		if err == nil || !learner.IsCapabilityError(err) {
			t.Errorf("%s on the test learner: %v, want a capability error", name, err)
		}
	}
}
