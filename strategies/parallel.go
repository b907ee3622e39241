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
	nc := (n + chunk - 1) / chunk
	workers := min(runtime.GOMAXPROCS(0), nc)
	if workers <= 1 {
		for c := 0; c < nc; c++ {
			f(c, c*chunk, min((c+1)*chunk, n))
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int, nc)
	for c := 0; c < nc; c++ {
		next <- c
	}
	close(next)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				f(c, c*chunk, min((c+1)*chunk, n))
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
// nearest row of c and its index, computing distances block by block
// (gemmBlock x gemmBlock) so that no N x M matrix is ever held. nx and nc are
// the rows' squared norms.
func minSqDistTo(ctx context.Context, x [][]float64, nx []float64, c [][]float64, nc []float64) ([]float64, []int, error) {
	n := len(x)
	best := make([]float64, n)
	arg := make([]int, n)
	if n == 0 || len(c) == 0 {
		for i := range best {
			best[i], arg[i] = inf, -1
		}
		return best, arg, nil
	}
	d := len(x[0])
	var cerr error
	var mu sync.Mutex
	forChunks(n, gemmBlock, func(_, lo, hi int) {
		if err := ctx.Err(); err != nil {
			mu.Lock()
			cerr = err
			mu.Unlock()
			return
		}
		a := packRows(x[lo:hi], d)
		prod := make([]float64, (hi-lo)*gemmBlock)
		for i := lo; i < hi; i++ {
			best[i], arg[i] = inf, -1
		}
		for clo := 0; clo < len(c); clo += gemmBlock {
			chi := min(clo+gemmBlock, len(c))
			b := packRows(c[clo:chi], d)
			m := chi - clo
			blas64.Gemm(blas.NoTrans, blas.Trans, 1,
				blas64.General{Rows: hi - lo, Cols: d, Stride: d, Data: a},
				blas64.General{Rows: m, Cols: d, Stride: d, Data: b},
				0, blas64.General{Rows: hi - lo, Cols: m, Stride: m, Data: prod[:(hi-lo)*m]})
			for i := lo; i < hi; i++ {
				row := prod[(i-lo)*m : (i-lo+1)*m]
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
