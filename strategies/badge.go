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
	minD := make([]float64, n)
	for i := range minD {
		minD[i] = inf
	}
	picks := []int{first}
	chosen := make([]bool, n)
	chosen[first] = true
	nc := (n + chunkRows - 1) / chunkRows
	sums := make([]float64, nc)
	for len(picks) < k {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c := picks[len(picks)-1]
		qc, hc, gc := qr[c], hr[c], gn[c]
		forChunks(n, chunkRows, func(ch, lo, hi int) {
			s := 0.0
			for i := lo; i < hi; i++ {
				if chosen[i] {
					minD[i] = 0
					continue
				}
				dot := floats.Dot(qr[i], qc) * floats.Dot(hr[i], hc)
				if v := sqDist(gn[i], gc, dot); v < minD[i] {
					minD[i] = v
				}
				s += minD[i]
			}
			sums[ch] = s
		})
		picks = append(picks, sampleD2(minD, sums, chosen, rng))
		chosen[picks[len(picks)-1]] = true
	}
	return picks, nil
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
	return -1 // unreachable: k <= n guarantees a free index
}
