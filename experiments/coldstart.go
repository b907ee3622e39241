package experiments

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"go.uber.org/zap"
	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/strategies"
	"github.com/alrl/alrl/trainers"
)

// ColdStarts returns the registered strategies that can choose the initial
// labeled set from raw inputs alone (strategies.ColdStarter), sorted: the
// al.init_mode values beyond random and balanced.
func ColdStarts() []string {
	var out []string
	for _, n := range strategies.Names() {
		s, err := strategies.New(n, nil)
		if err != nil {
			continue // needs options to exist; cannot be an init_mode
		}
		if _, ok := s.(strategies.ColdStarter); ok {
			out = append(out, n)
		}
	}
	return out
}

// initOptions maps al.init_mode to the environment options that serve it:
// nothing for random and balanced, the cold-start strategy of that name
// built with al.init_options otherwise, with the run's self-supervised
// features installed from ssl when it reads them (ssl nil: none installed,
// so such a strategy fails at the cold start, naming features: inputs).
func initOptions(al envs.Config, ssl *selfSupervised) ([]envs.Option, error) {
	if err := checkInitMode(al); err != nil {
		return nil, err
	}
	if al.InitMode == "random" || al.InitMode == "balanced" {
		return nil, nil
	}
	s, err := strategies.New(al.InitMode, al.InitOptions)
	if err != nil {
		return nil, fmt.Errorf("al.init_options: %w", err)
	}
	if ssl != nil {
		if s, err = ssl.install(s); err != nil {
			return nil, fmt.Errorf("al.init_mode %s (al.init_options): %w", al.InitMode, err)
		}
	}
	cs, ok := s.(strategies.ColdStarter)
	if !ok {
		return nil, fmt.Errorf("al.init_mode: %s is no cold-start strategy", al.InitMode)
	}
	return []envs.Option{envs.WithInitialSelector(al.InitMode, cs)}, nil
}

// selfSupervised computes, once per run and only when a strategy asks, the
// self-supervised features that strategies with features: selfsupervised
// (typiclust) cluster: the embeddings of a network of learner.model
// pre-trained without labels by DeepCluster on the run's pool
// (trainers.PretrainedEmbeddings, whose weights are cached on disk with
// trainer ssal's). The network is a learner of its own, built from the
// run's learner config: the task learner is never touched. The cold start
// and the per-round strategy share one pre-training when their dc_*
// options agree.
type selfSupervised struct {
	data *datasets.Dataset
	pool []int
	seed uint64
	lc   learner.Config
	log  *zap.Logger
	srcs map[strategies.Pretraining]*sslSource
}

// newSelfSupervised prepares the features of one run (nothing is computed yet).
func newSelfSupervised(data *datasets.Dataset, pool []int, seed uint64, lc learner.Config, log *zap.Logger) *selfSupervised {
	if log == nil {
		log = zap.NewNop()
	}
	lc.Ensemble = 0 // one network
	return &selfSupervised{data: data, pool: pool, seed: seed, lc: lc, log: log, srcs: map[strategies.Pretraining]*sslSource{}}
}

// install returns s with the run's self-supervised features installed where
// it reads them (strategies.InstallFeatures). It fails when the backend
// cannot pre-train, naming features: inputs as the fallback.
func (f *selfSupervised) install(s strategies.Strategy) (strategies.Strategy, error) {
	return strategies.InstallFeatures(s, f.source)
}

func (f *selfSupervised) source(p strategies.Pretraining) (strategies.FeatureSource, error) {
	if src, ok := f.srcs[p]; ok {
		return src, nil
	}
	// A learner of the configured backend is built only to ask what it
	// can do (torch builds its network lazily), then closed.
	l, err := learner.New(f.data.Inputs(), f.data.NumClasses, f.lc)
	if err != nil {
		return nil, fmt.Errorf("features: selfsupervised: building the network to pre-train: %w", err)
	}
	err = trainers.CanPretrain(l)
	desc := l.Describe()
	_ = l.Close()
	var ce *learner.CapabilityError
	if errors.As(err, &ce) {
		return nil, fmt.Errorf("features: selfsupervised needs a network pre-trained by DeepCluster, which backend %s cannot train "+
			"(learner %s lacks %q); use learner.backend: torch, or set the option features: inputs (al.init_options for the cold start) to cluster the raw inputs",
			learner.ResolveBackend(f.lc.Backend), desc, ce.Capability)
	} else if err != nil {
		return nil, err
	}
	src := &sslSource{f: f, opt: trainers.PretrainOptions{Epochs: p.Epochs, Clusters: p.Clusters, PCA: p.PCA,
		KMeansIters: p.KMeansIters, LR: p.LR, CacheDir: p.CacheDir}}
	f.srcs[p] = src
	return src, nil
}

// sslSource is one pre-training's features: computed at the first call of
// Features (pre-training, or loading the cached weights, then embedding the
// whole pool), kept for the rest of the run. A failed computation is tried
// again at the next call.
type sslSource struct {
	f   *selfSupervised
	opt trainers.PretrainOptions

	mu     sync.Mutex
	z      *mat.Dense  // row r: pool[r]
	row    map[int]int // pool index -> row of z
	result trainers.PretrainResult
	runs   int // computations (for tests)
}

// Features returns the L2-normalised self-supervised embeddings of idx,
// which must be pool indices.
func (s *sslSource) Features(ctx context.Context, idx []int) (*mat.Dense, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.z == nil {
		if err := s.compute(ctx); err != nil {
			return nil, err
		}
	}
	if len(idx) == 0 {
		return &mat.Dense{}, nil
	}
	_, d := s.z.Dims()
	out := mat.NewDense(len(idx), d, nil)
	for i, j := range idx {
		r, ok := s.row[j]
		if !ok {
			return nil, fmt.Errorf("self-supervised features: index %d is not in the pool", j)
		}
		copy(out.RawRowView(i), s.z.RawRowView(r))
	}
	return out, nil
}

func (s *sslSource) compute(ctx context.Context) error {
	f := s.f
	l, err := learner.New(f.data.Inputs(), f.data.NumClasses, f.lc)
	if err != nil {
		return fmt.Errorf("self-supervised features: %w", err)
	}
	defer l.Close()
	s.runs++
	z, res, err := trainers.PretrainedEmbeddings(ctx, l, trainers.Setup{Inputs: f.data.Inputs(), Seed: f.seed,
		Pool: f.pool, NumClasses: f.data.NumClasses, Learner: f.lc}, s.opt)
	if err != nil {
		return fmt.Errorf("self-supervised features: %w", err)
	}
	s.z, s.result = z, res
	s.row = make(map[int]int, len(f.pool))
	for r, j := range f.pool {
		s.row[j] = r
	}
	f.log.Info("self-supervised features", zap.Bool("cached", res.Cached), zap.String("weights", res.Path),
		zap.Float64("seconds", res.Seconds), zap.Float64("final_loss", res.FinalLoss), zap.Float64("final_nmi", res.FinalNMI))
	return nil
}

// checkInitMode accepts random, balanced and the cold-start strategies, and
// init_options only with a cold-start strategy that accepts them.
func checkInitMode(al envs.Config) error {
	mode := al.InitMode
	if mode == "random" || mode == "balanced" {
		if len(al.InitOptions) > 0 {
			return fmt.Errorf("al.init_options: init_mode %s takes no options", mode)
		}
		return nil
	}
	cold := ColdStarts()
	for _, c := range cold {
		if c == mode {
			if _, err := strategies.New(mode, al.InitOptions); err != nil {
				return fmt.Errorf("al.init_options: %w", err)
			}
			return nil
		}
	}
	return fmt.Errorf("al.init_mode: %q is not one of %s", mode, strings.Join(append([]string{"random", "balanced"}, cold...), ", "))
}
