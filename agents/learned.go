package agents

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/agents/features"
	"github.com/alrl/alrl/envs"
)

// LearningAgent is a learning agent trained over many episodes by the loop in
// train.go. Its randomness for episode ep derives from its seed and ep, and
// Checkpoint / Restore capture everything else, so that a resumed training
// continues exactly as an uninterrupted one.
type LearningAgent interface {
	Name() string
	// Kind is pg, dqn or bandit.
	Kind() string
	// BeginEpisode prepares episode ep (0-based).
	BeginEpisode(ep int)
	// Observe receives the reward of the last action and whether the episode ended.
	Observe(ctx context.Context, reward float64, next envs.Observation, done bool) error
	// EndEpisode closes the episode; the agent may update its networks. It
	// returns training statistics (losses) for the log.
	EndEpisode(ctx context.Context) (map[string]float64, error)
	// Policy returns the policy file of the agent as it is now.
	Policy(info TrainInfo) *PolicyFile
	// Checkpoint serialises the training state; Restore reads it back.
	Checkpoint() ([]byte, error)
	Restore(b []byte) error
}

// PoolAgent acts in the pool-based env.
type PoolAgent interface {
	LearningAgent
	Act(ctx context.Context, obs envs.Observation) ([]int, error)
}

// StreamAgent acts in the stream-based env.
type StreamAgent interface {
	LearningAgent
	// Decide returns whether to label the arriving sample (obs.Candidates[0]).
	Decide(ctx context.Context, obs envs.Observation) (bool, error)
}

// Common holds what every learned agent needs: the feature builder, its
// seed and the learning rate.
type Common struct {
	Features  []string // configured feature names
	MCSamples int      // MC samples of the bald feature [10]
	Classes   int      // number of classes
	LR        float64  // learning rate
	Seed      uint64   // training seed
	Backend   Backend  // gradients (nil for the bandit)
}

// featurizer builds features and network inputs.
type featurizer struct {
	b *features.Builder
}

func newFeaturizer(c Common) (featurizer, error) {
	b, err := features.New(c.Features, c.Classes, features.Options{MCSamples: c.MCSamples})
	if err != nil {
		return featurizer{}, err
	}
	return featurizer{b: b}, nil
}

func (fz featurizer) inputWidth() int { return len(fz.b.Names()) + len(fz.b.GlobalNames()) }

// features returns the observation's features, building them unless the env attached matching ones.
func (fz featurizer) features(ctx context.Context, obs envs.Observation) (*envs.Features, error) {
	if f := obs.Features; f != nil && envs.SameNames(fz.b.Names(), f.Names) == nil && envs.SameNames(fz.b.GlobalNames(), f.GlobalNames) == nil {
		return f, f.Check(len(obs.Candidates))
	}
	f, err := fz.b.Build(ctx, obs)
	if err != nil {
		return nil, err
	}
	return f, f.Check(len(obs.Candidates))
}

// inputs makes the network input of every candidate: its features, then the global state.
func inputs(f *envs.Features, m int) *mat.Dense {
	nf, ng := len(f.Names), len(f.Global)
	x := mat.NewDense(max(m, 1), nf+ng, nil)
	for i := 0; i < m; i++ {
		row := x.RawRowView(i)
		copy(row, f.X.RawRowView(i))
		copy(row[nf:], f.Global)
	}
	return x
}

// summary is the value network's input: the mean candidate features, then the global state.
func summary(f *envs.Features, m int) []float64 {
	nf := len(f.Names)
	out := make([]float64, nf+len(f.Global))
	for i := 0; i < m; i++ {
		for j, v := range f.X.RawRowView(i) {
			out[j] += v / float64(m)
		}
	}
	copy(out[nf:], f.Global)
	return out
}

// episodeRNG is the agent's random stream for one episode.
func episodeRNG(seed uint64, ep int, purpose string) *rand.Rand {
	return envs.RNG(seed, ep, "agent-"+purpose)
}

// meanStd returns the mean and population standard deviation.
func meanStd(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	m := 0.0
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	v := 0.0
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	return m, math.Sqrt(v / float64(len(xs)))
}

// check verifies a Common.
func (c Common) check(needBackend bool) error {
	if c.LR <= 0 && needBackend {
		return fmt.Errorf("agent.lr: must be > 0, got %g", c.LR)
	}
	if needBackend && c.Backend == nil {
		return fmt.Errorf("agent: no network backend given")
	}
	return nil
}
