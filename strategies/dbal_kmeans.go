package strategies

import (
	"context"
	"fmt"
	"math"

	"github.com/alrl/alrl/learner"
)

// DBALKMeans is diverse mini-batch active learning (Zhdanov 2019, "Diverse
// mini-batch active learning"): keep the beta*k most informative candidates,
// cluster their penultimate embeddings into k clusters with k-means weighted
// by informativeness, and acquire the candidate nearest each centre.
// Informativeness is a registered uncertainty score turned into a
// non-negative weight: 1 - (p1 - p2) for margin (the paper's choice), the
// entropy, or 1 - max p.
type DBALKMeans struct {
	beta   int
	scorer Scorer
	offset float64 // added to the score to make it a non-negative weight
	cfg    KMeansConfig
}

// dbalScores maps the allowed informativeness scores to the offset that
// turns the registered score into a non-negative weight.
var dbalScores = map[string]float64{"margin": 1, "entropy": 0, "least_confidence": 0}

func init() {
	Register(Info{
		Name:        "dbal_kmeans",
		Description: "top beta*k by informativeness, informativeness-weighted k-means, nearest to each centre (Zhdanov 2019)",
		Options: []Option{
			{Name: "beta", Default: 10, Doc: "prefilter size as a multiple of k"},
			{Name: "score", Default: "margin", Doc: "informativeness: margin (paper), entropy or least_confidence"},
			{Name: "max_iter", Default: 100, Doc: "maximum Lloyd iterations"},
			{Name: "tol", Default: 1e-4, Doc: "stop when the squared centre shift is below tol times the mean feature variance"},
		},
		New: func(o Options) (Strategy, error) {
			beta, err := o.Int("beta")
			if err != nil {
				return nil, err
			}
			if beta < 1 {
				return nil, fmt.Errorf("option beta: must be >= 1, got %d", beta)
			}
			name, err := o.String("score")
			if err != nil {
				return nil, err
			}
			off, ok := dbalScores[name]
			if !ok {
				return nil, fmt.Errorf("option score: %q is not one of margin, entropy, least_confidence", name)
			}
			s, err := New(name, nil)
			if err != nil {
				return nil, err
			}
			sc, ok := s.(Scorer)
			if !ok {
				return nil, fmt.Errorf("option score: strategy %q does not score candidates", name)
			}
			cfg, err := kmeansOptions(o)
			if err != nil {
				return nil, err
			}
			return DBALKMeans{beta: beta, scorer: sc, offset: off, cfg: cfg}, nil
		},
	})
}

// Name returns "dbal_kmeans".
func (DBALKMeans) Name() string { return "dbal_kmeans" }

// Needs declares probabilities and embeddings.
func (DBALKMeans) Needs() []learner.Capability {
	return []learner.Capability{learner.CapProbs, learner.CapEmbeddings}
}

// Select returns the prefiltered candidate nearest each weighted centre.
func (s DBALKMeans) Select(ctx context.Context, q Query) ([]int, error) {
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("dbal_kmeans: %w", err)
	}
	scores, err := s.scorer.Score(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("dbal_kmeans: %w", err)
	}
	m := min(s.beta*q.K, len(q.Candidates))
	pre, err := TopK(scores, q.Candidates, m)
	if err != nil {
		return nil, fmt.Errorf("dbal_kmeans: %w", err)
	}
	pos := make(map[int]int, len(q.Candidates))
	for i, c := range q.Candidates {
		pos[c] = i
	}
	w := make([]float64, m)
	positive := 0
	for i, c := range pre {
		w[i] = scores[pos[c]] + s.offset
		if w[i] < 0 || math.IsInf(w[i], 0) {
			return nil, fmt.Errorf("dbal_kmeans: informativeness %g of pool index %d is not a non-negative weight", w[i], c)
		}
		if w[i] > 0 {
			positive++
		}
	}
	if positive < q.K {
		// Too few informative candidates to weight the clustering (the
		// model is certain about almost everything): cluster unweighted.
		w = nil
	}
	x, err := embeddings(ctx, q.Model, pre, 0)
	if err != nil {
		return nil, fmt.Errorf("dbal_kmeans: %w", err)
	}
	rows, err := KMeansPicks(ctx, x, w, q.K, q.RNG, s.cfg)
	if err != nil {
		return nil, fmt.Errorf("dbal_kmeans: %w", err)
	}
	out := make([]int, len(rows))
	for i, r := range rows {
		out[i] = pre[r]
	}
	return out, nil
}
