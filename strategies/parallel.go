package strategies

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

var inf = math.Inf(1)

// chunkRows is the number of rows one goroutine handles at a time in the
// pool-sized loops of the diversity strategies. Chunks are fixed-size (not
// one per CPU), and per-chunk partial results are combined in chunk order,
// so results do not depend on the number of CPUs.
const chunkRows = 4096

// forChunks calls f(c, lo, hi) for consecutive chunks [lo, hi) of [0, n) of
// size chunk, spread over up to GOMAXPROCS goroutines. c is the chunk number.
func forChunks(n, chunk int, f func(c, lo, hi int)) {
	forChunksW(n, chunk, func(_, c, lo, hi int) { f(c, lo, hi) })
}

// workers returns how many goroutines forChunksW uses for n rows.
func workers(n, chunk int) int {
	return max(1, min(runtime.GOMAXPROCS(0), (n+chunk-1)/chunk))
}

// forChunksW is forChunks that also passes the worker number w in
// [0, workers(n, chunk)), so that each goroutine can reuse its own scratch
// buffers.
func forChunksW(n, chunk int, f func(w, c, lo, hi int)) {
	nc := (n + chunk - 1) / chunk
	nw := workers(n, chunk)
	if nw <= 1 {
		for c := 0; c < nc; c++ {
			f(0, c, c*chunk, min((c+1)*chunk, n))
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int, nc)
	for c := 0; c < nc; c++ {
		next <- c
	}
	close(next)
	for w := 0; w < nw; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				f(w, c, c*chunk, min((c+1)*chunk, n))
			}
		}()
	}
	wg.Wait()
}

// rowsOf returns the rows of a dense matrix as slices (no copy).
func rowsOf(m *mat.Dense) [][]float64 {
	r, _ := m.Dims()
	out := make([][]float64, r)
	for i := range out {
		out[i] = m.RawRowView(i)
	}
	return out
}

// sqNorms returns the squared Euclidean norm of every row.
func sqNorms(rows [][]float64) []float64 {
	out := make([]float64, len(rows))
	forChunks(len(rows), chunkRows, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = floats.Dot(rows[i], rows[i])
		}
	})
	return out
}

// sqDist is ||a||^2 + ||b||^2 - 2<a, b>, clamped at 0 against rounding.
func sqDist(na, nb, dot float64) float64 {
	d := na + nb - 2*dot
	if d < 0 {
		return 0
	}
	return d
}

// gemmBlock is the number of rows (and of centres) per block when a block of
// squared distances is computed with one matrix product.
const gemmBlock = 256

// minSqDistTo returns, for every row of x, the squared distance to the
// nearest row of c and its index (lowest on ties), computing distances block
// by block (gemmBlock x gemmBlock, one matrix product each, straight from the
// matrices' memory) so that no N x M matrix is ever held. nx and nc are the
// rows' squared norms.
func minSqDistTo(ctx context.Context, x *mat.Dense, nx []float64, c *mat.Dense, nc []float64) ([]float64, []int, error) {
	n := len(nx)
	best := make([]float64, n)
	arg := make([]int, n)
	for i := range best {
		best[i], arg[i] = inf, -1
	}
	if n == 0 || len(nc) == 0 {
		return best, arg, nil
	}
	xm, cm := x.RawMatrix(), c.RawMatrix()
	d := xm.Cols
	m := len(nc)
	scratch := make([][]float64, workers(n, gemmBlock))
	var cerr error
	var mu sync.Mutex
	forChunksW(n, gemmBlock, func(w, _, lo, hi int) {
		if err := ctx.Err(); err != nil {
			mu.Lock()
			cerr = err
			mu.Unlock()
			return
		}
		if scratch[w] == nil {
			scratch[w] = make([]float64, gemmBlock*gemmBlock)
		}
		prod := scratch[w]
		a := blas64.General{Rows: hi - lo, Cols: d, Stride: xm.Stride, Data: xm.Data[lo*xm.Stride:]}
		for clo := 0; clo < m; clo += gemmBlock {
			chi := min(clo+gemmBlock, m)
			bw := chi - clo
			blas64.Gemm(blas.NoTrans, blas.Trans, 1, a,
				blas64.General{Rows: bw, Cols: d, Stride: cm.Stride, Data: cm.Data[clo*cm.Stride:]},
				0, blas64.General{Rows: hi - lo, Cols: bw, Stride: bw, Data: prod[:(hi-lo)*bw]})
			for i := lo; i < hi; i++ {
				row := prod[(i-lo)*bw : (i-lo+1)*bw]
				for j, p := range row {
					if v := sqDist(nx[i], nc[clo+j], p); v < best[i] {
						best[i], arg[i] = v, clo+j
					}
				}
			}
		}
	})
	return best, arg, cerr
}

// packRows copies rows into one contiguous row-major slice.
func packRows(rows [][]float64, d int) []float64 {
	out := make([]float64, len(rows)*d)
	for i, r := range rows {
		copy(out[i*d:(i+1)*d], r)
	}
	return out
}

// embeddings asks the model for the embeddings of idx and checks them: one
// row per index, the same width as want (when want > 0), no NaN or infinity.
func embeddings(ctx context.Context, m Model, idx []int, want int) (*mat.Dense, error) {
	e, err := m.Embed(ctx, idx)
	if err != nil {
		return nil, err
	}
	return e, checkRows("embedding", e, idx, want)
}

// checkRows checks that m has one finite row per index and want columns (any when want <= 0).
func checkRows(what string, m *mat.Dense, idx []int, want int) error {
	r, c := m.Dims()
	if m.IsEmpty() {
		r, c = 0, 0
	}
	if r != len(idx) {
		return fmt.Errorf("the model returned %d %s rows for %d pool indices", r, what, len(idx))
	}
	if want > 0 && c != want {
		return fmt.Errorf("the model returned %s rows of width %d, expected %d", what, c, want)
	}
	for i := 0; i < r; i++ {
		for _, v := range m.RawRowView(i) {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%s of pool index %d is not finite (%g); the model's outputs are probably NaN: check the learning rate and the input data", what, idx[i], v)
			}
		}
	}
	return nil
}
