package trainers

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// pcaWhiten projects the rows of x on their top `dims` principal components,
// whitens them (divides by the square root of each component's variance plus
// a small constant) and L2-normalises each row, as DeepCluster (Caron et al.
// 2018) prepares features for k-means.
func pcaWhiten(x *mat.Dense, dims int) (*mat.Dense, error) {
	n, d := x.Dims()
	if n < 2 {
		return nil, fmt.Errorf("pca: needs at least 2 samples, got %d", n)
	}
	dims = min(dims, d)
	if dims < 1 {
		return nil, fmt.Errorf("pca: dims must be >= 1")
	}
	mean := make([]float64, d)
	for i := 0; i < n; i++ {
		floats.Add(mean, x.RawRowView(i))
	}
	floats.Scale(1/float64(n), mean)
	xc := mat.NewDense(n, d, nil)
	for i := 0; i < n; i++ {
		floats.SubTo(xc.RawRowView(i), x.RawRowView(i), mean)
	}
	var cov mat.SymDense
	cov.SymOuterK(1/float64(n-1), xc.T())
	var eig mat.EigenSym
	if !eig.Factorize(&cov, true) {
		return nil, fmt.Errorf("pca: the eigen-decomposition of the feature covariance failed")
	}
	vals := eig.Values(nil) // ascending
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	proj := mat.NewDense(d, dims, nil)
	for j := 0; j < dims; j++ {
		src := d - 1 - j // largest first
		s := 1 / math.Sqrt(math.Max(vals[src], 0)+1e-5)
		for i := 0; i < d; i++ {
			proj.Set(i, j, vecs.At(i, src)*s)
		}
	}
	out := mat.NewDense(n, dims, nil)
	out.Mul(xc, proj)
	for i := 0; i < n; i++ {
		row := out.RawRowView(i)
		if nrm := floats.Norm(row, 2); nrm > 0 {
			floats.Scale(1/nrm, row)
		}
	}
	return out, nil
}

// kmeans clusters the rows of x into k groups with Lloyd's algorithm from a
// k-means++ start, for iters iterations; an empty cluster takes a perturbed
// copy of the largest cluster's centroid, as DeepCluster does. It returns
// the assignment of every row and the final mean squared distance.
func kmeans(ctx context.Context, x *mat.Dense, k, iters int, rng *rand.Rand) ([]int, float64, error) {
	n, d := x.Dims()
	if k < 1 || k > n {
		return nil, 0, fmt.Errorf("k-means: k = %d must be in [1, %d]", k, n)
	}
	cent := mat.NewDense(k, d, nil)
	// k-means++ seeding.
	dist := make([]float64, n)
	first := rng.IntN(n)
	copy(cent.RawRowView(0), x.RawRowView(first))
	for i := range dist {
		dist[i] = sqDist(x.RawRowView(i), cent.RawRowView(0))
	}
	for c := 1; c < k; c++ {
		total := floats.Sum(dist)
		pick := 0
		if total > 0 {
			u := rng.Float64() * total
			for pick = 0; pick < n-1 && u >= dist[pick]; pick++ {
				u -= dist[pick]
			}
		} else {
			pick = rng.IntN(n)
		}
		copy(cent.RawRowView(c), x.RawRowView(pick))
		for i := range dist {
			dist[i] = math.Min(dist[i], sqDist(x.RawRowView(i), cent.RawRowView(c)))
		}
	}
	assign := make([]int, n)
	sizes := make([]int, k)
	var inertia float64
	for it := 0; it < max(iters, 1); it++ {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		inertia = 0
		for c := range sizes {
			sizes[c] = 0
		}
		assignNearest(x, cent, assign, func(i, c int, d float64) {
			sizes[c]++
			inertia += d
		})
		cent.Zero()
		for i := 0; i < n; i++ {
			floats.Add(cent.RawRowView(assign[i]), x.RawRowView(i))
		}
		largest := 0
		for c := range sizes {
			if sizes[c] > sizes[largest] {
				largest = c
			}
			if sizes[c] > 0 {
				floats.Scale(1/float64(sizes[c]), cent.RawRowView(c))
			}
		}
		for c := range sizes {
			if sizes[c] > 0 {
				continue
			}
			row := cent.RawRowView(c)
			copy(row, cent.RawRowView(largest))
			for j := range row {
				row[j] += 1e-4 * rng.NormFloat64()
			}
		}
	}
	return assign, inertia / float64(n), nil
}

// assignNearest sets assign[i] to the centroid nearest to row i and calls
// found(i, c, squared distance) in row order. Distances come from
// |x|^2 - 2 x.c + |c|^2 with the dot products computed block-wise by matrix
// multiplication.
func assignNearest(x, cent *mat.Dense, assign []int, found func(i, c int, d float64)) {
	n, d := x.Dims()
	k, _ := cent.Dims()
	cn := make([]float64, k)
	for c := 0; c < k; c++ {
		r := cent.RawRowView(c)
		cn[c] = floats.Dot(r, r)
	}
	const block = 1024
	dots := mat.NewDense(min(block, n), k, nil)
	for lo := 0; lo < n; lo += block {
		hi := min(lo+block, n)
		dd := dots.Slice(0, hi-lo, 0, k).(*mat.Dense)
		dd.Mul(x.Slice(lo, hi, 0, d), cent.T())
		for i := lo; i < hi; i++ {
			row := x.RawRowView(i)
			xn := floats.Dot(row, row)
			dr := dd.RawRowView(i - lo)
			best, bd := 0, math.Inf(1)
			for c := 0; c < k; c++ {
				if v := xn - 2*dr[c] + cn[c]; v < bd {
					best, bd = c, v
				}
			}
			assign[i] = best
			found(i, best, math.Max(bd, 0))
		}
	}
}

func sqDist(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		v := a[i] - b[i]
		s += v * v
	}
	return s
}

// nmi returns the normalised mutual information I(a; b) / sqrt(H(a) H(b))
// between two assignments (1 when both are constant and equal in shape).
func nmi(a, b []int) float64 {
	n := float64(len(a))
	if len(a) == 0 || len(a) != len(b) {
		return math.NaN()
	}
	joint := map[[2]int]float64{}
	pa, pb := map[int]float64{}, map[int]float64{}
	for i := range a {
		joint[[2]int{a[i], b[i]}]++
		pa[a[i]]++
		pb[b[i]]++
	}
	// Sums run in sorted key order, so the result does not depend on map order.
	h := func(p map[int]float64) float64 {
		s := 0.0
		for _, k := range slices.Sorted(maps.Keys(p)) {
			c := p[k]
			s -= c / n * math.Log(c/n)
		}
		return s
	}
	keys := slices.SortedFunc(maps.Keys(joint), func(x, y [2]int) int {
		if x[0] != y[0] {
			return x[0] - y[0]
		}
		return x[1] - y[1]
	})
	mi := 0.0
	for _, k := range keys {
		c := joint[k]
		mi += c / n * math.Log(c*n/(pa[k[0]]*pb[k[1]]))
	}
	ha, hb := h(pa), h(pb)
	if ha == 0 || hb == 0 {
		if ha == hb {
			return 1
		}
		return 0
	}
	return mi / math.Sqrt(ha*hb)
}

// uniformOverClusters draws n pool positions so that every non-empty
// cluster is drawn about equally often (DeepCluster's sampler, which keeps
// large clusters from dominating the pseudo-classification).
func uniformOverClusters(assign []int, k, n int, rng *rand.Rand) []int {
	members := make([][]int, k)
	for i, c := range assign {
		members[c] = append(members[c], i)
	}
	var nonEmpty []int
	for c := range members {
		if len(members[c]) > 0 {
			nonEmpty = append(nonEmpty, c)
		}
	}
	out := make([]int, 0, n)
	per := (n + len(nonEmpty) - 1) / len(nonEmpty)
	for _, c := range nonEmpty {
		m := members[c]
		perm := rng.Perm(len(m))
		for j := 0; j < per; j++ {
			if j < len(m) {
				out = append(out, m[perm[j]])
			} else {
				out = append(out, m[rng.IntN(len(m))])
			}
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out[:n]
}
