package learner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/datasets"
)

func TestResolveCNN(t *testing.T) {
	arch, err := ModelSpec{Name: "cnn", Dropout: 0.5}.Resolve([]int{1, 28, 28}, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		typ     string
		in, out []int
	}{
		{"conv2d", []int{1, 28, 28}, []int{32, 24, 24}},
		{"maxpool2d", []int{32, 24, 24}, []int{32, 12, 12}},
		{"relu", []int{32, 12, 12}, []int{32, 12, 12}},
		{"conv2d", []int{32, 12, 12}, []int{64, 8, 8}},
		{"dropout2d", []int{64, 8, 8}, []int{64, 8, 8}},
		{"maxpool2d", []int{64, 8, 8}, []int{64, 4, 4}},
		{"relu", []int{64, 4, 4}, []int{64, 4, 4}},
		{"flatten", []int{64, 4, 4}, []int{1024}},
		{"dense", []int{1024}, []int{128}},
		{"relu", []int{128}, []int{128}},
		{"dropout", []int{128}, []int{128}},
		{"dense", []int{128}, []int{10}},
	}
	if len(arch.Layers) != len(want) {
		t.Fatalf("%d layers, want %d: %s", len(arch.Layers), len(want), arch)
	}
	for i, w := range want {
		l := arch.Layers[i]
		if l.Type != w.typ || !slices.Equal(l.InShape, w.in) || !slices.Equal(l.OutShape, w.out) {
			t.Errorf("layer %d: %s %v -> %v, want %s %v -> %v", i, l.Type, l.InShape, l.OutShape, w.typ, w.in, w.out)
		}
	}
	if arch.Layers[1].Stride != 2 || arch.Layers[0].Stride != 1 {
		t.Errorf("default strides: conv %d (want 1), pool %d (want the kernel, 2)", arch.Layers[0].Stride, arch.Layers[1].Stride)
	}
	if d := arch.EmbedDim(); d != 128 {
		t.Errorf("EmbedDim = %d, want 128", d)
	}
	wantParams := 32*1*25 + 32 + 64*32*25 + 64 + 128*1024 + 128 + 10*128 + 10
	if p := arch.Params(); p != wantParams {
		t.Errorf("Params = %d, want %d", p, wantParams)
	}
	if !arch.HasDropout() {
		t.Error("cnn with dropout 0.5 reports no dropout")
	}
	if !slices.Equal(arch.Input, []int{1, 28, 28}) {
		t.Errorf("Input = %v", arch.Input)
	}
	if s := arch.String(); !strings.HasPrefix(s, "conv32(k5)-maxpool2d(2)-relu-conv64(k5)") || !strings.HasSuffix(s, "dense128-relu-dropout(0.5)-dense10") {
		t.Errorf("String() = %q", s)
	}
	// Hidden width and no dropout.
	arch, err = ModelSpec{Name: "cnn", Hidden: []int{64}}.Resolve([]int{1, 28, 28}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if arch.EmbedDim() != 64 || arch.HasDropout() {
		t.Errorf("cnn hidden 64, dropout 0: EmbedDim %d, HasDropout %v", arch.EmbedDim(), arch.HasDropout())
	}
}

func TestResolveMLP(t *testing.T) {
	tests := []struct {
		spec    ModelSpec
		input   []int
		classes int
		types   []string
		embed   int
		params  int
		dropout bool
	}{
		{ModelSpec{Name: "mlp", Hidden: []int{16, 8}}, []int{4}, 3,
			[]string{"flatten", "dense", "relu", "dense", "relu", "dense"}, 8, 4*16 + 16 + 16*8 + 8 + 8*3 + 3, false},
		{ModelSpec{Name: "mlp", Hidden: []int{5}, Dropout: 0.2}, []int{1, 2, 3}, 2,
			[]string{"flatten", "dense", "relu", "dropout", "dense"}, 5, 6*5 + 5 + 5*2 + 2, true},
		{ModelSpec{Name: "mlp"}, []int{7}, 4, []string{"flatten", "dense"}, 7, 7*4 + 4, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.spec.Hidden), func(t *testing.T) {
			arch, err := tc.spec.Resolve(tc.input, tc.classes)
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, l := range arch.Layers {
				types = append(types, l.Type)
			}
			if !slices.Equal(types, tc.types) {
				t.Errorf("layers %v, want %v", types, tc.types)
			}
			if arch.EmbedDim() != tc.embed || arch.Params() != tc.params || arch.HasDropout() != tc.dropout {
				t.Errorf("EmbedDim %d Params %d HasDropout %v, want %d %d %v", arch.EmbedDim(), arch.Params(), arch.HasDropout(), tc.embed, tc.params, tc.dropout)
			}
			if out := arch.Layers[len(arch.Layers)-1].OutShape; !slices.Equal(out, []int{tc.classes}) {
				t.Errorf("output shape %v, want [%d]", out, tc.classes)
			}
		})
	}
}

func TestResolveLayersConvArithmetic(t *testing.T) {
	spec := ModelSpec{Name: "layers", Layers: []Layer{
		{Type: "conv2d", Out: 8, Kernel: 3, Padding: 1}, // 8x10x10
		{Type: "conv2d", Out: 4, Kernel: 3, Stride: 2},  // (10-3)/2+1 = 4
		{Type: "avgpool2d", Kernel: 2, Stride: 1},       // 3x3
		{Type: "tanh"}, {Type: "sigmoid"}, {Type: "dropout2d", P: 0}, // unchanged
		{Type: "flatten"}, // 36
		{Type: "dense", Out: 5},
	}}
	arch, err := spec.Resolve([]int{2, 10, 10}, 5)
	if err != nil {
		t.Fatal(err)
	}
	outs := [][]int{{8, 10, 10}, {4, 4, 4}, {4, 3, 3}, {4, 3, 3}, {4, 3, 3}, {4, 3, 3}, {36}, {5}}
	for i, w := range outs {
		if !slices.Equal(arch.Layers[i].OutShape, w) {
			t.Errorf("layer %d (%s): out %v, want %v", i, arch.Layers[i].Type, arch.Layers[i].OutShape, w)
		}
	}
	if want := 8*2*9 + 8 + 4*8*9 + 4 + 5*36 + 5; arch.Params() != want {
		t.Errorf("Params = %d, want %d", arch.Params(), want)
	}
	if arch.HasDropout() {
		t.Error("dropout2d with p 0 counts as dropout")
	}
	// Resolve must not modify the spec's layers (last dense out defaults on a copy).
	spec2 := ModelSpec{Name: "layers", Layers: []Layer{{Type: "flatten"}, {Type: "dense"}}}
	if _, err := spec2.Resolve([]int{3}, 2); err != nil {
		t.Fatal(err)
	}
	if spec2.Layers[1].Out != 0 {
		t.Errorf("Resolve wrote %d into the caller's layer list", spec2.Layers[1].Out)
	}
}

func TestResolveErrors(t *testing.T) {
	img := []int{1, 28, 28}
	flat := []int{20}
	L := func(ls ...Layer) ModelSpec { return ModelSpec{Name: "layers", Layers: ls} }
	tests := []struct {
		name  string
		spec  ModelSpec
		input []int
		want  []string
	}{
		{"dense without flatten", L(Layer{Type: "dense", Out: 10}), img, []string{"layers[0]", "flatten"}},
		{"conv on flat input", L(Layer{Type: "conv2d", Out: 4, Kernel: 3}, Layer{Type: "flatten"}, Layer{Type: "dense"}), flat, []string{"layers[0]", "conv2d", "[channels, height, width]"}},
		{"pool on flat input", L(Layer{Type: "maxpool2d", Kernel: 2}, Layer{Type: "dense"}), flat, []string{"layers[0]", "maxpool2d"}},
		{"cnn on flat input", ModelSpec{Name: "cnn"}, flat, []string{"conv2d"}},
		{"kernel too large", L(Layer{Type: "conv2d", Out: 4, Kernel: 29}, Layer{Type: "flatten"}, Layer{Type: "dense"}), img, []string{"layers[0]", "kernel 29", "28x28"}},
		{"kernel zero", L(Layer{Type: "conv2d", Out: 4}, Layer{Type: "flatten"}, Layer{Type: "dense"}), img, []string{"kernel must be >= 1"}},
		{"conv out zero", L(Layer{Type: "conv2d", Kernel: 3}, Layer{Type: "flatten"}, Layer{Type: "dense"}), img, []string{"out (channels)"}},
		{"negative padding", L(Layer{Type: "conv2d", Out: 1, Kernel: 3, Padding: -1}, Layer{Type: "flatten"}, Layer{Type: "dense"}), img, []string{"padding"}},
		{"last layer not dense", L(Layer{Type: "flatten"}, Layer{Type: "dense", Out: 10}, Layer{Type: "relu"}), img, []string{"layers[2]", "last layer must be dense", `"relu"`}},
		{"last dense out != classes", L(Layer{Type: "flatten"}, Layer{Type: "dense", Out: 7}), img, []string{"layers[1].out", "7 units", "10 classes"}},
		{"hidden dense out zero", L(Layer{Type: "flatten"}, Layer{Type: "dense"}, Layer{Type: "dense"}), img, []string{"layers[1]", "out (units)"}},
		{"unknown layer type", L(Layer{Type: "lstm"}, Layer{Type: "flatten"}, Layer{Type: "dense"}), img, append([]string{"layers[0] (lstm)", "unknown layer type"}, LayerTypes...)},
		{"dropout p = 1", L(Layer{Type: "flatten"}, Layer{Type: "dropout", P: 1}, Layer{Type: "dense"}), img, []string{"layers[1]", "p must be in [0, 1)"}},
		{"dropout p < 0", L(Layer{Type: "flatten"}, Layer{Type: "dropout", P: -0.1}, Layer{Type: "dense"}), img, []string{"layers[1]", "p must be"}},
		{"dropout2d on flat", L(Layer{Type: "dropout2d", P: 0.1}, Layer{Type: "dense"}), flat, []string{"layers[0]", "use dropout"}},
		{"model dropout out of range", ModelSpec{Name: "mlp", Hidden: []int{4}, Dropout: 1.5}, flat, []string{"learner.model.dropout"}},
		{"empty layers", ModelSpec{Name: "layers"}, flat, []string{"learner.model.layers", "empty"}},
		{"unknown model name", ModelSpec{Name: "resnet"}, flat, []string{"learner.model.name", "resnet", "cnn, mlp, layers"}},
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

func TestConfigValidate(t *testing.T) {
	flat := []int{4}
	ok := DefaultConfig()
	ok.Model = ModelSpec{Name: "mlp", Hidden: []int{8}}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"valid", func(*Config) {}, ""},
		{"valid sgd cuda", func(c *Config) { c.Train.Optimizer = "sgd"; c.Device = "cuda:1" }, ""},
		{"valid auto", func(c *Config) { c.Device = "auto" }, ""},
		{"optimizer", func(c *Config) { c.Train.Optimizer = "rmsprop" }, "learner.train.optimizer"},
		{"lr zero", func(c *Config) { c.Train.LR = 0 }, "learner.train.lr"},
		{"lr negative", func(c *Config) { c.Train.LR = -1 }, "learner.train.lr"},
		{"batch size", func(c *Config) { c.Train.BatchSize = 0 }, "learner.train.batch_size"},
		{"epochs", func(c *Config) { c.Train.Epochs = 0 }, "learner.train.epochs"},
		{"device", func(c *Config) { c.Device = "tpu" }, "learner.device"},
		{"threads", func(c *Config) { c.Threads = -1 }, "learner.threads"},
		{"inference batch", func(c *Config) { c.InferenceBatch = 0 }, "learner.inference_batch"},
		{"patience", func(c *Config) { c.Train.Patience = -1 }, "patience"},
		{"weight decay", func(c *Config) { c.Train.WeightDecay = -0.1 }, "weight_decay"},
		{"model", func(c *Config) { c.Model.Name = "cnn" }, "conv2d"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate(flat, 3)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error naming %q", err, tc.want)
			}
		})
	}
	if err := DefaultConfig().Validate([]int{1, 28, 28}, 10); err != nil {
		t.Errorf("default config on MNIST shape: %v", err)
	}
}

func sampleTensors() []Tensor {
	return []Tensor{
		{Name: "conv1.weight", Shape: []int{2, 1, 2, 2}, Data: []float32{1, -2, 3.5, 0, float32(math.Inf(1)), math.Float32frombits(0x80000000), 1e-30, math.Float32frombits(0x7fc00001)}},
		{Name: "conv1.bias", Shape: []int{2}, Data: []float32{0.25, -0.75}},
		{Name: "", Shape: []int{0, 3}, Data: []float32{}},
		{Name: "fc.weight", Shape: []int{3, 2}, Data: []float32{1, 2, 3, 4, 5, 6}},
	}
}

func tensorsEqual(a, b []Tensor) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !slices.Equal(a[i].Shape, b[i].Shape) || len(a[i].Data) != len(b[i].Data) {
			return false
		}
		for j := range a[i].Data {
			if math.Float32bits(a[i].Data[j]) != math.Float32bits(b[i].Data[j]) {
				return false
			}
		}
	}
	return true
}

func TestWeightsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.bin")
	ts := sampleTensors()
	if err := WriteWeights(path, ts); err != nil {
		t.Fatal(err)
	}
	got, err := ReadWeights(path)
	if err != nil {
		t.Fatal(err)
	}
	if !tensorsEqual(got, ts) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, ts)
	}
	// Overwrite in place; no temporary files are left behind.
	if err := WriteWeights(path, ts[:1]); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadWeights(path); err != nil || !tensorsEqual(got, ts[:1]) {
		t.Errorf("after overwrite: %+v, %v", got, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("folder holds %d entries after two writes, want 1", len(ents))
	}
	// No tensors at all.
	if err := WriteWeights(path, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadWeights(path); err != nil || len(got) != 0 {
		t.Errorf("empty file: %v, %v", got, err)
	}
}

func TestWeightsCorruption(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.bin")
	if err := WriteWeights(path, sampleTensors()); err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, b []byte) {
		t.Helper()
		p := filepath.Join(t.TempDir(), "bad.bin")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadWeights(p)
		if err == nil {
			t.Fatal("ReadWeights accepted a damaged file")
		}
		if !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), p) {
			t.Errorf("error %q should say corrupt and name the file", err)
		}
	}
	// Flipping any single byte is detected.
	for _, pos := range []int{0, 7, 8, 12, 20, len(orig) / 2, len(orig) - 5, len(orig) - 1} {
		t.Run(fmt.Sprintf("flip %d", pos), func(t *testing.T) {
			b := slices.Clone(orig)
			b[pos] ^= 0x40
			check(t, b)
		})
	}
	for _, n := range []int{0, 5, 12, len(orig) / 2, len(orig) - 1} {
		t.Run(fmt.Sprintf("truncate to %d", n), func(t *testing.T) {
			check(t, orig[:n])
		})
	}
	t.Run("garbage", func(t *testing.T) { check(t, []byte("this is not a weights file at all")) })
	if _, err := ReadWeights(filepath.Join(dir, "missing.bin")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// countingLearner counts computations and implements the capabilities named
// by its flags through the wrapper types below.
type countingLearner struct {
	probs, mc, embed int
	fits             int
}

func (c *countingLearner) Fit(context.Context, Labeled, Labeled, uint64) (FitStats, error) {
	c.fits++
	return FitStats{Epochs: 1}, nil
}

func (c *countingLearner) Probs(_ context.Context, idx []int) (*mat.Dense, error) {
	c.probs++
	m := mat.NewDense(len(idx), 2, nil)
	for i, j := range idx {
		m.Set(i, 0, float64(j))
		m.Set(i, 1, float64(c.probs))
	}
	return m, nil
}
func (c *countingLearner) NumClasses() int        { return 2 }
func (c *countingLearner) Reseed(uint64)          {}
func (c *countingLearner) Describe() string       { return "counting-fake" }
func (c *countingLearner) Save(string) error      { return nil }
func (c *countingLearner) Load(string) error      { return nil }
func (c *countingLearner) Close() error           { return nil }
func (c *countingLearner) calls() (int, int, int) { return c.probs, c.mc, c.embed }

type fullLearner struct {
	*countingLearner
	dropout bool
}

func (f fullLearner) MCProbs(_ context.Context, idx []int, T int) ([]*mat.Dense, error) {
	f.mc++
	out := make([]*mat.Dense, T)
	for i := range out {
		out[i] = mat.NewDense(len(idx), 2, nil)
	}
	return out, nil
}

func (f fullLearner) Embed(_ context.Context, idx []int) (*mat.Dense, error) {
	f.embed++
	return mat.NewDense(len(idx), 3, nil), nil
}

func (f fullLearner) LastLayerWeights() (*mat.Dense, error) { return mat.NewDense(2, 3, nil), nil }

func (f fullLearner) HasDropout() bool { return f.dropout }

func TestMemoCachesProbs(t *testing.T) {
	ctx := context.Background()
	c := &countingLearner{}
	m := NewMemo(c)
	p1, err := m.Probs(ctx, []int{3, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := m.Probs(ctx, []int{3, 1, 2})
	if c.probs != 1 || p1 != p2 || m.Calls[CapProbs] != 1 {
		t.Errorf("same idx twice: %d computations (Calls %d), same result %v", c.probs, m.Calls[CapProbs], p1 == p2)
	}
	for _, idx := range [][]int{{1, 2, 3}, {3, 1}, {3, 1, 2, 0}, {2}} {
		before := c.probs
		if _, err := m.Probs(ctx, idx); err != nil {
			t.Fatal(err)
		}
		if c.probs != before+1 {
			t.Errorf("idx %v: not computed (different idx must not hit the cache)", idx)
		}
	}
	m.Reset()
	p3, _ := m.Probs(ctx, []int{3, 1, 2})
	if c.probs != 6 || p3 == p1 {
		t.Errorf("after Reset: %d computations, want 6", c.probs)
	}
	if _, err := m.Fit(ctx, Labeled{}, Labeled{}, 0); err != nil || c.fits != 1 {
		t.Fatal(err)
	}
	if _, _ = m.Probs(ctx, []int{3, 1, 2}); c.probs != 7 {
		t.Errorf("Fit did not clear the cache: %d computations, want 7", c.probs)
	}
	if err := m.Load("x"); err != nil {
		t.Fatal(err)
	}
	if _, _ = m.Probs(ctx, []int{3, 1, 2}); c.probs != 8 {
		t.Errorf("Load did not clear the cache: %d computations, want 8", c.probs)
	}
	if m.Calls[CapProbs] != 8 {
		t.Errorf("Calls[probabilities] = %d, want 8", m.Calls[CapProbs])
	}
}

func TestMemoCachesMCAndEmbed(t *testing.T) {
	ctx := context.Background()
	c := &countingLearner{}
	m := NewMemo(fullLearner{countingLearner: c, dropout: true})
	idx := []int{5, 6}
	for i := 0; i < 2; i++ {
		if s, err := m.MCProbs(ctx, idx, 4); err != nil || len(s) != 4 {
			t.Fatalf("MCProbs: %d samples, %v", len(s), err)
		}
		if _, err := m.Embed(ctx, idx); err != nil {
			t.Fatal(err)
		}
	}
	if _, mc, emb := c.calls(); mc != 1 || emb != 1 {
		t.Errorf("twice each: %d MC and %d embed computations, want 1 and 1", mc, emb)
	}
	if _, err := m.MCProbs(ctx, idx, 5); err != nil {
		t.Fatal(err)
	}
	if c.mc != 2 {
		t.Errorf("different T hit the cache: %d MC computations, want 2", c.mc)
	}
	if _, err := m.MCProbs(ctx, idx, 0); err == nil || !strings.Contains(err.Error(), "T must be >= 1") {
		t.Errorf("T = 0: %v", err)
	}
	if _, err := m.LastLayerWeights(); err != nil {
		t.Error(err)
	}
	// Probs and embeddings of the same idx are cached apart.
	if _, err := m.Probs(ctx, idx); err != nil || c.probs != 1 {
		t.Errorf("Probs after Embed: %d computations, %v", c.probs, err)
	}
}

func TestMemoCapabilityErrors(t *testing.T) {
	ctx := context.Background()
	m := NewMemo(&countingLearner{})
	_, err := m.MCProbs(ctx, []int{1}, 3)
	if !IsCapabilityError(err) {
		t.Fatalf("MCProbs on a learner without MCSampler: %v, want a CapabilityError", err)
	}
	var ce *CapabilityError
	if !errors.As(err, &ce) || ce.Capability != CapMCDropout {
		t.Errorf("capability = %v", ce)
	}
	if !strings.Contains(err.Error(), string(CapMCDropout)) || !strings.Contains(err.Error(), "counting-fake") {
		t.Errorf("error %q should name the capability and the learner", err)
	}
	if !IsCapabilityError(fmt.Errorf("round 3: %w", err)) {
		t.Error("IsCapabilityError does not see through wrapping")
	}
	if IsCapabilityError(errors.New("other")) || IsCapabilityError(nil) {
		t.Error("IsCapabilityError true for a plain error or nil")
	}
	_, err = m.Embed(ctx, []int{1})
	if !IsCapabilityError(err) || !strings.Contains(err.Error(), string(CapEmbeddings)) {
		t.Errorf("Embed: %v", err)
	}
	_, err = m.LastLayerWeights()
	if !IsCapabilityError(err) || !strings.Contains(err.Error(), string(CapLastLayer)) {
		t.Errorf("LastLayerWeights: %v", err)
	}
	// An MCSampler whose network has no dropout is rejected too.
	m2 := NewMemo(fullLearner{countingLearner: &countingLearner{}, dropout: false})
	if _, err := m2.MCProbs(ctx, []int{1}, 3); !IsCapabilityError(err) {
		t.Errorf("MCProbs without dropout layers: %v", err)
	}
}

func TestHas(t *testing.T) {
	plain := &countingLearner{}
	full := fullLearner{countingLearner: &countingLearner{}, dropout: true}
	noDrop := fullLearner{countingLearner: &countingLearner{}, dropout: false}
	tests := []struct {
		name string
		l    Learner
		want map[Capability]bool
	}{
		{"plain", plain, map[Capability]bool{CapProbs: true, CapMCDropout: false, CapEmbeddings: false, CapLastLayer: false}},
		{"full", full, map[Capability]bool{CapProbs: true, CapMCDropout: true, CapEmbeddings: true, CapLastLayer: true}},
		{"no dropout", noDrop, map[Capability]bool{CapProbs: true, CapMCDropout: false, CapEmbeddings: true, CapLastLayer: true}},
		{"memo of full", NewMemo(full), map[Capability]bool{CapProbs: true, CapMCDropout: true, CapEmbeddings: true, CapLastLayer: true}},
		{"memo of plain", NewMemo(plain), map[Capability]bool{CapProbs: true, CapMCDropout: false, CapEmbeddings: false, CapLastLayer: false}},
	}
	for _, tc := range tests {
		for c, want := range tc.want {
			if got := Has(tc.l, c); got != want {
				t.Errorf("%s: Has(%s) = %v, want %v", tc.name, c, got, want)
			}
		}
		if Has(tc.l, Capability("telepathy")) {
			t.Errorf("%s: Has(unknown capability) = true", tc.name)
		}
	}
}

func TestBackendRegistry(t *testing.T) {
	called := false
	RegisterBackend("zz-test-fake", "fake", func(in datasets.Inputs, c int, cfg Config) (Learner, error) {
		called = true
		return &countingLearner{}, nil
	})
	if !slices.Contains(Backends(), "zz-test-fake") || !slices.IsSorted(Backends()) {
		t.Errorf("Backends() = %v", Backends())
	}
	cfg := DefaultConfig()
	cfg.Backend = "zz-test-fake"
	l, err := New(datasets.Inputs{}, 2, cfg)
	if err != nil || !called || l.Describe() != "counting-fake" {
		t.Errorf("New with the registered backend: %v, %v", l, err)
	}
	cfg.Backend = "nope"
	_, err = New(datasets.Inputs{}, 2, cfg)
	if err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "zz-test-fake") {
		t.Errorf("unknown backend: %v", err)
	}
	if d := DefaultBackend(); d == "" || !slices.Contains(Backends(), d) {
		t.Errorf("DefaultBackend() = %q", d)
	}
}

func TestBackendSupportsAndRequire(t *testing.T) {
	Register(BackendInfo{Name: "zz-test-picky", Doc: "rejects tanh", New: func(datasets.Inputs, int, Config) (Learner, error) { return &countingLearner{}, nil },
		Supports: func(cfg Config, arch Architecture) error {
			for i, l := range arch.Layers {
				if l.Type == "tanh" {
					return fmt.Errorf("learner.model.layers[%d]: tanh needs another backend", i)
				}
			}
			return nil
		}})
	cfg := DefaultConfig()
	cfg.Backend = "zz-test-picky"
	cfg.Model = ModelSpec{Name: "layers", Layers: []Layer{{Type: "flatten"}, {Type: "dense", Out: 4}, {Type: "relu"}, {Type: "dense"}}}
	if err := cfg.Validate([]int{3}, 2); err != nil {
		t.Fatalf("a supported model: %v", err)
	}
	cfg.Model.Layers[2].Type = "tanh"
	if err := cfg.Validate([]int{3}, 2); err == nil || !strings.Contains(err.Error(), "layers[2]: tanh needs another backend") {
		t.Fatalf("Validate did not ask the backend: %v", err)
	}
	cfg.Backend = "zz-not-compiled"
	if err := cfg.Validate([]int{3}, 2); err == nil || !strings.Contains(err.Error(), `"zz-not-compiled" is not compiled into this binary`) {
		t.Fatalf("Validate with a backend that is not compiled in: %v", err)
	}
	cfg.Backend = "torch"
	if err := cfg.RequireBackend("trainer", "the VAAL trainer", "torch"); err != nil {
		t.Fatalf("RequireBackend(torch) on torch: %v", err)
	}
	cfg.Backend = "gorgonia"
	err := cfg.RequireBackend("trainer", "the VAAL trainer", "torch")
	if err == nil || !strings.Contains(err.Error(), "trainer: the VAAL trainer needs the torch backend") || !strings.Contains(err.Error(), "-tags torch") {
		t.Fatalf("RequireBackend(torch) on gorgonia: %v", err)
	}
}

func TestProgressReport(t *testing.T) {
	var got []string
	ctx := WithProgress(context.Background(), func(stage string, done, total int) {
		got = append(got, fmt.Sprintf("%s %d/%d", stage, done, total))
	})
	Report(ctx, "train", 1, 3)
	Report(context.Background(), "ignored", 0, 0)
	if !reflect.DeepEqual(got, []string{"train 1/3"}) {
		t.Errorf("progress = %v", got)
	}
}
