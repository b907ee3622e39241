package strategies

import (
	"context"
	"fmt"
	"math/rand/v2"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

// Coreset is the greedy k-center core-set of Sener & Savarese (2018, "Active
// learning for convolutional neural networks: a core-set approach"): on the
// penultimate embeddings, with the labeled samples as the initial centres,
// repeatedly acquire the candidate farthest from its nearest centre and make
// it a centre. It is the paper's greedy 2-approximation; the robust
// mixed-integer refinement is not implemented (its authors point users to the
// greedy version).
type Coreset struct{}

func init() {
	Register(Info{
		Name:        "coreset",
		Description: "greedy k-center on penultimate embeddings, labeled set as initial centres (Sener & Savarese 2018)",
		New:         func(Options) (Strategy, error) { return Coreset{}, nil },
	})
}

// Name returns "coreset".
func (Coreset) Name() string { return "coreset" }

// Needs declares the embeddings capability.
func (Coreset) Needs() []learner.Capability { return []learner.Capability{learner.CapEmbeddings} }

// Select returns k candidates chosen by greedy k-center, in the order chosen.
func (c Coreset) Select(ctx context.Context, q Query) ([]int, error) {
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("coreset: %w", err)
	}
	x, err := embeddings(ctx, q.Model, q.Candidates, 0)
	if err != nil {
		return nil, fmt.Errorf("coreset: %w", err)
	}
	_, d := x.Dims()
	var centres *mat.Dense
	if len(q.Labeled) > 0 {
		if centres, err = embeddings(ctx, q.Model, q.Labeled, d); err != nil {
			return nil, fmt.Errorf("coreset: labeled set: %w", err)
		}
	}
	rows, err := KCenterGreedy(ctx, x, centres, q.K, q.RNG)
	if err != nil {
		return nil, fmt.Errorf("coreset: %w", err)
	}
	out := make([]int, len(rows))
	for i, r := range rows {
		out[i] = q.Candidates[r]
	}
	return out, nil
}

// KCenterGreedy picks k distinct rows of x by greedy k-center: each pick is
// the row whose squared Euclidean distance to its nearest centre is largest
// (ties: the lowest row), and becomes a centre. The initial centres are the
// rows of centres (nil or empty: the first pick is drawn uniformly with rng).
//
// Memory beyond x and centres is O(N): one vector of minimum squared
// distances, updated with each new centre from squared norms and dot
// products; the initial distances to the centres are computed in blocks, so
// neither an N x N nor an N x L matrix is formed. Chunks of rows run in
// parallel.
func KCenterGreedy(ctx context.Context, x, centres *mat.Dense, k int, rng *rand.Rand) ([]int, error) {
	n, d := x.Dims()
	if x.IsEmpty() {
		n = 0
	}
	if k < 0 || k > n {
		return nil, fmt.Errorf("k-center: k = %d is outside [0, %d rows]", k, n)
	}
	if k == 0 {
		return []int{}, nil
	}
	xr := rowsOf(x)
	nx := sqNorms(xr)
	var minD []float64
	var picks []int
	if centres != nil && !centres.IsEmpty() {
		if _, cd := centres.Dims(); cd != d {
			return nil, fmt.Errorf("k-center: centres have %d columns, points %d", cd, d)
		}
		cr := rowsOf(centres)
		var err error
		if minD, _, err = minSqDistTo(ctx, xr, nx, cr, sqNorms(cr)); err != nil {
			return nil, err
		}
	} else {
		if rng == nil {
			return nil, fmt.Errorf("k-center: no initial centres and no RNG to draw the first one")
		}
		minD = make([]float64, n)
		for i := range minD {
			minD[i] = inf
		}
		first := rng.IntN(n)
		picks = append(picks, first)
		minD[first] = -1
		updateMinSq(xr, nx, first, minD)
	}
	for len(picks) < k {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := argmaxChunked(minD)
		picks = append(picks, p)
		minD[p] = -1 // chosen: never the maximum again
		if len(picks) < k {
			updateMinSq(xr, nx, p, minD)
		}
	}
	return picks, nil
}

// updateMinSq lowers minD[i] to the squared distance from row i to row c
// where that is smaller. Chosen rows carry -1 and are left alone.
func updateMinSq(xr [][]float64, nx []float64, c int, minD []float64) {
	cv, nc := xr[c], nx[c]
	forChunks(len(xr), chunkRows, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			if minD[i] < 0 {
				continue
			}
			if v := sqDist(nx[i], nc, floats.Dot(xr[i], cv)); v < minD[i] {
				minD[i] = v
			}
		}
	})
}

// argmaxChunked returns the index of the largest value (the lowest index on
// ties), scanning chunks in parallel.
func argmaxChunked(v []float64) int {
	nc := (len(v) + chunkRows - 1) / chunkRows
	best := make([]int, nc)
	forChunks(len(v), chunkRows, func(c, lo, hi int) {
		b := lo
		for i := lo + 1; i < hi; i++ {
			if v[i] > v[b] {
				b = i
			}
		}
		best[c] = b
	})
	b := best[0]
	for _, i := range best[1:] {
		if v[i] > v[b] {
			b = i
		}
	}
	return b
}
