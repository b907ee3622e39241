// Package goplugin is a worked example of a strategy plugin written in Go: a
// package of your own that registers a strategy in init and joins alrl by a
// blank import, the way database/sql drivers do. Copy this folder to start
// your own; cmd/alrl-with-ratio is the alrl command with this plugin added.
//
// The strategy, ratio, scores a sample by the ratio of its second-highest to
// its highest class probability (the "ratio of confidence" uncertainty
// measure): 1 when the two top classes tie, near 0 when the model is sure.
package goplugin

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/strategies"
)

// Ratio is the ratio-of-confidence strategy.
type Ratio struct {
	// Power raises each ratio to this power; it changes no ranking and is
	// here only to show how a strategy reads an option.
	Power float64
}

func init() {
	strategies.Register(strategies.Info{
		Name:        "ratio",
		Description: "second-best over best class probability (example Go plugin, examples/goplugin)",
		Options: []strategies.Option{
			{Name: "power", Default: 1.0, Doc: "exponent applied to the ratio (ranking unchanged)"},
		},
		New: func(o strategies.Options) (strategies.Strategy, error) {
			p, err := o.Float("power")
			if err != nil {
				return nil, err
			}
			if p <= 0 {
				return nil, fmt.Errorf("option power: must be > 0, got %g", p)
			}
			return &Ratio{Power: p}, nil
		},
	})
}

// Name returns "ratio".
func (*Ratio) Name() string { return "ratio" }

// Needs declares that ratio uses class probabilities only, so a run is
// checked against the learner before it starts.
func (*Ratio) Needs() []learner.Capability { return []learner.Capability{learner.CapProbs} }

// RatioScores returns p2 / p1 for each row of p (0 for a row whose best
// probability is 0).
func RatioScores(p *mat.Dense) []float64 {
	n, _ := p.Dims()
	s := make([]float64, n)
	for i := range s {
		b1, b2 := 0.0, 0.0
		for _, v := range p.RawRowView(i) {
			if v > b1 {
				b1, b2 = v, b1
			} else if v > b2 {
				b2 = v
			}
		}
		if b1 > 0 {
			s[i] = b2 / b1
		}
	}
	return s
}

// Score returns one number per candidate, higher = acquired first. Being a
// Scorer lets ratio feed prefilter and weighted, and agents use its score as
// a feature.
func (r *Ratio) Score(ctx context.Context, q strategies.Query) ([]float64, error) {
	p, err := q.Model.Probs(ctx, q.Candidates)
	if err != nil {
		return nil, err
	}
	s := RatioScores(p)
	if r.Power != 1 {
		for i := range s {
			s[i] = math.Pow(s[i], r.Power)
		}
	}
	return s, nil
}

// Select returns the k candidates with the highest ratio.
func (r *Ratio) Select(ctx context.Context, q strategies.Query) ([]int, error) {
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("ratio: %w", err)
	}
	s, err := r.Score(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("ratio: %w", err)
	}
	return strategies.TopK(s, q.Candidates, q.K)
}
