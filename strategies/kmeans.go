package strategies

import (
	"context"
	"fmt"

	"github.com/alrl/alrl/learner"
)

// KMeansSampling clusters the candidates' penultimate embeddings into k
// clusters (k-means++ seeding with the query's RNG, then Lloyd's iterations)
// and acquires the candidate nearest each centre, all distinct: the k-means
// baseline of the diversity-based DAL literature (e.g. as compared in Sener &
// Savarese 2018 and Ash et al. 2020).
type KMeansSampling struct {
	cfg KMeansConfig
}

func init() {
	Register(Info{
		Name:        "kmeans",
		Description: "k-means on candidate embeddings, the candidate nearest each centre",
		Options: []Option{
			{Name: "max_iter", Default: 100, Doc: "maximum Lloyd iterations"},
			{Name: "tol", Default: 1e-4, Doc: "stop when the squared centre shift is below tol times the mean feature variance"},
		},
		New: func(o Options) (Strategy, error) {
			cfg, err := kmeansOptions(o)
			if err != nil {
				return nil, err
			}
			return KMeansSampling{cfg: cfg}, nil
		},
	})
}

// kmeansOptions reads the max_iter and tol options.
func kmeansOptions(o Options) (KMeansConfig, error) {
	it, err := o.Int("max_iter")
	if err != nil {
		return KMeansConfig{}, err
	}
	tol, err := o.Float("tol")
	if err != nil {
		return KMeansConfig{}, err
	}
	if it < 1 {
		return KMeansConfig{}, fmt.Errorf("option max_iter: must be >= 1, got %d", it)
	}
	if tol < 0 {
		return KMeansConfig{}, fmt.Errorf("option tol: must be >= 0, got %g", tol)
	}
	return KMeansConfig{MaxIter: it, Tol: tol}, nil
}

// Name returns "kmeans".
func (KMeansSampling) Name() string { return "kmeans" }

// Needs declares the embeddings capability.
func (KMeansSampling) Needs() []learner.Capability {
	return []learner.Capability{learner.CapEmbeddings}
}

// Select returns the candidate nearest each of the k centres.
func (s KMeansSampling) Select(ctx context.Context, q Query) ([]int, error) {
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("kmeans: %w", err)
	}
	x, err := embeddings(ctx, q.Model, q.Candidates, 0)
	if err != nil {
		return nil, fmt.Errorf("kmeans: %w", err)
	}
	rows, err := KMeansPicks(ctx, x, nil, q.K, q.RNG, s.cfg)
	if err != nil {
		return nil, fmt.Errorf("kmeans: %w", err)
	}
	out := make([]int, len(rows))
	for i, r := range rows {
		out[i] = q.Candidates[r]
	}
	return out, nil
}
