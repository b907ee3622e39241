package experiments

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/internal/testlearner"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/nas"
	"github.com/alrl/alrl/trainers"
)

func init() {
	learner.RegisterBackend("testdepth", "test learner that gets better with more residual blocks", func(in datasets.Inputs, c int, cfg learner.Config) (learner.Learner, error) {
		k := 0
		for _, l := range cfg.Model.Layers {
			if l.Type == "resdense" || l.Type == "resblock" {
				k++
			}
		}
		return depthLearner{testlearner.New(in, c), k}, nil
	})
}

// depthLearner is the nearest-centroid learner made wrong on every pool
// index divisible by k+1, k being its network's residual block count: the
// deeper, the more accurate (1 - 1/(k+1) at best).
type depthLearner struct {
	*testlearner.Learner
	k int
}

func (l depthLearner) Probs(ctx context.Context, idx []int) (*mat.Dense, error) {
	p, err := l.Learner.Probs(ctx, idx)
	if err != nil {
		return nil, err
	}
	_, c := p.Dims()
	for i, j := range idx {
		if j%(l.k+1) == 0 {
			row := append([]float64(nil), p.RawRowView(i)...)
			for k := range row {
				p.Set(i, (k+1)%c, row[k])
			}
		}
	}
	return p, nil
}

func nasTestConfig(t *testing.T) Config {
	cfg := runTestConfig(t)
	cfg.Learner.Backend = "testdepth"
	n := nas.DefaultConfig()
	cfg.NAS = &n
	cfg.NAS.Enabled = true
	cfg.NAS.Width = 4
	cfg.NAS.MaxStacks, cfg.NAS.MaxBlocks = 2, 2
	cfg.NAS.Holdout = 0.5 // score candidates on half of the labeled set
	// Labeled sets large enough for the held-out half to tell depths apart.
	cfg.AL = envs.Config{InitSize: 20, InitMode: "balanced", K: 10, Budget: 70}
	cfg.Seeds = []uint64{3}
	cfg.Strategies = cfg.Strategies[:1]
	return cfg
}

func TestNASRunRecordsArchitectureAndResumes(t *testing.T) {
	cfgA := nasTestConfig(t)
	resA, err := Run(context.Background(), cfgA, Options{})
	if err != nil {
		t.Fatal(err)
	}
	recs := readRounds(t, resA[0].Dir)
	var archs []string
	for _, r := range recs {
		a, ok := r.Info["arch"].(string)
		if !ok {
			t.Fatalf("round %d: no info.arch in %v", r.Round, r.Info)
		}
		archs = append(archs, a)
		if n, _ := r.Info["nas_trainings"].(float64); r.Round == 0 && n != 3 {
			t.Errorf("round 0 trained %v candidates, want 3", r.Info["nas_trainings"])
		}
	}
	// One residual block: wrong on every second index; two: every third;
	// three or more: every fourth and rarer. Bounds 2x2 = 4 blocks.
	if archs[0] == "1x1 w4" || archs[len(archs)-1] != "2x2 w4" {
		t.Errorf("architectures per round %v: want growth from 1x1 w4 to the bound 2x2 w4", archs)
	}
	sum := resA[0].Summary
	if !strings.Contains(sum.Learner, "Active-iNAS tabular 2x2 w4") {
		t.Errorf("summary learner %q does not name the final architecture", sum.Learner)
	}
	// Only the last round's weights and architecture file are kept.
	ents, _ := os.ReadDir(filepath.Join(resA[0].Dir, "checkpoint"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"state.json", "weights-0005.bin", "weights-0005.bin.nas.json"}) {
		t.Errorf("checkpoint folder holds %v", names)
	}

	// Interrupted after round 2, then resumed: the same architectures and numbers.
	cfgB := cfgA
	cfgB.Out = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := Run(ctx, cfgB, interruptAfter(2, cancel)); err == nil {
		t.Fatal("interrupted run returned no error")
	}
	resB, err := Run(context.Background(), cfgB, Options{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	b := readRounds(t, resB[0].Dir)
	for i, r := range b {
		if r.Info["arch"] != archs[i] || r.TestAcc != recs[i].TestAcc || !slices.Equal(r.Chosen, recs[i].Chosen) {
			t.Errorf("round %d: resumed %v acc %v, uninterrupted %v acc %v", i, r.Info["arch"], r.TestAcc, archs[i], recs[i].TestAcc)
		}
	}
}

func TestNASConfig(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // nil = valid
	}{
		{"enabled", "nas: {enabled: true, max_stacks: 2, width: 8}", nil},
		{"unknown key", "nas: {max_stack: 2}", []string{"nas.max_stack", "unknown key"}},
		{"bad value", "nas: {enabled: true, holdout: 1.5}", []string{"nas.holdout"}},
		{"start above bound", "nas: {stacks: 4, max_stacks: 3}", []string{"nas.stacks"}},
		{"search without a labeled holdout", "nas: {enabled: true, holdout: 0}\nsplit: {val: 0}", []string{"nas.holdout", "labels outside the budget"}},
		{"fixed architecture without a validation split", "nas: {enabled: true, search: false, holdout: 0}\nsplit: {val: 0}", nil},
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
	// Without a nas section the resolved config has none (runs started
	// before Active-iNAS existed still resume); with one it is written out.
	y, err := Default().YAML()
	if err != nil || strings.Contains(string(y), "nas:") {
		t.Errorf("default config YAML mentions nas (%v):\n%s", err, y)
	}
	c, err := Parse("t.yaml", []byte("nas: {enabled: true}"), []string{"nas.width=8"})
	if err != nil || c.NAS == nil || c.NAS.Width != 8 || c.NAS.MaxStacks != 3 || !c.NAS.Search {
		t.Fatalf("nas section with defaults and an override: %+v, %v", c.NAS, err)
	}
	if c, err := Parse("t.yaml", nil, []string{"nas.enabled=true"}); err != nil || !c.NASEnabled() || c.NAS.Width != 16 {
		t.Errorf("--set nas.enabled=true without a nas section: %+v, %v", c.NAS, err)
	}
	if y, _ := c.YAML(); !strings.Contains(string(y), "nas:") || !strings.Contains(string(y), "width: 8") {
		t.Errorf("resolved YAML lacks the nas section:\n%s", y)
	}
	// Enabled on image data with learner.model naming a network the data
	// cannot take: the nas networks replace it, so the run builds.
	cfg := nasTestConfig(t)
	cfg.Learner.Model = learner.ModelSpec{Name: "cnn"} // would not resolve on 2-D blobs
	cfg.AL.Budget = 30
	if _, err := Run(context.Background(), cfg, Options{}); err != nil {
		t.Fatalf("nas run with an unused learner.model: %v", err)
	}
}

// TestNASWithTrainers: Active-iNAS under trainers that never call Fit after
// the first round (CEAL's weighted fits): the environment runs the search
// each round, so the architecture still grows and every round records it.
func TestNASWithTrainers(t *testing.T) {
	cfg := nasTestConfig(t)
	cfg.Trainer = trainers.Config{Name: "ceal", Options: map[string]any{"delta": 0.5}}
	res, err := Run(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	recs := readRounds(t, res[0].Dir)
	searched := 0
	for _, r := range recs {
		if _, ok := r.Info["arch"].(string); !ok {
			t.Fatalf("round %d: no info.arch in %v", r.Round, r.Info)
		}
		if _, ok := r.Info["pseudo_labels"]; !ok {
			t.Fatalf("round %d: no CEAL pseudo-label record in %v", r.Round, r.Info)
		}
		if n, _ := r.Info["nas_trainings"].(float64); n > 0 {
			searched++
		}
	}
	if last := recs[len(recs)-1].Info["arch"]; last != "2x2 w4" || searched < 2 {
		t.Errorf("with CEAL: last architecture %v, %d rounds searched; want growth to 2x2 w4 over several searches", last, searched)
	}
}
