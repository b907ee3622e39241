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
