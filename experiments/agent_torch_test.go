//go:build torch

package experiments

import (
	"context"
	"path/filepath"
	"testing"

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
