package strategies

import (
	"context"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

// InputModel is a Model that can also hand out the raw, flattened inputs of
// pool samples (learner.CapInputs). *learner.Memo implements it. It is a
// separate interface, checked with a type assertion, so that models written
// for Model keep compiling; a model without it makes the strategies that need
// it fail with a *learner.CapabilityError.
type InputModel interface {
	Inputs(ctx context.Context, idx []int) (*mat.Dense, error)
}

// GradModel is a Model that differentiates its logits with respect to
// arbitrary inputs (learner.CapInputGrads); see learner.InputGrader for the
// layout. *learner.Memo implements it.
type GradModel interface {
	InputGrads(ctx context.Context, x *mat.Dense) (logits *mat.Dense, grads []*mat.Dense, err error)
}

// EnsembleModel is a Model backed by a deep ensemble (learner.CapEnsemble,
// set with learner.ensemble); MemberProbs returns one N x C matrix per
// member. *learner.Memo implements it.
type EnsembleModel interface {
	MemberProbs(ctx context.Context, idx []int) ([]*mat.Dense, error)
}

// memberProbsOf returns the ensemble members' probabilities, or a
// CapabilityError naming the fix when the model is no ensemble.
func memberProbsOf(ctx context.Context, m Model, idx []int) ([]*mat.Dense, error) {
	em, ok := m.(EnsembleModel)
	if !ok {
		return nil, &learner.CapabilityError{Capability: learner.CapEnsemble, Learner: describe(m), Hint: learner.CapabilityHint(learner.CapEnsemble)}
	}
	return em.MemberProbs(ctx, idx)
}

// inputsOf returns the raw inputs of idx, or a CapabilityError when the model
// cannot provide them.
func inputsOf(ctx context.Context, m Model, idx []int) (*mat.Dense, error) {
	im, ok := m.(InputModel)
	if !ok {
		return nil, &learner.CapabilityError{Capability: learner.CapInputs, Learner: describe(m)}
	}
	x, err := im.Inputs(ctx, idx)
	if err != nil {
		return nil, err
	}
	return x, checkRows("input", x, idx, 0)
}

// describe names a model for error messages.
func describe(m Model) string {
	if d, ok := m.(interface{ Describe() string }); ok {
		return d.Describe()
	}
	return "model"
}
