package strategies

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/alrl/alrl/learner"
)

// Discriminative is discriminative active learning (DAL; Gissin &
// Shalev-Shwartz 2019, "Discriminative active learning"): a binary classifier
// learns to tell labeled from unlabeled samples on the learner's penultimate
// embeddings, and the candidates it is most sure are unlabeled are acquired,
// being the least represented by the labeled set. The batch is built in
// sub-batches, retraining the discriminator after each one with the new picks
// counted as labeled; each sub-batch's discriminator sees a fresh random
// subsample of ratio x |labeled| unlabeled candidates, as in the authors' code.
//
// The discriminator follows the authors' code: an MLP with three ReLU hidden
// layers of width 256 (20 when the embedding has fewer than 30 dimensions),
// Glorot-uniform weights from the query's RNG, Adam, class weights N / N_class
// so both classes weigh the same, and training stops once an epoch's
// training accuracy exceeds 0.98 (or after max epochs). It is pure Go and
// trains on the CPU; its single sigmoid output is the two-way softmax of the
// authors' model written with one logit, which is the same model class.
type Discriminative struct {
	subBatches int
	ratio      int
	width      int
	layers     int
	lr         float64
	batch      int
	epochs     int
	stopAcc    float64
}

func init() {
	Register(Info{
		Name:        "discriminative",
		Description: "labeled-vs-unlabeled classifier on embeddings, most-unlabeled first, in sub-batches (Gissin & Shalev-Shwartz 2019)",
		Options: []Option{
			{Name: "sub_batches", Default: 20, Doc: "sub-batches per query, retraining the discriminator between them (authors' code: 20 for learned representations); each holds max(1, k / sub_batches) samples"},
			{Name: "unlabeled_ratio", Default: 10, Doc: "each discriminator sees at most this many unlabeled candidates per labeled sample, drawn at random (0 = all candidates)"},
			{Name: "width", Default: 0, Doc: "hidden width of the discriminator (0 = 256, or 20 for embeddings under 30 dimensions)"},
			{Name: "layers", Default: 3, Doc: "hidden layers of the discriminator (0 = logistic regression)"},
			{Name: "lr", Default: 3e-4, Doc: "Adam learning rate of the discriminator"},
			{Name: "batch_size", Default: 128, Doc: "discriminator minibatch size"},
			{Name: "epochs", Default: 200, Doc: "maximum discriminator epochs"},
			{Name: "stop_accuracy", Default: 0.98, Doc: "stop training once an epoch's training accuracy exceeds this"},
		},
		New: newDiscriminative,
	})
}

func newDiscriminative(o Options) (Strategy, error) {
	var d Discriminative
	var err error
	ints := []struct {
		name string
		dst  *int
		min  int
	}{{"sub_batches", &d.subBatches, 1}, {"unlabeled_ratio", &d.ratio, 0}, {"width", &d.width, 0},
		{"layers", &d.layers, 0}, {"batch_size", &d.batch, 1}, {"epochs", &d.epochs, 1}}
	for _, f := range ints {
		if *f.dst, err = o.Int(f.name); err != nil {
			return nil, err
		}
		if *f.dst < f.min {
			return nil, fmt.Errorf("option %s: must be >= %d, got %d", f.name, f.min, *f.dst)
		}
	}
	if d.lr, err = o.Float("lr"); err != nil {
		return nil, err
	}
	if d.stopAcc, err = o.Float("stop_accuracy"); err != nil {
		return nil, err
	}
	if d.lr <= 0 {
		return nil, fmt.Errorf("option lr: must be > 0, got %g", d.lr)
	}
	if d.stopAcc <= 0 || d.stopAcc > 1 {
		return nil, fmt.Errorf("option stop_accuracy: must be in (0, 1], got %g", d.stopAcc)
	}
	return d, nil
}

// Name returns "discriminative".
func (Discriminative) Name() string { return "discriminative" }

// Needs declares the embeddings capability.
func (Discriminative) Needs() []learner.Capability {
	return []learner.Capability{learner.CapEmbeddings}
}

// Select builds the batch sub-batch by sub-batch.
func (s Discriminative) Select(ctx context.Context, q Query) ([]int, error) {
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("discriminative: %w", err)
	}
	xu, err := embeddings(ctx, q.Model, q.Candidates, 0)
	if err != nil {
		return nil, fmt.Errorf("discriminative: %w", err)
	}
	_, d := xu.Dims()
	var lab [][]float64
	if len(q.Labeled) > 0 {
		xl, err := embeddings(ctx, q.Model, q.Labeled, d)
		if err != nil {
			return nil, fmt.Errorf("discriminative: labeled set: %w", err)
		}
		lab = rowsOf(xl)
	}
	rows, err := s.selectRows(ctx, lab, rowsOf(xu), q.K, q.RNG)
	if err != nil {
		return nil, fmt.Errorf("discriminative: %w", err)
	}
	out := make([]int, len(rows))
	for i, r := range rows {
		out[i] = q.Candidates[r]
	}
	return out, nil
}

// selectRows picks k rows of unl in sub-batches; lab are the labeled rows.
func (s Discriminative) selectRows(ctx context.Context, lab, unl [][]float64, k int, rng *rand.Rand) ([]int, error) {
	d := len(unl[0])
	width := s.width
	if width == 0 {
		width = 256
		if d < 30 {
			width = 20
		}
	}
	sub := max(1, k/s.subBatches)
	picked := make([]bool, len(unl))
	var out []int
	for len(out) < k {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		size := min(sub, k-len(out))
		free := make([]int, 0, len(unl)-len(out))
		for i, p := range picked {
			if !p {
				free = append(free, i)
			}
		}
		nl := len(lab) + len(out)
		if nl == 0 {
			// Nothing is labeled yet, so every candidate is equally
			// "unlabeled": draw the first sub-batch at random.
			rng.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
			for _, r := range free[:size] {
				out = append(out, r)
				picked[r] = true
			}
			continue
		}
		m := len(free)
		if s.ratio > 0 {
			m = min(m, s.ratio*nl)
		}
		m = max(m, size)
		// Random subsample of the remaining candidates (partial Fisher-Yates).
		for i := 0; i < m; i++ {
			j := i + rng.IntN(len(free)-i)
			free[i], free[j] = free[j], free[i]
		}
		sample := free[:m]
		x := make([][]float64, 0, nl+m)
		y := make([]float64, 0, nl+m)
		x = append(x, lab...)
		for _, r := range out {
			x = append(x, unl[r])
		}
		for range nl {
			y = append(y, 0)
		}
		for _, r := range sample {
			x = append(x, unl[r])
			y = append(y, 1)
		}
		net := newBinaryMLP(d, width, s.layers, rng)
		if err := net.train(ctx, x, y, s.lr, s.batch, s.epochs, s.stopAcc, rng); err != nil {
			return nil, err
		}
		xs := make([][]float64, m)
		for i, r := range sample {
			xs[i] = unl[r]
		}
		p := net.predict(xs)
		top, err := TopK(p, sample, size)
		if err != nil {
			return nil, err
		}
		for _, r := range top {
			out = append(out, r)
			picked[r] = true
		}
	}
	return out, nil
}

// binaryMLP is a small fully connected network with ReLU hidden layers and
// one sigmoid output, trained with Adam on a class-weighted cross-entropy.
type binaryMLP struct {
	dims []int       // layer widths, input first, 1 last
	w, b [][]float64 // w[l] is dims[l] x dims[l+1], row-major
	// Adam state.
	mw, vw, mb, vb [][]float64
	step           int
}

func newBinaryMLP(in, width, hidden int, rng *rand.Rand) *binaryMLP {
	dims := []int{in}
	for range hidden {
		dims = append(dims, width)
	}
	dims = append(dims, 1)
	n := &binaryMLP{dims: dims}
	for l := 0; l+1 < len(dims); l++ {
		fi, fo := dims[l], dims[l+1]
		lim := math.Sqrt(6 / float64(fi+fo)) // Glorot uniform
		w := make([]float64, fi*fo)
		for i := range w {
			w[i] = (2*rng.Float64() - 1) * lim
		}
		n.w = append(n.w, w)
		n.b = append(n.b, make([]float64, fo))
		n.mw = append(n.mw, make([]float64, fi*fo))
		n.vw = append(n.vw, make([]float64, fi*fo))
		n.mb = append(n.mb, make([]float64, fo))
		n.vb = append(n.vb, make([]float64, fo))
	}
	return n
}

// forward returns every layer's activations for a batch (acts[0] = input,
// last = logits); hidden activations are post-ReLU.
func (n *binaryMLP) forward(x []float64, rows int) [][]float64 {
	acts := [][]float64{x}
	last := len(n.w) - 1
	for l := range n.w {
		fi, fo := n.dims[l], n.dims[l+1]
		z := make([]float64, rows*fo)
		for r := 0; r < rows; r++ {
			copy(z[r*fo:(r+1)*fo], n.b[l])
		}
		blas64.Gemm(blas.NoTrans, blas.NoTrans, 1,
			blas64.General{Rows: rows, Cols: fi, Stride: fi, Data: acts[l]},
			blas64.General{Rows: fi, Cols: fo, Stride: fo, Data: n.w[l]},
			1, blas64.General{Rows: rows, Cols: fo, Stride: fo, Data: z})
		if l < last {
			for i, v := range z {
				if v < 0 {
					z[i] = 0
				}
			}
		}
		acts = append(acts, z)
	}
	return acts
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// train fits the network with Adam; y holds 0 (labeled) or 1 (unlabeled).
// Each class's samples are weighted by N / N_class.
func (n *binaryMLP) train(ctx context.Context, x [][]float64, y []float64, lr float64, bs, epochs int, stopAcc float64, rng *rand.Rand) error {
	N := len(x)
	d := n.dims[0]
	pos := 0.0
	for _, v := range y {
		pos += v
	}
	cw := [2]float64{float64(N) / math.Max(float64(N)-pos, 1), float64(N) / math.Max(pos, 1)}
	order := make([]int, N)
	for i := range order {
		order[i] = i
	}
	buf := make([]float64, min(bs, N)*d)
	for ep := 0; ep < epochs; ep++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		rng.Shuffle(N, func(i, j int) { order[i], order[j] = order[j], order[i] })
		correct := 0
		for lo := 0; lo < N; lo += bs {
			hi := min(lo+bs, N)
			rows := hi - lo
			xb := buf[:rows*d]
			for r, i := range order[lo:hi] {
				copy(xb[r*d:(r+1)*d], x[i])
			}
			acts := n.forward(xb, rows)
			logits := acts[len(acts)-1]
			// d(loss)/d(logit) of the weighted mean cross-entropy.
			g := make([]float64, rows)
			for r, i := range order[lo:hi] {
				p := sigmoid(logits[r])
				if (p >= 0.5) == (y[i] == 1) {
					correct++
				}
				g[r] = cw[int(y[i])] * (p - y[i]) / float64(rows)
			}
			n.backward(acts, g, rows, lr)
		}
		if float64(correct)/float64(N) > stopAcc {
			break
		}
	}
	return nil
}

// backward back-propagates the logit gradients g and takes one Adam step.
func (n *binaryMLP) backward(acts [][]float64, g []float64, rows int, lr float64) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	n.step++
	c1 := 1 - math.Pow(b1, float64(n.step))
	c2 := 1 - math.Pow(b2, float64(n.step))
	delta := g // gradient w.r.t. the pre-activation of layer l's output
	for l := len(n.w) - 1; l >= 0; l-- {
		fi, fo := n.dims[l], n.dims[l+1]
		gw := make([]float64, fi*fo)
		blas64.Gemm(blas.Trans, blas.NoTrans, 1,
			blas64.General{Rows: rows, Cols: fi, Stride: fi, Data: acts[l]},
			blas64.General{Rows: rows, Cols: fo, Stride: fo, Data: delta},
			0, blas64.General{Rows: fi, Cols: fo, Stride: fo, Data: gw})
		gb := make([]float64, fo)
		for r := 0; r < rows; r++ {
			for j := 0; j < fo; j++ {
				gb[j] += delta[r*fo+j]
			}
		}
		var prev []float64
		if l > 0 {
			prev = make([]float64, rows*fi)
			blas64.Gemm(blas.NoTrans, blas.Trans, 1,
				blas64.General{Rows: rows, Cols: fo, Stride: fo, Data: delta},
				blas64.General{Rows: fi, Cols: fo, Stride: fo, Data: n.w[l]},
				0, blas64.General{Rows: rows, Cols: fi, Stride: fi, Data: prev})
			for i, a := range acts[l] { // ReLU derivative
				if a <= 0 {
					prev[i] = 0
				}
			}
		}
		adam(n.w[l], gw, n.mw[l], n.vw[l], lr, b1, b2, eps, c1, c2)
		adam(n.b[l], gb, n.mb[l], n.vb[l], lr, b1, b2, eps, c1, c2)
		delta = prev
	}
}

func adam(p, g, m, v []float64, lr, b1, b2, eps, c1, c2 float64) {
	for i := range p {
		m[i] = b1*m[i] + (1-b1)*g[i]
		v[i] = b2*v[i] + (1-b2)*g[i]*g[i]
		p[i] -= lr * (m[i] / c1) / (math.Sqrt(v[i]/c2) + eps)
	}
}

// predict returns P(unlabeled) for each row.
func (n *binaryMLP) predict(x [][]float64) []float64 {
	d := n.dims[0]
	out := make([]float64, len(x))
	const bs = 1024
	for lo := 0; lo < len(x); lo += bs {
		hi := min(lo+bs, len(x))
		xb := packRows(x[lo:hi], d)
		acts := n.forward(xb, hi-lo)
		for r, z := range acts[len(acts)-1] {
			out[lo+r] = sigmoid(z)
		}
	}
	return out
}
