//go:build torch

package torch

import (
	"context"
	"fmt"
	"runtime"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

// TrainDiscriminator trains the spec's binary MLP with libtorch on the
// learner's device (float32) and scores the rows of score: the same network,
// initial weights, minibatch order, loss and Adam as learner.GoDiscriminator.
func (l *Learner) TrainDiscriminator(ctx context.Context, x *mat.Dense, y []float64, score *mat.Dense, spec learner.DiscriminatorSpec) (learner.DiscriminatorFit, error) {
	var fit learner.DiscriminatorFit
	if err := spec.Check(); err != nil {
		return fit, err
	}
	if err := learner.CheckDiscriminatorData(x, y, score); err != nil {
		return fit, err
	}
	pin()
	defer runtime.UnlockOSThread()
	n, d := x.Dims()
	dims, w, rng := learner.GlorotDense(d, spec)
	vs := nn.NewVarStore(l.device)
	defer FreeVars(vs)
	layers, err := discriminatorVars(vs, dims, w, l.device)
	if err != nil {
		return fit, fmt.Errorf("discriminator: %w", err)
	}
	opt, err := nn.NewAdamConfig(0.9, 0.999, 0).Build(vs, spec.LR)
	if err != nil {
		return fit, fmt.Errorf("discriminator: %w", err)
	}
	var data Bag
	defer data.Drop()
	cw := learner.ClassWeights(y)
	yf := make([]float32, n)
	wf := make([]float32, n)
	for i, v := range y {
		yf[i], wf[i] = float32(v), float32(cw[int(v)])
	}
	xt, err := l.denseTensor(x, &data)
	if err != nil {
		return fit, err
	}
	yt, err := l.vectorTensor(yf, &data)
	if err != nil {
		return fit, err
	}
	wt, err := l.vectorTensor(wf, &data)
	if err != nil {
		return fit, err
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	idx := make([]int64, 0, spec.Batch)
	for ep := 1; ep <= spec.Epochs; ep++ {
		if err := ctx.Err(); err != nil {
			return fit, err
		}
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		correct := 0.0
		for lo := 0; lo < n; lo += spec.Batch {
			idx = idx[:0]
			for _, i := range order[lo:min(lo+spec.Batch, n)] {
				idx = append(idx, int64(i))
			}
			c, err := l.discriminatorStep(opt, layers, xt, yt, wt, idx)
			if err != nil {
				return fit, fmt.Errorf("discriminator: epoch %d: %w", ep, err)
			}
			correct += c
		}
		fit.Epochs, fit.Accuracy = ep, correct/float64(n)
		if fit.Accuracy > spec.StopAccuracy {
			break
		}
	}
	if fit.P, err = l.discriminatorScores(layers, score); err != nil {
		return fit, fmt.Errorf("discriminator: scoring: %w", err)
	}
	return fit, nil
}

// discriminatorVars creates the network's weights in vs: layer l's weight is
// the transpose of w[l] (torch stores [out, in]), its bias 0.
func discriminatorVars(vs *nn.VarStore, dims []int, w [][]float64, dev gotch.Device) ([]denseVars, error) {
	root := vs.Root()
	var named []NamedVar
	var vals []learner.Tensor
	layers := make([]denseVars, len(w))
	for l := range w {
		fi, fo := dims[l], dims[l+1]
		wt, err := root.NewVar(fmt.Sprintf("w%d", l), []int64{int64(fo), int64(fi)}, nn.NewConstInit(0))
		if err != nil {
			return nil, err
		}
		bt, err := root.NewVar(fmt.Sprintf("b%d", l), []int64{int64(fo)}, nn.NewConstInit(0))
		if err != nil {
			return nil, err
		}
		layers[l] = denseVars{w: wt, b: bt}
		tr := make([]float32, fi*fo)
		for i := range fi {
			for j := range fo {
				tr[j*fi+i] = float32(w[l][i*fo+j])
			}
		}
		named = append(named, NamedVar{Name: fmt.Sprintf("w%d", l), T: wt})
		vals = append(vals, learner.Tensor{Name: fmt.Sprintf("w%d", l), Shape: []int{fo, fi}, Data: tr})
	}
	return layers, RestoreVars(named, vals, dev)
}

// denseVars is one linear layer's weight and bias.
type denseVars struct{ w, b *ts.Tensor }

// discriminatorLogits runs the MLP on x and returns the [rows] logits.
func discriminatorLogits(layers []denseVars, x *ts.Tensor, g *Bag) (*ts.Tensor, error) {
	h := x
	for i, p := range layers {
		z, err := ts.Linear(h, p.w, p.b)
		if err != nil {
			return nil, err
		}
		g.T(z)
		if i < len(layers)-1 {
			if z, err = z.Relu(false); err != nil {
				return nil, err
			}
			g.T(z)
		}
		h = z
	}
	s, err := h.SqueezeDim(1, false)
	return g.T(s), err
}

// discriminatorStep takes one Adam step on the rows idx and returns how many
// of them the network classified correctly before the step.
func (l *Learner) discriminatorStep(opt *nn.Optimizer, layers []denseVars, x, y, w *ts.Tensor, idx []int64) (float64, error) {
	var g Bag
	defer g.Drop()
	it, err := ts.NewTensorFromData(idx, []int64{int64(len(idx))})
	if err != nil {
		return 0, err
	}
	g.T(it)
	if l.device != gotch.CPU {
		if it, err = it.To(l.device, false); err != nil {
			return 0, err
		}
		g.T(it)
	}
	pick := func(t *ts.Tensor) (*ts.Tensor, error) {
		s, err := t.IndexSelect(0, it, false)
		return g.T(s), err
	}
	xb, err := pick(x)
	if err != nil {
		return 0, err
	}
	yb, err := pick(y)
	if err != nil {
		return 0, err
	}
	wb, err := pick(w)
	if err != nil {
		return 0, err
	}
	logits, err := discriminatorLogits(layers, xb, &g)
	if err != nil {
		return 0, err
	}
	loss, err := logits.BinaryCrossEntropyWithLogits(yb, wb, g.T(ts.NewTensor()), ts.ReductionMean, false)
	if err != nil {
		return 0, err
	}
	g.T(loss)
	// Correct: the sign of the logit agrees with the label.
	pred, err := logits.Ge(g.F(0), false)
	if err != nil {
		return 0, err
	}
	g.T(pred)
	lab, err := yb.Ge(g.F(0.5), false)
	if err != nil {
		return 0, err
	}
	g.T(lab)
	eq, err := pred.EqTensor(lab, false)
	if err != nil {
		return 0, err
	}
	g.T(eq)
	sum, err := eq.Sum(gotch.Float, false)
	if err != nil {
		return 0, err
	}
	g.T(sum)
	correct, err := ScalarValue(sum)
	if err != nil {
		return 0, err
	}
	if err := opt.ZeroGrad(); err != nil {
		return 0, err
	}
	if err := loss.Backward(); err != nil {
		return 0, err
	}
	return correct, opt.Step()
}

// discriminatorScores returns the sigmoid of the logits of the rows of x.
func (l *Learner) discriminatorScores(layers []denseVars, x *mat.Dense) ([]float64, error) {
	restore, err := noGrad()
	if err != nil {
		return nil, err
	}
	defer restore()
	r, d := x.Dims()
	out := make([]float64, 0, r)
	const bs = 4096
	for lo := 0; lo < r; lo += bs {
		hi := min(lo+bs, r)
		var g Bag
		xt, err := l.denseTensor(x.Slice(lo, hi, 0, d).(*mat.Dense), &g)
		var vals []float32
		if err == nil {
			var logits, p *ts.Tensor
			if logits, err = discriminatorLogits(layers, xt, &g); err == nil {
				if p, err = logits.Sigmoid(false); err == nil {
					g.T(p)
					vals, err = hostFloats(p)
				}
			}
		}
		g.Drop()
		if err != nil {
			return nil, err
		}
		for _, v := range vals {
			out = append(out, float64(v))
		}
	}
	return out, nil
}

// denseTensor copies m into a float32 tensor on the learner's device.
func (l *Learner) denseTensor(m *mat.Dense, g *Bag) (*ts.Tensor, error) {
	r, c := m.Dims()
	buf := make([]float32, 0, r*c)
	for i := range r {
		for _, v := range m.RawRowView(i) {
			buf = append(buf, float32(v))
		}
	}
	return l.onDevice(buf, []int64{int64(r), int64(c)}, g)
}

// vectorTensor copies v into a float32 tensor on the learner's device.
func (l *Learner) vectorTensor(v []float32, g *Bag) (*ts.Tensor, error) {
	return l.onDevice(v, []int64{int64(len(v))}, g)
}

func (l *Learner) onDevice(data []float32, shape []int64, g *Bag) (*ts.Tensor, error) {
	t, err := ts.NewTensorFromData(data, shape)
	if err != nil {
		return nil, err
	}
	g.T(t)
	if l.device == gotch.CPU {
		return t, nil
	}
	d, err := t.To(l.device, false)
	return g.T(d), err
}
