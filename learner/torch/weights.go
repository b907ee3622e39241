//go:build torch

package torch

import (
	"fmt"
	"runtime"
	"slices"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/alrl/alrl/learner"
)

// snapshot copies the parameters into Go memory.
func (l *Learner) snapshot() ([]learner.Tensor, error) {
	var out []learner.Tensor
	for _, p := range l.params {
		if p == nil {
			continue
		}
		for _, nt := range []NamedVar{{p.wn, p.w}, {p.bn, p.b}} {
			t, err := tensorToGo(nt.Name, nt.T)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
	}
	return l.resSnapshot(out)
}

// restore copies saved values into the parameters, checking names and shapes.
func (l *Learner) restore(w []learner.Tensor) error {
	byName := map[string]learner.Tensor{}
	for _, t := range w {
		byName[t.Name] = t
	}
	done, err := noGrad()
	if err != nil {
		return err
	}
	defer done()
	for _, p := range l.params {
		if p == nil {
			continue
		}
		for _, pair := range []struct {
			n string
			t *ts.Tensor
		}{{p.wn, p.w}, {p.bn, p.b}} {
			if err := l.copySaved(byName, pair.n, pair.t); err != nil {
				return err
			}
		}
	}
	return l.resRestore(byName)
}

// Save writes the weights atomically.
func (l *Learner) Save(path string) error { return l.SaveWith(path, nil) }

// SaveWith writes the network's weights followed by extra (the tensors of
// networks attached to it, such as a trainer's) atomically.
func (l *Learner) SaveWith(path string, extra []learner.Tensor) error {
	pin()
	defer runtime.UnlockOSThread()
	if err := l.ready(); err != nil {
		return err
	}
	w, err := l.snapshot()
	if err != nil {
		return err
	}
	return learner.WriteWeights(path, append(w, extra...))
}

// Load reads weights written by Save.
func (l *Learner) Load(path string) error {
	_, err := l.LoadWith(path)
	return err
}

// LoadWith loads the network's weights from a file written by Save or
// SaveWith and returns all of the file's tensors, from which the caller
// rebuilds the networks it attached.
func (l *Learner) LoadWith(path string) ([]learner.Tensor, error) {
	pin()
	defer runtime.UnlockOSThread()
	w, err := learner.ReadWeights(path)
	if err != nil {
		return nil, err
	}
	if l.vs == nil {
		if err := l.build(); err != nil {
			return nil, err
		}
	}
	if err := l.restore(w); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	l.fitted = true
	return w, nil
}

// Initialize gives the network fresh weights drawn from seed.
func (l *Learner) Initialize(seed uint64) error {
	pin()
	defer runtime.UnlockOSThread()
	if _, err := l.Prepare(seed, learner.InitScratch); err != nil {
		return err
	}
	l.fitted = true
	return nil
}

// LoadBackbone loads every layer but the output layer from a weights file
// and initialises the output layer afresh from seed.
func (l *Learner) LoadBackbone(path string, seed uint64) error {
	pin()
	defer runtime.UnlockOSThread()
	w, err := learner.ReadWeights(path)
	if err != nil {
		return err
	}
	if _, err := l.Prepare(seed, learner.InitScratch); err != nil {
		return err
	}
	last := len(l.arch.Layers) - 1
	keep := w[:0:0]
	skip := map[string]bool{fmt.Sprintf("l%d_weight", last): true, fmt.Sprintf("l%d_bias", last): true}
	for _, t := range w {
		if !skip[t.Name] {
			keep = append(keep, t)
		}
	}
	fresh, err := l.snapshot()
	if err != nil {
		return err
	}
	for _, t := range fresh {
		if skip[t.Name] {
			keep = append(keep, t)
		}
	}
	if err := l.restore(keep); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	l.fitted = true
	return nil
}

// copySaved copies the saved tensor called name into dst, checking that it
// exists and has dst's shape. The caller has disabled gradients.
func (l *Learner) copySaved(byName map[string]learner.Tensor, name string, dst *ts.Tensor) error {
	src, ok := byName[name]
	if !ok {
		return fmt.Errorf("weights: tensor %q is missing (the model in the config differs from the saved one)", name)
	}
	size, err := dst.Size()
	if err != nil {
		return err
	}
	if !slices.Equal(toInt64(src.Shape), size) {
		return fmt.Errorf("weights: tensor %q has shape %v, the model needs %v (the model in the config differs from the saved one)", name, src.Shape, size)
	}
	t, err := ts.NewTensorFromData(src.Data, size)
	if err != nil {
		return err
	}
	if l.device != gotch.CPU {
		d, err := t.To(l.device, true)
		_ = t.Drop()
		if err != nil {
			return err
		}
		t = d
	}
	dst.Copy_(t)
	_ = t.Drop()
	return nil
}
