package learner

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// DiscriminatorSpec is a binary classifier on feature rows, as discriminative
// active learning's authors train it (Gissin & Shalev-Shwartz 2019): an MLP
// with Layers ReLU hidden layers of Width units and one logit, Glorot-uniform
// weights drawn from Seed, Adam with learning rate LR on minibatches of Batch
// rows shuffled by Seed, class weights N / N_class, and training stopped
// once an epoch's training accuracy exceeds StopAccuracy or after Epochs.
type DiscriminatorSpec struct {
	Width, Layers, Batch, Epochs int
	LR, StopAccuracy             float64
	Seed                         uint64
}

// Check reports the first invalid field of the spec.
func (s DiscriminatorSpec) Check() error {
	switch {
	case s.Width < 1:
		return fmt.Errorf("discriminator: width must be >= 1, got %d", s.Width)
	case s.Layers < 0:
		return fmt.Errorf("discriminator: layers must be >= 0, got %d", s.Layers)
	case s.Batch < 1 || s.Epochs < 1:
		return fmt.Errorf("discriminator: batch size and epochs must be >= 1, got %d and %d", s.Batch, s.Epochs)
	case !(s.LR > 0):
		return fmt.Errorf("discriminator: learning rate must be > 0, got %g", s.LR)
	}
	return nil
}

// DiscriminatorFit is what training a discriminator returns.
type DiscriminatorFit struct {
	P        []float64 // P(y = 1) for each row of the scored matrix
	Epochs   int       // epochs trained
	Accuracy float64   // training accuracy of the last epoch
}

// Discriminator trains binary classifiers on feature rows; the torch backend
// trains them with libtorch, every other learner with GoDiscriminator.
type Discriminator interface {
	// TrainDiscriminator fits the spec's classifier of y (0 or 1) on the rows
	// of x and returns P(y = 1) for the rows of score.
	TrainDiscriminator(ctx context.Context, x *mat.Dense, y []float64, score *mat.Dense, spec DiscriminatorSpec) (DiscriminatorFit, error)
}

// DiscriminatorOf returns m's own Discriminator, or GoDiscriminator when it
// has none.
func DiscriminatorOf(m any) Discriminator {
	if d, ok := m.(Discriminator); ok {
		return d
	}
	return GoDiscriminator{}
}

// TrainDiscriminator trains on the learner's device when it can, else in Go.
func (m *Memo) TrainDiscriminator(ctx context.Context, x *mat.Dense, y []float64, score *mat.Dense, spec DiscriminatorSpec) (DiscriminatorFit, error) {
	return DiscriminatorOf(m.Learner).TrainDiscriminator(ctx, x, y, score, spec)
}

// CheckDiscriminatorData checks the shapes and labels of a training call.
func CheckDiscriminatorData(x *mat.Dense, y []float64, score *mat.Dense) error {
	n, d := x.Dims()
	if n == 0 || n != len(y) {
		return fmt.Errorf("discriminator: %d training rows for %d labels", n, len(y))
	}
	for i, v := range y {
		if v != 0 && v != 1 {
			return fmt.Errorf("discriminator: label %d is %g, not 0 or 1", i, v)
		}
	}
	if r, c := score.Dims(); r > 0 && c != d {
		return fmt.Errorf("discriminator: scoring rows of %d features, trained on %d", c, d)
	}
	return nil
}

// ClassWeights returns N / N_class for the classes 0 and 1 of y.
func ClassWeights(y []float64) [2]float64 {
	pos := 0.0
	for _, v := range y {
		pos += v
	}
	n := float64(len(y))
	return [2]float64{n / math.Max(n-pos, 1), n / math.Max(pos, 1)}
}

// GlorotDense draws the weights of the spec's network for in features from
// its seed: w[l] is dims[l] x dims[l+1] row-major, Glorot uniform; the
// returned RNG goes on to shuffle the minibatches.
func GlorotDense(in int, spec DiscriminatorSpec) (dims []int, w [][]float64, rng *rand.Rand) {
	rng = rand.New(rand.NewPCG(spec.Seed, 0x6469736372)) // "discr"
	dims = []int{in}
	for range spec.Layers {
		dims = append(dims, spec.Width)
	}
	dims = append(dims, 1)
	for l := 0; l+1 < len(dims); l++ {
		fi, fo := dims[l], dims[l+1]
		lim := math.Sqrt(6 / float64(fi+fo))
		wl := make([]float64, fi*fo)
		for i := range wl {
			wl[i] = (2*rng.Float64() - 1) * lim
		}
		w = append(w, wl)
	}
	return dims, w, rng
}

// GoDiscriminator trains the discriminator in pure Go (gonum BLAS, float64,
// on the CPU): the fallback for learners without their own.
type GoDiscriminator struct{}

// TrainDiscriminator fits the spec's MLP and scores the rows of score.
func (GoDiscriminator) TrainDiscriminator(ctx context.Context, x *mat.Dense, y []float64, score *mat.Dense, spec DiscriminatorSpec) (DiscriminatorFit, error) {
	if err := spec.Check(); err != nil {
		return DiscriminatorFit{}, err
	}
	if err := CheckDiscriminatorData(x, y, score); err != nil {
		return DiscriminatorFit{}, err
	}
	_, d := x.Dims()
	dims, w, rng := GlorotDense(d, spec)
	n := newBinaryMLP(dims, w)
	epochs, acc, err := n.train(ctx, x, y, spec, rng)
	if err != nil {
		return DiscriminatorFit{}, err
	}
	return DiscriminatorFit{P: n.predict(score), Epochs: epochs, Accuracy: acc}, nil
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

func newBinaryMLP(dims []int, w [][]float64) *binaryMLP {
	n := &binaryMLP{dims: dims, w: w}
	for l := 0; l+1 < len(dims); l++ {
		fi, fo := dims[l], dims[l+1]
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

// train fits the network with Adam and returns the epochs run and the last
// epoch's training accuracy.
func (n *binaryMLP) train(ctx context.Context, x *mat.Dense, y []float64, spec DiscriminatorSpec, rng *rand.Rand) (int, float64, error) {
	N, d := x.Dims()
	cw := ClassWeights(y)
	order := make([]int, N)
	for i := range order {
		order[i] = i
	}
	bs := spec.Batch
	buf := make([]float64, min(bs, N)*d)
	acc := 0.0
	for ep := 1; ep <= spec.Epochs; ep++ {
		if err := ctx.Err(); err != nil {
			return ep - 1, acc, err
		}
		rng.Shuffle(N, func(i, j int) { order[i], order[j] = order[j], order[i] })
		correct := 0
		for lo := 0; lo < N; lo += bs {
			hi := min(lo+bs, N)
			rows := hi - lo
			xb := buf[:rows*d]
			for r, i := range order[lo:hi] {
				copy(xb[r*d:(r+1)*d], x.RawRowView(i))
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
			n.backward(acts, g, rows, spec.LR)
		}
		acc = float64(correct) / float64(N)
		if acc > spec.StopAccuracy {
			return ep, acc, nil
		}
	}
	return spec.Epochs, acc, nil
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

// predict returns P(y = 1) for each row of x.
func (n *binaryMLP) predict(x *mat.Dense) []float64 {
	r, d := x.Dims()
	out := make([]float64, r)
	const bs = 1024
	buf := make([]float64, min(bs, r)*d)
	for lo := 0; lo < r; lo += bs {
		hi := min(lo+bs, r)
		xb := buf[:(hi-lo)*d]
		for i := lo; i < hi; i++ {
			copy(xb[(i-lo)*d:], x.RawRowView(i))
		}
		acts := n.forward(xb, hi-lo)
		for i, z := range acts[len(acts)-1] {
			out[lo+i] = sigmoid(z)
		}
	}
	return out
}
