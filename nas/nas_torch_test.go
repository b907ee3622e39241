//go:build torch

package nas_test

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/learner"
	_ "github.com/alrl/alrl/learner/torch" // the libtorch backend
	"github.com/alrl/alrl/nas"
)

func torchConfig() learner.Config {
	c := learner.DefaultConfig()
	c.Backend = "torch"
	c.Threads = 1
	c.InferenceBatch = 256
	c.Train.LR = 0.01
	c.Train.BatchSize = 32
	c.Train.Epochs = 40
	c.Train.Patience = 0
	return c
}

func labeledOf(d *datasets.Dataset, idx []int) learner.Labeled {
	l := learner.Labeled{Idx: idx}
	for _, i := range idx {
		l.Y = append(l.Y, d.Y[i])
	}
	return l
}

func span(lo, hi int) []int {
	out := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

// TestEveryArchitectureForwardShape builds every architecture of a small
// search space on libtorch and checks the output shapes of its forward pass.
func TestEveryArchitectureForwardShape(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		kind      nas.Kind
		shape     []int
		maxStacks int
		maxBlocks int
	}{
		{nas.Image, []int{1, 28, 28}, 4, 2},
		{nas.Tabular, []int{5}, 3, 3},
	} {
		n := 24
		d := &datasets.Dataset{Name: "rand", Shape: tc.shape, NumClasses: 10, TrainN: n}
		dim := d.Dim()
		for i := 0; i < n*dim; i++ {
			d.X = append(d.X, rng.Float32())
		}
		for i := 0; i < n; i++ {
			d.Y = append(d.Y, i%10)
		}
		lc := torchConfig()
		lc.Train.Epochs = 1
		for s := 1; s <= tc.maxStacks; s++ {
			for b := 1; b <= tc.maxBlocks; b++ {
				cfg := nas.DefaultConfig()
				cfg.Enabled, cfg.Search = true, false
				cfg.Width, cfg.Stacks, cfg.Blocks = 4, s, b
				cfg.MaxStacks, cfg.MaxBlocks = tc.maxStacks, tc.maxBlocks
				cfg.Dropout = 0.2
				l, err := nas.New(d.Inputs(), 10, lc, cfg, nas.Options{})
				if err != nil {
					t.Fatalf("%s %dx%d: %v", tc.kind, s, b, err)
				}
				ctx := context.Background()
				if _, err := l.Fit(ctx, labeledOf(d, span(0, 16)), learner.Labeled{}, 1); err != nil {
					t.Fatalf("%s %v: %v", tc.kind, l.Arch(), err)
				}
				idx := span(16, 24)
				p, err := l.Probs(ctx, idx)
				if err != nil {
					t.Fatal(err)
				}
				if r, c := p.Dims(); r != 8 || c != 10 {
					t.Fatalf("%s %v: probabilities %dx%d, want 8x10", tc.kind, l.Arch(), r, c)
				}
				for i := 0; i < 8; i++ {
					if sum := mat.Sum(p.RowView(i)); math.Abs(sum-1) > 1e-5 {
						t.Fatalf("%s %v: row %d sums to %g", tc.kind, l.Arch(), i, sum)
					}
				}
				z, err := l.Embed(ctx, idx)
				if err != nil {
					t.Fatal(err)
				}
				if _, c := z.Dims(); c != 4<<(s-1) {
					t.Fatalf("%s %v: embedding width %d, want %d", tc.kind, l.Arch(), c, 4<<(s-1))
				}
				if !learner.Has(l, learner.CapMCDropout) {
					t.Fatalf("%s %v: no MC dropout with nas.dropout 0.2", tc.kind, l.Arch())
				}
				mc, err := l.MCProbs(ctx, idx, 2)
				if err != nil || len(mc) != 2 {
					t.Fatalf("%s %v: MC dropout: %v", tc.kind, l.Arch(), err)
				}
				x, err := l.Inputs(ctx, idx[:2])
				if err != nil {
					t.Fatal(err)
				}
				logits, grads, err := l.InputGrads(ctx, x)
				if err != nil {
					t.Fatalf("%s %v: input gradients: %v", tc.kind, l.Arch(), err)
				}
				if r, c := logits.Dims(); r != 2 || c != 10 || len(grads) != 10 {
					t.Fatalf("%s %v: logits %dx%d and %d gradients, want 2x10 and 10", tc.kind, l.Arch(), r, c, len(grads))
				}
				if r, c := grads[0].Dims(); r != 2 || c != dim {
					t.Fatalf("%s %v: gradient %dx%d, want 2x%d", tc.kind, l.Arch(), r, c, dim)
				}
				l.Close()
			}
		}
	}
}

// strips returns n grey images of 2 x 16 pixels with faint noise and one
// bright 2 x 2 square. Task "side": the label is which half of the strip
// the square lies in. Global average pooling discards position, so a
// network can only tell a square's side from where its receptive field
// meets the zero padding: with 1 stack of 1 block (a 7-pixel field) that
// works only for squares within 3 pixels of an edge (about 75% accuracy
// when trained well); one more block or one more stack sees every square
// (about 100%). Task "level": the label is the square's brightness (1 or
// 0.3), which every network of the space reads locally and perfectly.
func strips(task string, n int, seed uint64) *datasets.Dataset {
	const h, w = 2, 16
	rng := rand.New(rand.NewPCG(seed, 3))
	d := &datasets.Dataset{Name: task, Shape: []int{1, h, w}, NumClasses: 2, TrainN: n}
	for i := 0; i < n; i++ {
		img := make([]float32, h*w)
		for j := range img {
			img[j] = 0.1 * rng.Float32()
		}
		c, v, y := rng.IntN(w-1), float32(1), 0
		switch task {
		case "side":
			if c == w/2-1 {
				c = w / 2 // no square straddles the middle
			}
			if c >= w/2 {
				y = 1
			}
		case "level":
			if y = rng.IntN(2); y == 1 {
				v = 0.3
			}
		}
		for r := 0; r < 2; r++ {
			img[r*w+c] += v
			img[r*w+c+1] += v
		}
		d.X = append(d.X, img...)
		d.Y = append(d.Y, y)
	}
	return d
}

// searchRounds runs the search over growing labeled sets and returns the
// architecture after each round.
func searchRounds(t *testing.T, d *datasets.Dataset, sizes ...int) []nas.Arch {
	t.Helper()
	cfg := nas.DefaultConfig()
	cfg.Enabled = true
	cfg.Width = 4
	cfg.StemPool = 1 // the receptive-field argument above is at full resolution
	cfg.MaxStacks, cfg.MaxBlocks = 3, 3
	cfg.Holdout = 0.25
	lc := torchConfig()
	lc.Train.Epochs = 20
	lc.Train.LR = 0.003
	lc.Train.MinEpochSamples = 256
	l, err := nas.New(d.Inputs(), 2, lc, cfg, nas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var out []nas.Arch
	for r, n := range sizes {
		st, err := l.Fit(context.Background(), labeledOf(d, span(0, n)), learner.Labeled{}, uint64(r+1))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s, %d labels: %v, candidates %v", d.Name, n, l.Arch(), st.Info["nas_candidates"])
		out = append(out, l.Arch())
	}
	return out
}

// TestSearchGrowsOnlyWhenTheTaskNeedsIt trains real networks: the search
// grows on a task that needs a large receptive field and keeps the smallest
// network on one that a single block solves.
func TestSearchGrowsOnlyWhenTheTaskNeedsIt(t *testing.T) {
	if hard := searchRounds(t, strips("side", 200, 1), 200); hard[0].Stacks+hard[0].Blocks < 3 {
		t.Errorf("side: the search stayed at %v; a deeper network is clearly needed", hard[0])
	}
	easy := searchRounds(t, strips("level", 240, 2), 160, 240)
	for _, a := range easy {
		if a.Stacks != 1 || a.Blocks != 1 {
			t.Errorf("level: the search grew to %v on a task one block solves", a)
		}
	}
}

// tabularTask is n points in [-1, 1]^2 labeled by the sign of x*y.
func tabularTask(n int) *datasets.Dataset {
	rng := rand.New(rand.NewPCG(9, 3))
	d := &datasets.Dataset{Name: "xor", Shape: []int{2}, NumClasses: 2, TrainN: n}
	for i := 0; i < n; i++ {
		x, y := 2*rng.Float64()-1, 2*rng.Float64()-1
		d.X = append(d.X, float32(x), float32(y))
		if x*y > 0 {
			d.Y = append(d.Y, 1)
		} else {
			d.Y = append(d.Y, 0)
		}
	}
	return d
}

// TestResumeRestoresArchitectureTorch saves a grown network and loads it
// into a fresh learner, as a resumed run does.
func TestResumeRestoresArchitectureTorch(t *testing.T) {
	d := tabularTask(200)
	cfg := nas.DefaultConfig()
	cfg.Enabled, cfg.Search = true, false
	cfg.Width, cfg.Stacks, cfg.Blocks = 2, 2, 3
	l, err := nas.New(d.Inputs(), 2, torchConfig(), cfg, nas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	if _, err := l.Fit(ctx, labeledOf(d, span(0, 100)), learner.Labeled{}, 1); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "weights-0001.bin")
	if err := l.Save(path); err != nil {
		t.Fatal(err)
	}
	cfg.Search, cfg.Stacks, cfg.Blocks = true, 1, 1 // a resumed search run starts at 1x1
	r, err := nas.New(d.Inputs(), 2, torchConfig(), cfg, nas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Load(path); err != nil {
		t.Fatal(err)
	}
	if r.Arch() != l.Arch() {
		t.Fatalf("restored %v, saved %v", r.Arch(), l.Arch())
	}
	a, _ := l.Probs(ctx, span(100, 200))
	b, _ := r.Probs(ctx, span(100, 200))
	if !mat.Equal(a, b) {
		t.Fatal("the restored network predicts differently")
	}
}
