package strategies

import (
	"context"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

// LeastConfidence scores each row of p by 1 - max_c p(c|x) (softmax response).
func LeastConfidence(p *mat.Dense) []float64 {
	n, _ := p.Dims()
	s := make([]float64, n)
	for i := 0; i < n; i++ {
		s[i] = 1 - maxOf(p.RawRowView(i))
	}
	return s
}

// Margin scores each row by -(p1 - p2), the negated gap between the two most
// probable classes, so that the smallest margin ranks first.
func Margin(p *mat.Dense) []float64 {
	n, _ := p.Dims()
	s := make([]float64, n)
	for i := 0; i < n; i++ {
		b1, b2 := math.Inf(-1), math.Inf(-1)
		row := p.RawRowView(i)
		if math.IsNaN(maxOf(row)) {
			s[i] = math.NaN()
			continue
		}
		for _, v := range row {
			if v > b1 {
				b1, b2 = v, b1
			} else if v > b2 {
				b2 = v
			}
		}
		if math.IsInf(b2, -1) {
			b2 = 0
		}
		s[i] = -(b1 - b2)
	}
	return s
}

// Entropy scores each row by the Shannon entropy -sum_c p log p (nats).
func Entropy(p *mat.Dense) []float64 {
	n, _ := p.Dims()
	s := make([]float64, n)
	for i := 0; i < n; i++ {
		s[i] = entropyOf(p.RawRowView(i))
	}
	return s
}

func entropyOf(row []float64) float64 {
	h := 0.0
	for _, v := range row {
		if v > 0 {
			h -= v * math.Log(v)
		} else if math.IsNaN(v) {
			return math.NaN()
		}
	}
	return h
}

func maxOf(row []float64) float64 {
	m := math.Inf(-1)
	for _, v := range row {
		if math.IsNaN(v) {
			return math.NaN()
		}
		if v > m {
			m = v
		}
	}
	return m
}

// probScorer is an uncertainty strategy computed from class probabilities.
type probScorer struct {
	name  string
	score func(*mat.Dense) []float64
}

func (s probScorer) Name() string { return s.name }

func (s probScorer) Needs() []learner.Capability { return []learner.Capability{learner.CapProbs} }

func (s probScorer) Score(ctx context.Context, q Query) ([]float64, error) {
	p, err := q.Model.Probs(ctx, q.Candidates)
	if err != nil {
		return nil, err
	}
	return s.score(p), nil
}

func (s probScorer) Select(ctx context.Context, q Query) ([]int, error) {
	return scoreSelect(ctx, s, q)
}

func init() {
	for _, d := range []struct {
		name, desc string
		f          func(*mat.Dense) []float64
	}{
		{"least_confidence", "lowest top-class probability, 1 - max p (softmax response)", LeastConfidence},
		{"margin", "smallest gap between the two most probable classes", Margin},
		{"entropy", "highest predictive entropy -sum p log p", Entropy},
	} {
		s := probScorer{name: d.name, score: d.f}
		Register(Info{Name: d.name, Description: d.desc, New: func(Options) (Strategy, error) { return s, nil }})
	}
}

// SelectsTopK marks Select as the top k of Score.
func (probScorer) SelectsTopK() {}
