package agents_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/alrl/alrl/agents/features"
	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/learner"
)

// benchEnv is the fast-mode env on MNIST as agents train in it: a pool of
// 10,000, validation 2,000, test 1,000, PCA-50 embeddings (cached under the
// user cache folder), n0 = 20, k = 10, budget 300, 100 candidates per step.
func benchEnv(b *testing.B) *envs.Env {
	b.Helper()
	dir, err := datasets.Locate("mnist", "")
	if err != nil {
		b.Skipf("MNIST not available: %v", err)
	}
	d, err := datasets.LoadMNISTDir("mnist", dir)
	if err != nil {
		b.Fatal(err)
	}
	split, err := d.Split(1, datasets.SplitConfig{PoolSize: 10000, ValSize: 2000, TestSize: 1000})
	if err != nil {
		b.Fatal(err)
	}
	fc := envs.DefaultFastConfig()
	fc.Encoder = envs.EncoderPCA
	if c, err := os.UserCacheDir(); err == nil {
		fc.Cache = filepath.Join(c, "alrl", "bench")
	}
	h, err := envs.NewFastLearner(context.Background(), fc, learner.DefaultConfig(), d, split, 1)
	if err != nil {
		b.Fatal(err)
	}
	e, err := envs.New(d, split, h, envs.Config{InitSize: 20, InitMode: "balanced", K: 10, Budget: 300, Candidates: 100})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// runSteps plays b.N env steps with random actions (resetting when an
// episode ends) and reports steps per second of wall time and the CPU
// milliseconds per step (all threads).
func runSteps(b *testing.B, e *envs.Env, fb *features.Builder) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 1))
	obs, _, err := e.Reset(ctx, 0)
	if err != nil {
		b.Fatal(err)
	}
	ep := uint64(0)
	b.ResetTimer()
	cpu0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		if e.Done() != envs.NotDone {
			ep++
			if obs, _, err = e.Reset(ctx, ep); err != nil {
				b.Fatal(err)
			}
		}
		if fb != nil && obs.Features == nil {
			b.Fatal("no features attached")
		}
		perm := rng.Perm(len(obs.Candidates))[:obs.K]
		a := make([]int, obs.K)
		for j, p := range perm {
			a[j] = obs.Candidates[p]
		}
		if obs, _, _, _, err = e.Step(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
	// CPU time per step: on a shared machine the wall clock overstates it.
	b.ReportMetric(1000*(cpuSeconds()-cpu0)/float64(b.N), "cpu-ms/step")
}

// BenchmarkFastEnvStep measures fast-mode env steps (refit of the head on
// up to 300 labels, validation and test evaluation) with random actions.
func BenchmarkFastEnvStep(b *testing.B) {
	runSteps(b, benchEnv(b), nil)
}

// BenchmarkFastEnvStepWithFeatures adds the default agent features of the
// 100 candidates (probabilities, BALD from 10 posterior samples, embedding
// distance to the labeled set and density) to every step.
func BenchmarkFastEnvStepWithFeatures(b *testing.B) {
	e := benchEnv(b)
	fb, err := features.New([]string{"max_prob", "margin", "entropy", "bald", "pred_class_share", "knn_dist", "density"}, 10, features.Options{})
	if err != nil {
		b.Fatal(err)
	}
	e.SetFeatures(fb)
	runSteps(b, e, fb)
}
