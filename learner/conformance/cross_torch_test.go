//go:build torch

package conformance_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/learner/conformance"
	"github.com/alrl/alrl/learner/gorgonia"
	"github.com/alrl/alrl/learner/torch"
)

// TestBackendsAgree loads the same weights into both backends and compares
// their probabilities and embeddings directly.
func TestBackendsAgree(t *testing.T) {
	d := conformance.Quadrants(30)
	ctx := context.Background()
	idx := conformance.Seq(0, 30)
	for _, m := range conformance.Models() {
		t.Run(m.Name, func(t *testing.T) {
			cfg := conformance.Config(m.Spec)
			arch, err := m.Spec.Resolve(d.Shape, d.NumClasses)
			if err != nil {
				t.Fatal(err)
			}
			w := conformance.Weights(arch, 21)
			a := conformance.Loaded(t, torch.New, d, cfg, w)
			b := conformance.Loaded(t, gorgonia.New, d, cfg, w)
			pa, err := a.Probs(ctx, idx)
			if err != nil {
				t.Fatal(err)
			}
			pb, err := b.Probs(ctx, idx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := conformance.MaxAbsDiff(pa, conformance.Rows(pb)); diff > conformance.Tol {
				t.Errorf("probabilities differ by up to %g between torch and gorgonia", diff)
			}
			za, _ := a.(learner.Embedder).Embed(ctx, idx)
			zb, _ := b.(learner.Embedder).Embed(ctx, idx)
			if diff := conformance.MaxAbsDiff(za, conformance.Rows(zb)); diff > conformance.Tol {
				t.Errorf("embeddings differ by up to %g between torch and gorgonia", diff)
			}
		})
	}
}

// TestWeightsInterchangeable trains on one backend, saves, and loads the
// file into the other: both then give the same probabilities.
func TestWeightsInterchangeable(t *testing.T) {
	d := conformance.Quadrants(96)
	ctx := context.Background()
	cfg := conformance.Config(conformance.CNN())
	cfg.Train.Epochs = 5
	backends := []struct {
		name string
		new  learner.Factory
	}{{"torch", torch.New}, {"gorgonia", gorgonia.New}}
	for i, from := range backends {
		to := backends[1-i]
		t.Run(from.name+"->"+to.name, func(t *testing.T) {
			a, err := from.new(d.Inputs(), d.NumClasses, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if _, err := a.Fit(ctx, conformance.Labeled(d, conformance.Seq(0, 64)), learner.Labeled{}, 3); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "w.bin")
			if err := a.Save(path); err != nil {
				t.Fatal(err)
			}
			b, err := to.new(d.Inputs(), d.NumClasses, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if err := b.Load(path); err != nil {
				t.Fatal(err)
			}
			idx := conformance.Seq(64, 96)
			pa, _ := a.Probs(ctx, idx)
			pb, err := b.Probs(ctx, idx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := conformance.MaxAbsDiff(pa, conformance.Rows(pb)); diff > conformance.Tol {
				t.Errorf("probabilities differ by up to %g after moving the weights from %s to %s", diff, from.name, to.name)
			}
		})
	}
}
