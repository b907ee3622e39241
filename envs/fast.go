package envs

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/learner"
)

// Embedding is a frozen encoder's output for a set of data-set rows, with
// every dimension standardised (zero mean, unit variance over those rows).
type Embedding struct {
	Rows   []int     // data-set row indices, sorted
	D      int       // dimensions
	Z      []float32 // len(Rows) x D, row-major
	Source string    // what produced it (for Describe)
	pos    map[int]int
}

// index builds the row lookup.
func (em *Embedding) index() {
	if em.pos != nil {
		return
	}
	em.pos = make(map[int]int, len(em.Rows))
	for p, r := range em.Rows {
		em.pos[r] = p
	}
}

// Row returns the embedding of data-set row i.
func (em *Embedding) Row(i int) ([]float32, error) {
	em.index()
	p, ok := em.pos[i]
	if !ok {
		return nil, fmt.Errorf("fast mode: row %d has no cached embedding (the encoder covers the split's pool, validation and test rows only)", i)
	}
	return em.Z[p*em.D : (p+1)*em.D], nil
}

// standardize rescales every dimension to zero mean and unit variance.
func (em *Embedding) standardize() { datasets.StandardizeColumns(em.Z, len(em.Rows), em.D) }

// Head is the fast-mode learner: multinomial logistic regression (pure Go,
// L-BFGS) on the frozen embeddings, refit in milliseconds. Its prior
// is Gaussian with precision l2 on the weights; MCProbs draws weights from
// the diagonal Laplace approximation of the posterior (a stand-in for MC
// dropout that gives BALD-type features a meaningful spread), Embed returns
// the frozen embedding and LastLayerWeights the head's weights, so every
// strategy and feature works in fast mode.
type Head struct {
	emb    *Embedding
	xb     []float64 // embeddings with a trailing 1 (the bias input), len(Rows) x (D+1)
	pos    []int32   // data-set row -> row of xb, -1 when absent
	c      int
	l2     float64
	iters  int
	w      []float64 // C x (D+1), last column the bias
	hdiag  []float64 // diagonal of the posterior precision, same layout
	fitted bool
	seed   uint64
	// workers bounds the goroutines of one fit or prediction (GOMAXPROCS);
	// results do not depend on it.
	workers int
}

// NewHead returns an unfitted head over emb for c classes.
func NewHead(emb *Embedding, c int, l2 float64, iterations int) (*Head, error) {
	if emb == nil || emb.D < 1 || len(emb.Z) != len(emb.Rows)*emb.D {
		return nil, fmt.Errorf("fast mode: the embedding is empty or inconsistent")
	}
	if l2 <= 0 {
		return nil, fmt.Errorf("fast.l2: the prior precision must be > 0, got %g", l2)
	}
	if iterations < 1 {
		return nil, fmt.Errorf("fast.iterations: must be >= 1, got %d", iterations)
	}
	h := &Head{emb: emb, c: c, l2: l2, iters: iterations, workers: runtime.GOMAXPROCS(0)}
	d := emb.D + 1
	h.xb = make([]float64, len(emb.Rows)*d)
	maxRow := 0
	for _, r := range emb.Rows {
		maxRow = max(maxRow, r)
	}
	h.pos = make([]int32, maxRow+1)
	for i := range h.pos {
		h.pos[i] = -1
	}
	for p, r := range emb.Rows {
		h.pos[r] = int32(p)
		for j, v := range emb.Z[p*emb.D : (p+1)*emb.D] {
			h.xb[p*d+j] = float64(v)
		}
		h.xb[p*d+d-1] = 1
	}
	return h, nil
}

func (h *Head) width() int { return h.emb.D + 1 }

// rows returns the (bias-extended) embedding rows of idx, aliasing the head's memory.
func (h *Head) rows(idx []int) ([][]float64, error) {
	d := h.width()
	x := make([][]float64, len(idx))
	for n, i := range idx {
		if i < 0 || i >= len(h.pos) || h.pos[i] < 0 {
			return nil, fmt.Errorf("fast mode: row %d has no cached embedding (the encoder covers the split's pool, validation and test rows only)", i)
		}
		p := int(h.pos[i])
		x[n] = h.xb[p*d : (p+1)*d]
	}
	return x, nil
}

// logits writes W x for every row of x into out (n x C).
func (h *Head) logits(w []float64, x [][]float64, n int, out []float64) {
	d := h.width()
	for i := 0; i < n; i++ {
		xi := x[i]
		for c := 0; c < h.c; c++ {
			wc := w[c*d : (c+1)*d]
			out[i*h.c+c] = floats.Dot(wc, xi)
		}
	}
}

// softmaxRows turns logits into probabilities in place.
func softmaxRows(z []float64, n, c int) {
	for i := 0; i < n; i++ {
		row := z[i*c : (i+1)*c]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, v)
		}
		s := 0.0
		for k, v := range row {
			row[k] = math.Exp(v - m)
			s += row[k]
		}
		for k := range row {
			row[k] /= s
		}
	}
}

// probs writes the class probabilities of the n rows of x under w into out
// (n x C), split over up to workers goroutines by rows; every row is computed
// exactly as in a serial pass, so the result does not depend on workers.
func (h *Head) probs(w []float64, x [][]float64, n int, out []float64, workers int) {
	chunks(n, min(workers, n/minChunk), func(lo, hi int) {
		h.logits(w, x[lo:hi], hi-lo, out[lo*h.c:hi*h.c])
		softmaxRows(out[lo*h.c:hi*h.c], hi-lo, h.c)
	})
}

// minChunk is the fewest rows worth a goroutine of the head's parallel
// loops: below it the fork and join cost more than the work.
const minChunk = 64

// chunks calls f on workers contiguous ranges covering [0, n), each on its
// own goroutine (f(0, n) in the caller when workers <= 1), and waits.
func chunks(n, workers int, f func(lo, hi int)) {
	if workers <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for k := 0; k < workers; k++ {
		lo, hi := k*n/workers, (k+1)*n/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}

// Fit minimises the summed cross-entropy plus (l2/2)|W|^2 (biases
// unpenalised) with L-BFGS, starting from the previous fit's weights (the
// problem is convex, so the start only changes how fast it converges).
func (h *Head) Fit(ctx context.Context, train, val learner.Labeled, _ uint64) (learner.FitStats, error) {
	st := learner.FitStats{Epochs: 0, ValAcc: math.NaN(), ValLoss: math.NaN()}
	if train.Len() == 0 {
		return st, fmt.Errorf("fit: no labeled samples")
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	for i, y := range train.Y {
		if y < 0 || y >= h.c {
			return st, fmt.Errorf("fit: label %d of pool index %d is outside [0, %d)", y, train.Idx[i], h.c)
		}
	}
	x, err := h.rows(train.Idx)
	if err != nil {
		return st, err
	}
	n, d := train.Len(), h.width()
	w, f, iters := h.minimise(h.w, x, train.Y, h.iters, h.workers)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return st, fmt.Errorf("fit: logistic regression: the objective is not finite (check the embeddings)")
	}
	p := make([]float64, n*h.c)
	h.w = w
	h.fitted = true
	st.Epochs, st.BestEpoch = iters, iters
	st.TrainLoss = f / float64(n)
	// Diagonal of the posterior precision for the Laplace approximation.
	h.probs(h.w, x, n, p, h.workers)
	h.hdiag = make([]float64, h.c*d)
	for c := 0; c < h.c; c++ {
		for j := 0; j < d; j++ {
			hv := h.l2
			if j == d-1 {
				hv = 1e-2 // a weak prior on the bias
			}
			h.hdiag[c*d+j] = hv
		}
	}
	for i := 0; i < n; i++ {
		xi := x[i]
		for c := 0; c < h.c; c++ {
			q := p[i*h.c+c] * (1 - p[i*h.c+c])
			hd := h.hdiag[c*d : (c+1)*d]
			for j, v := range xi {
				hd[j] += q * v * v
			}
		}
	}
	if val.Len() > 0 {
		acc, nll, err := Evaluate(ctx, h, val.Idx, val.Y)
		if err != nil {
			return st, err
		}
		st.ValAcc, st.ValLoss = acc, nll
	}
	return st, nil
}

// objective returns the penalised cross-entropy of the rows x with labels y
// (biases unpenalised) as an L-BFGS objective. With workers > 1 the
// probabilities are split by rows and the gradient by classes; each class's
// gradient still sums the rows in order, so values equal the serial ones.
func (h *Head) objective(x [][]float64, y []int, workers int) func(w, g []float64) float64 {
	n, d := len(y), h.width()
	p := make([]float64, n*h.c)
	gw := min(workers, h.c, n/minChunk) // goroutines over classes
	return func(w, g []float64) float64 {
		h.probs(w, x, n, p, workers)
		f := 0.0
		for i, yi := range y {
			f -= math.Log(math.Max(p[i*h.c+yi], 1e-300))
		}
		chunks(h.c, gw, func(lo, hi int) {
			for c := lo; c < hi; c++ {
				gc := g[c*d : (c+1)*d]
				for k := range gc {
					gc[k] = 0
				}
				for i, yi := range y {
					r := p[i*h.c+c]
					if c == yi {
						r--
					}
					floats.AddScaled(gc, r, x[i])
				}
			}
		})
		for c := 0; c < h.c; c++ {
			for j := 0; j < d-1; j++ {
				v := w[c*d+j]
				f += 0.5 * h.l2 * v * v
				g[c*d+j] += h.l2 * v
			}
		}
		return f
	}
}

// minimise fits the weights on (x, y) with at most iters L-BFGS iterations,
// starting from init (zeros when it has the wrong size), on up to workers
// goroutines.
func (h *Head) minimise(init []float64, x [][]float64, y []int, iters, workers int) ([]float64, float64, int) {
	if len(init) != h.c*h.width() {
		init = make([]float64, h.c*h.width())
	}
	return lbfgs(init, h.objective(x, y, workers), iters, 1e-5*float64(len(y)))
}

func (h *Head) ready() error {
	if !h.fitted {
		return fmt.Errorf("fast head: the model has not been fitted or loaded yet")
	}
	return nil
}

func (h *Head) probsWith(w []float64, idx []int) (*mat.Dense, error) {
	if len(idx) == 0 {
		return &mat.Dense{}, nil
	}
	x, err := h.rows(idx)
	if err != nil {
		return nil, err
	}
	p := make([]float64, len(idx)*h.c)
	h.probs(w, x, len(idx), p, h.workers)
	return mat.NewDense(len(idx), h.c, p), nil
}

// Probs returns the head's class probabilities.
func (h *Head) Probs(_ context.Context, idx []int) (*mat.Dense, error) {
	if err := h.ready(); err != nil {
		return nil, err
	}
	return h.probsWith(h.w, idx)
}

// MCProbs returns T samples of the class probabilities under weights drawn
// from the diagonal Laplace posterior, seeded by Reseed.
func (h *Head) MCProbs(ctx context.Context, idx []int, T int) ([]*mat.Dense, error) {
	if err := h.ready(); err != nil {
		return nil, err
	}
	if T < 1 {
		return nil, fmt.Errorf("mc samples: T must be >= 1")
	}
	rng := rand.New(rand.NewPCG(h.seed, 0x1a91ace))
	out := make([]*mat.Dense, T)
	w := make([]float64, len(h.w))
	for t := range out {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for k := range w {
			w[k] = h.w[k] + rng.NormFloat64()/math.Sqrt(h.hdiag[k])
		}
		p, err := h.probsWith(w, idx)
		if err != nil {
			return nil, err
		}
		out[t] = p
	}
	return out, nil
}

// HasDropout reports that MC samples are available (from the Laplace posterior).
func (h *Head) HasDropout() bool { return true }

// Embed returns the frozen encoder's (standardised) embeddings.
func (h *Head) Embed(_ context.Context, idx []int) (*mat.Dense, error) {
	if len(idx) == 0 {
		return &mat.Dense{}, nil
	}
	x, err := h.rows(idx)
	if err != nil {
		return nil, err
	}
	out := mat.NewDense(len(idx), h.emb.D, nil)
	for n, r := range x {
		copy(out.RawRowView(n), r[:h.emb.D])
	}
	return out, nil
}

// LastLayerWeights returns the head's C x D weights (without the biases).
func (h *Head) LastLayerWeights() (*mat.Dense, error) {
	if err := h.ready(); err != nil {
		return nil, err
	}
	d := h.width()
	out := mat.NewDense(h.c, h.emb.D, nil)
	for c := 0; c < h.c; c++ {
		out.SetRow(c, h.w[c*d:c*d+h.emb.D])
	}
	return out, nil
}

// NumClasses returns C.
func (h *Head) NumClasses() int { return h.c }

// Reseed seeds the posterior sampling of MCProbs.
func (h *Head) Reseed(seed uint64) { h.seed = seed }

// Describe names the head and its encoder.
func (h *Head) Describe() string {
	return fmt.Sprintf("fast head: logistic regression (l2 %g) on %d-d %s embeddings", h.l2, h.emb.D, h.emb.Source)
}

// Save writes the weights and the posterior precision atomically.
func (h *Head) Save(path string) error {
	if err := h.ready(); err != nil {
		return err
	}
	return learner.WriteWeights(path, []learner.Tensor{
		{Name: "w", Shape: []int{h.c, h.width()}, Data: toF32(h.w)},
		{Name: "hdiag", Shape: []int{h.c, h.width()}, Data: toF32(h.hdiag)},
	})
}

// Load reads weights written by Save.
func (h *Head) Load(path string) error {
	ts, err := learner.ReadWeights(path)
	if err != nil {
		return err
	}
	by := map[string]learner.Tensor{}
	for _, t := range ts {
		by[t.Name] = t
	}
	w, ok1 := by["w"]
	hd, ok2 := by["hdiag"]
	if !ok1 || !ok2 || len(w.Data) != h.c*h.width() || len(hd.Data) != len(w.Data) {
		return fmt.Errorf("%s: not fast-head weights for %d classes and %d dimensions (was the config changed?)", path, h.c, h.emb.D)
	}
	h.w, h.hdiag, h.fitted = toF64(w.Data), toF64(hd.Data), true
	return nil
}

// Close does nothing (the head lives in Go memory).
func (h *Head) Close() error { return nil }

type headSnapshot struct {
	w, hdiag []float64
	fitted   bool
}

func (h *Head) snapshot() any {
	return headSnapshot{append([]float64(nil), h.w...), append([]float64(nil), h.hdiag...), h.fitted}
}

func (h *Head) restoreSnapshot(s any) {
	hs, ok := s.(headSnapshot)
	if !ok {
		return
	}
	h.w, h.hdiag, h.fitted = append([]float64(nil), hs.w...), append([]float64(nil), hs.hdiag...), hs.fitted
}

func toF32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

func toF64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// sortedUnion returns the sorted union of index lists.
func sortedUnion(lists ...[]int) []int {
	seen := map[int]bool{}
	var out []int
	for _, l := range lists {
		for _, i := range l {
			if !seen[i] {
				seen[i] = true
				out = append(out, i)
			}
		}
	}
	sort.Ints(out)
	return out
}
