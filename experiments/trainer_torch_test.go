//go:build torch

package experiments

import (
	"maps"
	"testing"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/learner"
	_ "github.com/alrl/alrl/learner/torch" // the torch backend
	"github.com/alrl/alrl/trainers"
)

// torchTrainerConfig is a tiny moons experiment on a small MLP.
func torchTrainerConfig(t *testing.T) Config {
	t.Helper()
	cfg := Default()
	cfg.Name = "trainers"
	cfg.Seeds = []uint64{2}
	cfg.Data = datasets.Source{Name: "moons", N: 300, Noise: 0.1}
	cfg.Split = SplitConfig{Test: 60}
	cfg.AL = envs.Config{InitSize: 6, InitMode: "random", K: 4, Budget: 18}
	cfg.Learner = learner.DefaultConfig()
	cfg.Learner.Threads = 1
	cfg.Learner.InferenceBatch = 64
	cfg.Learner.Model = learner.ModelSpec{Name: "mlp", Hidden: []int{16, 16}, Dropout: 0}
	cfg.Learner.Train.Epochs = 8
	cfg.Learner.Train.BatchSize = 16
	cfg.Learner.Train.Patience, cfg.Learner.Train.Holdout = 3, 0.2
	cfg.Learner.Train.LR = 0.01
	cfg.Targets = []float64{0.9}
	cfg.Out = t.TempDir()
	return cfg
}

// Every trainer's run resumes from a checkpoint to the same numbers,
// including what the trainer recorded.
func TestTorchTrainersResume(t *testing.T) {
	tests := []struct {
		strategy string
		trainer  trainers.Config
		infoKeys []string // keys every round's info must have
		sepCache bool     // give the resumed run its own pre-training cache
	}{
		{"entropy", trainers.Config{Name: "supervised"}, nil, false},
		{"entropy", trainers.Config{Name: "ceal", Options: map[string]any{"delta": 0.05}},
			[]string{"delta", "pseudo_labels", "pseudo_acc"}, false},
		{"random", trainers.Config{Name: "ssal", Options: map[string]any{"dc_epochs": 2, "dc_clusters": 4, "dc_pca": 8,
			"ss_epochs": 2, "k": 5}}, []string{"pretrain_cached", "finetune_val_acc", "pseudo_labels", "pseudo_acc", "cg_iters"}, true},
		{"learning_loss", trainers.Config{Name: "learning_loss", Options: map[string]any{"width": 8}},
			[]string{"ranking_loss", "target_loss", "stop_grad_epoch"}, false},
		{"vaal", trainers.Config{Name: "vaal", Options: map[string]any{"latent": 2, "channels": []any{16}, "disc_width": 16,
			"iterations": 20, "batch_size": 16}}, []string{"vae_recon", "vae_recon_first", "disc_loss", "vae_kl"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.trainer.ID(), func(t *testing.T) {
			cfg := torchTrainerConfig(t)
			cfg.Strategies = []StrategyConfig{{Name: tc.strategy}}
			cfg.Trainer = tc.trainer
			var mod func(*Config)
			if tc.trainer.Name == "ssal" {
				cfg.Trainer.Options = maps.Clone(tc.trainer.Options)
				cfg.Trainer.Options["cache_dir"] = t.TempDir()
				if tc.sepCache {
					mod = func(c *Config) {
						c.Trainer.Options = maps.Clone(c.Trainer.Options)
						c.Trainer.Options["cache_dir"] = t.TempDir()
					}
				}
			}
			recs := resumeEqualsUninterrupted(t, cfg, 1, mod)
			if len(recs) != 4 {
				t.Fatalf("%d rounds, want 4", len(recs))
			}
			for _, r := range recs {
				for _, k := range tc.infoKeys {
					if _, ok := r.Info[k]; !ok && !(k == "pseudo_acc" && r.Round == 0) {
						t.Errorf("round %d: info lacks %q: %v", r.Round, k, r.Info)
					}
				}
			}
		})
	}
}
