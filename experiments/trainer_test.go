package experiments

import (
	"context"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/trainers"
)

func TestTrainerConfig(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // error substrings; nil = valid
	}{
		{"default supervised", "", nil},
		{"ceal", "trainer: {name: ceal, options: {delta: 0.01}}", nil},
		{"unknown trainer", "trainer: {name: cael}", []string{"trainer", `"cael"`, "ceal"}},
		{"unknown option", "trainer: {name: ceal, options: {dleta: 1}}", []string{"trainer", `"dleta"`}},
		{"unknown key", "trainer: {nam: ceal}", []string{"trainer.nam"}},
		{"vaal strategy without its trainer", "strategies: [{name: vaal}]", []string{"strategies[0]", "vaal_scores", "trainer: {name: vaal}"}},
		{"vaal strategy with its trainer", "trainer: {name: vaal}\nstrategies: [{name: vaal}]", nil},
		{"per-strategy trainer", "strategies: [{name: vaal, trainer: {name: vaal}}, {name: random}]", nil},
		{"learning loss without its trainer", "strategies: [{name: learning_loss}]", []string{"strategies[0]", "learning_loss"}},
		{"per-strategy options without name", "strategies: [{name: random, trainer: {options: {delta: 1}}}]", []string{"strategies[0].trainer", "name"}},
		{"per-strategy bad trainer", "strategies: [{name: random, trainer: {name: x}}]", []string{"strategies[0].trainer", `"x"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.yaml), nil)
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
	cfg, err := Parse("t.yaml", []byte("trainer: {name: ceal}\nstrategies: [{name: random, label: r-ssal, trainer: {name: ssal}}, {name: random}]"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.TrainerOf(cfg.Strategies[0]).ID(); got != "ssal" {
		t.Errorf("strategy's own trainer: %s", got)
	}
	if got := cfg.TrainerOf(cfg.Strategies[1]).ID(); got != "ceal" {
		t.Errorf("experiment's trainer: %s", got)
	}
}

// sameRounds reports every difference between two runs' records, ignoring times.
func sameRounds(t *testing.T, dir string, a, b []envs.Record) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d vs %d rounds", dir, len(a), len(b))
	}
	for j := range a {
		ra, rb := a[j], b[j]
		if ra.Round != rb.Round || ra.Labels != rb.Labels || ra.TestAcc != rb.TestAcc || ra.TestLoss != rb.TestLoss ||
			!sameFloat(ra.ValAcc, rb.ValAcc) || ra.Epochs != rb.Epochs || !slices.Equal(ra.Chosen, rb.Chosen) ||
			!(ra.Reward == rb.Reward || (math.IsNaN(float64(ra.Reward)) && math.IsNaN(float64(rb.Reward)))) ||
			!reflect.DeepEqual(ra.Info, rb.Info) {
			t.Errorf("%s round %d:\nuninterrupted %+v\n      resumed %+v", dir, j, ra, rb)
		}
	}
}

// resumeEqualsUninterrupted runs cfg whole, then again interrupted after
// round `stop` and resumed, and compares every round's record.
func resumeEqualsUninterrupted(t *testing.T, cfg Config, stop int, modB func(*Config)) []envs.Record {
	t.Helper()
	cfgB := cfg
	cfgB.Out = t.TempDir()
	if modB != nil {
		modB(&cfgB)
	}
	resA, err := Run(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := Run(ctx, cfgB, interruptAfter(stop, cancel)); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("interrupted run: err = %v", err)
	}
	resB, err := Run(context.Background(), cfgB, Options{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	var first []envs.Record
	for i := range resA {
		a, b := readRounds(t, resA[i].Dir), readRounds(t, resB[i].Dir)
		sameRounds(t, resB[i].Dir, a, b)
		if i == 0 {
			first = a
		}
		if resA[i].Summary.Trainer != resB[i].Summary.Trainer || resA[i].Summary.FinalAcc != resB[i].Summary.FinalAcc {
			t.Errorf("summaries differ: %+v vs %+v", resA[i].Summary, resB[i].Summary)
		}
	}
	return first
}

func TestCEALRunResumes(t *testing.T) {
	cfg := runTestConfig(t)
	cfg.Seeds = []uint64{4}
	cfg.Strategies = cfg.Strategies[:1]
	cfg.Trainer = trainers.Config{Name: "ceal", Options: map[string]any{"delta": 0.05}}
	recs := resumeEqualsUninterrupted(t, cfg, 2, nil)
	used := 0.0
	for _, r := range recs {
		used += r.Info["pseudo_labels"].(float64)
	}
	if used == 0 {
		t.Error("no pseudo-labels in the CEAL run; the resume check does not cover them")
	}
	sum, err := ReadSummary(RunDir(cfg.Out, cfg.Strategies[0], 4))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Trainer != "ceal" {
		t.Errorf("summary trainer %q, want ceal", sum.Trainer)
	}
}

func TestRunRejectsTrainerWithoutCapability(t *testing.T) {
	cfg := runTestConfig(t)
	cfg.Seeds = []uint64{1}
	cfg.Strategies = cfg.Strategies[:1]
	cfg.Trainer = trainers.Config{Name: "learning_loss"}
	_, err := Run(context.Background(), cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "predicted_loss") || !strings.Contains(err.Error(), "torch") {
		t.Errorf("learning_loss on the test learner: %v", err)
	}
}

func TestRunRejectsSSALPretrainingWithoutCapability(t *testing.T) {
	cfg := runTestConfig(t)
	cfg.Seeds = []uint64{1}
	cfg.Strategies = cfg.Strategies[:1]
	cfg.Trainer = trainers.Config{Name: "ssal", Options: map[string]any{"cache_dir": t.TempDir()}}
	_, err := Run(context.Background(), cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "trainer ssal needs") {
		t.Errorf("ssal with pre-training on the test learner: %v", err)
	}
	// Without pre-training the test learner has what SSAL needs.
	cfg.Out = t.TempDir()
	cfg.Trainer.Options["pretrain"] = false
	cfg.Trainer.Options["ss_epochs"] = 2
	cfg.Trainer.Options["k"] = 5
	if _, err := Run(context.Background(), cfg, Options{}); err != nil {
		t.Fatalf("ssal without pre-training on the test learner: %v", err)
	}
	recs := readRounds(t, RunDir(cfg.Out, cfg.Strategies[0], 1))
	if n, _ := recs[len(recs)-1].Info["pseudo_labels"].(float64); n == 0 {
		t.Errorf("ssal recorded no pseudo-labels: %v", recs[len(recs)-1].Info)
	}
}
