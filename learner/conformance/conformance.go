// Package conformance is the test suite every learner backend passes, so
// that backends are interchangeable: a backend's test file calls Run with its
// factory. The suite loads fixed weights (written with learner.WriteWeights)
// into small networks that use every layer type and checks class
// probabilities and embeddings against a float64 reference implementation
// (Forward), so two conforming backends give the same numbers within float32
// tolerance; it also checks that training reduces the loss, that seeded
// training is reproducible, that Monte-Carlo-dropout samples differ and
// average to the deterministic output, that embeddings are N x EmbedDim, and
// that weights round-trip through Save and Load.
package conformance

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/learner"
)

// Tol is the largest absolute difference allowed between a backend's class
// probabilities (or embeddings) and the reference.
const Tol = 1e-4

// Quadrants returns n synthetic 1x12x12 images of 4 classes: class c has a
// bright c-th quadrant, over a faint deterministic texture.
func Quadrants(n int) *datasets.Dataset {
	d := &datasets.Dataset{Name: "quadrants", Shape: []int{1, 12, 12}, NumClasses: 4, TrainN: n}
	for i := 0; i < n; i++ {
		c := i % 4
		img := make([]float32, 144)
		for y := 0; y < 12; y++ {
			for x := 0; x < 12; x++ {
				q := (y/6)*2 + x/6
				v := float32(0.1 * float64((i*7+y*3+x)%5) / 5)
				if q == c {
					v += 0.8
				}
				img[y*12+x] = v
			}
		}
		d.X = append(d.X, img...)
		d.Y = append(d.Y, c)
	}
	return d
}

// Model is one network of the suite.
type Model struct {
	Name string
	Spec learner.ModelSpec
}

// Models returns the suite's networks for 1x12x12 inputs: "every-layer" uses
// each layer type once (conv2d with padding, both poolings, padded average
// pooling, tanh, sigmoid, both dropouts), "cnn" is a small version of the
// DBAL / BatchBALD CNN with a strided convolution and padded max pooling, and
// "mlp" is the built-in MLP.
func Models() []Model {
	return []Model{
		{"every-layer", learner.ModelSpec{Name: "layers", Layers: []learner.Layer{
			{Type: "conv2d", Out: 4, Kernel: 3, Padding: 1}, // 4x12x12
			{Type: "maxpool2d", Kernel: 2},                  // 4x6x6
			{Type: "relu"},
			{Type: "conv2d", Out: 6, Kernel: 3}, // 6x4x4
			{Type: "dropout2d", P: 0.5},
			{Type: "avgpool2d", Kernel: 2, Stride: 1, Padding: 1}, // 6x5x5
			{Type: "tanh"},
			{Type: "flatten"}, // 150
			{Type: "dense", Out: 16},
			{Type: "sigmoid"},
			{Type: "dropout", P: 0.3},
			{Type: "dense"},
		}}},
		{"cnn", CNN()},
		{"mlp", learner.ModelSpec{Name: "mlp", Hidden: []int{12}, Dropout: 0.2}},
	}
}

// CNN returns a small DBAL / BatchBALD-style CNN for 1x12x12 inputs: conv,
// pool, relu, strided conv, dropout2d, padded pool, relu, dense, relu,
// dropout, dense.
func CNN() learner.ModelSpec {
	s := PlainCNN()
	s.Layers[3].Stride = 2                         // 8x2x2
	s.Layers[5].Stride, s.Layers[5].Padding = 1, 1 // 8x3x3
	return s
}

// PlainCNN returns CNN with unit strides and no padding: conv, pool, relu,
// conv, dropout2d, pool, relu, dense, relu, dropout, dense (the torch
// backend's and the trainers' torch tests train it).
func PlainCNN() learner.ModelSpec {
	return learner.ModelSpec{Name: "layers", Layers: []learner.Layer{
		{Type: "conv2d", Out: 4, Kernel: 3}, // 4x10x10
		{Type: "maxpool2d", Kernel: 2},      // 4x5x5
		{Type: "relu"},
		{Type: "conv2d", Out: 8, Kernel: 3}, // 8x3x3
		{Type: "dropout2d", P: 0.5},
		{Type: "maxpool2d", Kernel: 2}, // 8x1x1
		{Type: "relu"},
		{Type: "flatten"},
		{Type: "dense", Out: 16},
		{Type: "relu"},
		{Type: "dropout", P: 0.3},
		{Type: "dense"},
	}}
}

// Config returns the suite's learner config around spec: small batches, a
// learning rate that learns the quadrant task in a few epochs, no early
// stopping.
func Config(spec learner.ModelSpec) learner.Config {
	cfg := learner.DefaultConfig()
	cfg.Threads = 0
	cfg.InferenceBatch = 16
	cfg.Model = spec
	cfg.Train.Epochs = 15
	cfg.Train.BatchSize = 16
	cfg.Train.Patience = 0
	cfg.Train.LR = 0.01
	return cfg
}

// Weights returns deterministic weights for arch in the weights file's
// names, shapes and layout (uniform in +-2.5/sqrt(fan_in), so that outputs are
// far from uniform).
func Weights(arch learner.Architecture, seed uint64) []learner.Tensor {
	rng := rand.New(rand.NewPCG(seed, 77))
	var out []learner.Tensor
	for i, l := range arch.Layers {
		var shape []int
		switch l.Type {
		case "conv2d":
			shape = []int{l.Out, l.InShape[0], l.Kernel, l.Kernel}
		case "dense":
			shape = []int{l.Out, l.InShape[0]}
		default:
			continue
		}
		fan := 1
		for _, s := range shape[1:] {
			fan *= s
		}
		bound := 2.5 / math.Sqrt(float64(fan))
		draw := func(n int) []float32 {
			v := make([]float32, n)
			for j := range v {
				v[j] = float32((2*rng.Float64() - 1) * bound)
			}
			return v
		}
		size := 1
		for _, s := range shape {
			size *= s
		}
		out = append(out,
			learner.Tensor{Name: fmt.Sprintf("l%d_weight", i), Shape: shape, Data: draw(size)},
			learner.Tensor{Name: fmt.Sprintf("l%d_bias", i), Shape: []int{l.Out}, Data: draw(l.Out)})
	}
	return out
}

// Loaded builds a learner with newLearner over d and loads weights into it
// through a weights file.
func Loaded(t testing.TB, newLearner learner.Factory, d *datasets.Dataset, cfg learner.Config, w []learner.Tensor) learner.Learner {
	t.Helper()
	path := filepath.Join(t.TempDir(), "weights.bin")
	if err := learner.WriteWeights(path, w); err != nil {
		t.Fatal(err)
	}
	l, err := newLearner(d.Inputs(), d.NumClasses, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Load(path); err != nil {
		t.Fatal(err)
	}
	return l
}

// Seq returns lo, lo+1, ..., hi-1.
func Seq(lo, hi int) []int {
	out := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

// Labeled returns the labeled set of d's samples idx.
func Labeled(d *datasets.Dataset, idx []int) learner.Labeled {
	l := learner.Labeled{Idx: idx}
	for _, i := range idx {
		l.Y = append(l.Y, d.Y[i])
	}
	return l
}

// MaxAbsDiff returns the largest absolute difference between a and rows.
func MaxAbsDiff(a *mat.Dense, rows [][]float64) float64 {
	r, c := a.Dims()
	if r != len(rows) {
		return math.Inf(1)
	}
	m := 0.0
	for i := 0; i < r; i++ {
		if len(rows[i]) != c {
			return math.Inf(1)
		}
		for j := 0; j < c; j++ {
			m = math.Max(m, math.Abs(a.At(i, j)-rows[i][j]))
		}
	}
	return m
}

// Rows returns the rows of m.
func Rows(m *mat.Dense) [][]float64 {
	r, _ := m.Dims()
	out := make([][]float64, r)
	for i := range out {
		out[i] = slices.Clone(m.RawRowView(i))
	}
	return out
}

// Run runs the whole suite against the backend that newLearner builds.
func Run(t *testing.T, newLearner learner.Factory) {
	t.Run("ReferenceProbabilities", func(t *testing.T) { testReference(t, newLearner) })
	t.Run("SaveLoad", func(t *testing.T) { testSaveLoad(t, newLearner) })
	t.Run("TrainingReducesLoss", func(t *testing.T) { testTraining(t, newLearner) })
	t.Run("SeededFit", func(t *testing.T) { testSeeded(t, newLearner) })
	t.Run("EarlyStopping", func(t *testing.T) { testEarlyStopping(t, newLearner) })
	t.Run("MCDropout", func(t *testing.T) { testMC(t, newLearner) })
	t.Run("Errors", func(t *testing.T) { testErrors(t, newLearner) })
}

// testReference: fixed weights give the reference's probabilities and
// embeddings, in batches that do not divide the set evenly.
func testReference(t *testing.T, newLearner learner.Factory) {
	d := Quadrants(40)
	ctx := context.Background()
	for _, m := range Models() {
		t.Run(m.Name, func(t *testing.T) {
			cfg := Config(m.Spec)
			cfg.InferenceBatch = 7
			arch, err := m.Spec.Resolve(d.Shape, d.NumClasses)
			if err != nil {
				t.Fatal(err)
			}
			w := Weights(arch, 3)
			l := Loaded(t, newLearner, d, cfg, w)
			idx := []int{5, 0, 39, 12, 7, 7, 30, 21, 2, 33, 18, 9, 26, 14, 1, 38, 3}
			x, err := d.Inputs().Gather(idx, nil)
			if err != nil {
				t.Fatal(err)
			}
			wantP, wantZ, err := Forward(arch, w, x, len(idx))
			if err != nil {
				t.Fatal(err)
			}
			p, err := l.Probs(ctx, idx)
			if err != nil {
				t.Fatal(err)
			}
			if r, c := p.Dims(); r != len(idx) || c != d.NumClasses {
				t.Fatalf("Probs is %dx%d, want %dx%d", r, c, len(idx), d.NumClasses)
			}
			if diff := MaxAbsDiff(p, wantP); diff > Tol {
				t.Errorf("probabilities differ from the reference by up to %g (tolerance %g)", diff, Tol)
			}
			spread := 0.0
			for _, row := range wantP {
				spread = math.Max(spread, slices.Max(row)-slices.Min(row))
			}
			if spread < 0.1 {
				t.Fatalf("reference probabilities are nearly uniform (spread %g); the test weights are too small", spread)
			}
			emb, ok := l.(learner.Embedder)
			if !ok {
				t.Fatal("the learner does not implement learner.Embedder")
			}
			z, err := emb.Embed(ctx, idx)
			if err != nil {
				t.Fatal(err)
			}
			if r, c := z.Dims(); r != len(idx) || c != arch.EmbedDim() {
				t.Fatalf("Embed is %dx%d, want N x EmbedDim = %dx%d", r, c, len(idx), arch.EmbedDim())
			}
			if diff := MaxAbsDiff(z, wantZ); diff > Tol {
				t.Errorf("embeddings differ from the reference by up to %g", diff)
			}
			ll, ok := l.(learner.LastLayer)
			if !ok {
				t.Fatal("the learner does not implement learner.LastLayer")
			}
			lw, err := ll.LastLayerWeights()
			if err != nil {
				t.Fatal(err)
			}
			last := w[len(w)-2]
			if r, c := lw.Dims(); r != d.NumClasses || c != arch.EmbedDim() {
				t.Fatalf("LastLayerWeights is %dx%d, want C x D = %dx%d", r, c, d.NumClasses, arch.EmbedDim())
			}
			for i := 0; i < d.NumClasses; i++ {
				for j := 0; j < arch.EmbedDim(); j++ {
					if got, want := lw.At(i, j), float64(last.Data[i*arch.EmbedDim()+j]); got != want {
						t.Fatalf("LastLayerWeights[%d][%d] = %g, the loaded weight is %g", i, j, got, want)
					}
				}
			}
			// An empty index set gives an empty answer, not an error.
			if e, err := l.Probs(ctx, nil); err != nil || !e.IsEmpty() {
				t.Errorf("Probs(nil) = %v, %v; want an empty matrix", e, err)
			}
		})
	}
}

// testSaveLoad: Save writes the documented names and shapes, and a fresh
// learner that loads them computes the same probabilities; a learner with
// another architecture refuses them.
func testSaveLoad(t *testing.T, newLearner learner.Factory) {
	d := Quadrants(24)
	ctx := context.Background()
	cfg := Config(CNN())
	arch, _ := cfg.Model.Resolve(d.Shape, d.NumClasses)
	l := Loaded(t, newLearner, d, cfg, Weights(arch, 5))
	path := filepath.Join(t.TempDir(), "saved.bin")
	if err := l.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := learner.ReadWeights(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Weights(arch, 5)
	if len(got) != len(want) {
		t.Fatalf("saved %d tensors, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Name != want[i].Name || !slices.Equal(got[i].Shape, want[i].Shape) || !slices.Equal(got[i].Data, want[i].Data) {
			t.Fatalf("saved tensor %d is %s %v, want %s %v with the loaded values", i, got[i].Name, got[i].Shape, want[i].Name, want[i].Shape)
		}
	}
	l2, err := newLearner(d.Inputs(), d.NumClasses, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if err := l2.Load(path); err != nil {
		t.Fatal(err)
	}
	a, _ := l.Probs(ctx, Seq(0, 24))
	b, err := l2.Probs(ctx, Seq(0, 24))
	if err != nil {
		t.Fatal(err)
	}
	if !mat.Equal(a, b) {
		t.Fatal("probabilities differ after save and load")
	}
	other := Config(CNN())
	other.Model.Layers[8].Out = 32
	l3, err := newLearner(d.Inputs(), d.NumClasses, other)
	if err != nil {
		t.Fatal(err)
	}
	defer l3.Close()
	if err := l3.Load(path); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Fatalf("loading into another architecture: %v, want a shape error", err)
	}
}

func nll(p *mat.Dense, set learner.Labeled) (loss, acc float64) {
	for i, y := range set.Y {
		row := p.RawRowView(i)
		loss -= math.Log(math.Max(row[y], 1e-12))
		if slices.Index(row, slices.Max(row)) == y {
			acc++
		}
	}
	return loss / float64(set.Len()), acc / float64(set.Len())
}

// testTraining: fitting lowers the training loss, and a warm start from
// loaded weights lowers their loss.
func testTraining(t *testing.T, newLearner learner.Factory) {
	d := Quadrants(96)
	ctx := context.Background()
	train, test := Labeled(d, Seq(0, 64)), Labeled(d, Seq(64, 96))
	for _, m := range []Model{{"cnn", CNN()}, {"mlp", Models()[2].Spec}} {
		t.Run(m.Name, func(t *testing.T) {
			cfg := Config(m.Spec)
			arch, _ := m.Spec.Resolve(d.Shape, d.NumClasses)
			warm := cfg
			warm.Train.WarmStart = true
			l := Loaded(t, newLearner, d, warm, Weights(arch, 9))
			p0, err := l.Probs(ctx, train.Idx)
			if err != nil {
				t.Fatal(err)
			}
			before, _ := nll(p0, train)
			st, err := l.Fit(ctx, train, learner.Labeled{}, 1)
			if err != nil {
				t.Fatal(err)
			}
			if st.Epochs != cfg.Train.Epochs || !math.IsNaN(st.ValAcc) {
				t.Errorf("FitStats %+v: want %d epochs and NaN validation accuracy without a validation set", st, cfg.Train.Epochs)
			}
			p1, _ := l.Probs(ctx, train.Idx)
			after, _ := nll(p1, train)
			if !(after < before/2) {
				t.Errorf("warm-started training: loss %g -> %g, want at least halved", before, after)
			}
			// From scratch: the last epoch's loss is far below the first's,
			// and the easy task is learned.
			one := cfg
			one.Train.Epochs = 1
			l1, err := newLearner(d.Inputs(), d.NumClasses, one)
			if err != nil {
				t.Fatal(err)
			}
			defer l1.Close()
			s1, err := l1.Fit(ctx, train, learner.Labeled{}, 2)
			if err != nil {
				t.Fatal(err)
			}
			lf, err := newLearner(d.Inputs(), d.NumClasses, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer lf.Close()
			sf, err := lf.Fit(ctx, train, test, 2)
			if err != nil {
				t.Fatal(err)
			}
			if !(sf.TrainLoss < s1.TrainLoss/2) {
				t.Errorf("training loss after 1 epoch %g, after %d epochs %g: want it at least halved", s1.TrainLoss, cfg.Train.Epochs, sf.TrainLoss)
			}
			pt, _ := lf.Probs(ctx, test.Idx)
			if _, acc := nll(pt, test); acc < 0.85 {
				t.Errorf("test accuracy %g on the quadrant task after training", acc)
			}
		})
	}
}

// testSeeded: one seed gives one model; another seed another.
func testSeeded(t *testing.T, newLearner learner.Factory) {
	d := Quadrants(64)
	ctx := context.Background()
	cfg := Config(CNN())
	cfg.Train.Epochs = 3
	fit := func(seed uint64) *mat.Dense {
		l, err := newLearner(d.Inputs(), d.NumClasses, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if _, err := l.Fit(ctx, Labeled(d, Seq(0, 40)), Labeled(d, Seq(40, 50)), seed); err != nil {
			t.Fatal(err)
		}
		p, err := l.Probs(ctx, Seq(50, 64))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b, c := fit(5), fit(5), fit(6)
	if !mat.Equal(a, b) {
		t.Error("the same seed gave different models")
	}
	if mat.Equal(a, c) {
		t.Error("different seeds gave identical models")
	}
}

// testEarlyStopping: training stops patience epochs after the best
// validation accuracy and keeps that epoch's weights.
func testEarlyStopping(t *testing.T, newLearner learner.Factory) {
	d := Quadrants(128)
	ctx := context.Background()
	cfg := Config(CNN())
	cfg.Train.Patience = 2
	cfg.Train.Epochs = 40
	l, err := newLearner(d.Inputs(), d.NumClasses, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	val := Labeled(d, Seq(64, 128))
	st, err := l.Fit(ctx, Labeled(d, Seq(0, 16)), val, 4)
	if err != nil {
		t.Fatal(err)
	}
	if st.Epochs < st.BestEpoch || st.Epochs > st.BestEpoch+2 || (st.Epochs < cfg.Train.Epochs && st.Epochs != st.BestEpoch+2) {
		t.Fatalf("stopped at epoch %d with best %d and patience 2", st.Epochs, st.BestEpoch)
	}
	p, err := l.Probs(ctx, val.Idx)
	if err != nil {
		t.Fatal(err)
	}
	loss, acc := nll(p, val)
	if acc != st.ValAcc || math.Abs(loss-st.ValLoss) > 1e-9 {
		t.Fatalf("kept weights have validation accuracy %g and loss %g; Fit reported %g and %g", acc, loss, st.ValAcc, st.ValLoss)
	}
}

// testMC: samples have the right shape, differ from each other, repeat
// after Reseed, and their mean approaches the deterministic output.
func testMC(t *testing.T, newLearner learner.Factory) {
	d := Quadrants(96)
	ctx := context.Background()
	cfg := Config(CNN())
	l, err := newLearner(d.Inputs(), d.NumClasses, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Fit(ctx, Labeled(d, Seq(0, 64)), learner.Labeled{}, 4); err != nil {
		t.Fatal(err)
	}
	s, ok := l.(learner.MCSampler)
	if !ok || !learner.Has(l, learner.CapMCDropout) {
		t.Fatal("a network with dropout does not provide MC-dropout samples")
	}
	idx := Seq(64, 96)
	l.Reseed(11)
	a, err := s.MCProbs(ctx, idx, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 4 {
		t.Fatalf("%d samples, want 4", len(a))
	}
	for k, m := range a {
		if r, c := m.Dims(); r != len(idx) || c != d.NumClasses {
			t.Fatalf("sample %d is %dx%d", k, r, c)
		}
		for i := 0; i < len(idx); i++ {
			if sum := mat.Sum(m.RowView(i)); math.Abs(sum-1) > 1e-4 {
				t.Fatalf("sample %d row %d sums to %g", k, i, sum)
			}
		}
	}
	if mat.Equal(a[0], a[1]) {
		t.Error("two MC-dropout samples are identical")
	}
	l.Reseed(11)
	b, _ := s.MCProbs(ctx, idx, 4)
	for k := range a {
		if !mat.Equal(a[k], b[k]) {
			t.Fatalf("sample %d differs after Reseed with the same seed", k)
		}
	}
	many, err := s.MCProbs(ctx, idx, 300)
	if err != nil {
		t.Fatal(err)
	}
	det, _ := l.Probs(ctx, idx)
	mean := func(ms []*mat.Dense) *mat.Dense {
		out := mat.NewDense(len(idx), d.NumClasses, nil)
		for _, m := range ms {
			out.Add(out, m)
		}
		out.Scale(1.0/float64(len(ms)), out)
		return out
	}
	meanAbs := func(a, b *mat.Dense) float64 {
		var diff mat.Dense
		diff.Sub(a, b)
		s := 0.0
		for _, v := range diff.RawMatrix().Data {
			s += math.Abs(v)
		}
		return s / float64(len(idx)*d.NumClasses)
	}
	// Dropout's weight scaling only approximates the MC average, so compare
	// the mean absolute difference per entry; the two halves' means agree
	// (the average converges).
	if dist := meanAbs(mean(many), det); dist > 0.1 {
		t.Errorf("MC mean differs from the deterministic output by %g per entry", dist)
	}
	if half := meanAbs(mean(many[:150]), mean(many[150:])); half > 0.02 {
		t.Errorf("the means of two halves of 300 MC samples differ by %g per entry", half)
	}
}

// testErrors: bad calls give errors naming the problem.
func testErrors(t *testing.T, newLearner learner.Factory) {
	d := Quadrants(32)
	ctx := context.Background()
	l, err := newLearner(d.Inputs(), d.NumClasses, Config(CNN()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Probs(ctx, []int{0}); err == nil || !strings.Contains(err.Error(), "not been fitted") {
		t.Errorf("Probs before Fit: %v, want an error saying it is not fitted", err)
	}
	bad := learner.Labeled{Idx: []int{0, 1}, Y: []int{0, 7}}
	if _, err := l.Fit(ctx, bad, learner.Labeled{}, 1); err == nil || !strings.Contains(err.Error(), "label 7") {
		t.Errorf("Fit with label 7 of 4 classes: %v", err)
	}
	if _, err := l.Fit(ctx, learner.Labeled{}, learner.Labeled{}, 1); err == nil {
		t.Error("Fit without samples succeeded")
	}
	one := Config(CNN())
	one.Train.Epochs = 1
	l1, _ := newLearner(d.Inputs(), d.NumClasses, one)
	defer l1.Close()
	if _, err := l1.Fit(ctx, Labeled(d, Seq(0, 8)), learner.Labeled{}, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := l1.Probs(ctx, []int{0, 99}); err == nil || !strings.Contains(err.Error(), "99") {
		t.Errorf("Probs of an index out of range: %v", err)
	}
	if _, err := l1.(learner.MCSampler).MCProbs(ctx, []int{0}, 0); err == nil {
		t.Error("MCProbs with T = 0 succeeded")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l1.Fit(cctx, Labeled(d, Seq(0, 8)), learner.Labeled{}, 1); err == nil {
		t.Error("Fit with a cancelled context succeeded")
	}
	if err := l1.Load(filepath.Join(t.TempDir(), "missing.bin")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}
