package strategies

import (
	"container/heap"
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
// Memory beyond x and centres is O(N): the nearest-centre distances, computed
// from squared norms and dot products. The initial distances to the centres
// are computed block by block in parallel (never an N x N or N x L matrix);
// later ones lazily: only rows that reach the top of a max-heap of stale
// distances are compared with the centres added since they were last
// looked at (see lazy.go). The picks are exactly those of the eager greedy
// algorithm.
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
	l := &lazyDist{rows: xr, norms: sqNorms(xr), last: make([]int32, n)}
	var picks []int
	if centres != nil && !centres.IsEmpty() {
		if _, cd := centres.Dims(); cd != d {
			return nil, fmt.Errorf("k-center: centres have %d columns, points %d", cd, d)
		}
		var err error
		if l.minD, _, err = minSqDistTo(ctx, x, l.norms, centres, sqNorms(rowsOf(centres))); err != nil {
			return nil, err
		}
	} else {
		if rng == nil {
			return nil, fmt.Errorf("k-center: no initial centres and no RNG to draw the first one")
		}
		first := rng.IntN(n)
		picks = append(picks, first)
		l.minD = distancesTo(xr, l.norms, first)
		l.cent = append(l.cent, first)
		for i := range l.last {
			l.last[i] = 1
		}
	}
	h := &farHeap{key: l.minD, idx: make([]int32, 0, n)}
	for i := 0; i < n; i++ {
		if len(picks) == 0 || i != picks[0] {
			h.idx = append(h.idx, int32(i))
		}
	}
	heap.Init(h)
	for len(picks) < k {
		if len(picks)%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		p := popFarthest(h, l)
		picks = append(picks, p)
		l.cent = append(l.cent, p)
	}
	return picks, nil
}

// distancesTo returns the squared distance of every row to row c, computed
// in parallel chunks.
func distancesTo(xr [][]float64, nx []float64, c int) []float64 {
	out := make([]float64, len(xr))
	cv, nc := xr[c], nx[c]
	forChunks(len(xr), chunkRows, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = sqDist(nx[i], nc, floats.Dot(xr[i], cv))
		}
	})
	return out
}
