package strategies

import (
	"context"
	"fmt"
	"math"

	"github.com/alrl/alrl/learner"
)

// ScoreFunc scores every candidate of a query; higher is acquired first.
type ScoreFunc func(ctx context.Context, q Query) ([]float64, error)

// FromScore makes the registration of a score-based strategy: Select takes
// the k best-scored candidates (ties in candidate order; a NaN score is an
// error), the strategy is a Scorer (so agents can use it as a feature) and
// declares needs (so a learner without them is refused before a run starts).
//
//	func init() {
//		strategies.Register(strategies.FromScore("ratio", "second-best over best class probability",
//			[]learner.Capability{learner.CapProbs}, ratioScore))
//	}
func FromScore(name, doc string, needs []learner.Capability, score ScoreFunc) Info {
	return Info{Name: name, Description: doc, New: func(Options) (Strategy, error) {
		if score == nil {
			return nil, fmt.Errorf("strategy %s: FromScore got no score function", name)
		}
		return scored{name: name, needs: append([]learner.Capability(nil), needs...), score: score}, nil
	}}
}

type scored struct {
	name  string
	needs []learner.Capability
	score ScoreFunc
}

func (s scored) Name() string                { return s.name }
func (s scored) Needs() []learner.Capability { return s.needs }

func (s scored) Score(ctx context.Context, q Query) ([]float64, error) {
	v, err := s.score(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	if len(v) != len(q.Candidates) {
		return nil, fmt.Errorf("%s: %d scores for %d candidates", s.name, len(v), len(q.Candidates))
	}
	return v, nil
}

func (s scored) Select(ctx context.Context, q Query) ([]int, error) {
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	v, err := s.Score(ctx, q)
	if err != nil {
		return nil, err
	}
	return TopK(v, q.Candidates, q.K)
}

// SelectsTopK marks Select as the top k of Score.
func (scored) SelectsTopK() {}

// ProbScore scores one candidate from its row of class probabilities.
type ProbScore func(p []float64) float64

// FromProbs makes the registration of a strategy that scores each candidate
// from its class probabilities alone (needs CapProbs), as FromScore does; a
// NaN score is an error that names the candidate.
//
//	func init() {
//		strategies.Register(strategies.FromProbs("gini", "Gini impurity", func(p []float64) float64 {
//			s := 1.0
//			for _, v := range p {
//				s -= v * v
//			}
//			return s
//		}))
//	}
func FromProbs(name, doc string, score ProbScore) Info {
	if score == nil {
		return FromScore(name, doc, []learner.Capability{learner.CapProbs}, nil)
	}
	return FromScore(name, doc, []learner.Capability{learner.CapProbs}, func(ctx context.Context, q Query) ([]float64, error) {
		p, err := q.Model.Probs(ctx, q.Candidates)
		if err != nil {
			return nil, err
		}
		s := make([]float64, len(q.Candidates))
		for i := range s {
			s[i] = score(p.RawRowView(i))
			if math.IsNaN(s[i]) {
				return nil, fmt.Errorf("NaN score for pool index %d (probabilities %v): the score function must return a number for every probability row", q.Candidates[i], p.RawRowView(i))
			}
		}
		return s, nil
	})
}
