package strategies

import (
	"context"
	"fmt"
	"math/rand/v2"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

// Badge is BADGE (Ash, Zhang, Krishnamurthy, Langford & Agarwal 2020, "Deep
// batch active learning by diverse, uncertain gradient lower bounds"): every
// candidate gets the gradient of the cross-entropy loss at its predicted
// label with respect to the output layer's weights,
//
//	g_x = (p_x - e_yhat(x)) ⊗ h(x)     (C x D, flattened)
//
// with p the class probabilities, e the one-hot vector of the most probable
// class and h the penultimate embedding; k-means++ seeding on the g_x picks
// the batch. The first centre is the candidate with the largest ||g_x||, as in
// the authors' code; later centres are drawn with probability proportional to
// the squared distance to the nearest centre (D^2 sampling) with the query's
// RNG. The N x (C*D) embeddings are never formed: with q_x = p_x - e_yhat,
// ||g_x||^2 = ||q_x||^2 ||h_x||^2 and <g_x, g_y> = <q_x, q_y><h_x, h_y>.
type Badge struct{}

func init() {
	Register(Info{
		Name:        "badge",
		Description: "k-means++ seeding on last-layer gradient embeddings (Ash et al. 2020)",
		New:         func(Options) (Strategy, error) { return Badge{}, nil },
	})
}

// Name returns "badge".
func (Badge) Name() string { return "badge" }

// Needs declares probabilities and embeddings.
func (Badge) Needs() []learner.Capability {
	return []learner.Capability{learner.CapProbs, learner.CapEmbeddings}
}

// Select returns k distinct candidates in the order k-means++ seeded them.
func (b Badge) Select(ctx context.Context, q Query) ([]int, error) {
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("badge: %w", err)
	}
	p, err := q.Model.Probs(ctx, q.Candidates)
	if err != nil {
		return nil, fmt.Errorf("badge: %w", err)
	}
	if err := checkRows("probability", p, q.Candidates, 0); err != nil {
		return nil, fmt.Errorf("badge: %w", err)
	}
	h, err := embeddings(ctx, q.Model, q.Candidates, 0)
	if err != nil {
		return nil, fmt.Errorf("badge: %w", err)
	}
	rows, err := BadgeSeeding(ctx, GradEmbeddings(p), h, q.K, q.RNG)
	if err != nil {
		return nil, fmt.Errorf("badge: %w", err)
	}
	out := make([]int, len(rows))
	for i, r := range rows {
		out[i] = q.Candidates[r]
	}
	return out, nil
}

// GradEmbeddings returns q = p - onehot(argmax p), row by row: the class
// factor of BADGE's gradient embedding (ties in argmax go to the lowest class).
func GradEmbeddings(p *mat.Dense) *mat.Dense {
	n, c := p.Dims()
	out := mat.NewDense(n, c, nil)
	for i := 0; i < n; i++ {
		src, dst := p.RawRowView(i), out.RawRowView(i)
		copy(dst, src)
		best := 0
		for j := range src {
			if src[j] > src[best] {
				best = j
			}
		}
		dst[best]--
	}
	return out
}

// BadgeSeeding runs k-means++ seeding on the implicit gradient embeddings
// g_i = q_i ⊗ h_i (rows of q: N x C, rows of h: N x D) and returns k distinct
// row indices in the order picked. The first is the row with the largest
// ||g_i|| (lowest row on ties); each later one is drawn with probability
// proportional to its squared distance to the nearest centre so far, from
// rng. If every remaining row coincides with a centre (all distances zero),
// the rest are drawn uniformly from the rows not yet picked, where the
// authors' code would divide by zero.
//
// After one parallel pass for the distances to the first centre, the D^2
// draws are exact rejection sampling from a sum tree of stale distances
// (upper bounds): a drawn row is compared with the centres added since it was
// last looked at and accepted with probability true / stale distance,
// otherwise its weight is lowered to the true one and the draw repeated. Each
// pick is distributed exactly as in plain k-means++, at a cost that does not
// grow with N beyond O(log N) per draw (see lazy.go).
func BadgeSeeding(ctx context.Context, q, h *mat.Dense, k int, rng *rand.Rand) ([]int, error) {
	n, _ := q.Dims()
	if q.IsEmpty() {
		n = 0
	}
	if hn, _ := h.Dims(); !h.IsEmpty() && hn != n || h.IsEmpty() && n != 0 {
		return nil, fmt.Errorf("badge: %d probability rows but %d embedding rows", n, hn)
	}
	if k < 0 || k > n {
		return nil, fmt.Errorf("badge: k = %d is outside [0, %d rows]", k, n)
	}
	if k == 0 {
		return []int{}, nil
	}
	if rng == nil {
		return nil, fmt.Errorf("badge: no RNG for the D^2 sampling")
	}
	qr, hr := rowsOf(q), rowsOf(h)
	nq, nh := sqNorms(qr), sqNorms(hr)
	gn := make([]float64, n) // ||g_i||^2
	for i := range gn {
		gn[i] = nq[i] * nh[i]
	}
	first := 0
	for i := range gn {
		if gn[i] > gn[first] {
			first = i
		}
	}
	dist := func(i, c int) float64 {
		return sqDist(gn[i], gn[c], floats.Dot(qr[i], qr[c])*floats.Dot(hr[i], hr[c]))
	}
	l := &lazyDist{minD: make([]float64, n), last: make([]int32, n), cent: []int{first}, dist: dist}
	forChunks(n, chunkRows, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			l.minD[i] = dist(i, first)
			l.last[i] = 1
		}
	})
	chosen := make([]bool, n)
	chosen[first] = true
	l.minD[first] = 0
	tree := newSumTree(l.minD)
	picks := []int{first}
	for len(picks) < k {
		if len(picks)%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		p := -1
		for p < 0 && tree.total() > 0 {
			i := tree.find(rng.Float64() * tree.total())
			stale := tree.weight(i)
			m := l.refresh(i)
			if m >= stale || rng.Float64()*stale < m {
				p = i
			} else {
				tree.set(i, m)
			}
		}
		if p < 0 {
			p = uniformFree(chosen, rng)
		}
		picks = append(picks, p)
		chosen[p] = true
		l.cent = append(l.cent, p)
		tree.set(p, 0)
	}
	return picks, nil
}

// uniformFree draws uniformly among the indices not yet chosen.
func uniformFree(chosen []bool, rng *rand.Rand) int {
	free := 0
	for _, c := range chosen {
		if !c {
			free++
		}
	}
	j := rng.IntN(free)
	for i, c := range chosen {
		if !c {
			if j == 0 {
				return i
			}
			j--
		}
	}
	return -1 // unreachable: the caller guarantees a free index
}

// sampleD2 draws an index with probability w[i] / sum(w) where sums holds the
// per-chunk (chunkRows) totals; the chunks are walked in order, so the draw
// does not depend on the number of CPUs. When the total is zero it draws
// uniformly among the indices not yet chosen.
func sampleD2(w, sums []float64, chosen []bool, rng *rand.Rand) int {
	total := 0.0
	for _, s := range sums {
		total += s
	}
	if total > 0 {
		u := rng.Float64() * total
		last := -1
		for ch, s := range sums {
			if u >= s && ch < len(sums)-1 {
				u -= s
				continue
			}
			lo, hi := ch*chunkRows, min((ch+1)*chunkRows, len(w))
			for i := lo; i < hi; i++ {
				if chosen[i] || w[i] <= 0 {
					continue
				}
				last = i
				if u < w[i] {
					return i
				}
				u -= w[i]
			}
			if last >= 0 {
				return last // rounding left u just above the chunk's total
			}
		}
		for i := len(w) - 1; i >= 0; i-- { // rounding past the last chunk
			if !chosen[i] && w[i] > 0 {
				return i
			}
		}
	}
	return uniformFree(chosen, rng)
}
