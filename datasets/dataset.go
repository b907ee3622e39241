// Package datasets loads and generates the labelled data sets used by the
// active learning framework and splits them into pool, validation and test
// index sets.
//
// Every data set is held fully in memory as a Dataset. Row i of a Dataset is
// sample i; that row index is the single identity of a sample everywhere in
// the framework (splits, queries, oracle answers, logs).
package datasets

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"unsafe"
)

// splitStream is the fixed second word of the PCG state used by Split, so
// that a split depends on the caller's seed only.
const splitStream = 0x5eed_5b11_7a11_da7a

// Dataset holds all samples of one data set in memory; row i is sample i, the one identity of a sample everywhere.
type Dataset struct {
	Name       string
	X          []float32 // N*Dim row-major; images scaled to [0,1]
	Y          []int     // labels in [0, NumClasses)
	Shape      []int     // per-sample shape: [1,28,28] for grey images, [D] for tabular
	NumClasses int
	ClassNames []string // may be nil
	TrainN     int      // rows [0,TrainN) come from the training file, [TrainN,N) from a separate test file; TrainN==N when there is none
	Paths      []string // optional: the file each row was read from (imagefolder), for people labeling them
}

// Unlabeled is the label of a row that the data file leaves unlabeled (an
// empty CSV label, an image of data.unlabeled, a -1 in a labels file): it
// may only be in the pool, and only a person (oracle: file) can label it.
const Unlabeled = -1

// NumUnlabeled returns how many rows are Unlabeled.
func (d *Dataset) NumUnlabeled() int {
	n := 0
	for _, y := range d.Y {
		if y == Unlabeled {
			n++
		}
	}
	return n
}

// Len returns the number of samples N.
func (d *Dataset) Len() int { return len(d.Y) }

// Dim returns the number of features per sample, the product of Shape (0 when Shape is empty).
func (d *Dataset) Dim() int { return shapeProduct(d.Shape) }

func shapeProduct(shape []int) int {
	if len(shape) == 0 {
		return 0
	}
	p := 1
	for _, s := range shape {
		p *= s
	}
	return p
}

// Validate checks that the fields of d are consistent with each other.
func (d *Dataset) Validate() error {
	n, dim := d.Len(), d.Dim()
	for _, s := range d.Shape {
		if s <= 0 {
			return fmt.Errorf("datasets: %q: shape %v has a non-positive dimension", d.Name, d.Shape)
		}
	}
	if dim <= 0 {
		return fmt.Errorf("datasets: %q: empty shape %v", d.Name, d.Shape)
	}
	if len(d.X) != n*dim {
		return fmt.Errorf("datasets: %q: len(X)=%d, want N*Dim=%d*%d=%d", d.Name, len(d.X), n, dim, n*dim)
	}
	if d.NumClasses <= 0 {
		return fmt.Errorf("datasets: %q: NumClasses=%d, want > 0", d.Name, d.NumClasses)
	}
	if d.ClassNames != nil && len(d.ClassNames) != d.NumClasses {
		return fmt.Errorf("datasets: %q: %d class names for %d classes", d.Name, len(d.ClassNames), d.NumClasses)
	}
	if d.TrainN < 0 || d.TrainN > n {
		return fmt.Errorf("datasets: %q: TrainN=%d outside [0,%d]", d.Name, d.TrainN, n)
	}
	for i, y := range d.Y {
		if y == Unlabeled && i >= d.TrainN {
			return fmt.Errorf("datasets: %q: row %d of the test file has no label; every test row needs one", d.Name, i)
		}
		if (y < 0 && y != Unlabeled) || y >= d.NumClasses {
			return fmt.Errorf("datasets: %q: label %d of row %d outside [0,%d)", d.Name, y, i, d.NumClasses)
		}
	}
	return nil
}

// Inputs returns a label-free, read-only view of the samples for learners; labels are only revealed through the oracle.
func (d *Dataset) Inputs() Inputs {
	return Inputs{x: d.X, shape: slices.Clone(d.Shape), n: d.Len(), dim: d.Dim()}
}

// Inputs is a label-free view of a Dataset's samples.
type Inputs struct {
	x     []float32
	shape []int
	n     int
	dim   int
}

// NewInputs returns inputs of len(x)/prod(shape) samples of the given shape.
func NewInputs(x []float32, shape []int) (Inputs, error) {
	dim := shapeProduct(shape)
	if dim <= 0 || len(x)%dim != 0 {
		return Inputs{}, fmt.Errorf("datasets: %d values do not make samples of shape %v", len(x), shape)
	}
	return Inputs{x: x, shape: slices.Clone(shape), n: len(x) / dim, dim: dim}, nil
}

// Hash returns a 64-bit FNV-1a hash of the inputs' shape and values (to key caches).
func (in Inputs) Hash() uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%v|%d|", in.shape, in.n)
	if len(in.x) > 0 {
		h.Write(unsafe.Slice((*byte)(unsafe.Pointer(&in.x[0])), 4*len(in.x)))
	}
	return h.Sum64()
}

// Len returns the number of samples.
func (in Inputs) Len() int { return in.n }

// Dim returns the number of features per sample.
func (in Inputs) Dim() int { return in.dim }

// Shape returns a copy of the per-sample shape.
func (in Inputs) Shape() []int { return slices.Clone(in.shape) }

// Gather writes rows idx, in order, into dst[:0] (len(idx)*Dim values), reallocating when cap(dst) is too small, and returns the filled slice.
func (in Inputs) Gather(idx []int, dst []float32) ([]float32, error) {
	for p, i := range idx {
		if i < 0 || i >= in.n {
			return nil, fmt.Errorf("datasets: gather: index %d at position %d out of range [0,%d)", i, p, in.n)
		}
	}
	need := len(idx) * in.dim
	if cap(dst) < need {
		dst = make([]float32, need)
	}
	dst = dst[:need]
	for p, i := range idx {
		copy(dst[p*in.dim:(p+1)*in.dim], in.x[i*in.dim:(i+1)*in.dim])
	}
	return dst, nil
}

// SplitConfig sizes a split; PoolSize 0 and TestSize 0 mean "all remaining" (TestSize 0 is 20% for a single-file data set), ValSize 0 means no validation set.
type SplitConfig struct {
	PoolSize, ValSize, TestSize int
}

// Split holds disjoint row index sets, each sorted ascending.
type Split struct {
	Pool, Val, Test []int
}

// Split partitions the rows of d into pool, validation and test sets, deterministically for a given seed.
//
// With a separate test file (TrainN < N) Test is drawn from rows [TrainN,N)
// (TestSize of them, all when 0), and Val then Pool (PoolSize, or all
// remaining when 0) from rows [0,TrainN). Otherwise Test (TestSize, or 20%
// of N rounded when 0), Val and Pool are taken in that order from one seeded
// permutation of all rows.
func (d *Dataset) Split(seed uint64, c SplitConfig) (Split, error) {
	if d.NumUnlabeled() == 0 {
		return d.split(seed, c, d.Len(), d.TrainN)
	}
	// Unlabeled rows can be neither tested nor validated on: the labeled
	// rows are split as a data set of their own, and every unlabeled row
	// joins the pool.
	var labeled, unlabeled []int
	trainN := 0
	for i, y := range d.Y {
		switch {
		case y == Unlabeled:
			unlabeled = append(unlabeled, i)
		default:
			labeled = append(labeled, i)
			if i < d.TrainN {
				trainN++
			}
		}
	}
	s, err := d.split(seed, c, len(labeled), trainN)
	if err != nil {
		return s, err
	}
	remap := func(idx []int) []int {
		for k, v := range idx {
			idx[k] = labeled[v]
		}
		return idx
	}
	s.Test, s.Val = remap(s.Test), remap(s.Val)
	s.Pool = append(remap(s.Pool), unlabeled...)
	slices.Sort(s.Pool)
	return s, nil
}

// split splits n rows, the first trainN of them from the training file.
func (d *Dataset) split(seed uint64, c SplitConfig, n, trainN int) (Split, error) {
	if c.PoolSize < 0 || c.ValSize < 0 || c.TestSize < 0 {
		return Split{}, fmt.Errorf("datasets: split %q: negative size in pool=%d val=%d test=%d", d.Name, c.PoolSize, c.ValSize, c.TestSize)
	}
	if trainN < 0 || trainN > n {
		return Split{}, fmt.Errorf("datasets: split %q: TrainN=%d outside [0,%d]", d.Name, trainN, n)
	}
	rng := rand.New(rand.NewPCG(seed, splitStream))
	var s Split
	if trainN < n {
		nTest := n - trainN
		test := nTest
		if c.TestSize > 0 {
			test = c.TestSize
		}
		if test > nTest {
			return Split{}, fmt.Errorf("datasets: split %q: test size %d exceeds the %d rows of the test file", d.Name, test, nTest)
		}
		if c.ValSize > trainN {
			return Split{}, fmt.Errorf("datasets: split %q: validation size %d exceeds the %d training rows", d.Name, c.ValSize, trainN)
		}
		pool := trainN - c.ValSize
		if c.PoolSize > 0 {
			pool = c.PoolSize
		}
		if c.ValSize+pool > trainN {
			return Split{}, fmt.Errorf("datasets: split %q: validation %d + pool %d = %d exceed the %d training rows", d.Name, c.ValSize, pool, c.ValSize+pool, trainN)
		}
		testPerm := rng.Perm(nTest)
		s.Test = offsetSorted(testPerm[:test], trainN)
		trainPerm := rng.Perm(trainN)
		s.Val = offsetSorted(trainPerm[:c.ValSize], 0)
		s.Pool = offsetSorted(trainPerm[c.ValSize:c.ValSize+pool], 0)
		return s, nil
	}
	test := c.TestSize
	if test == 0 {
		test = int(math.Round(0.2 * float64(n)))
	}
	if test+c.ValSize > n {
		return Split{}, fmt.Errorf("datasets: split %q: test %d + validation %d = %d exceed the %d rows", d.Name, test, c.ValSize, test+c.ValSize, n)
	}
	pool := n - test - c.ValSize
	if c.PoolSize > 0 {
		pool = c.PoolSize
	}
	if test+c.ValSize+pool > n {
		return Split{}, fmt.Errorf("datasets: split %q: test %d + validation %d + pool %d = %d exceed the %d rows", d.Name, test, c.ValSize, pool, test+c.ValSize+pool, n)
	}
	perm := rng.Perm(n)
	s.Test = offsetSorted(perm[:test], 0)
	s.Val = offsetSorted(perm[test:test+c.ValSize], 0)
	s.Pool = offsetSorted(perm[test+c.ValSize:test+c.ValSize+pool], 0)
	return s, nil
}

// offsetSorted returns a sorted copy of idx with off added to every entry; never nil.
func offsetSorted(idx []int, off int) []int {
	out := make([]int, len(idx))
	for i, v := range idx {
		out[i] = v + off
	}
	slices.Sort(out)
	return out
}
