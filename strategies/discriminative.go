package strategies

import (
	"context"
	"fmt"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

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
// Glorot-uniform weights seeded from the query's RNG, Adam, class weights
// N / N_class so both classes weigh the same, and training stops once an
// epoch's training accuracy exceeds 0.98 (or after max epochs); its single
// sigmoid output is the two-way softmax of the authors' model written with
// one logit, which is the same model class. It is trained through the
// learner (learner.Discriminator: libtorch in the torch backend, on the
// learner's device), or in pure Go for learners without one.
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
	rows, err := s.selectRows(ctx, learner.DiscriminatorOf(q.Model), lab, rowsOf(xu), q.K, q.RNG)
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
func (s Discriminative) selectRows(ctx context.Context, disc learner.Discriminator, lab, unl [][]float64, k int, rng *rand.Rand) ([]int, error) {
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
		x := mat.NewDense(nl+m, d, nil)
		y := make([]float64, nl+m)
		for i, row := range lab {
			x.SetRow(i, row)
		}
		for i, r := range out {
			x.SetRow(len(lab)+i, unl[r])
		}
		xs := mat.NewDense(m, d, nil)
		for i, r := range sample {
			x.SetRow(nl+i, unl[r])
			y[nl+i] = 1
			xs.SetRow(i, unl[r])
		}
		spec := learner.DiscriminatorSpec{Width: width, Layers: s.layers, Batch: s.batch, Epochs: s.epochs,
			LR: s.lr, StopAccuracy: s.stopAcc, Seed: rng.Uint64()}
		fit, err := disc.TrainDiscriminator(ctx, x, y, xs, spec)
		if err != nil {
			return nil, err
		}
		p := fit.P
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
