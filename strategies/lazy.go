package strategies

import (
	"container/heap"

	"gonum.org/v1/gonum/floats"
)

// The greedy seedings (core-set's k-center, BADGE's k-means++) keep, for
// every point, the squared distance to its nearest centre. Updating all N of
// them after each new centre costs O(N D) per pick: at N = 1,000,000 and
// k = 1,000 that streams the whole embedding matrix a thousand times. The
// values only ever decrease, so both seedings update them lazily instead: a
// point remembers how many centres it has been compared with, and is brought
// up to date only when it matters: when it is on top of the max-heap
// (k-center) or drawn from the sum tree (k-means++, by rejection sampling).
// The picks are exactly those of the eager algorithms.

// lazyDist holds the possibly stale nearest-centre squared distances.
type lazyDist struct {
	rows  [][]float64 // the points
	norms []float64   // their squared norms
	minD  []float64   // upper bounds on the nearest-centre squared distance
	last  []int32     // centres[:last[i]] are accounted for in minD[i]
	cent  []int       // centres added so far (row indices), in order
	// dist returns the squared distance between rows i and j; nil means
	// Euclidean on rows (sqDist of norms and a dot product).
	dist func(i, j int) float64
}

// refresh brings minD[i] up to date with every centre and returns it.
func (l *lazyDist) refresh(i int) float64 {
	m := l.minD[i]
	for _, c := range l.cent[l.last[i]:] {
		var v float64
		if l.dist != nil {
			v = l.dist(i, c)
		} else {
			v = sqDist(l.norms[i], l.norms[c], floats.Dot(l.rows[i], l.rows[c]))
		}
		if v < m {
			m = v
		}
	}
	l.minD[i] = m
	l.last[i] = int32(len(l.cent))
	return m
}

// fresh reports whether minD[i] accounts for every centre.
func (l *lazyDist) fresh(i int) bool { return int(l.last[i]) == len(l.cent) }

// farHeap is a max-heap of point indices by minD (lowest index first on
// ties), over possibly stale keys.
type farHeap struct {
	idx []int32
	key []float64
}

func (h *farHeap) Len() int { return len(h.idx) }
func (h *farHeap) Less(a, b int) bool {
	ka, kb := h.key[h.idx[a]], h.key[h.idx[b]]
	return ka > kb || ka == kb && h.idx[a] < h.idx[b]
}
func (h *farHeap) Swap(a, b int) { h.idx[a], h.idx[b] = h.idx[b], h.idx[a] }
func (h *farHeap) Push(v any)    { h.idx = append(h.idx, v.(int32)) }
func (h *farHeap) Pop() any {
	v := h.idx[len(h.idx)-1]
	h.idx = h.idx[:len(h.idx)-1]
	return v
}

// popFarthest returns the point with the largest up-to-date minD (lowest
// index on ties) and removes it from the heap. Stale keys are upper bounds,
// so a fresh key on top is the true maximum.
func popFarthest(h *farHeap, l *lazyDist) int {
	for {
		i := int(h.idx[0])
		if l.fresh(i) {
			heap.Pop(h)
			return i
		}
		l.refresh(i)
		heap.Fix(h, 0)
	}
}

// sumTree is a complete binary tree of non-negative weights whose internal
// nodes hold the sums of their children (recomputed, never adjusted by
// differences, so no rounding drift), for O(log N) weighted sampling.
type sumTree struct {
	size int // leaves, a power of two
	node []float64
}

func newSumTree(w []float64) *sumTree {
	size := 1
	for size < len(w) {
		size *= 2
	}
	t := &sumTree{size: size, node: make([]float64, 2*size)}
	copy(t.node[size:], w)
	for i := size - 1; i >= 1; i-- {
		t.node[i] = t.node[2*i] + t.node[2*i+1]
	}
	return t
}

func (t *sumTree) total() float64 { return t.node[1] }

func (t *sumTree) weight(i int) float64 { return t.node[t.size+i] }

func (t *sumTree) set(i int, w float64) {
	p := t.size + i
	t.node[p] = w
	for p /= 2; p >= 1; p /= 2 {
		t.node[p] = t.node[2*p] + t.node[2*p+1]
	}
}

// find returns the leaf where the running sum of weights passes u (0 <= u <
// total); it never returns a zero-weight leaf while the total is positive.
func (t *sumTree) find(u float64) int {
	p := 1
	for p < t.size {
		l, r := t.node[2*p], t.node[2*p+1]
		switch {
		case r <= 0:
			p = 2 * p
		case l <= 0 || u >= l:
			u -= l
			p = 2*p + 1
		default:
			p = 2 * p
		}
	}
	return p - t.size
}
