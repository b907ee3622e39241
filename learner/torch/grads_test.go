//go:build torch

package torch

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/strategies"
)

// tabular returns 3 Gaussian classes in 4 dimensions.
func tabular(n int) *datasets.Dataset {
	rng := rand.New(rand.NewPCG(1, 2))
	d := &datasets.Dataset{Name: "tab", Shape: []int{4}, NumClasses: 3, TrainN: n}
	for i := 0; i < n; i++ {
		c := i % 3
		for j := 0; j < 4; j++ {
			v := rng.NormFloat64()
			if j == c {
				v += 2.5
			}
			d.X = append(d.X, float32(v))
		}
		d.Y = append(d.Y, c)
	}
	return d
}

func tabularNet(hidden []learner.Layer) learner.Config {
	cfg := learner.DefaultConfig()
	cfg.Threads = 1
	cfg.InferenceBatch = 7 // several chunks in every call below
	layers := append([]learner.Layer{{Type: "flatten"}}, hidden...)
	cfg.Model = learner.ModelSpec{Name: "layers", Layers: append(layers, learner.Layer{Type: "dense"})}
	cfg.Train.Epochs = 20
	cfg.Train.BatchSize = 16
	cfg.Train.Patience = 0
	cfg.Train.LR = 0.02
	return cfg
}

func rowsOfPool(t *testing.T, l *Learner, idx []int) *mat.Dense {
	t.Helper()
	x, err := l.Inputs(context.Background(), idx)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestInputGradsMatchFiniteDifferences(t *testing.T) {
	d := tabular(96)
	// Smooth hidden layer (tanh) and dropout, which must be off.
	l := fitted(t, d, tabularNet([]learner.Layer{{Type: "dense", Out: 8}, {Type: "tanh"}, {Type: "dropout", P: 0.5}}), 3)
	ctx := context.Background()
	x := rowsOfPool(t, l, seq(0, 10))
	logits, grads, err := l.InputGrads(ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	if r, c := logits.Dims(); r != 10 || c != 3 || len(grads) != 3 {
		t.Fatalf("logits %dx%d, %d gradient matrices", r, c, len(grads))
	}
	// Logits agree with the probabilities (softmax) of Probs.
	p, _ := l.Probs(ctx, seq(0, 10))
	for i := 0; i < 10; i++ {
		row := append([]float64(nil), logits.RawRowView(i)...)
		m := floats.Max(row)
		for c := range row {
			row[c] = math.Exp(row[c] - m)
		}
		floats.Scale(1/floats.Sum(row), row)
		for c := range row {
			if math.Abs(row[c]-p.At(i, c)) > 1e-5 {
				t.Fatalf("row %d: softmax(logits) %v, probs %v", i, row, p.RawRowView(i))
			}
		}
	}
	// Central differences, computed with InputGrads' own logits.
	const h = 1e-2
	for i := 0; i < 10; i++ {
		for j := 0; j < 4; j++ {
			xp := mat.DenseCopyOf(x.Slice(i, i+1, 0, 4))
			xm := mat.DenseCopyOf(xp)
			xp.Set(0, j, xp.At(0, j)+h)
			xm.Set(0, j, xm.At(0, j)-h)
			lp, _, err := l.InputGrads(ctx, xp)
			if err != nil {
				t.Fatal(err)
			}
			lm, _, _ := l.InputGrads(ctx, xm)
			for c := 0; c < 3; c++ {
				fd := (lp.At(0, c) - lm.At(0, c)) / (2 * h)
				if g := grads[c].At(i, j); math.Abs(g-fd) > 2e-3+1e-2*math.Abs(fd) {
					t.Errorf("row %d, input %d, class %d: gradient %g, finite difference %g", i, j, c, g, fd)
				}
			}
		}
	}
}

func TestDeepFoolOnALinearModelIsTheExactDistance(t *testing.T) {
	// mlp with no hidden layer: logits = W x + b, so the distance to the
	// decision boundary is min_k |f_k - f_k0| / ||w_k - w_k0||, and DeepFool
	// on the network must find it (within float32 precision).
	d := tabular(96)
	l := fitted(t, d, tabularNet(nil), 4)
	ctx := context.Background()
	m := learner.NewMemo(l)
	if !learner.Has(m, learner.CapInputGrads) || !learner.Has(m, learner.CapInputs) {
		t.Fatal("the torch learner should provide inputs and input gradients")
	}
	w, err := l.LastLayerWeights()
	if err != nil {
		t.Fatal(err)
	}
	idx := seq(0, 40)
	x := rowsOfPool(t, l, idx)
	logits, _, err := m.InputGrads(ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	dist, flipped, err := strategies.DeepFool(ctx, m, x, 50, 0.02)
	if err != nil {
		t.Fatal(err)
	}
	for i := range idx {
		f := logits.RawRowView(i)
		k0 := 0
		for c := range f {
			if f[c] > f[k0] {
				k0 = c
			}
		}
		exact := math.Inf(1)
		for k := range f {
			if k == k0 {
				continue
			}
			diff := make([]float64, 4)
			floats.SubTo(diff, w.RawRowView(k), w.RawRowView(k0))
			exact = math.Min(exact, math.Abs(f[k]-f[k0])/floats.Norm(diff, 2))
		}
		if !flipped[i] || math.Abs(dist[i]-exact) > 1e-4+1e-4*exact {
			t.Errorf("sample %d: DeepFool distance %g (flipped %v), exact %g", i, dist[i], flipped[i], exact)
		}
	}
	// And the registered strategy ranks by it.
	s, err := strategies.New("deepfool", nil)
	if err != nil {
		t.Fatal(err)
	}
	q := strategies.Query{Model: m, Candidates: idx, K: 5, RNG: rand.New(rand.NewPCG(1, 1))}
	sel, err := s.Select(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := s.(strategies.Scorer).Score(ctx, q)
	for _, p := range sel {
		for i, v := range sc {
			if v > -dist[p]+1e-9 && !contains(sel, idx[i]) {
				t.Errorf("candidate %d (distance %g) is closer than pick %d (%g) but not chosen", idx[i], -v, p, dist[p])
			}
		}
	}
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestInputGradsErrors(t *testing.T) {
	d := tabular(96)
	cfg := tabularNet(nil)
	l0, err := New(d.Inputs(), 3, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l0.Close()
	if _, _, err := l0.(*Learner).InputGrads(context.Background(), mat.NewDense(1, 4, nil)); err == nil || !strings.Contains(err.Error(), "not been fitted") {
		t.Errorf("unfitted: err = %v", err)
	}
	l := fitted(t, d, cfg, 1)
	if _, _, err := l.InputGrads(context.Background(), mat.NewDense(2, 5, nil)); err == nil || !strings.Contains(err.Error(), "takes 4") {
		t.Errorf("wrong width: err = %v", err)
	}
	// A forward pass without gradients still works afterwards (grad mode restored).
	if _, err := l.Probs(context.Background(), seq(0, 3)); err != nil {
		t.Fatal(err)
	}
}
