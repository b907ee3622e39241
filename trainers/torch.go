//go:build torch

package trainers

import (
	"fmt"
	"runtime"

	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/learner/torch"
)

// On the torch backend the trainers bring their own networks and training
// loops, built on the backend's tensors and layers (package learner/torch):
// weighted fits and temporary output layers (CEAL, SSAL; weighted_torch.go),
// the loss-prediction module (learning loss; learningloss_torch.go) and
// VAAL's VAE and discriminator (vaal_*_torch.go). Every learner the torch
// backend builds comes wrapped in a torchLearner, which gives it the
// capabilities of package learner that these trainers and the strategies
// reading their networks use.

func init() { learner.RegisterExtension("torch", withModels) }

// withModels wraps a torch learner (any other learner is returned as it is).
func withModels(l learner.Learner) learner.Learner {
	if t, ok := l.(*torch.Learner); ok {
		return &torchLearner{Learner: t}
	}
	return l
}

// torchLearner is a torch learner with the networks that trainers attach to
// it; they are saved and loaded with its weights.
type torchLearner struct {
	*torch.Learner
	loss *lossNet  // learning loss
	vaal *vaalNets // VAAL
}

// Save writes the network's weights and those of the attached networks atomically.
func (l *torchLearner) Save(path string) error {
	torch.Pin()
	defer runtime.UnlockOSThread()
	var extra []learner.Tensor
	if l.loss != nil {
		t, err := l.loss.tensors()
		if err != nil {
			return err
		}
		extra = append(extra, t...)
	}
	if l.vaal != nil {
		t, err := l.vaal.tensors()
		if err != nil {
			return err
		}
		extra = append(extra, t...)
	}
	return l.SaveWith(path, extra)
}

// Load reads weights written by Save and rebuilds the attached networks
// found there (none found: none kept).
func (l *torchLearner) Load(path string) error {
	w, err := l.LoadWith(path)
	if err != nil {
		return err
	}
	torch.Pin()
	defer runtime.UnlockOSThread()
	l.freeModels()
	if l.loss, err = lossNetFrom(l.Learner, w); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if l.vaal, err = vaalNetsFrom(l.Learner, w); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Close frees the network and the attached networks.
func (l *torchLearner) Close() error {
	l.freeModels()
	return l.Learner.Close()
}

func (l *torchLearner) freeModels() {
	if l.loss != nil {
		l.loss.free()
		l.loss = nil
	}
	if l.vaal != nil {
		l.vaal.free()
		l.vaal = nil
	}
}
