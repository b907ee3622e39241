//go:build torch

package torch

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/alrl/alrl/learner"
)

// Batch-norm settings, PyTorch's defaults.
const (
	bnMomentum = 0.1
	bnEps      = 1e-5
)

// resState holds the parameters and buffers of the residual layer types
// (batchnorm2d, batchnorm1d, resblock, globalavgpool, resdense) and whether
// batch norm runs in training mode.
type resState struct {
	// training is true only inside Fit: batch norm then normalises with the
	// statistics of the minibatch and updates its running averages. Every
	// other forward pass (scoring, embeddings, MC dropout, validation) uses
	// the running averages, so MC-dropout samples vary only by their
	// dropout masks.
	training bool
	layers   []*resParams // by layer index; nil for other layers
}

// bnParams is one batch normalisation: scale and shift (trained) and the
// running mean and variance (buffers, saved with the weights).
type bnParams struct {
	w, b, mean, vari *ts.Tensor
}

// resParams is what one residual layer holds.
type resParams struct {
	w1, w2, wp    *ts.Tensor // first and second convolution / dense, skip projection (nil without)
	bn1, bn2, bnp *bnParams
	named         []namedTensor // every tensor, in a fixed order, for snapshots
}

type namedTensor struct {
	name string
	t    *ts.Tensor
}

// noBias is an undefined tensor: libtorch reads it as "no bias".
func noBias() *ts.Tensor { return &ts.Tensor{} }

func (p *resParams) newBN(root *nn.Path, i int, part string, c int) (*bnParams, error) {
	dims := []int64{int64(c)}
	name := func(s string) string { return fmt.Sprintf("l%d_%s_%s", i, part, s) }
	bn := &bnParams{}
	var err error
	if bn.w, err = root.NewVar(name("weight"), dims, nn.NewConstInit(1)); err != nil {
		return nil, err
	}
	if bn.b, err = root.NewVar(name("bias"), dims, nn.NewConstInit(0)); err != nil {
		return nil, err
	}
	if bn.mean, err = root.ZerosNoTrain(name("running_mean"), dims); err != nil {
		return nil, err
	}
	if bn.vari, err = root.OnesNoTrain(name("running_var"), dims); err != nil {
		return nil, err
	}
	p.named = append(p.named, namedTensor{name("weight"), bn.w}, namedTensor{name("bias"), bn.b},
		namedTensor{name("running_mean"), bn.mean}, namedTensor{name("running_var"), bn.vari})
	return bn, nil
}

// newWeight creates a bias-free convolution or dense weight, initialised
// uniformly in +-1/sqrt(fan_in) as PyTorch does by default.
func (p *resParams) newWeight(root *nn.Path, i int, part string, dims []int64) (*ts.Tensor, error) {
	fanIn := 1
	for _, d := range dims[1:] {
		fanIn *= int(d)
	}
	bound := 1 / math.Sqrt(float64(fanIn))
	name := fmt.Sprintf("l%d_%s", i, part)
	w, err := root.NewVar(name, dims, nn.NewUniformInit(-bound, bound))
	if err != nil {
		return nil, err
	}
	p.named = append(p.named, namedTensor{name, w})
	return w, nil
}

// buildRes creates the parameters of layer i if it is a residual layer type.
func (l *Learner) buildRes(root *nn.Path, i int, s learner.Shaped) error {
	if !learner.IsResidualLayer(s.Type) {
		return nil
	}
	if l.res.layers == nil {
		l.res.layers = make([]*resParams, len(l.arch.Layers))
	}
	p := &resParams{}
	in, out := int64(s.InShape[0]), int64(s.Out)
	var err error
	switch s.Type {
	case "batchnorm2d", "batchnorm1d":
		p.bn1, err = p.newBN(root, i, "bn", s.InShape[0])
	case "resblock":
		k := int64(s.Kernel)
		if p.w1, err = p.newWeight(root, i, "conv1", []int64{out, in, k, k}); err != nil {
			break
		}
		if p.bn1, err = p.newBN(root, i, "bn1", s.Out); err != nil {
			break
		}
		if p.w2, err = p.newWeight(root, i, "conv2", []int64{out, out, k, k}); err != nil {
			break
		}
		if p.bn2, err = p.newBN(root, i, "bn2", s.Out); err != nil {
			break
		}
		if learner.ResidualProjects(s) {
			if p.wp, err = p.newWeight(root, i, "proj", []int64{out, in, 1, 1}); err != nil {
				break
			}
			p.bnp, err = p.newBN(root, i, "bnproj", s.Out)
		}
	case "resdense":
		if p.w1, err = p.newWeight(root, i, "dense1", []int64{out, in}); err != nil {
			break
		}
		if p.bn1, err = p.newBN(root, i, "bn1", s.Out); err != nil {
			break
		}
		if p.w2, err = p.newWeight(root, i, "dense2", []int64{out, out}); err != nil {
			break
		}
		if p.bn2, err = p.newBN(root, i, "bn2", s.Out); err != nil {
			break
		}
		if learner.ResidualProjects(s) {
			if p.wp, err = p.newWeight(root, i, "proj", []int64{out, in}); err != nil {
				break
			}
			p.bnp, err = p.newBN(root, i, "bnproj", s.Out)
		}
	}
	if err != nil {
		return fmt.Errorf("creating layer %d (%s) parameters: %w", i, s.Type, err)
	}
	l.res.layers[i] = p
	return nil
}

// batchNorm normalises x. With a single value per channel a batch has no
// variance: PyTorch's Python layer rejects it in training mode, and
// libtorch's op would write NaN into the running variance (it divides by
// n-1). Such a batch (e.g. the last, one-sample minibatch of an epoch) is
// normalised with the running statistics instead and does not update them.
func batchNorm(bn *bnParams, x *ts.Tensor, train bool) (*ts.Tensor, error) {
	if train {
		size, err := x.Size()
		if err != nil {
			return nil, err
		}
		per := int64(1)
		for j, d := range size {
			if j != 1 {
				per *= d
			}
		}
		train = per > 1
	}
	return ts.BatchNorm(x, bn.w, bn.b, bn.mean, bn.vari, train, bnMomentum, bnEps, true)
}

// chain applies steps in turn, freeing every intermediate (never x).
func chain(x *ts.Tensor, steps ...func(*ts.Tensor) (*ts.Tensor, error)) (*ts.Tensor, error) {
	cur := x
	for _, f := range steps {
		y, err := f(cur)
		if cur != x {
			_ = cur.Drop()
		}
		if err != nil {
			return nil, err
		}
		cur = y
	}
	if cur == x {
		return x.ShallowClone()
	}
	return cur, nil
}

// resLayer applies residual layer i to x. It never frees x.
func (l *Learner) resLayer(i int, x *ts.Tensor, train bool) (*ts.Tensor, error) {
	s := l.arch.Layers[i]
	if s.Type == "globalavgpool" {
		return x.MeanDim([]int64{2, 3}, false, gotch.Float, false)
	}
	if i >= len(l.res.layers) || l.res.layers[i] == nil {
		return nil, fmt.Errorf("layer %d (%s) has no parameters; the model was not built", i, s.Type)
	}
	p := l.res.layers[i]
	bnTrain := train && l.res.training
	bn := func(b *bnParams) func(*ts.Tensor) (*ts.Tensor, error) {
		return func(t *ts.Tensor) (*ts.Tensor, error) { return batchNorm(b, t, bnTrain) }
	}
	relu := func(t *ts.Tensor) (*ts.Tensor, error) { return t.Relu(false) }
	var lin1, lin2, proj func(*ts.Tensor) (*ts.Tensor, error)
	switch s.Type {
	case "batchnorm2d", "batchnorm1d":
		return batchNorm(p.bn1, x, bnTrain)
	case "resblock":
		st := []int64{int64(s.Stride), int64(s.Stride)}
		one := []int64{1, 1}
		pad := []int64{int64(s.Kernel / 2), int64(s.Kernel / 2)}
		lin1 = func(t *ts.Tensor) (*ts.Tensor, error) { return ts.Conv2d(t, p.w1, noBias(), st, pad, one, 1) }
		lin2 = func(t *ts.Tensor) (*ts.Tensor, error) { return ts.Conv2d(t, p.w2, noBias(), one, pad, one, 1) }
		proj = func(t *ts.Tensor) (*ts.Tensor, error) {
			return ts.Conv2d(t, p.wp, noBias(), st, []int64{0, 0}, one, 1)
		}
	case "resdense":
		lin1 = func(t *ts.Tensor) (*ts.Tensor, error) { return ts.Linear(t, p.w1, noBias()) }
		lin2 = func(t *ts.Tensor) (*ts.Tensor, error) { return ts.Linear(t, p.w2, noBias()) }
		proj = func(t *ts.Tensor) (*ts.Tensor, error) { return ts.Linear(t, p.wp, noBias()) }
	default:
		return nil, fmt.Errorf("layer %d: %q is not a residual layer", i, s.Type)
	}
	h, err := chain(x, lin1, bn(p.bn1), relu, lin2, bn(p.bn2))
	if err != nil {
		return nil, err
	}
	defer h.Drop()
	skip := x
	if p.wp != nil {
		if skip, err = chain(x, proj, bn(p.bnp)); err != nil {
			return nil, err
		}
		defer skip.Drop()
	}
	sum, err := h.Add(skip, false)
	if err != nil {
		return nil, err
	}
	defer sum.Drop()
	return sum.Relu(false)
}

// resSnapshot appends the residual layers' tensors (batch-norm running
// statistics included) to out, copied into Go memory.
func (l *Learner) resSnapshot(out []learner.Tensor) ([]learner.Tensor, error) {
	for _, p := range l.res.layers {
		if p == nil {
			continue
		}
		for _, nt := range p.named {
			t, err := tensorToGo(nt.name, nt.t)
			if err != nil {
				return nil, fmt.Errorf("weights: reading %s: %w", nt.name, err)
			}
			out = append(out, t)
		}
	}
	return out, nil
}

// tensorToGo copies t into Go memory as a named float32 tensor.
func tensorToGo(name string, t *ts.Tensor) (learner.Tensor, error) {
	size, err := t.Size()
	if err != nil {
		return learner.Tensor{}, err
	}
	vals, err := hostFloats(t)
	if err != nil {
		return learner.Tensor{}, err
	}
	shape := make([]int, len(size))
	for i, s := range size {
		shape[i] = int(s)
	}
	return learner.Tensor{Name: name, Shape: shape, Data: vals}, nil
}

// resRestore copies saved values into the residual layers' tensors,
// checking names and shapes. The caller has disabled gradients.
func (l *Learner) resRestore(byName map[string]learner.Tensor) error {
	for _, p := range l.res.layers {
		if p == nil {
			continue
		}
		for _, nt := range p.named {
			if err := l.copySaved(byName, nt.name, nt.t); err != nil {
				return err
			}
		}
	}
	return nil
}
