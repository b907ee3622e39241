package strategies

import (
	"context"
	"fmt"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

// CapSelfSupervised is what typiclust with features: selfsupervised needs:
// the embeddings of a network pre-trained without labels on the run's pool.
// No learner provides it; the experiment runner pre-trains a separate
// network and hands its embeddings to the strategy as a FeatureSource
// (InstallFeatures), after which the strategy no longer declares it. A
// caller that installs nothing (the strategy speed bench, a test) sees the
// strategy need a capability its learner lacks.
const CapSelfSupervised learner.Capability = "ssl_embeddings"

// selfSupervisedHint names the fallback wherever self-supervised features
// are missing.
const selfSupervisedHint = "features: selfsupervised clusters the embeddings of a network pre-trained by DeepCluster " +
	"on the pool, which the experiment runner computes on a backend that can pre-train (torch); " +
	"set features: inputs to cluster the raw inputs instead"

// FeatureSource hands out a fixed, label-free representation of pool
// samples computed outside the strategy (e.g. by package trainers): one
// finite row per index, the same row for an index on every call.
type FeatureSource interface {
	Features(ctx context.Context, idx []int) (*mat.Dense, error)
}

// Pretraining says how the network whose embeddings a strategy clusters is
// pre-trained: DeepCluster (Caron et al. 2018) on the run's pool, without
// labels, as trainer ssal pre-trains (its dc_* options and cache_dir mean
// the same, and equal settings share ssal's cached weights).
type Pretraining struct {
	Epochs      int     // DeepCluster epochs
	Clusters    int     // k-means clusters (0 = 10 x classes)
	PCA         int     // PCA dimensions before k-means
	KMeansIters int     // Lloyd iterations per clustering
	LR          float64 // learning rate (0 = learner.train.lr)
	CacheDir    string  // folder of cached weights ("" = the user cache folder, alrl/pretrained)
}

// SelfSupervisedUser is a strategy that reads self-supervised features from
// a FeatureSource its caller supplies. *TypiClust (as a value) implements it.
type SelfSupervisedUser interface {
	Strategy
	// Pretraining returns the pre-training the strategy's features come
	// from, and false when it reads none (other features options).
	Pretraining() (Pretraining, bool)
	// WithFeatureSource returns a copy of the strategy that reads its
	// features from src.
	WithFeatureSource(src FeatureSource) Strategy
}

// InstallFeatures returns s with a feature source installed in every part
// that reads self-supervised features: s itself, or the strategies inside a
// prefilter. source is called for each such part with its Pretraining (the
// caller shares one source between equal settings); s is returned as it is
// when no part needs one.
func InstallFeatures(s Strategy, source func(Pretraining) (FeatureSource, error)) (Strategy, error) {
	out, _, err := install(s, source)
	return out, err
}

// install is InstallFeatures, also reporting whether anything was installed
// (strategies are not comparable in general).
func install(s Strategy, source func(Pretraining) (FeatureSource, error)) (Strategy, bool, error) {
	switch v := s.(type) {
	case SelfSupervisedUser:
		p, ok := v.Pretraining()
		if !ok {
			return s, false, nil
		}
		src, err := source(p)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", s.Name(), err)
		}
		return v.WithFeatureSource(src), true, nil
	case *Prefilter:
		first, c1, err := install(v.First, source)
		if err != nil {
			return nil, false, err
		}
		then, c2, err := install(v.Then, source)
		if err != nil {
			return nil, false, err
		}
		if !c1 && !c2 {
			return s, false, nil
		}
		fs, ok := first.(Scorer)
		if !ok {
			return nil, false, fmt.Errorf("prefilter: the first strategy is no scorer after installing features")
		}
		cp := *v
		cp.First, cp.Then = fs, then
		return &cp, true, nil
	}
	return s, false, nil
}

// NeedsPretraining lists the pre-trainings s (or a strategy inside it, as
// InstallFeatures walks it) reads features from, without installing anything.
func NeedsPretraining(s Strategy) []Pretraining {
	var out []Pretraining
	_, _ = InstallFeatures(s, func(p Pretraining) (FeatureSource, error) {
		out = append(out, p)
		return missingFeatures{}, nil
	})
	return out
}

// missingFeatures stands in for a real source while NeedsPretraining walks a
// copy of the strategy to list its pre-trainings; reading it is an error.
type missingFeatures struct{}

func (missingFeatures) Features(context.Context, []int) (*mat.Dense, error) {
	return nil, fmt.Errorf("no self-supervised features installed")
}

// Pretraining returns the DeepCluster settings of features: selfsupervised.
func (t TypiClust) Pretraining() (Pretraining, bool) {
	return t.pre, t.features == featSelfSupervised
}

// WithFeatureSource returns a copy of t that reads its self-supervised
// features (in Select and SelectInitial) from src.
func (t TypiClust) WithFeatureSource(src FeatureSource) Strategy {
	t.src = src
	return t
}

// selfSupervised returns the installed features of idx, checked. Without a
// source it is an error naming features: inputs as the fallback: a
// CapabilityError of model m when there is one (Select), a plain error at
// the cold start (m nil).
func (t TypiClust) selfSupervised(ctx context.Context, m Model, idx []int) (*mat.Dense, error) {
	if t.src == nil {
		if m == nil {
			return nil, fmt.Errorf("no self-supervised features were installed for the cold start: %s", selfSupervisedHint)
		}
		return nil, &learner.CapabilityError{Capability: CapSelfSupervised, Learner: describe(m), Hint: selfSupervisedHint}
	}
	x, err := t.src.Features(ctx, idx)
	if err != nil {
		return nil, fmt.Errorf("self-supervised features: %w", err)
	}
	return x, checkRows("self-supervised feature", x, idx, 0)
}
