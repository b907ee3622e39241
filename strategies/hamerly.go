package strategies

import (
	"context"
	"math"
	"slices"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// lloyd runs Lloyd's iterations from the given centres with Hamerly's
// bounds (Hamerly 2010, "Making k-means even faster"): every row keeps an
// upper bound u on the distance to its assigned centre and a lower bound l on
// the distance to every other centre; both are moved by the centres' drift
// after each update, and a row is only compared with all centres when
// u > max(l, half the distance from its centre to the nearest other centre).
// The iterates are those of plain Lloyd (up to exact ties), at a fraction of
// the distance computations once the clustering settles. Rows that need all
// distances are processed in blocks with one matrix product each.
//
// One iteration is an update of the centres followed by an assignment; the
// loop stops when no assignment changes, when the centres moved less than tol
// (summed squared shift), or after maxIter updates.
func lloyd(ctx context.Context, x *mat.Dense, nx, w []float64, centres *mat.Dense, maxIter int, tol float64) (*mat.Dense, []int, error) {
	n := len(nx)
	k, d := centres.Dims()
	xr := rowsOf(x)
	assign := make([]int, n)
	u := make([]float64, n) // upper bound on the distance to the assigned centre
	l := make([]float64, n) // lower bound on the distance to any other centre
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	if err := nearestTwo(ctx, x, nx, all, centres, assign, u, l); err != nil {
		return nil, nil, err
	}
	s := make([]float64, k) // half the distance to the nearest other centre
	p := make([]float64, k) // how far each centre moved in the last update
	var need []int          // rows whose bounds do not settle their assignment
	var needMu sync.Mutex   // guards need
	for it := 0; it < maxIter; it++ {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		best := make([]float64, n)
		for i := range best {
			best[i] = u[i] * u[i]
		}
		next, has := weightedMeans(xr, w, assign, k, d)
		relocateEmpty(xr, w, best, assign, next, has)
		shift := 0.0
		for j := 0; j < k; j++ {
			a, b := next.RawRowView(j), centres.RawRowView(j)
			sq := 0.0
			for c := range a {
				sq += (a[c] - b[c]) * (a[c] - b[c])
			}
			shift += sq
			p[j] = math.Sqrt(sq)
		}
		centres = next
		// Move the bounds with the centres: the assigned centre moved by
		// p[a]; any other by at most the largest drift among the others.
		max1, max2, arg1 := 0.0, 0.0, -1
		for j, v := range p {
			if v > max1 {
				max1, max2, arg1 = v, max1, j
			} else if v > max2 {
				max2 = v
			}
		}
		cr := rowsOf(centres)
		ncs := sqNorms(cr)
		for j := range s {
			s[j] = math.Inf(1)
		}
		for j := 0; j < k; j++ {
			for j2 := j + 1; j2 < k; j2++ {
				dd := 0.5 * math.Sqrt(sqDist(ncs[j], ncs[j2], floats.Dot(cr[j], cr[j2])))
				s[j] = math.Min(s[j], dd)
				s[j2] = math.Min(s[j2], dd)
			}
		}
		need = need[:0]
		forChunks(n, chunkRows, func(_, lo, hi int) {
			var local []int
			for i := lo; i < hi; i++ {
				a := assign[i]
				u[i] += p[a]
				if a == arg1 {
					l[i] -= max2
				} else {
					l[i] -= max1
				}
				m := math.Max(s[a], l[i])
				if u[i] <= m {
					continue
				}
				u[i] = math.Sqrt(sqDist(nx[i], ncs[a], floats.Dot(xr[i], cr[a])))
				if u[i] <= m {
					continue
				}
				local = append(local, i)
			}
			needMu.Lock()
			need = append(need, local...)
			needMu.Unlock()
		})
		// Chunks finish in any order; sort so the blocks below are the same
		// on every machine.
		slices.Sort(need)
		before := make([]int, len(need))
		for j, i := range need {
			before[j] = assign[i]
		}
		if err := nearestTwo(ctx, x, nx, need, centres, assign, u, l); err != nil {
			return nil, nil, err
		}
		changed := false
		for j, i := range need {
			if assign[i] != before[j] {
				changed = true
			}
		}
		if !changed || shift <= tol {
			break
		}
	}
	return centres, assign, nil
}

// nearestTwo sets, for each listed row i of x, assign[i] to its nearest row
// of c (lowest index on ties), d1[i] to the distance to it and d2[i] to the
// distance to the second nearest (+Inf with one centre). Rows are packed in
// blocks of gemmBlock and compared with all centres by matrix products.
func nearestTwo(ctx context.Context, x *mat.Dense, nx []float64, rows []int, c *mat.Dense, assign []int, d1, d2 []float64) error {
	if len(rows) == 0 {
		return nil
	}
	xm, cm := x.RawMatrix(), c.RawMatrix()
	d := xm.Cols
	k := cm.Rows
	nc := sqNorms(rowsOf(c))
	type buf struct{ a, prod []float64 }
	scratch := make([]buf, workers(len(rows), gemmBlock))
	var cerr error
	var mu sync.Mutex
	forChunksW(len(rows), gemmBlock, func(w, _, lo, hi int) {
		if err := ctx.Err(); err != nil {
			mu.Lock()
			cerr = err
			mu.Unlock()
			return
		}
		if scratch[w].a == nil {
			scratch[w] = buf{make([]float64, gemmBlock*d), make([]float64, gemmBlock*gemmBlock)}
		}
		a, prod := scratch[w].a, scratch[w].prod
		for r, i := range rows[lo:hi] {
			copy(a[r*d:(r+1)*d], xm.Data[i*xm.Stride:i*xm.Stride+d])
		}
		b1 := make([]float64, hi-lo)
		b2 := make([]float64, hi-lo)
		arg := make([]int, hi-lo)
		for r := range b1 {
			b1[r], b2[r], arg[r] = inf, inf, -1
		}
		for clo := 0; clo < k; clo += gemmBlock {
			chi := min(clo+gemmBlock, k)
			bw := chi - clo
			blas64.Gemm(blas.NoTrans, blas.Trans, 1,
				blas64.General{Rows: hi - lo, Cols: d, Stride: d, Data: a},
				blas64.General{Rows: bw, Cols: d, Stride: cm.Stride, Data: cm.Data[clo*cm.Stride:]},
				0, blas64.General{Rows: hi - lo, Cols: bw, Stride: bw, Data: prod[:(hi-lo)*bw]})
			for r, i := range rows[lo:hi] {
				for j, pv := range prod[r*bw : (r+1)*bw] {
					v := sqDist(nx[i], nc[clo+j], pv)
					if v < b1[r] {
						b1[r], b2[r], arg[r] = v, b1[r], clo+j
					} else if v < b2[r] {
						b2[r] = v
					}
				}
			}
		}
		for r, i := range rows[lo:hi] {
			assign[i], d1[i], d2[i] = arg[r], math.Sqrt(b1[r]), math.Sqrt(b2[r])
		}
	})
	return cerr
}
