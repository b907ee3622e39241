//go:build torch

package torch

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/learner/conformance"
)

// images returns a small synthetic image data set: class c has a bright
// c-th quadrant (4 classes, 1x12x12).
func images(t *testing.T, n int) *datasets.Dataset {
	t.Helper()
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

func smallCNN() learner.Config {
	cfg := conformance.Config(conformance.PlainCNN())
	cfg.Threads = 1
	return cfg
}

func labeled(d *datasets.Dataset, idx []int) learner.Labeled {
	l := learner.Labeled{Idx: idx}
	for _, i := range idx {
		l.Y = append(l.Y, d.Y[i])
	}
	return l
}

func seq(lo, hi int) []int {
	out := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

func fitted(t *testing.T, d *datasets.Dataset, cfg learner.Config, seed uint64) *Learner {
	t.Helper()
	l, err := New(d.Inputs(), d.NumClasses, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if _, err := l.Fit(context.Background(), labeled(d, seq(0, 64)), labeled(d, seq(64, 96)), seed); err != nil {
		t.Fatal(err)
	}
	return l.(*Learner)
}

func equalDense(a, b *mat.Dense) bool { return mat.Equal(a, b) }

func TestShapesAndProbabilities(t *testing.T) {
	d := images(t, 128)
	l := fitted(t, d, smallCNN(), 1)
	ctx := context.Background()
	idx := seq(96, 128)
	p, err := l.Probs(ctx, idx)
	if err != nil {
		t.Fatal(err)
	}
	if r, c := p.Dims(); r != 32 || c != 4 {
		t.Fatalf("probs dims %dx%d, want 32x4", r, c)
	}
	for i := 0; i < 32; i++ {
		s := 0.0
		for _, v := range p.RawRowView(i) {
			s += v
		}
		if math.Abs(s-1) > 1e-5 {
			t.Fatalf("row %d sums to %g", i, s)
		}
	}
	z, err := l.Embed(ctx, idx)
	if err != nil {
		t.Fatal(err)
	}
	if r, c := z.Dims(); r != 32 || c != 16 {
		t.Fatalf("embed dims %dx%d, want 32x16", r, c)
	}
	w, err := l.LastLayerWeights()
	if err != nil {
		t.Fatal(err)
	}
	if r, c := w.Dims(); r != 4 || c != 16 {
		t.Fatalf("last layer dims %dx%d, want 4x16", r, c)
	}
	// The learner learned the easy task.
	acc := 0
	for i, j := range idx {
		row := p.RawRowView(i)
		if mat.NewVecDense(4, row).AtVec(d.Y[j]) == maxf(row) {
			acc++
		}
	}
	if acc < 28 {
		t.Fatalf("accuracy %d/32 on an easy task; training does not work", acc)
	}
}

func maxf(r []float64) float64 {
	m := r[0]
	for _, v := range r {
		m = math.Max(m, v)
	}
	return m
}

func TestMCDropoutHoistingIsExact(t *testing.T) {
	d := images(t, 128)
	l := fitted(t, d, smallCNN(), 2)
	prefix, drop, rest := l.arch.MCSplit()
	// conv, pool, relu, conv run once; then the dropout2d; the pool and relu
	// after it commute with the channel mask and are hoisted.
	if len(prefix) != 6 || drop != 4 || rest != 7 {
		t.Fatalf("MCSplit = %v, %d, %d; want 6 hoisted layers, dropout at 4, rest from 7", prefix, drop, rest)
	}
	// flatten and dense follow: the dense layer is folded over the channel
	// masks, and the comparison below checks that path against the naive one.
	if !l.foldsChannelDense(drop, rest) {
		t.Fatal("the dense layer after dropout2d, pool, relu, flatten is not folded")
	}
	ctx := context.Background()
	idx := seq(96, 112)
	l.Reseed(99)
	got, err := l.MCProbs(ctx, idx, 3)
	if err != nil {
		t.Fatal(err)
	}
	// Naive: the whole network, no hoisting, with the same masks.
	l.Reseed(99)
	pin()
	restore, _ := noGrad()
	masks, err := l.mcMasks(3)
	if err != nil {
		t.Fatal(err)
	}
	x, _, err := l.input(idx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for s := 0; s < 3; s++ {
		logits, err := l.forwardMasked(x, 0, len(l.arch.Layers), masks[s])
		if err != nil {
			t.Fatal(err)
		}
		pr, _ := softmax(logits)
		want := mat.NewDense(len(idx), 4, nil)
		if err := copyRows(pr, want, 0); err != nil {
			t.Fatal(err)
		}
		if !mat.EqualApprox(got[s], want, 1e-5) {
			t.Fatalf("MC sample %d differs from the naive forward pass", s)
		}
	}
	freeMasks(masks)
	restore()
	if mat.Equal(got[0], got[1]) {
		t.Fatal("two MC-dropout samples are identical")
	}
	// The mean of many samples is near the deterministic output.
	many, err := l.MCProbs(ctx, idx, 200)
	if err != nil {
		t.Fatal(err)
	}
	det, _ := l.Probs(ctx, idx)
	mean := mat.NewDense(len(idx), 4, nil)
	for _, m := range many {
		mean.Add(mean, m)
	}
	mean.Scale(1.0/200, mean)
	diff := mat.NewDense(len(idx), 4, nil)
	diff.Sub(mean, det)
	// Dropout's weight scaling only approximates the MC average, so compare
	// the mean absolute difference per entry.
	if m := sumAbs(diff) / float64(len(idx)*4); m > 0.1 {
		t.Fatalf("MC mean differs from the deterministic output by %g per entry", m)
	}
}

func TestMCDropoutMasksAreConsistent(t *testing.T) {
	// Sample t uses the same dropout masks for every point and every
	// inference batch: a repeated point gets identical samples, and the
	// samples do not depend on how the pool is split into batches.
	d := images(t, 128)
	l := fitted(t, d, smallCNN(), 3)
	ctx := context.Background()
	idx := append(seq(96, 110), 97, 100)
	l.Reseed(5)
	a, err := l.MCProbs(ctx, idx, 4)
	if err != nil {
		t.Fatal(err)
	}
	for s := range a {
		if !mat.Equal(a[s].RowView(1), a[s].RowView(14)) || !mat.Equal(a[s].RowView(4), a[s].RowView(15)) {
			t.Fatalf("sample %d: a repeated pool point got different probabilities", s)
		}
	}
	l.cfg.InferenceBatch = 3
	l.Reseed(5)
	b, err := l.MCProbs(ctx, idx, 4)
	if err != nil {
		t.Fatal(err)
	}
	for s := range a {
		if !mat.EqualApprox(a[s], b[s], 1e-6) {
			t.Fatalf("sample %d changes with the inference batch size", s)
		}
	}
	if mat.Equal(a[0], a[1]) {
		t.Fatal("two MC samples are identical")
	}
}

func TestSeededFitIsReproducible(t *testing.T) {
	d := images(t, 128)
	ctx := context.Background()
	idx := seq(96, 128)
	a, _ := fitted(t, d, smallCNN(), 5).Probs(ctx, idx)
	b, _ := fitted(t, d, smallCNN(), 5).Probs(ctx, idx)
	c, _ := fitted(t, d, smallCNN(), 6).Probs(ctx, idx)
	if !equalDense(a, b) {
		t.Fatal("same seed gave different models")
	}
	if equalDense(a, c) {
		t.Fatal("different seeds gave identical models")
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	d := images(t, 128)
	l := fitted(t, d, smallCNN(), 3)
	path := filepath.Join(t.TempDir(), "w.bin")
	if err := l.Save(path); err != nil {
		t.Fatal(err)
	}
	l2, err := New(d.Inputs(), 4, smallCNN())
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if err := l2.Load(path); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, _ := l.Probs(ctx, seq(0, 40))
	b, _ := l2.Probs(ctx, seq(0, 40))
	if !equalDense(a, b) {
		t.Fatal("probabilities differ after save/load")
	}
	// A different architecture cannot load these weights.
	other := smallCNN()
	other.Model.Layers[8].Out = 32
	l3, _ := New(d.Inputs(), 4, other)
	defer l3.Close()
	if err := l3.Load(path); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Fatalf("loading into another architecture: %v, want a shape error", err)
	}
}

func TestErrors(t *testing.T) {
	d := images(t, 32)
	l, err := New(d.Inputs(), 4, smallCNN())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	if _, err := l.Probs(ctx, []int{0}); err == nil || !strings.Contains(err.Error(), "not been fitted") {
		t.Fatalf("probs before fit: %v", err)
	}
	bad := learner.Labeled{Idx: []int{0, 1}, Y: []int{0, 7}}
	if _, err := l.Fit(ctx, bad, learner.Labeled{}, 1); err == nil || !strings.Contains(err.Error(), "label 7") {
		t.Fatalf("fit with label 7 of 4 classes: %v", err)
	}
	if _, err := l.Fit(ctx, labeled(d, seq(0, 8)), learner.Labeled{}, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Probs(ctx, []int{0, 99}); err == nil || !strings.Contains(err.Error(), "99") {
		t.Fatalf("probs of an index out of range: %v", err)
	}
	if _, err := New(d.Inputs(), 4, learner.Config{Model: learner.ModelSpec{Name: "mlp"}, Device: "tpu"}); err == nil {
		t.Fatal("device tpu accepted")
	}
}

func TestEarlyStoppingKeepsBestWeights(t *testing.T) {
	d := images(t, 128)
	cfg := smallCNN()
	cfg.Train.Patience = 2
	cfg.Train.Epochs = 40
	l, _ := New(d.Inputs(), 4, cfg)
	defer l.Close()
	val := labeled(d, seq(64, 128))
	st, err := l.Fit(context.Background(), labeled(d, seq(0, 16)), val, 4)
	if err != nil {
		t.Fatal(err)
	}
	if st.Epochs < st.BestEpoch || st.Epochs > st.BestEpoch+2 {
		t.Fatalf("stopped at epoch %d with best %d and patience 2", st.Epochs, st.BestEpoch)
	}
	acc, _, err := l.(*Learner).accuracy(context.Background(), val)
	if err != nil {
		t.Fatal(err)
	}
	if acc != st.ValAcc {
		t.Fatalf("kept weights have val acc %g, reported %g", acc, st.ValAcc)
	}
}

func sumAbs(m *mat.Dense) float64 {
	s := 0.0
	r, c := m.Dims()
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			s += math.Abs(m.At(i, j))
		}
	}
	return s
}

func TestBareForwardTimesThePool(t *testing.T) {
	d := images(t, 128)
	l := fitted(t, d, smallCNN(), 1)
	rows, secs, err := l.BareForward(context.Background(), seq(0, 40))
	if err != nil {
		t.Fatal(err)
	}
	if rows != 40 || !(secs > 0) {
		t.Fatalf("BareForward = %d rows in %g s, want 40 rows in a positive time", rows, secs)
	}
}
