//go:build torch

package torch

import (
	"context"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

// Inputs returns the flattened raw inputs of pool indices (learner.CapInputs).
func (l *Learner) Inputs(ctx context.Context, idx []int) (*mat.Dense, error) {
	return learner.DatasetInputs(l.in).Inputs(ctx, idx)
}

// InputGrads evaluates the network in evaluation mode (dropout off) on the
// rows of x and returns the n x C logits and, for every class c, the n x D
// gradients of logit c with respect to the input (learner.CapInputGrads).
// Samples do not interact in evaluation mode, so one backward pass of the
// sum over the batch of logit c gives every sample's gradient; the C passes
// share one forward graph. x is processed in chunks of inference_batch rows,
// which bounds the libtorch memory; the gradients are accumulated into the
// input tensor only (the parameters' .grad are left alone).
func (l *Learner) InputGrads(ctx context.Context, x *mat.Dense) (*mat.Dense, []*mat.Dense, error) {
	pin()
	defer runtime.UnlockOSThread()
	if err := l.ready(); err != nil {
		return nil, nil, err
	}
	n, d := x.Dims()
	if x.IsEmpty() {
		n, d = 0, l.in.Dim()
	}
	if d != l.in.Dim() {
		return nil, nil, fmt.Errorf("input gradients: inputs have %d values per row, the model takes %d (shape %v)", d, l.in.Dim(), l.arch.Input)
	}
	logits := mat.NewDense(max(n, 1), l.c, nil)
	grads := make([]*mat.Dense, l.c)
	for c := range grads {
		grads[c] = mat.NewDense(max(n, 1), max(d, 1), nil)
	}
	if n == 0 {
		return &mat.Dense{}, make([]*mat.Dense, l.c), nil
	}
	if _, err := ts.GradSetEnabled(true); err != nil {
		return nil, nil, err
	}
	bs := l.cfg.InferenceBatch
	for lo := 0; lo < n; lo += bs {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		hi := min(lo+bs, n)
		if err := l.inputGradsBatch(x, lo, hi, logits, grads); err != nil {
			return nil, nil, fmt.Errorf("input gradients: %w", err)
		}
		learner.Report(ctx, "input-gradients", hi, n)
	}
	return logits, grads, nil
}

// inputGradsBatch fills rows lo..hi of logits and grads.
func (l *Learner) inputGradsBatch(x *mat.Dense, lo, hi int, logits *mat.Dense, grads []*mat.Dense) error {
	t, err := l.tensorOfRows(x, lo, hi)
	if err != nil {
		return err
	}
	defer t.Drop()
	xt, err := t.SetRequiresGrad(true, false)
	if err != nil {
		return err
	}
	defer xt.Drop()
	out, err := l.forward(xt, 0, len(l.arch.Layers), false)
	if err != nil {
		return err
	}
	defer out.Drop()
	det, err := out.Detach(false)
	if err != nil {
		return err
	}
	err = copyRows(det, logits, lo)
	_ = det.Drop()
	if err != nil {
		return err
	}
	for c := 0; c < l.c; c++ {
		sel, err := out.Select(1, int64(c), false)
		if err != nil {
			return err
		}
		// Keep the graph for the next class; free it after the last.
		g, err := ts.RunBackward([]ts.Tensor{*sel}, []ts.Tensor{*xt}, c < l.c-1, false)
		_ = sel.Drop()
		if err != nil {
			return fmt.Errorf("backward of logit %d: %w", c, err)
		}
		err = copyRows(&g[0], grads[c], lo)
		_ = g[0].Drop()
		if err != nil {
			return err
		}
	}
	return nil
}

// tensorOfRows copies rows lo..hi of x into a float tensor of the model's
// input shape on the learner's device.
func (l *Learner) tensorOfRows(x *mat.Dense, lo, hi int) (*ts.Tensor, error) {
	shape := append([]int64{int64(hi - lo)}, toInt64(l.arch.Input)...)
	t, err := ts.Empty(shape, gotch.Float, gotch.CPU)
	if err != nil {
		return nil, err
	}
	_, d := x.Dims()
	ptr, err := t.DataPtr()
	if err != nil {
		_ = t.Drop()
		return nil, err
	}
	dst := unsafe.Slice((*float32)(ptr), (hi-lo)*d)
	for r := lo; r < hi; r++ {
		for j, v := range x.RawRowView(r) {
			dst[(r-lo)*d+j] = float32(v)
		}
	}
	if l.device != gotch.CPU {
		dt, err := t.To(l.device, true)
		if err != nil {
			return nil, err
		}
		t = dt
	}
	return t, nil
}
