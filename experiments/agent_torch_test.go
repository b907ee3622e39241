//go:build torch

package experiments

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/learner"

	"github.com/alrl/alrl/agents"
	_ "github.com/alrl/alrl/agents/torchnet"
)

func TestTrainLearningAgentsEndToEnd(t *testing.T) {
	for _, name := range []string{agents.KindPG, agents.KindDQN} {
		t.Run(name, func(t *testing.T) {
			cfg := agentTestConfig(t)
			cfg.Agent.Name, cfg.Agent.Episodes, cfg.Agent.CheckpointEvery = name, 3, 2
			cfg.Agent.Features = []string{"max_prob", "entropy", "bald", "knn_dist", "density", "strategy:margin"}
			cfg.Agent.PG.BatchEpisodes = 1
			cfg.Agent.DQN.Warmup, cfg.Agent.DQN.Batch = 8, 8
			cfg.Agent.Stream.Length = 30
			res, err := Run(context.Background(), cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 2 || res[1].Summary.Strategy != name || res[1].Summary.Labels != 22 {
				t.Fatalf("results %+v", res)
			}
			eps, err := ReadEpisodes(filepath.Join(AgentDir(cfg.Out), "train.jsonl"))
			if err != nil || len(eps) != 3 {
				t.Fatalf("%d episodes (%v)", len(eps), err)
			}
			pf, err := agents.ReadPolicy(PolicyPath(cfg.Out))
			if err != nil || pf.Kind != name || pf.Training.Episodes != 3 {
				t.Errorf("policy file %+v (%v)", pf, err)
			}
		})
	}
}

// TestTrainImitationEndToEnd trains the imitation agent on a synthetic task
// mix and a blobs source in turn, resumes it exactly from a checkpoint, and
// evaluates the policy next to random.
func TestTrainImitationEndToEnd(t *testing.T) {
	mk := func(t *testing.T) Config {
		cfg := agentTestConfig(t)
		a := cfg.Agent
		a.Name, a.Episodes, a.CheckpointEvery, a.Candidates = agents.KindImitation, 4, 2, 0
		a.Imitation.Preselect, a.Imitation.Steps, a.Imitation.Batch, a.Imitation.ExpertIters = 10, 5, 4, 10
		r := datasets.DefaultTaskRanges()
		r.N, r.Classes, r.Dim = 400, [2]int{2, 4}, [2]int{2, 6}
		a.Tasks = []AgentTask{
			{Synthetic: &r, Split: SplitConfig{Pool: 200, Val: 60, Test: 60}},
			{Source: &datasets.Source{Name: "blobs", N: 400, Classes: 3, Dim: 2, Noise: 2}, Split: SplitConfig{Pool: 200, Val: 60, Test: 60}},
		}
		cfg.Data = datasets.Source{Name: "moons", N: 300, Noise: 0.2}
		return cfg
	}
	cfg := mk(t)
	res, err := Run(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[1].Summary.Strategy != agents.KindImitation || res[1].Summary.Labels != 22 {
		t.Fatalf("results %+v", res)
	}
	eps, err := ReadEpisodes(filepath.Join(AgentDir(cfg.Out), "train.jsonl"))
	if err != nil || len(eps) != 4 {
		t.Fatalf("%d episodes (%v)", len(eps), err)
	}
	for i, e := range eps {
		want := []string{"synthetic", "blobs"}[i%2]
		if e.Task != want || e.Stats["expert_refits"] <= 0 || e.Labels != 22 {
			t.Errorf("episode %d: task %q, stats %v, labels %d", i, e.Task, e.Stats, e.Labels)
		}
	}
	pf, err := agents.ReadPolicy(PolicyPath(cfg.Out))
	if err != nil || pf.Kind != agents.KindImitation || pf.Training.Episodes != 4 {
		t.Fatalf("policy file %+v (%v)", pf, err)
	}
	// Training interrupted after the first checkpoint and resumed writes the same policy.
	cut := mk(t)
	cut.Agent.Evaluate = false
	ctx, cancel := context.WithCancel(context.Background())
	ctx = learner.WithProgress(ctx, func(stage string, done, _ int) {
		if stage == "agent" && done == 2 {
			cancel()
		}
	})
	if _, err := TrainAgent(ctx, cut, Options{}); err == nil {
		t.Fatal("the interrupted training reported success")
	}
	if _, err := TrainAgent(context.Background(), cut, Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
	resumed, err := agents.ReadPolicy(PolicyPath(cut.Out))
	if err != nil {
		t.Fatal(err)
	}
	if resumed.Checksum != pf.Checksum {
		t.Fatalf("resumed training's policy differs from the uninterrupted one (checksum %d vs %d)", resumed.Checksum, pf.Checksum)
	}
	// A training task on the evaluation data set is rejected.
	bad := mk(t)
	bad.Data = *bad.Agent.Tasks[1].Source
	if _, err := Run(context.Background(), bad, Options{}); err == nil || !strings.Contains(err.Error(), "never saw") {
		t.Fatalf("training on the evaluation set: %v", err)
	}
}
