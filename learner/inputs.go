package learner

import (
	"context"
	"fmt"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/datasets"
)

// InputSource is a learner (or anything else) that can hand out the raw
// inputs of pool samples, flattened to one row of D = prod(shape) values per
// sample. Strategies that perturb inputs (DeepFool) or cluster them (a
// TypiClust cold start) use it.
type InputSource interface {
	// Inputs returns the N x D flattened inputs of the pool indices.
	Inputs(ctx context.Context, idx []int) (*mat.Dense, error)
}

// InputGrader is a learner that differentiates its output logits with respect
// to its input, at arbitrary input vectors (not only pool samples), in
// evaluation mode (dropout off).
type InputGrader interface {
	// InputGrads evaluates the network on the n rows of x (n x D, flattened
	// inputs of the learner's input shape) and returns the n x C logits and C
	// matrices, grads[c] being n x D with row i the gradient of logit c at
	// x_i with respect to x_i. Implementations bound their memory by
	// processing x in batches.
	InputGrads(ctx context.Context, x *mat.Dense) (logits *mat.Dense, grads []*mat.Dense, err error)
}

// DatasetInputs adapts the label-free inputs of a data set to an InputSource.
func DatasetInputs(in datasets.Inputs) InputSource { return datasetInputs{in} }

type datasetInputs struct{ in datasets.Inputs }

// maxGatherRows bounds the float32 scratch buffer Inputs uses while copying
// rows into the float64 result.
const maxGatherRows = 4096

func (d datasetInputs) Inputs(ctx context.Context, idx []int) (*mat.Dense, error) {
	dim := d.in.Dim()
	if len(idx) == 0 || dim == 0 {
		return &mat.Dense{}, nil
	}
	out := mat.NewDense(len(idx), dim, nil)
	raw := out.RawMatrix().Data
	var buf []float32
	for lo := 0; lo < len(idx); lo += maxGatherRows {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+maxGatherRows, len(idx))
		var err error
		buf, err = d.in.Gather(idx[lo:hi], buf)
		if err != nil {
			return nil, fmt.Errorf("inputs: %w", err)
		}
		dst := raw[lo*dim : hi*dim]
		for j, v := range buf {
			dst[j] = float64(v)
		}
	}
	return out, nil
}
