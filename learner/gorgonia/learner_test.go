package gorgonia

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/learner/conformance"
)

func newLearner(t *testing.T, cfg learner.Config, n int) *Learner {
	t.Helper()
	d := conformance.Quadrants(n)
	l, err := New(d.Inputs(), d.NumClasses, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l.(*Learner)
}

// lossAndGrads runs the training graph once on samples idx without updating
// the parameters.
func lossAndGrads(t *testing.T, l *Learner, idx []int, y []int) (float64, []learner.Tensor) {
	t.Helper()
	spec := netSpec{kind: "train", layers: all(len(l.arch.Layers)), in: l.arch.Input, masks: true, train: true}
	n, err := l.newNet(spec, len(idx))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.in.Gather(idx, n.xbuf[:0]); err != nil {
		t.Fatal(err)
	}
	for j := range idx {
		n.ybuf[j*l.c+y[j]] = 1
	}
	if err := n.run(l.params); err != nil {
		t.Fatal(err)
	}
	lv, err := values(n.loss)
	if err != nil {
		t.Fatal(err)
	}
	var grads []learner.Tensor
	for i, p := range l.params {
		if p == nil {
			continue
		}
		gw, _ := values(n.gradW[i])
		gb, _ := values(n.gradB[i])
		grads = append(grads, learner.Tensor{Data: slices.Clone(gw)}, learner.Tensor{Data: slices.Clone(gb)})
	}
	return float64(lv[0]), grads
}

// TestGradientsMatchFiniteDifferences checks gorgonia's backward pass of
// every layer type (dropout aside) against central differences of the loss.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	spec := conformance.Models()[0].Spec // every layer type
	for i := range spec.Layers {
		spec.Layers[i].P = 0 // no masks: the loss is a deterministic function
	}
	l := newLearner(t, conformance.Config(spec), 8)
	l.build(rand.New(rand.NewPCG(1, 2)))
	idx := []int{0, 1, 2, 3, 4, 5}
	y := []int{0, 1, 2, 3, 0, 1}
	_, grads := lossAndGrads(t, l, idx, y)
	rng := rand.New(rand.NewPCG(3, 4))
	k := 0
	checked := 0
	for i, p := range l.params {
		if p == nil {
			continue
		}
		for part, vals := range [][]float32{p.w, p.b} {
			g := grads[k+part].Data
			for trial := 0; trial < 6; trial++ {
				j := rng.IntN(len(vals))
				const eps = 1e-2
				orig := vals[j]
				vals[j] = orig + eps
				up, _ := lossAndGrads(t, l, idx, y)
				vals[j] = orig - eps
				down, _ := lossAndGrads(t, l, idx, y)
				vals[j] = orig
				num := (up - down) / (2 * eps)
				if diff := math.Abs(num - float64(g[j])); diff > 2e-3+0.05*math.Abs(num) {
					t.Errorf("layer %d (%s) %s[%d]: gradient %g, finite difference %g", i, l.arch.Layers[i].Type, []string{"weight", "bias"}[part], j, g[j], num)
				}
				checked++
			}
		}
		k += 2
	}
	if checked < 30 {
		t.Fatalf("checked only %d gradient entries", checked)
	}
}

// TestMCDropoutHoistingIsExact compares MCProbs, which runs the layers up to
// the first dropout (and the pooling and ReLU that commute with a channel
// mask) once, with the naive pass of the whole network under the same masks.
func TestMCDropoutHoistingIsExact(t *testing.T) {
	cfg := conformance.Config(conformance.CNN())
	l := newLearner(t, cfg, 64)
	d := conformance.Quadrants(64)
	ctx := context.Background()
	if _, err := l.Fit(ctx, conformance.Labeled(d, conformance.Seq(0, 48)), learner.Labeled{}, 2); err != nil {
		t.Fatal(err)
	}
	prefix, drop, rest := l.arch.MCSplit()
	if len(prefix) != 6 || drop != 4 || rest != 7 {
		t.Fatalf("MCSplit = %v, %d, %d; want 6 hoisted layers, dropout at 4, rest from 7", prefix, drop, rest)
	}
	idx := conformance.Seq(48, 64)
	l.Reseed(99)
	got, err := l.MCProbs(ctx, idx, 3)
	if err != nil {
		t.Fatal(err)
	}
	naive := netSpec{kind: "naive", layers: all(len(l.arch.Layers)), in: l.arch.Input, masks: true}
	n, err := l.newNet(naive, len(idx))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(99, mcStream))
	for s := 0; s < 3; s++ {
		if _, err := l.in.Gather(idx, n.xbuf[:0]); err != nil {
			t.Fatal(err)
		}
		l.fillMasks(n, rng)
		if err := n.run(l.params); err != nil {
			t.Fatal(err)
		}
		p, _ := values(n.probs)
		want := mat.NewDense(len(idx), 4, nil)
		copyRows(p, want, 0)
		if !mat.EqualApprox(got[s], want, 1e-5) {
			t.Fatalf("MC sample %d differs from the naive forward pass", s)
		}
	}
}

// TestInferenceLeavesParametersAlone guards against gorgonia's in-place ops
// writing into the parameters.
func TestInferenceLeavesParametersAlone(t *testing.T) {
	l := newLearner(t, conformance.Config(conformance.Models()[0].Spec), 40)
	l.build(rand.New(rand.NewPCG(5, 6)))
	l.fitted = true
	before := l.snapshot()
	ctx := context.Background()
	idx := conformance.Seq(0, 40)
	p1, err := l.Probs(ctx, idx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.MCProbs(ctx, idx, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Embed(ctx, idx); err != nil {
		t.Fatal(err)
	}
	p2, _ := l.Probs(ctx, idx)
	for i, w := range l.snapshot() {
		if !slices.Equal(w.Data, before[i].Data) {
			t.Fatalf("tensor %s changed during inference", w.Name)
		}
	}
	if !mat.Equal(p1, p2) {
		t.Fatal("two Probs calls on the same weights differ")
	}
}

func TestOptimizersKnownAnswers(t *testing.T) {
	ps := []*param{{w: []float32{1}, b: []float32{-1}}}
	g := map[int][]float32{0: {0.5}}
	gb := map[int][]float32{0: {-0.25}}
	// Adam with a constant gradient moves each weight by lr per step, against
	// the gradient's sign (m̂/sqrt(v̂) = sign(g)).
	a := newAdam(0.1, 0)
	a.step(ps, g, gb)
	a.step(ps, g, gb)
	if math.Abs(float64(ps[0].w[0])-0.8) > 1e-5 || math.Abs(float64(ps[0].b[0])+0.8) > 1e-5 {
		t.Errorf("adam: w %g b %g after two steps, want 0.8 and -0.8", ps[0].w[0], ps[0].b[0])
	}
	// SGD, momentum 0.9, weight decay 0.1, lr 0.1, g = 0.5, w0 = 1:
	// buf1 = 0.6, w1 = 0.94; g2 = 0.5 + 0.094, buf2 = 0.54 + 0.594, w2 = 0.94 - 0.1134.
	ps[0].w[0] = 1
	s := newSGD(0.1, 0.9, 0.1)
	s.step(ps, g, gb)
	if math.Abs(float64(ps[0].w[0])-0.94) > 1e-6 {
		t.Errorf("sgd step 1: w = %g, want 0.94", ps[0].w[0])
	}
	s.step(ps, g, gb)
	if math.Abs(float64(ps[0].w[0])-0.8266) > 1e-6 {
		t.Errorf("sgd step 2: w = %g, want 0.8266", ps[0].w[0])
	}
	// Without momentum: plain gradient steps.
	ps[0].w[0] = 1
	newSGD(0.1, 0, 0).step(ps, g, gb)
	if math.Abs(float64(ps[0].w[0])-0.95) > 1e-7 {
		t.Errorf("sgd without momentum: w = %g, want 0.95", ps[0].w[0])
	}
}

// TestWeightDecayShrinksWeights: the same fit with a large L2 penalty ends
// with smaller weights; per-sample decay divides it by the labeled count.
func TestWeightDecayShrinksWeights(t *testing.T) {
	d := conformance.Quadrants(32)
	norm := func(wd float64, perSample bool, opt string) float64 {
		cfg := conformance.Config(learner.ModelSpec{Name: "mlp", Hidden: []int{8}})
		cfg.Train.Epochs = 5
		cfg.Train.WeightDecay = wd
		cfg.Train.WeightDecayPerSample = perSample
		cfg.Train.Optimizer = opt
		l := newLearner(t, cfg, 32)
		if _, err := l.Fit(context.Background(), conformance.Labeled(d, conformance.Seq(0, 32)), learner.Labeled{}, 1); err != nil {
			t.Fatal(err)
		}
		s := 0.0
		for _, w := range l.snapshot() {
			for _, v := range w.Data {
				s += float64(v) * float64(v)
			}
		}
		return s
	}
	for _, opt := range []string{"adam", "sgd"} {
		plain, decayed, perSample := norm(0, false, opt), norm(0.5, false, opt), norm(0.5, true, opt)
		if !(decayed < plain*0.9) {
			t.Errorf("%s: weight decay 0.5 gives squared norm %g, without %g", opt, decayed, plain)
		}
		if !(perSample > decayed && perSample < plain) {
			t.Errorf("%s: per-sample decay (0.5/32) gives %g, want between %g and %g", opt, perSample, decayed, plain)
		}
	}
}

func TestSupports(t *testing.T) {
	cfg := conformance.Config(conformance.CNN())
	cfg.Backend = Name
	if err := cfg.Validate([]int{1, 12, 12}, 4); err != nil {
		t.Fatalf("the conformance CNN on gorgonia: %v", err)
	}
	cfg.Device = "auto"
	if err := cfg.Validate([]int{1, 12, 12}, 4); err != nil {
		t.Fatalf("device auto: %v", err)
	}
	cfg.Device = "cuda:0"
	err := cfg.Validate([]int{1, 12, 12}, 4)
	if err == nil || !strings.Contains(err.Error(), "learner.device") || !strings.Contains(err.Error(), "learner.backend: torch") || !strings.Contains(err.Error(), "-tags torch") {
		t.Fatalf("device cuda:0 on gorgonia: %v; want an error naming the torch backend and how to build it", err)
	}
	d := conformance.Quadrants(4)
	if _, err := New(d.Inputs(), 4, cfg); err == nil {
		t.Fatal("New accepted device cuda:0")
	}
	if !slices.Contains(learner.Backends(), Name) || learner.DefaultBackend() != Name {
		t.Errorf("backends %v, default %q: want gorgonia registered and the default without torch", learner.Backends(), learner.DefaultBackend())
	}
}

func TestDescribeAndCapabilities(t *testing.T) {
	l := newLearner(t, conformance.Config(conformance.CNN()), 4)
	if s := l.Describe(); !strings.HasPrefix(s, "gorgonia layers [conv4(k3)") {
		t.Errorf("Describe() = %q", s)
	}
	for _, c := range []learner.Capability{learner.CapProbs, learner.CapMCDropout, learner.CapEmbeddings, learner.CapLastLayer} {
		if !learner.Has(l, c) {
			t.Errorf("Has(%s) = false", c)
		}
	}
	noDrop := newLearner(t, conformance.Config(learner.ModelSpec{Name: "mlp", Hidden: []int{4}}), 4)
	if learner.Has(noDrop, learner.CapMCDropout) {
		t.Error("an MLP without dropout claims MC-dropout samples")
	}
}

func TestFitRejectsBadLabels(t *testing.T) {
	d := conformance.Quadrants(16)
	l := newLearner(t, conformance.Config(conformance.CNN()), 16)
	ctx := context.Background()
	badVal := learner.Labeled{Idx: []int{9, 10}, Y: []int{1, 4}}
	if _, err := l.Fit(ctx, conformance.Labeled(d, conformance.Seq(0, 8)), badVal, 1); err == nil || !strings.Contains(err.Error(), "label 4 of pool index 10") {
		t.Errorf("validation label 4 of 4 classes: %v", err)
	}
	short := learner.Labeled{Idx: []int{1, 2}, Y: []int{1}}
	if _, err := l.Fit(ctx, short, learner.Labeled{}, 1); err == nil || !strings.Contains(err.Error(), "1 labels for 2 samples") {
		t.Errorf("one label for two samples: %v", err)
	}
}

// TestMCDropoutFirstLayer: a network that starts with dropout has no
// deterministic prefix; its MC samples still work and differ.
func TestMCDropoutFirstLayer(t *testing.T) {
	spec := learner.ModelSpec{Name: "layers", Layers: []learner.Layer{
		{Type: "dropout", P: 0.3}, {Type: "flatten"}, {Type: "dense", Out: 8}, {Type: "relu"}, {Type: "dense"}}}
	d := conformance.Quadrants(24)
	l := newLearner(t, conformance.Config(spec), 24)
	ctx := context.Background()
	if _, err := l.Fit(ctx, conformance.Labeled(d, conformance.Seq(0, 16)), learner.Labeled{}, 1); err != nil {
		t.Fatal(err)
	}
	ms, err := l.MCProbs(ctx, conformance.Seq(0, 24), 3)
	if err != nil {
		t.Fatal(err)
	}
	if r, c := ms[2].Dims(); r != 24 || c != 4 {
		t.Fatalf("sample is %dx%d", r, c)
	}
	if mat.Equal(ms[0], ms[1]) {
		t.Error("MC samples of a network that starts with dropout are identical")
	}
}

// TestBatchesOfOne: graphs for a single sample (inference batch 1, training
// batch 1) compute the same numbers as larger batches.
func TestBatchesOfOne(t *testing.T) {
	d := conformance.Quadrants(12)
	ctx := context.Background()
	for _, m := range conformance.Models() {
		t.Run(m.Name, func(t *testing.T) {
			cfg := conformance.Config(m.Spec)
			cfg.Train.BatchSize = 1
			cfg.Train.Epochs = 2
			l := newLearner(t, cfg, 12)
			if _, err := l.Fit(ctx, conformance.Labeled(d, conformance.Seq(0, 5)), conformance.Labeled(d, conformance.Seq(5, 8)), 3); err != nil {
				t.Fatal(err)
			}
			want, err := l.Probs(ctx, conformance.Seq(0, 12))
			if err != nil {
				t.Fatal(err)
			}
			l.cfg.InferenceBatch = 1
			got, err := l.Probs(ctx, conformance.Seq(0, 12))
			if err != nil {
				t.Fatal(err)
			}
			if !mat.EqualApprox(got, want, 1e-6) {
				t.Error("probabilities in batches of one differ from one batch of 12")
			}
			if _, err := l.MCProbs(ctx, conformance.Seq(0, 3), 2); err != nil {
				t.Fatal(err)
			}
		})
	}
}
