package strategies

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// KMeansConfig sets Lloyd's iterations.
type KMeansConfig struct {
	MaxIter int     // maximum Lloyd iterations after the k-means++ seeding (>= 1)
	Tol     float64 // stop when the summed squared centre shift is <= Tol times the mean per-feature variance (scikit-learn's rule); 0 = only on unchanged assignments
}

// KMeans clusters the rows of x into k clusters with weighted k-means: seeded
// by k-means++ (Arthur & Vassilvitskii 2007: the first centre drawn with
// probability proportional to the weight, each next one proportional to
// weight times squared distance to the nearest centre, all from rng), then
// Lloyd's iterations (accelerated with Hamerly's bounds, same iterates) until
// no assignment changes, the centres move less than the tolerance, or
// MaxIter. w (nil = all ones) weights each row. A cluster
// left empty is moved to the row farthest from its centre (weighted), as
// scikit-learn does. Distances are computed in blocks, never as an N x k
// matrix of more than one block per goroutine. It returns the centres (k x D)
// and each row's cluster under them.
func KMeans(ctx context.Context, x *mat.Dense, w []float64, k int, rng *rand.Rand, cfg KMeansConfig) (*mat.Dense, []int, error) {
	n, d := x.Dims()
	if x.IsEmpty() {
		n = 0
	}
	if k < 1 || k > n {
		return nil, nil, fmt.Errorf("k-means: k = %d is outside [1, %d rows]", k, n)
	}
	if cfg.MaxIter < 1 {
		return nil, nil, fmt.Errorf("k-means: max_iter must be >= 1, got %d", cfg.MaxIter)
	}
	if rng == nil {
		return nil, nil, fmt.Errorf("k-means: no RNG for the k-means++ seeding")
	}
	if w == nil {
		w = make([]float64, n)
		for i := range w {
			w[i] = 1
		}
	}
	if len(w) != n {
		return nil, nil, fmt.Errorf("k-means: %d weights for %d rows", len(w), n)
	}
	positive := 0
	for i, v := range w {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, nil, fmt.Errorf("k-means: weight %g of row %d is not a finite non-negative number", v, i)
		}
		if v > 0 {
			positive++
		}
	}
	if positive < k {
		return nil, nil, fmt.Errorf("k-means: only %d rows have a positive weight, fewer than k = %d", positive, k)
	}
	xr := rowsOf(x)
	nx := sqNorms(xr)
	seeds, err := kmeansPP(ctx, xr, nx, w, k, rng)
	if err != nil {
		return nil, nil, err
	}
	centres := mat.NewDense(k, d, nil)
	for j, s := range seeds {
		centres.SetRow(j, xr[s])
	}
	// Tolerance relative to the data's mean per-feature variance.
	tol := 0.0
	if cfg.Tol > 0 {
		mean := make([]float64, d)
		for _, r := range xr {
			floats.Add(mean, r)
		}
		floats.Scale(1/float64(n), mean)
		v := 0.0
		for _, r := range xr {
			for j, a := range r {
				v += (a - mean[j]) * (a - mean[j])
			}
		}
		tol = cfg.Tol * v / float64(n*d)
	}
	return lloyd(ctx, x, nx, w, centres, cfg.MaxIter, tol)
}

// kmeansPP returns k distinct seed rows drawn by weighted k-means++.
func kmeansPP(ctx context.Context, xr [][]float64, nx, w []float64, k int, rng *rand.Rand) ([]int, error) {
	n := len(xr)
	chosen := make([]bool, n)
	nc := (n + chunkRows - 1) / chunkRows
	sums := make([]float64, nc)
	forChunks(n, chunkRows, func(ch, lo, hi int) {
		s := 0.0
		for i := lo; i < hi; i++ {
			s += w[i]
		}
		sums[ch] = s
	})
	first := sampleD2(w, sums, chosen, rng)
	seeds := []int{first}
	chosen[first] = true
	minD := make([]float64, n)
	wd := make([]float64, n)
	for i := range minD {
		minD[i] = inf
	}
	for len(seeds) < k {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c := seeds[len(seeds)-1]
		cv, ncv := xr[c], nx[c]
		forChunks(n, chunkRows, func(ch, lo, hi int) {
			s := 0.0
			for i := lo; i < hi; i++ {
				if chosen[i] {
					wd[i] = 0
					continue
				}
				if v := sqDist(nx[i], ncv, floats.Dot(xr[i], cv)); v < minD[i] {
					minD[i] = v
				}
				wd[i] = w[i] * minD[i]
				s += wd[i]
			}
			sums[ch] = s
		})
		var s int
		if total := floats.Sum(sums); total > 0 {
			s = sampleD2(wd, sums, chosen, rng)
		} else {
			// Every remaining positive-weight row coincides with a seed:
			// draw among them by weight.
			for ch := range sums {
				t := 0.0
				for i := ch * chunkRows; i < min((ch+1)*chunkRows, n); i++ {
					if !chosen[i] {
						t += w[i]
					}
				}
				sums[ch] = t
			}
			s = sampleD2(w, sums, chosen, rng)
		}
		seeds = append(seeds, s)
		chosen[s] = true
	}
	return seeds, nil
}

// weightedMeans returns the weighted mean of each cluster and whether it
// has any weight.
func weightedMeans(xr [][]float64, w []float64, assign []int, k, d int) (*mat.Dense, []bool) {
	out := mat.NewDense(k, d, nil)
	tot := make([]float64, k)
	for i, a := range assign {
		if w[i] == 0 {
			continue
		}
		floats.AddScaled(out.RawRowView(a), w[i], xr[i])
		tot[a] += w[i]
	}
	has := make([]bool, k)
	for j := range tot {
		if tot[j] > 0 {
			floats.Scale(1/tot[j], out.RawRowView(j))
			has[j] = true
		}
	}
	return out, has
}

// relocateEmpty moves every centre without weight to the positive-weight row
// with the largest weighted squared distance to its own centre that has not
// been used yet.
func relocateEmpty(xr [][]float64, w, best []float64, assign []int, centres *mat.Dense, has []bool) {
	used := map[int]bool{}
	for j, ok := range has {
		if ok {
			continue
		}
		far, fv := -1, -1.0
		for i := range xr {
			if w[i] > 0 && !used[i] && w[i]*best[i] > fv {
				far, fv = i, w[i]*best[i]
			}
		}
		if far < 0 {
			continue
		}
		used[far] = true
		centres.SetRow(j, xr[far])
	}
}

// NearestDistinct returns, for each row of centres in order, the row of x
// nearest to it (squared Euclidean distance, lowest row on ties) among the
// rows not already returned for an earlier centre. It needs at least as many
// rows as centres.
func NearestDistinct(ctx context.Context, x, centres *mat.Dense) ([]int, error) {
	n, d := x.Dims()
	k, cd := centres.Dims()
	if x.IsEmpty() {
		n = 0
	}
	if k > n {
		return nil, fmt.Errorf("nearest: %d centres but only %d rows", k, n)
	}
	if cd != d {
		return nil, fmt.Errorf("nearest: centres have %d columns, rows %d", cd, d)
	}
	xr := rowsOf(x)
	nx := sqNorms(xr)
	taken := make([]bool, n)
	nc := (n + chunkRows - 1) / chunkRows
	bestI := make([]int, nc)
	bestV := make([]float64, nc)
	out := make([]int, k)
	for j := 0; j < k; j++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c := centres.RawRowView(j)
		ncv := floats.Dot(c, c)
		forChunks(n, chunkRows, func(ch, lo, hi int) {
			bi, bv := -1, inf
			for i := lo; i < hi; i++ {
				if taken[i] {
					continue
				}
				if v := sqDist(nx[i], ncv, floats.Dot(xr[i], c)); v < bv {
					bi, bv = i, v
				}
			}
			bestI[ch], bestV[ch] = bi, bv
		})
		bi, bv := -1, inf
		for ch := range bestI {
			if bestI[ch] >= 0 && (bi < 0 || bestV[ch] < bv) {
				bi, bv = bestI[ch], bestV[ch]
			}
		}
		out[j] = bi
		taken[bi] = true
	}
	return out, nil
}

// KMeansPicks runs (weighted) k-means on the rows of x and returns the row
// nearest each centre, all distinct.
func KMeansPicks(ctx context.Context, x *mat.Dense, w []float64, k int, rng *rand.Rand, cfg KMeansConfig) ([]int, error) {
	centres, _, err := KMeans(ctx, x, w, k, rng, cfg)
	if err != nil {
		return nil, err
	}
	return NearestDistinct(ctx, x, centres)
}
