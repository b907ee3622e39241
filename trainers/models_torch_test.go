//go:build torch

package trainers

import (
	"context"
	"math"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sugarme/gotch/ts"
	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/learner/conformance"
	"github.com/alrl/alrl/learner/torch"
)

// The trainers' torch networks and loops (torch.go, weighted_torch.go,
// learningloss_torch.go, vaal_*_torch.go) on small synthetic images.

// smallCNN is a 12-layer CNN with dropout, the backend's own tests' model.
func smallCNN() learner.Config {
	cfg := conformance.Config(conformance.PlainCNN())
	cfg.Threads = 1
	return cfg
}

var seq = conformance.Seq

// newTorch builds a torch learner through learner.New, so that it comes
// with the trainers' networks.
func newTorch(t *testing.T, in datasets.Inputs, classes int, cfg learner.Config) *torchLearner {
	t.Helper()
	cfg.Backend = "torch"
	l, err := learner.New(in, classes, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.(*torchLearner)
}

func tensor(t *testing.T, v []float32) *ts.Tensor {
	t.Helper()
	x, err := ts.NewTensorFromData(v, []int64{int64(len(v))})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// The ranking loss on hand-made pairs has the value of the paper's formula.
func TestRankingLossKnownValues(t *testing.T) {
	tests := []struct {
		name         string
		pred, target []float32
		margin, want float64
	}{
		// l_0 < l_1: sign -1, cost max(0, (2 - 0.5) + 1) = 2.5.
		{"one pair, wrong order", []float32{2, 0.5}, []float32{1, 3}, 1, 2.5},
		// l_0 > l_1 and p_0 - p_1 = 3 > margin: no cost.
		{"one pair, right order beyond the margin", []float32{3, 0}, []float32{3, 1}, 1, 0},
		// Pairs (0, 2) and (1, 3): sign +1 with p diff -0.3 -> 1.3; sign -1 with p diff 0.5 -> 1.5; mean 1.4.
		{"two pairs", []float32{0.2, 1, 0.5, 0.5}, []float32{1, 2, 0.2, 5}, 1, 1.4},
		// Equal losses count as sign -1: max(0, (1 - 1) + 0.5) = 0.5.
		{"tie", []float32{1, 1}, []float32{2, 2}, 0.5, 0.5},
		{"one sample", []float32{4}, []float32{1}, 1, 0},
		// An odd sample is left out: pair (0, 1) only -> max(0, -(1-0) + 1) = 0.
		{"odd batch", []float32{1, 0, 9}, []float32{5, 1, 0}, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var g torch.Bag
			defer g.Drop()
			p, y := g.T(tensor(t, tc.pred)), g.T(tensor(t, tc.target))
			l, err := rankingLoss(p, y, tc.margin, &g)
			if err != nil {
				t.Fatal(err)
			}
			got, err := torch.ScalarValue(l)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-tc.want) > 1e-6 {
				t.Errorf("ranking loss %v, want %v", got, tc.want)
			}
		})
	}
}

func newLearner(t *testing.T, cfg learner.Config, n int) (*torchLearner, []int) {
	t.Helper()
	d := conformance.Quadrants(n)
	return newTorch(t, d.Inputs(), d.NumClasses, cfg), d.Y
}

func labeledOf(y []int, idx []int) learner.Labeled {
	out := learner.Labeled{Idx: idx}
	for _, i := range idx {
		out.Y = append(out.Y, y[i])
	}
	return out
}

func weightsOf(t *testing.T, l *torchLearner) []learner.Tensor {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	w, err := l.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func sameTensors(a, b []learner.Tensor, skip map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if skip[a[i].Name] {
			continue
		}
		if a[i].Name != b[i].Name || len(a[i].Data) != len(b[i].Data) {
			return false
		}
		for j := range a[i].Data {
			if a[i].Data[j] != b[i].Data[j] {
				return false
			}
		}
	}
	return true
}

func TestFitWeightedWithUnitWeightsMatchesFit(t *testing.T) {
	cfg := smallCNN()
	cfg.Train.Epochs = 3
	a, y := newLearner(t, cfg, 96)
	b, _ := newLearner(t, cfg, 96)
	tr, val := labeledOf(y, seq(0, 48)), labeledOf(y, seq(64, 96))
	ctx := context.Background()
	if _, err := a.Fit(ctx, tr, val, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := b.FitWeighted(ctx, learner.FromLabeled(tr), val, 7, learner.FitOptions{}); err != nil {
		t.Fatal(err)
	}
	pa, _ := a.Probs(ctx, seq(0, 96))
	pb, _ := b.Probs(ctx, seq(0, 96))
	if !mat.EqualApprox(pa, pb, 1e-5) {
		t.Error("FitWeighted with weights 1 differs from Fit")
	}
	// Bad inputs are errors, not panics.
	if _, err := b.FitWeighted(ctx, learner.Weighted{Idx: []int{0, 1}, Y: []int{0, 1}, W: []float64{1}}, val, 1, learner.FitOptions{}); err == nil {
		t.Error("one weight for two samples: no error")
	}
	if _, err := b.FitWeighted(ctx, learner.FromLabeled(tr), val, 1, learner.FitOptions{ClassWeights: []float64{1}}); err == nil {
		t.Error("one class weight for four classes: no error")
	}
	if _, err := b.FitWeighted(ctx, learner.Weighted{Idx: []int{0}, Y: []int{0}, W: []float64{math.NaN()}}, val, 1, learner.FitOptions{}); err == nil {
		t.Error("NaN weight: no error")
	}
}

// Zero-weighted samples teach nothing: their labels do not matter.
func TestZeroWeightsAreIgnored(t *testing.T) {
	cfg := smallCNN()
	cfg.Train.Epochs = 2
	a, y := newLearner(t, cfg, 64)
	b, _ := newLearner(t, cfg, 64)
	set := learner.FromLabeled(labeledOf(y, seq(0, 32)))
	set.W = make([]float64, set.Len())
	for i := range set.W {
		set.W[i] = 1
		if i%4 == 0 {
			set.W[i] = 0
		}
	}
	wrong := set.Append(learner.Weighted{})
	for i := range wrong.Y {
		if wrong.W[i] == 0 {
			wrong.Y[i] = (wrong.Y[i] + 1) % 4
		}
	}
	ctx := context.Background()
	opt := learner.FitOptions{NoEarlyStop: true}
	if _, err := a.FitWeighted(ctx, set, learner.Labeled{}, 3, opt); err != nil {
		t.Fatal(err)
	}
	if _, err := b.FitWeighted(ctx, wrong, learner.Labeled{}, 3, opt); err != nil {
		t.Fatal(err)
	}
	if !sameTensors(weightsOf(t, a), weightsOf(t, b), nil) {
		t.Error("changing the labels of zero-weighted samples changed the model")
	}
}

func TestAuxHeadLeavesClassifierAndBackboneLoads(t *testing.T) {
	cfg := smallCNN()
	l, y := newLearner(t, cfg, 64)
	ctx := context.Background()
	if err := l.Initialize(5); err != nil {
		t.Fatal(err)
	}
	before := weightsOf(t, l)
	clusters := learner.Weighted{Idx: seq(0, 64), Y: make([]int, 64)}
	for i := range clusters.Y {
		clusters.Y[i] = (y[i] * 2) % 6 // six pseudo-classes
	}
	if _, err := l.FitAuxHead(ctx, clusters, 6, 9, learner.FitOptions{Init: learner.InitCurrent, Epochs: 2}); err != nil {
		t.Fatal(err)
	}
	after := weightsOf(t, l)
	last := len(l.Architecture().Layers) - 1
	head := map[string]bool{"l11_weight": true, "l11_bias": true}
	if last != 11 {
		t.Fatalf("test model has %d layers", last+1)
	}
	body := map[string]bool{}
	for _, w := range before {
		if !head[w.Name] {
			body[w.Name] = true
		}
	}
	if !sameTensors(before, after, body) {
		t.Error("FitAuxHead changed the classifier's output layer")
	}
	if sameTensors(before, after, head) {
		t.Error("FitAuxHead did not train the body")
	}
	path := filepath.Join(t.TempDir(), "pre.bin")
	if err := l.Save(path); err != nil {
		t.Fatal(err)
	}
	m, _ := newLearner(t, cfg, 64)
	if err := m.LoadBackbone(path, 11); err != nil {
		t.Fatal(err)
	}
	loaded := weightsOf(t, m)
	if !sameTensors(after, loaded, head) {
		t.Error("LoadBackbone did not load the body")
	}
	if sameTensors(after, loaded, body) {
		t.Error("LoadBackbone kept the saved output layer; it must be fresh")
	}
	m2, _ := newLearner(t, cfg, 64)
	if err := m2.LoadBackbone(path, 11); err != nil {
		t.Fatal(err)
	}
	if !sameTensors(loaded, weightsOf(t, m2), nil) {
		t.Error("LoadBackbone with the same seed gave different output layers")
	}
	if err := m2.LoadBackbone(filepath.Join(t.TempDir(), "missing.bin"), 1); err == nil {
		t.Error("missing file: no error")
	}
}

// With stop_grad_fraction 0 the module never reaches the network: the
// network is the same whatever the module's weight; with 1 it is not.
func TestLossModuleGradientStop(t *testing.T) {
	cfg := smallCNN()
	cfg.Train.Epochs = 2
	cfg.Train.Patience = 0
	ctx := context.Background()
	fit := func(frac, weight float64) (*torchLearner, learner.LossModuleStats) {
		l, y := newLearner(t, cfg, 64)
		_, ls, err := l.FitWithLossModule(ctx, labeledOf(y, seq(0, 48)), learner.Labeled{}, 4,
			learner.LossModuleOptions{Width: 8, Margin: 1, Weight: weight, StopGradFraction: frac})
		if err != nil {
			t.Fatal(err)
		}
		return l, ls
	}
	a, lsa := fit(0, 0)
	b, _ := fit(0, 1)
	if !sameTensors(weightsOf(t, a), weightsOf(t, b), nil) {
		t.Error("stop_grad_fraction 0: the module's loss changed the network")
	}
	if lsa.StopGradEpoch != 1 {
		t.Errorf("stop epoch %d, want 1", lsa.StopGradEpoch)
	}
	c, lsc := fit(1, 0)
	d, _ := fit(1, 1)
	if sameTensors(weightsOf(t, c), weightsOf(t, d), nil) {
		t.Error("stop_grad_fraction 1: the module's loss did not reach the network")
	}
	if lsc.StopGradEpoch != 3 || math.IsNaN(lsc.RankingLoss) || lsc.TargetLoss <= 0 {
		t.Errorf("stats %+v: want stop epoch 3 and finite losses", lsc)
	}
	if taps := defaultTaps(d.Architecture()); len(taps) != 3 || taps[0] != 2 || taps[1] != 6 || taps[2] != 9 {
		t.Errorf("default taps %v, want [2 6 9] (after each conv block and the hidden dense layer)", taps)
	}
	// Predictions survive a save and load.
	idx := seq(0, 64)
	p1, err := d.PredictedLoss(ctx, idx)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "w.bin")
	if err := d.Save(path); err != nil {
		t.Fatal(err)
	}
	e, _ := newLearner(t, cfg, 64)
	if _, err := e.PredictedLoss(ctx, idx); err == nil {
		t.Error("predicted loss before any training: no error")
	}
	if err := e.Load(path); err != nil {
		t.Fatal(err)
	}
	p2, err := e.PredictedLoss(ctx, idx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range p1 {
		if p1[i] != p2[i] || math.IsNaN(p1[i]) {
			t.Fatalf("predicted loss %d: %v before save, %v after load", i, p1[i], p2[i])
		}
	}
	if _, _, err := e.FitWithLossModule(ctx, labeledOf(nil, nil), learner.Labeled{}, 1, learner.LossModuleOptions{Width: 8, Margin: 1, Weight: 1}); err == nil {
		t.Error("no labeled samples: no error")
	}
	if _, _, err := e.FitWithLossModule(ctx, learner.Labeled{Idx: []int{0}, Y: []int{0}}, learner.Labeled{}, 1,
		learner.LossModuleOptions{Taps: []int{11}, Width: 8, Margin: 1, Weight: 1}); err == nil {
		t.Error("tapping the output layer: no error")
	}
}

// Without early stopping (the paper's fixed schedule, the default) a fit
// with the loss module runs every epoch even when validation accuracy stalls
// at once (patience 1); with it, the fit may stop sooner, and the reported
// stop epoch is the same either way.
func TestLossModuleFixedSchedule(t *testing.T) {
	cfg := smallCNN()
	cfg.Train.Epochs = 6
	cfg.Train.Patience = 1
	ctx := context.Background()
	for _, early := range []bool{false, true} {
		l, y := newLearner(t, cfg, 64)
		st, ls, err := l.FitWithLossModule(ctx, labeledOf(y, seq(0, 32)), labeledOf(y, seq(32, 64)), 4,
			learner.LossModuleOptions{Width: 8, Margin: 1, Weight: 1, StopGradFraction: 0.5, EarlyStopping: early})
		if err != nil {
			t.Fatal(err)
		}
		if ls.StopGradEpoch != 4 {
			t.Errorf("early stopping %v: stop epoch %d, want 4", early, ls.StopGradEpoch)
		}
		if !early && (st.Epochs != 6 || st.BestEpoch != 6) {
			t.Errorf("fixed schedule: %d epochs run, weights of epoch %d kept; want all 6 and the last", st.Epochs, st.BestEpoch)
		}
		if early && (st.Epochs < 1 || st.Epochs > 6) {
			t.Errorf("early stopping: %d epochs run", st.Epochs)
		}
	}
}

// The VAE's reconstruction error falls during a short training on synthetic
// images, and the trained networks survive a save and load.
func TestVAALReconstructionFalls(t *testing.T) {
	cfg := smallCNN()
	l, y := newLearner(t, cfg, 128)
	ctx := context.Background()
	if _, err := l.Fit(ctx, labeledOf(y, seq(0, 16)), learner.Labeled{}, 1); err != nil {
		t.Fatal(err)
	}
	opt := learner.VAALOptions{Latent: 4, Channels: []int{8, 16}, DiscWidth: 16, Beta: 1, AdversaryParam: 1, LR: 5e-3,
		BatchSize: 16, Iterations: 60, VAESteps: 2, AdvSteps: 1}
	st, err := l.FitVAAL(ctx, seq(0, 16), seq(16, 128), 3, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !(st.ReconError < 0.5*st.FirstRecon) {
		t.Errorf("reconstruction error %v at the end vs %v at the start: it should at least halve", st.ReconError, st.FirstRecon)
	}
	t.Logf("VAAL stats %+v", st)
	// Kaiming-initialised layers keep the first KL term (summed over a batch
	// of 16 x 4 latents) small; a wrong initialisation scale shows up here.
	if st.Iterations != 60 || math.IsNaN(st.DiscLoss) || !(st.KL >= 0 && st.KL < 1000) || st.FirstRecon > 5 {
		t.Errorf("stats %+v", st)
	}
	p, err := l.LabeledProb(ctx, seq(0, 128))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range p {
		if !(v >= 0 && v <= 1) {
			t.Fatalf("probability %d = %v", i, v)
		}
	}
	path := filepath.Join(t.TempDir(), "w.bin")
	if err := l.Save(path); err != nil {
		t.Fatal(err)
	}
	m, _ := newLearner(t, cfg, 128)
	if err := m.Load(path); err != nil {
		t.Fatal(err)
	}
	q, err := m.LabeledProb(ctx, seq(0, 128))
	if err != nil {
		t.Fatal(err)
	}
	for i := range p {
		if p[i] != q[i] {
			t.Fatalf("score %d: %v before save, %v after load", i, p[i], q[i])
		}
	}
	if _, err := l.FitVAAL(ctx, nil, seq(0, 4), 1, opt); err == nil {
		t.Error("no labeled samples: no error")
	}
	bad := opt
	bad.Channels = nil
	if _, err := l.FitVAAL(ctx, seq(0, 4), seq(4, 8), 1, bad); err == nil {
		t.Error("no channels: no error")
	}
}

func TestVAALOnFlatInputs(t *testing.T) {
	cfg := learner.DefaultConfig()
	cfg.Threads = 1
	cfg.Model = learner.ModelSpec{Name: "mlp", Hidden: []int{8}}
	in := conformance.Quadrants(64)
	in.Shape = []int{144}
	l := newTorch(t, in.Inputs(), in.NumClasses, cfg)
	ctx := context.Background()
	if err := l.Initialize(1); err != nil {
		t.Fatal(err)
	}
	st, err := l.FitVAAL(ctx, seq(0, 8), seq(8, 64), 2, learner.VAALOptions{Latent: 3, Channels: []int{16}, DiscWidth: 8, Beta: 1,
		AdversaryParam: 1, LR: 5e-3, BatchSize: 8, Iterations: 60, VAESteps: 2, AdvSteps: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !(st.ReconError < st.FirstRecon) {
		t.Errorf("flat VAE: reconstruction %v at the end vs %v at the start", st.ReconError, st.FirstRecon)
	}
}
