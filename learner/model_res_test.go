package learner

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/alrl/alrl/datasets"
)

func TestResolveResidualLayers(t *testing.T) {
	spec := ModelSpec{Name: "layers", Layers: []Layer{
		{Type: "resblock", Out: 4, Stride: 2}, // 2x8x8 -> 4x4x4, projected skip
		{Type: "resblock", Out: 4},            // identity skip
		{Type: "batchnorm2d"},
		{Type: "globalavgpool"},    // 4
		{Type: "resdense", Out: 6}, // projected skip
		{Type: "resdense", Out: 6}, // identity skip
		{Type: "batchnorm1d"},      // 6
		{Type: "dense"},            // 3 classes
	}}
	arch, err := spec.Resolve([]int{2, 8, 8}, 3)
	if err != nil {
		t.Fatal(err)
	}
	outs := [][]int{{4, 4, 4}, {4, 4, 4}, {4, 4, 4}, {4}, {6}, {6}, {6}, {3}}
	for i, w := range outs {
		if !slices.Equal(arch.Layers[i].OutShape, w) {
			t.Errorf("layer %d (%s): out %v, want %v", i, arch.Layers[i].Type, arch.Layers[i].OutShape, w)
		}
	}
	if k := arch.Layers[0].Kernel; k != 3 {
		t.Errorf("resblock kernel defaults to %d, want 3", k)
	}
	projects := []bool{true, false, false, false, true, false, false, false}
	for i, w := range projects {
		if got := ResidualProjects(arch.Layers[i]); got != w {
			t.Errorf("layer %d: projects = %v, want %v", i, got, w)
		}
	}
	want := (4*2*9 + 8 + 4*4*9 + 8 + 4*2 + 8) + // resblock with projection
		(4*4*9 + 8 + 4*4*9 + 8) + // resblock
		8 + // batchnorm2d
		(6*4 + 12 + 6*6 + 12 + 6*4 + 12) + // resdense with projection
		(6*6 + 12 + 6*6 + 12) + // resdense
		12 + // batchnorm1d
		(3*6 + 3) // classifier
	if arch.Params() != want {
		t.Errorf("Params = %d, want %d", arch.Params(), want)
	}
	if s := arch.String(); s != "res4(k3,s2)-res4(k3)-bn-gap-resdense6-resdense6-bn-dense3" {
		t.Errorf("String = %q", s)
	}
	if arch.EmbedDim() != 6 {
		t.Errorf("EmbedDim = %d, want 6", arch.EmbedDim())
	}
	// Odd sizes round up, as a padded stride-2 convolution does: 7 -> 4 -> 2 -> 1.
	odd := ModelSpec{Name: "layers", Layers: []Layer{
		{Type: "resblock", Out: 2, Stride: 2}, {Type: "resblock", Out: 2, Stride: 2},
		{Type: "resblock", Out: 2, Stride: 2, Kernel: 5}, {Type: "globalavgpool"}, {Type: "dense"}}}
	a, err := odd.Resolve([]int{1, 7, 7}, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, hw := range []int{4, 2, 1} {
		if o := a.Layers[i].OutShape; o[1] != hw || o[2] != hw {
			t.Errorf("layer %d: out %v, want %dx%d", i, o, hw, hw)
		}
	}
}

func TestResolveResidualErrors(t *testing.T) {
	img := []int{1, 8, 8}
	flat := []int{5}
	L := func(ls ...Layer) ModelSpec {
		return ModelSpec{Name: "layers", Layers: append(ls, Layer{Type: "dense"})}
	}
	tests := []struct {
		name  string
		spec  ModelSpec
		input []int
		want  []string
	}{
		{"resblock on flat", L(Layer{Type: "resblock", Out: 4}), flat, []string{"layers[0] (resblock)", "use resdense"}},
		{"resblock even kernel", L(Layer{Type: "resblock", Out: 4, Kernel: 2}, Layer{Type: "globalavgpool"}), img, []string{"kernel must be odd"}},
		{"resblock padding", L(Layer{Type: "resblock", Out: 4, Padding: 1}, Layer{Type: "globalavgpool"}), img, []string{"padding is set by the block"}},
		{"resblock out 0", L(Layer{Type: "resblock"}, Layer{Type: "globalavgpool"}), img, []string{"out (channels)"}},
		{"resblock stride", L(Layer{Type: "resblock", Out: 2, Stride: -1}, Layer{Type: "globalavgpool"}), img, []string{"stride must be >= 1"}},
		{"resdense on image", L(Layer{Type: "resdense", Out: 4}), img, []string{"layers[0] (resdense)", "flatten"}},
		{"resdense out 0", L(Layer{Type: "resdense"}), flat, []string{"out (units)"}},
		{"batchnorm1d on image", L(Layer{Type: "batchnorm1d"}, Layer{Type: "flatten"}), img, []string{"layers[0] (batchnorm1d)", "batchnorm2d"}},
		{"batchnorm2d on flat", L(Layer{Type: "batchnorm2d"}), flat, []string{"layers[0] (batchnorm2d)", "batchnorm1d"}},
		{"globalavgpool on flat", L(Layer{Type: "globalavgpool"}), flat, []string{"layers[0] (globalavgpool)", "[channels, height, width]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.spec.Resolve(tc.input, 10)
			if err == nil {
				t.Fatal("Resolve succeeded")
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestResidualTypesAreSeparate(t *testing.T) {
	// Backends that check against LayerTypes (gorgonia) thereby reject the
	// residual types; Resolve accepts both lists.
	for _, r := range ResidualLayerTypes {
		if slices.Contains(LayerTypes, r) {
			t.Errorf("%s is in LayerTypes", r)
		}
		if !IsResidualLayer(r) {
			t.Errorf("IsResidualLayer(%s) = false", r)
		}
	}
	for _, b := range LayerTypes {
		if IsResidualLayer(b) {
			t.Errorf("IsResidualLayer(%s) = true", b)
		}
	}
	_, err := ModelSpec{Name: "layers", Layers: []Layer{{Type: "lstm"}, {Type: "dense"}}}.Resolve([]int{3}, 2)
	if err == nil || !strings.Contains(err.Error(), "resdense") || !strings.Contains(err.Error(), "conv2d") {
		t.Errorf("unknown type error does not list both kinds: %v", err)
	}
}
func TestBackendLayerCheck(t *testing.T) {
	RegisterBackend("zz-no-res", "fake backend without residual layers", func(datasets.Inputs, int, Config) (Learner, error) {
		return &countingLearner{}, nil
	}, WithLayerCheck(func(l Layer) error {
		if IsResidualLayer(l.Type) {
			return fmt.Errorf("%s is not implemented here", l.Type)
		}
		return nil
	}))
	RegisterBackend("zz-all", "fake backend with every layer", func(datasets.Inputs, int, Config) (Learner, error) {
		return &countingLearner{}, nil
	})
	cfg := DefaultConfig()
	cfg.Backend = "zz-no-res"
	cfg.Model = ModelSpec{Name: "layers", Layers: []Layer{{Type: "dense", Out: 4}, {Type: "batchnorm1d"}, {Type: "relu"}, {Type: "dense"}}}
	err := cfg.Validate([]int{3}, 2)
	for _, s := range []string{"learner.model.layers[1] (batchnorm1d)", "backend zz-no-res cannot build", "not implemented here", "learner.backend:", "zz-all"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("Validate: %v; want it to mention %q", err, s)
		}
	}
	in := (&datasets.Dataset{Shape: []int{3}}).Inputs()
	if _, err := New(in, 2, cfg); err == nil || !strings.Contains(err.Error(), "cannot build") {
		t.Errorf("New built a model its backend cannot: %v", err)
	}
	cfg.Model = ModelSpec{Name: "mlp", Hidden: []int{4}}
	if err := cfg.Validate([]int{3}, 2); err != nil {
		t.Errorf("a plain MLP on the same backend: %v", err)
	}
	if _, err := New(in, 2, cfg); err != nil {
		t.Errorf("New with a supported model: %v", err)
	}
}
