//go:build torch

package torch

import (
	"context"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch/ts"
	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/learner"
)

// smallResNet is a residual network for the 1x12x12 quadrant images.
func smallResNet() learner.Config {
	cfg := smallCNN()
	cfg.Model = learner.ModelSpec{Name: "layers", Layers: []learner.Layer{
		{Type: "conv2d", Out: 4, Kernel: 3, Padding: 1},
		{Type: "batchnorm2d"},
		{Type: "relu"},
		{Type: "resblock", Out: 4},
		{Type: "resblock", Out: 8, Stride: 2},
		{Type: "globalavgpool"},
		{Type: "dropout", P: 0.3},
		{Type: "dense"},
	}}
	return cfg
}

// tabularSet is n samples of 6 features, 3 classes by the sign pattern of
// the first two features.
func tabularSet(n int) *datasets.Dataset {
	d := &datasets.Dataset{Name: "tab", Shape: []int{6}, NumClasses: 3, TrainN: n}
	for i := 0; i < n; i++ {
		c := i % 3
		a, b := float32(c)-1, float32((i*7)%5)/5-0.4
		d.X = append(d.X, a, b, a*b, float32(i%2), 0.5, -a)
		d.Y = append(d.Y, c)
	}
	return d
}

func smallResMLP() learner.Config {
	cfg := smallCNN()
	cfg.Model = learner.ModelSpec{Name: "layers", Layers: []learner.Layer{
		{Type: "dense", Out: 8},
		{Type: "batchnorm1d"},
		{Type: "relu"},
		{Type: "resdense", Out: 8},
		{Type: "resdense", Out: 16},
		{Type: "dense"},
	}}
	return cfg
}

func TestResidualNetShapesTrainingAndRoundTrip(t *testing.T) {
	d := images(t, 128)
	l := fitted(t, d, smallResNet(), 1)
	ctx := context.Background()
	idx := seq(96, 128)
	p, err := l.Probs(ctx, idx)
	if err != nil {
		t.Fatal(err)
	}
	if r, c := p.Dims(); r != 32 || c != 4 {
		t.Fatalf("probs %dx%d, want 32x4", r, c)
	}
	z, err := l.Embed(ctx, idx)
	if err != nil {
		t.Fatal(err)
	}
	if r, c := z.Dims(); r != 32 || c != 8 {
		t.Fatalf("embeddings %dx%d, want 32x8", r, c)
	}
	acc := 0
	for i, j := range idx {
		row := p.RawRowView(i)
		if row[d.Y[j]] == slices.Max(row) {
			acc++
		}
	}
	if acc < 28 {
		t.Fatalf("accuracy %d/32 on an easy task; the residual network does not train", acc)
	}

	// Batch-norm running statistics moved during training and are saved.
	path := filepath.Join(t.TempDir(), "w.bin")
	if err := l.Save(path); err != nil {
		t.Fatal(err)
	}
	w, err := learner.ReadWeights(path)
	if err != nil {
		t.Fatal(err)
	}
	stats := 0
	for _, tn := range w {
		if strings.HasSuffix(tn.Name, "running_mean") {
			stats++
			if slices.Max(tn.Data) == 0 && slices.Min(tn.Data) == 0 {
				t.Errorf("%s is still zero after training", tn.Name)
			}
		}
	}
	// stem BN, 2 per block, 1 projection (the second block changes width).
	if stats != 1+2+2+1 {
		t.Fatalf("%d running means in the weights file, want 6", stats)
	}
	l2, err := New(d.Inputs(), 4, smallResNet())
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if err := l2.Load(path); err != nil {
		t.Fatal(err)
	}
	q, _ := l2.Probs(ctx, idx)
	if !mat.Equal(p, q) {
		t.Fatal("probabilities differ after save/load: batch-norm statistics were not restored")
	}
}

func runningStats(t *testing.T, l *Learner) []learner.Tensor {
	t.Helper()
	w, err := l.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var out []learner.Tensor
	for _, tn := range w {
		if strings.Contains(tn.Name, "running_") {
			out = append(out, tn)
		}
	}
	return out
}

func TestBatchNormStaysInEvalModeOutsideFit(t *testing.T) {
	d := images(t, 128)
	l := fitted(t, d, smallResNet(), 2)
	ctx := context.Background()
	before := runningStats(t, l)
	l.Reseed(5)
	mc, err := l.MCProbs(ctx, seq(64, 128), 4)
	if err != nil {
		t.Fatal(err)
	}
	if mat.Equal(mc[0], mc[1]) {
		t.Fatal("MC-dropout samples are identical")
	}
	if _, err := l.Probs(ctx, seq(0, 64)); err != nil {
		t.Fatal(err)
	}
	after := runningStats(t, l)
	for i := range before {
		if !slices.Equal(before[i].Data, after[i].Data) {
			t.Fatalf("%s changed during inference", before[i].Name)
		}
	}
	// A sample's probabilities do not depend on the rest of its batch.
	alone, _ := l.Probs(ctx, []int{70})
	batch, _ := l.Probs(ctx, seq(64, 80))
	if !mat.EqualApprox(alone, batch.Slice(6, 7, 0, 4), 1e-6) {
		t.Fatal("batch norm normalised with batch statistics at inference")
	}
	// The batch-norm layer itself: train=true (as MC dropout passes it)
	// outside Fit is the eval-mode output; inside Fit it is not.
	pin()
	defer runtime.UnlockOSThread()
	restore, _ := noGrad()
	defer restore()
	x, _, err := l.input(seq(0, 16), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Drop()
	h, _ := l.forward(x, 0, 1, false) // the stem convolution
	defer h.Drop()
	eval := toDense(t, h, l, 1, false)
	mcMode := toDense(t, h, l, 1, true)
	if !mat.Equal(eval, mcMode) {
		t.Fatal("batch norm used batch statistics outside Fit")
	}
	l.res.training = true
	trainMode := toDense(t, h, l, 1, true)
	l.res.training = false
	if mat.EqualApprox(eval, trainMode, 1e-4) {
		t.Fatal("batch norm in training mode gave the eval-mode output")
	}
}

// toDense applies layer i to x and flattens the result into a matrix.
func toDense(t *testing.T, x *ts.Tensor, l *Learner, i int, train bool) *mat.Dense {
	t.Helper()
	y, err := l.layer(i, x, train)
	if err != nil {
		t.Fatal(err)
	}
	defer y.Drop()
	f, err := y.Flatten(1, -1, false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Drop()
	size, _ := f.Size()
	m := mat.NewDense(int(size[0]), int(size[1]), nil)
	if err := copyRows(f, m, 0); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestResidualMLPWithOneSampleLastBatch(t *testing.T) {
	d := tabularSet(120)
	cfg := smallResMLP()
	cfg.Train.BatchSize = 16
	l, err := New(d.Inputs(), 3, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// 33 samples in batches of 16: the last batch has one sample, which
	// batch norm cannot normalise by its own statistics.
	st, err := l.Fit(context.Background(), labeled(d, seq(0, 33)), learner.Labeled{}, 1)
	if err != nil {
		t.Fatalf("fit with a one-sample last batch: %v", err)
	}
	if math.IsNaN(st.TrainLoss) {
		t.Fatal("NaN training loss")
	}
	// (libtorch itself accepts such a batch but divides its variance by
	// n-1 = 0 when it updates the running variance.)
	for _, tn := range runningStats(t, l.(*Learner)) {
		for _, v := range tn.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%s holds %v after a one-sample batch", tn.Name, v)
			}
		}
	}
	p, err := l.Probs(context.Background(), seq(60, 120))
	if err != nil {
		t.Fatal(err)
	}
	if r, c := p.Dims(); r != 60 || c != 3 {
		t.Fatalf("probs %dx%d", r, c)
	}
}

func TestResidualEarlyStoppingRestoresStatistics(t *testing.T) {
	d := images(t, 128)
	cfg := smallResNet()
	cfg.Train.Patience = 2
	cfg.Train.Epochs = 30
	l, _ := New(d.Inputs(), 4, cfg)
	defer l.Close()
	val := labeled(d, seq(64, 128))
	st, err := l.Fit(context.Background(), labeled(d, seq(0, 16)), val, 4)
	if err != nil {
		t.Fatal(err)
	}
	acc, _, err := l.(*Learner).accuracy(context.Background(), val)
	if err != nil {
		t.Fatal(err)
	}
	if acc != st.ValAcc {
		t.Fatalf("kept weights have val acc %g, reported %g (running statistics not part of the snapshot?)", acc, st.ValAcc)
	}
}

// TestBatchNormRunningStatisticsTrackTheData checks the running mean and
// variance against the statistics of the layer's input over the training
// set: every minibatch is the whole set, and the learning rate is so small
// that the weights stay put while the running averages converge.
func TestBatchNormRunningStatisticsTrackTheData(t *testing.T) {
	d := images(t, 64)
	cfg := smallResNet()
	cfg.Train.LR = 1e-9
	cfg.Train.Epochs = 1
	cfg.Train.BatchSize = 64
	cfg.Train.MinEpochSamples = 64 * 60 // 60 steps
	l, err := New(d.Inputs(), 4, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tl := l.(*Learner)
	if _, err := l.Fit(context.Background(), labeled(d, seq(0, 64)), learner.Labeled{}, 1); err != nil {
		t.Fatal(err)
	}
	// The stem convolution's output over all 64 samples, per channel.
	pin()
	defer runtime.UnlockOSThread()
	restore, _ := noGrad()
	defer restore()
	x, _, err := tl.input(seq(0, 64), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Drop()
	h, err := tl.forward(x, 0, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Drop()
	size, _ := h.Size()
	vals := make([]float32, h.Numel())
	if err := h.CopyData(vals, uint(len(vals))); err != nil {
		t.Fatal(err)
	}
	n, c, hw := int(size[0]), int(size[1]), int(size[2]*size[3])
	stats := runningStats(t, tl)
	mean, vari := stats[0].Data, stats[1].Data // l1_bn_running_mean, l1_bn_running_var
	if !strings.HasSuffix(stats[0].Name, "running_mean") || !strings.HasSuffix(stats[1].Name, "running_var") {
		t.Fatalf("unexpected order %s, %s", stats[0].Name, stats[1].Name)
	}
	for ch := 0; ch < c; ch++ {
		var s, s2 float64
		for i := 0; i < n; i++ {
			for p := 0; p < hw; p++ {
				v := float64(vals[(i*c+ch)*hw+p])
				s += v
				s2 += v * v
			}
		}
		N := float64(n * hw)
		m := s / N
		v := (s2/N - m*m) * N / (N - 1) // the running variance averages unbiased ones
		// After 60 updates with momentum 0.1, 0.9^60 of the initial values
		// (mean 0, variance 1) is left.
		q := math.Pow(0.9, 60)
		wantM, wantV := (1-q)*m, q+(1-q)*v
		if d := math.Abs(float64(mean[ch]) - wantM); d > 1e-4*math.Sqrt(v)+1e-6 {
			t.Errorf("channel %d: running mean %g, want %g", ch, mean[ch], wantM)
		}
		if r := float64(vari[ch]) / wantV; math.Abs(r-1) > 1e-3 {
			t.Errorf("channel %d: running variance %g, want %g", ch, vari[ch], wantV)
		}
	}
}
