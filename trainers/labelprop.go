package trainers

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// LPOptions configure label propagation as in Iscen, Tolias, Avrithis & Chum
// (2019, "Label propagation for deep semi-supervised learning").
type LPOptions struct {
	K       int     // nearest neighbours per sample (paper: 50)
	Gamma   float64 // similarities are raised to this power (paper: 3)
	Alpha   float64 // diffusion parameter (paper: 0.99)
	MaxIter int     // conjugate-gradient iterations per class (paper: 20)
	Tol     float64 // relative residual at which CG stops (paper: 1e-6)
}

// Check validates the options.
func (o LPOptions) Check() error {
	switch {
	case o.K < 1:
		return fmt.Errorf("label propagation: k must be >= 1, got %d", o.K)
	case o.Gamma <= 0:
		return fmt.Errorf("label propagation: gamma must be > 0, got %g", o.Gamma)
	case o.Alpha <= 0 || o.Alpha >= 1:
		return fmt.Errorf("label propagation: alpha must be in (0, 1), got %g", o.Alpha)
	case o.MaxIter < 1:
		return fmt.Errorf("label propagation: cg_iters must be >= 1, got %d", o.MaxIter)
	case o.Tol < 0:
		return fmt.Errorf("label propagation: cg_tol must be >= 0")
	}
	return nil
}

// LPResult is the outcome of label propagation over n samples.
type LPResult struct {
	// Labels is the propagated class of every sample (the given class for
	// labeled ones), or -1 where no label reached the sample.
	Labels []int
	// Weights is 1 - H(z)/log C of every sample's L1-normalised diffusion
	// scores z, divided by the largest such value; 1 for labeled samples and
	// 0 where no label reached the sample.
	Weights []float64
	// ClassWeights is (n/C)/n_j with n_j the samples carrying class j
	// (labeled and pseudo-labeled): the paper's class balancing.
	ClassWeights []float64
	// Scores holds the L1-normalised diffusion scores (n x C).
	Scores *mat.Dense
	// CGIters is the largest number of CG iterations any class needed.
	CGIters int
}

// LabelPropagation propagates the labels known[i] (a class, or -1 for an
// unlabeled sample) over a k-nearest-neighbour graph of the rows of x:
// rows are L2-normalised, a_ij = max(0, x_i . x_j)^gamma for the k nearest
// neighbours j of i (itself excluded), W = A + A^T, W_n = D^-1/2 W D^-1/2,
// and for every class c the system (I - alpha W_n) z_c = y_c is solved by
// conjugate gradient, with y_c = 1/|L_c| on the labeled samples of class c.
func LabelPropagation(ctx context.Context, x *mat.Dense, known []int, classes int, opt LPOptions) (LPResult, error) {
	var res LPResult
	if err := opt.Check(); err != nil {
		return res, err
	}
	n, _ := x.Dims()
	if len(known) != n {
		return res, fmt.Errorf("label propagation: %d labels for %d samples", len(known), n)
	}
	if classes < 2 {
		return res, fmt.Errorf("label propagation: needs at least 2 classes, got %d", classes)
	}
	count := make([]int, classes)
	for i, c := range known {
		if c >= classes || c < -1 {
			return res, fmt.Errorf("label propagation: label %d of sample %d is outside [0, %d) and not -1", c, i, classes)
		}
		if c >= 0 {
			count[c]++
		}
	}
	g, err := knnGraph(ctx, x, opt.K, opt.Gamma)
	if err != nil {
		return res, err
	}
	g.symmetricNormalize()
	z := mat.NewDense(n, classes, nil)
	iters := make([]int, classes)
	var wg sync.WaitGroup
	errs := make([]error, classes)
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for c := 0; c < classes; c++ {
		if count[c] == 0 {
			continue
		}
		y := make([]float64, n)
		for i, k := range known {
			if k == c {
				y[i] = 1 / float64(count[c])
			}
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(c int, y []float64) {
			defer wg.Done()
			defer func() { <-sem }()
			sol, it, err := conjugateGradient(ctx, func(dst, v []float64) { g.mulShifted(dst, v, opt.Alpha) }, y, opt.MaxIter, opt.Tol)
			if err != nil {
				errs[c] = err
				return
			}
			iters[c] = it
			z.SetCol(c, sol)
		}(c, y)
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return res, e
		}
	}
	res.Scores = z
	res.Labels = make([]int, n)
	res.Weights = make([]float64, n)
	logC := math.Log(float64(classes))
	maxW := 0.0
	for i := 0; i < n; i++ {
		row := z.RawRowView(i)
		s := 0.0
		for j := range row {
			if row[j] < 0 || math.IsNaN(row[j]) { // numerical noise of CG
				row[j] = 0
			}
			s += row[j]
		}
		if s <= 0 {
			res.Labels[i] = -1
			continue
		}
		for j := range row {
			row[j] /= s
		}
		res.Labels[i] = argmax(row)
		res.Weights[i] = 1 - entropy(row)/logC
		maxW = math.Max(maxW, res.Weights[i])
	}
	for i := range res.Weights {
		if maxW > 0 {
			res.Weights[i] /= maxW
		}
		if known[i] >= 0 {
			res.Labels[i], res.Weights[i] = known[i], 1
		}
	}
	res.ClassWeights = classBalance(res.Labels, classes)
	for _, it := range iters {
		res.CGIters = max(res.CGIters, it)
	}
	return res, nil
}

// classBalance returns (n/C)/n_j for every class j (0 for empty classes),
// with n the samples that carry a label (label >= 0).
func classBalance(labels []int, classes int) []float64 {
	cnt := make([]float64, classes)
	n := 0.0
	for _, y := range labels {
		if y >= 0 {
			cnt[y]++
			n++
		}
	}
	out := make([]float64, classes)
	for j, c := range cnt {
		if c > 0 {
			out[j] = n / float64(classes) / c
		}
	}
	return out
}

// csr is a square sparse matrix in compressed sparse row form.
type csr struct {
	n   int
	ptr []int // row i holds entries ptr[i]..ptr[i+1]-1
	col []int
	val []float64
}

// mulVec sets dst = M v.
func (m *csr) mulVec(dst, v []float64) {
	for i := 0; i < m.n; i++ {
		s := 0.0
		for p := m.ptr[i]; p < m.ptr[i+1]; p++ {
			s += m.val[p] * v[m.col[p]]
		}
		dst[i] = s
	}
}

// mulShifted sets dst = (I - alpha M) v.
func (m *csr) mulShifted(dst, v []float64, alpha float64) {
	m.mulVec(dst, v)
	for i := range dst {
		dst[i] = v[i] - alpha*dst[i]
	}
}

// symmetricNormalize replaces M by D^-1/2 M D^-1/2, D the row sums (rows
// with a zero sum stay zero).
func (m *csr) symmetricNormalize() {
	inv := make([]float64, m.n)
	for i := 0; i < m.n; i++ {
		s := 0.0
		for p := m.ptr[i]; p < m.ptr[i+1]; p++ {
			s += m.val[p]
		}
		if s > 0 {
			inv[i] = 1 / math.Sqrt(s)
		}
	}
	for i := 0; i < m.n; i++ {
		for p := m.ptr[i]; p < m.ptr[i+1]; p++ {
			m.val[p] *= inv[i] * inv[m.col[p]]
		}
	}
}

// fromTriples builds a CSR matrix summing duplicate (row, col) entries.
func fromTriples(n int, rows, cols []int, vals []float64) *csr {
	m := &csr{n: n, ptr: make([]int, n+1)}
	for _, r := range rows {
		m.ptr[r+1]++
	}
	for i := 0; i < n; i++ {
		m.ptr[i+1] += m.ptr[i]
	}
	col := make([]int, len(rows))
	val := make([]float64, len(rows))
	next := append([]int(nil), m.ptr[:n]...)
	for k, r := range rows {
		col[next[r]] = cols[k]
		val[next[r]] = vals[k]
		next[r]++
	}
	// Sort each row by column and merge duplicates.
	m.col = make([]int, 0, len(col))
	m.val = make([]float64, 0, len(val))
	newPtr := make([]int, n+1)
	for i := 0; i < n; i++ {
		lo, hi := m.ptr[i], m.ptr[i+1]
		idx := make([]int, hi-lo)
		for k := range idx {
			idx[k] = lo + k
		}
		sort.Slice(idx, func(a, b int) bool { return col[idx[a]] < col[idx[b]] })
		for _, k := range idx {
			if l := len(m.col); l > newPtr[i] && m.col[l-1] == col[k] {
				m.val[l-1] += val[k]
				continue
			}
			m.col = append(m.col, col[k])
			m.val = append(m.val, val[k])
		}
		newPtr[i+1] = len(m.col)
	}
	m.ptr = newPtr
	return m
}

// knnGraph returns W = A + A^T with a_ij = max(0, cos(x_i, x_j))^gamma over
// the k nearest neighbours j != i of each row i (by cosine similarity; ties
// go to the lower index).
func knnGraph(ctx context.Context, x *mat.Dense, k int, gamma float64) (*csr, error) {
	n, d := x.Dims()
	if n < 2 {
		return nil, fmt.Errorf("label propagation: needs at least 2 samples, got %d", n)
	}
	k = min(k, n-1)
	xn := mat.NewDense(n, d, nil)
	for i := 0; i < n; i++ {
		row := xn.RawRowView(i)
		copy(row, x.RawRowView(i))
		if nrm := floats.Norm(row, 2); nrm > 0 {
			floats.Scale(1/nrm, row)
		}
	}
	rows := make([]int, 0, 2*n*k)
	cols := make([]int, 0, 2*n*k)
	vals := make([]float64, 0, 2*n*k)
	const block = 256
	sims := mat.NewDense(min(block, n), n, nil)
	for lo := 0; lo < n; lo += block {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+block, n)
		s := sims.Slice(0, hi-lo, 0, n).(*mat.Dense)
		s.Mul(xn.Slice(lo, hi, 0, d), xn.T())
		for i := lo; i < hi; i++ {
			nb := topK(s.RawRowView(i-lo), k, i)
			for _, j := range nb {
				v := math.Pow(math.Max(0, s.At(i-lo, j)), gamma)
				if v == 0 {
					continue
				}
				rows, cols, vals = append(rows, i, j), append(cols, j, i), append(vals, v, v)
			}
		}
	}
	return fromTriples(n, rows, cols, vals), nil
}

// topK returns the positions of the k largest values of s, skipping position
// self, best first (ties: lower position first).
func topK(s []float64, k, self int) []int {
	// A small sorted buffer is fast for the k <= 100 used here.
	best := make([]int, 0, k+1)
	better := func(a, b int) bool { return s[a] > s[b] || (s[a] == s[b] && a < b) }
	for j := range s {
		if j == self {
			continue
		}
		if len(best) == k && !better(j, best[k-1]) {
			continue
		}
		pos := sort.Search(len(best), func(p int) bool { return better(j, best[p]) })
		if len(best) < k {
			best = append(best, 0)
		} else if pos == k {
			continue
		}
		copy(best[pos+1:], best[pos:len(best)-1])
		best[pos] = j
	}
	return best
}

// conjugateGradient solves A x = b for a symmetric positive-definite A given
// as a product, starting from 0, for at most maxIter iterations or until
// |r| <= tol |b|. It returns x and the iterations run.
func conjugateGradient(ctx context.Context, mul func(dst, v []float64), b []float64, maxIter int, tol float64) ([]float64, int, error) {
	n := len(b)
	x := make([]float64, n)
	r := append([]float64(nil), b...)
	p := append([]float64(nil), b...)
	ap := make([]float64, n)
	rs := floats.Dot(r, r)
	bn := math.Sqrt(rs)
	if bn == 0 {
		return x, 0, nil
	}
	it := 0
	for it < maxIter {
		if err := ctx.Err(); err != nil {
			return nil, it, err
		}
		it++
		mul(ap, p)
		pap := floats.Dot(p, ap)
		if pap <= 0 {
			return nil, it, fmt.Errorf("conjugate gradient: the matrix is not positive definite (p'Ap = %g)", pap)
		}
		a := rs / pap
		floats.AddScaled(x, a, p)
		floats.AddScaled(r, -a, ap)
		rsNew := floats.Dot(r, r)
		if math.Sqrt(rsNew) <= tol*bn {
			break
		}
		beta := rsNew / rs
		for i := range p {
			p[i] = r[i] + beta*p[i]
		}
		rs = rsNew
	}
	return x, it, nil
}
