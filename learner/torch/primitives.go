//go:build torch

package torch

import (
	"context"
	"fmt"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/alrl/alrl/learner"
)

// This file holds what networks outside the backend build on: the trainers
// (package trainers, torch-tagged files) train a loss-prediction module,
// VAAL's VAE and discriminator and weighted fits on the learner's network
// through these tensors, layers and training primitives.

// Bag collects tensors and scalars to free together.
type Bag struct {
	ts []*ts.Tensor
	sc []*ts.Scalar
}

// T records x (which may be nil) and returns it.
func (b *Bag) T(x *ts.Tensor) *ts.Tensor {
	if x != nil {
		b.ts = append(b.ts, x)
	}
	return x
}

// F returns a float scalar freed with the bag.
func (b *Bag) F(v float64) *ts.Scalar {
	s := ts.FloatScalar(v)
	b.sc = append(b.sc, s)
	return s
}

// Drop frees everything the bag holds.
func (b *Bag) Drop() {
	for _, x := range b.ts {
		_ = x.Drop()
	}
	for _, s := range b.sc {
		_ = s.Drop()
	}
	b.ts, b.sc = nil, nil
}

// Pin locks the goroutine to its OS thread (libtorch's grad mode is
// thread-local); the caller unlocks it with runtime.UnlockOSThread. Pins nest.
func Pin() { pin() }

// NoGrad disables gradient tracking on this thread and returns the function
// that enables it again; calls do not nest.
func NoGrad() (func(), error) { return noGrad() }

// ScalarValue reads a one-element tensor.
func ScalarValue(t *ts.Tensor) (float64, error) {
	v, err := hostFloats(t)
	if err != nil {
		return 0, err
	}
	if len(v) == 0 {
		return 0, fmt.Errorf("scalar value: the tensor is empty")
	}
	return float64(v[0]), nil
}

// CopyValues copies the elements of t (any dtype, any device) into out,
// which must have exactly as many.
func CopyValues(t *ts.Tensor, out []float64) error {
	v, err := hostFloats(t)
	if err != nil {
		return err
	}
	if len(v) != len(out) {
		return fmt.Errorf("copy values: the tensor has %d elements, the destination %d", len(v), len(out))
	}
	for i, x := range v {
		out[i] = float64(x)
	}
	return nil
}

// Device returns the device the learner's tensors live on.
func (l *Learner) Device() gotch.Device { return l.device }

// Config returns the learner's configuration.
func (l *Learner) Config() learner.Config { return l.cfg }

// VarStore returns the network's parameters (nil before the first build).
func (l *Learner) VarStore() *nn.VarStore { return l.vs }

// Ready returns an error unless the network has been fitted or loaded.
func (l *Learner) Ready() error { return l.ready() }

// MarkFitted records that the network has been trained, so that it answers
// queries.
func (l *Learner) MarkFitted() { l.fitted = true }

// Input gathers pool rows idx into a [n, shape...] float tensor on the
// learner's device; the caller frees it.
func (l *Learner) Input(idx []int) (*ts.Tensor, error) {
	x, _, err := l.input(idx, nil)
	return x, err
}

// ToDevice moves t (the result of a call that returned err) to the learner's
// device, freeing the original.
func (l *Learner) ToDevice(t *ts.Tensor, err error) (*ts.Tensor, error) {
	if err != nil || l.device == gotch.CPU {
		return t, err
	}
	d, err := t.To(l.device, true)
	if err != nil {
		_ = t.Drop()
		return nil, err
	}
	return d, nil
}

// Batches runs f without gradients on consecutive chunks of idx of at most
// the inference batch size, reporting progress as stage.
func (l *Learner) Batches(ctx context.Context, stage string, idx []int, f func(lo, hi int, x *ts.Tensor) error) error {
	return l.batches(ctx, stage, idx, f)
}

// Forward runs layers [from, to) on x, freeing intermediates but not x.
func (l *Learner) Forward(x *ts.Tensor, from, to int, train bool) (*ts.Tensor, error) {
	return l.forward(x, from, to, train)
}

// ForwardTaps runs layers [0, to) on x and also returns the outputs of the
// tap layers (ascending). Every returned tensor must be freed by the caller.
func (l *Learner) ForwardTaps(x *ts.Tensor, to int, train bool, taps []int) (*ts.Tensor, []*ts.Tensor, error) {
	isTap := map[int]bool{}
	for _, t := range taps {
		isTap[t] = true
	}
	var feats []*ts.Tensor
	cur := x
	for i := 0; i < to; i++ {
		y, err := l.layer(i, cur, train)
		if cur != x && !isTap[i-1] {
			_ = cur.Drop()
		}
		if err != nil {
			for _, f := range feats {
				_ = f.Drop()
			}
			return nil, nil, fmt.Errorf("forward through layer %d (%s): %w", i, l.arch.Layers[i].Type, err)
		}
		if isTap[i] {
			feats = append(feats, y)
		}
		cur = y
	}
	if cur == x {
		c, err := x.ShallowClone()
		return c, feats, err
	}
	if len(feats) > 0 && feats[len(feats)-1] == cur {
		// The last tap is the output itself: hand out a separate handle.
		c, err := cur.ShallowClone()
		return c, feats, err
	}
	return cur, feats, nil
}

// Accuracy returns the accuracy and mean negative log-likelihood on a labeled set.
func (l *Learner) Accuracy(ctx context.Context, set learner.Labeled) (acc, nll float64, err error) {
	return l.accuracy(ctx, set)
}

// Snapshot copies the network's parameters into Go memory.
func (l *Learner) Snapshot() ([]learner.Tensor, error) { return l.snapshot() }

// Restore copies saved values into the network's parameters.
func (l *Learner) Restore(w []learner.Tensor) error { return l.restore(w) }

// NewOptimizer builds the configured optimiser (learner.train.optimizer)
// over vs with learning rate lr and weight decay wd.
func (l *Learner) NewOptimizer(vs *nn.VarStore, lr, wd float64) (*nn.Optimizer, error) {
	tc := l.cfg.Train
	var opt *nn.Optimizer
	var err error
	switch tc.Optimizer {
	case "sgd":
		opt, err = nn.NewSGDConfig(tc.Momentum, 0, wd, false).Build(vs, lr)
	default:
		opt, err = nn.NewAdamConfig(0.9, 0.999, wd).Build(vs, lr)
	}
	if err != nil {
		return nil, fmt.Errorf("building the %s optimizer: %w", tc.Optimizer, err)
	}
	return opt, nil
}

// Prepare seeds libtorch and (re)builds the network as init says; it
// reports whether the weights are fresh.
func (l *Learner) Prepare(seed uint64, init learner.Init) (bool, error) {
	ManualSeed(int64(seed >> 1))
	fresh := false
	switch init {
	case learner.InitScratch:
		fresh = true
	case learner.InitCurrent:
		fresh = l.vs == nil
	default:
		fresh = !l.cfg.Train.WarmStart || l.vs == nil
	}
	if fresh {
		if err := l.build(); err != nil {
			return false, err
		}
	}
	return fresh, nil
}

// VarName turns a weights-file name into a var-store name (gotch refuses dots).
func VarName(name string) string { return strings.ReplaceAll(name, ".", "_") }

// NamedVar is a parameter (or buffer) of a network outside the learner's
// own, with the name it has in weights files.
type NamedVar struct {
	Name string
	T    *ts.Tensor
}

// TensorsOf copies named variables into Go memory.
func TensorsOf(vars []NamedVar) ([]learner.Tensor, error) {
	out := make([]learner.Tensor, 0, len(vars))
	for _, v := range vars {
		t, err := tensorToGo(v.Name, v.T)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// RestoreVars copies saved values into named variables, checking shapes.
func RestoreVars(vars []NamedVar, w []learner.Tensor, device gotch.Device) error {
	byName := map[string]learner.Tensor{}
	for _, t := range w {
		byName[t.Name] = t
	}
	done, err := noGrad()
	if err != nil {
		return err
	}
	defer done()
	for _, v := range vars {
		src, ok := byName[v.Name]
		if !ok {
			return fmt.Errorf("weights: tensor %q is missing", v.Name)
		}
		size, err := v.T.Size()
		if err != nil {
			return err
		}
		if fmt.Sprint(toInt64(src.Shape)) != fmt.Sprint(size) {
			return fmt.Errorf("weights: tensor %q has shape %v, the network needs %v", v.Name, src.Shape, size)
		}
		t, err := ts.NewTensorFromData(src.Data, size)
		if err != nil {
			return err
		}
		if device != gotch.CPU {
			d, err := t.To(device, true)
			if err != nil {
				return err
			}
			t = d
		}
		v.T.Copy_(t)
		_ = t.Drop()
	}
	return nil
}

// FreeVars frees every variable of a var store (nil is allowed).
func FreeVars(vs *nn.VarStore) {
	if vs == nil {
		return
	}
	for _, t := range vs.Variables() {
		t := t
		_ = t.Drop()
	}
}
