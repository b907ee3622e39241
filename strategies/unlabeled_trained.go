package strategies

import (
	"context"
	"fmt"

	"github.com/alrl/alrl/learner"
)

// LossModel is a model with Yoo & Kweon's loss-prediction module
// (*learner.Memo implements it; trainer learning_loss trains it).
type LossModel interface {
	PredictedLoss(ctx context.Context, idx []int) ([]float64, error)
}

// VAALModel is a model with VAAL's discriminator (*learner.Memo implements
// it; trainer vaal trains it).
type VAALModel interface {
	LabeledProb(ctx context.Context, idx []int) ([]float64, error)
}

func init() {
	Register(Info{
		Name: "learning_loss",
		Description: "highest loss predicted by the loss-prediction module (Yoo & Kweon 2019) within a random subset of the candidates; " +
			"needs trainer learning_loss",
		Options: []Option{{Name: "subset", Default: 10000, Doc: "random candidates scored per round (paper: 10,000; 0 = all)"}},
		New: func(o Options) (Strategy, error) {
			n, err := o.Int("subset")
			if err != nil {
				return nil, err
			}
			if n < 0 {
				return nil, fmt.Errorf("option subset: must be >= 0, got %d", n)
			}
			return learningLoss{subset: n}, nil
		},
	})
	Register(Info{
		Name: "vaal",
		Description: "lowest probability of being labeled under VAAL's discriminator on the VAE latent space (Sinha et al. 2019); " +
			"needs trainer vaal",
		New: func(Options) (Strategy, error) { return vaal{}, nil },
	})
}

// learningLoss scores candidates by their predicted loss; Select draws the
// paper's random subset first (with the query's RNG) and takes the top K.
type learningLoss struct{ subset int }

func (learningLoss) Name() string { return "learning_loss" }

func (learningLoss) Needs() []learner.Capability {
	return []learner.Capability{learner.CapLossPrediction}
}

func (learningLoss) Score(ctx context.Context, q Query) ([]float64, error) {
	m, ok := q.Model.(LossModel)
	if !ok {
		return nil, &learner.CapabilityError{Capability: learner.CapLossPrediction, Learner: fmt.Sprintf("%T", q.Model),
			Hint: "set trainer: {name: learning_loss}"}
	}
	return m.PredictedLoss(ctx, q.Candidates)
}

func (s learningLoss) Select(ctx context.Context, q Query) ([]int, error) {
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("learning_loss: %w", err)
	}
	if s.subset > 0 && s.subset < len(q.Candidates) {
		if s.subset < q.K {
			return nil, fmt.Errorf("learning_loss: option subset %d is smaller than the query size %d", s.subset, q.K)
		}
		perm := q.RNG.Perm(len(q.Candidates))[:s.subset]
		sub := make([]int, len(perm))
		for i, p := range perm {
			sub[i] = q.Candidates[p]
		}
		q.Candidates = sub
	}
	return scoreSelect(ctx, s, q)
}

// vaal scores candidates by 1 - P(labeled), so the top K are those the
// discriminator rates least likely to be labeled.
type vaal struct{}

func (vaal) Name() string { return "vaal" }

func (vaal) Needs() []learner.Capability { return []learner.Capability{learner.CapVAAL} }

func (vaal) Score(ctx context.Context, q Query) ([]float64, error) {
	m, ok := q.Model.(VAALModel)
	if !ok {
		return nil, &learner.CapabilityError{Capability: learner.CapVAAL, Learner: fmt.Sprintf("%T", q.Model),
			Hint: "set trainer: {name: vaal}"}
	}
	p, err := m.LabeledProb(ctx, q.Candidates)
	if err != nil {
		return nil, err
	}
	s := make([]float64, len(p))
	for i, v := range p {
		s[i] = 1 - v
	}
	return s, nil
}

func (s vaal) Select(ctx context.Context, q Query) ([]int, error) { return scoreSelect(ctx, s, q) }

// SelectsTopK marks Select as the top k of Score.
func (vaal) SelectsTopK() {}
