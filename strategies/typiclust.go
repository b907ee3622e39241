package strategies

import (
	"container/heap"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

// ColdStarter is a strategy that can choose the initial labeled set without
// labels or a task model (from the raw inputs, or from label-free features
// installed with InstallFeatures), before any label is known. The
// runner uses it for al.init_mode values other than random and balanced.
type ColdStarter interface {
	SelectInitial(ctx context.Context, in learner.InputSource, pool []int, n int, rng *rand.Rand) ([]int, error)
}

// TypiClust is TypiClust (Hacohen, Dekel & Weinshall 2022, "Active learning
// on a budget: opposite strategies suit high and low budgets"), the
// low-budget strategy: cluster the labeled and unlabeled samples into
// |L| + k clusters (at most max_clusters) with k-means, then repeatedly take
// the cluster with the fewest labeled samples (larger clusters first, clusters
// of min_cluster_size samples or fewer skipped) and acquire its most typical
// unlabeled sample, typicality being the inverse mean squared Euclidean
// distance to its K = min(knn, m/2) nearest neighbours among the cluster's m
// unlabeled samples. With no labels it is the paper's cold start.
//
// The paper clusters self-supervised embeddings (SimCLR, trained on the
// unlabeled data). features: selfsupervised, the default, does the same with
// the L2-normalised penultimate embeddings of a network of learner.model
// pre-trained without labels by DeepCluster (Caron et al. 2018) on the run's
// pool, the pre-training of trainer ssal (options dc_*, cache_dir; equal
// settings share ssal's cached weights). The strategy trains nothing: the
// experiment runner pre-trains a separate learner once per run, caches its
// weights, and installs the embeddings with InstallFeatures, for the cold
// start (al.init_mode: typiclust) and for every round alike. It needs a
// backend that can pre-train (torch); elsewhere the run stops at its start
// with an error naming features: inputs. For ablations, features: inputs
// clusters the raw flattened inputs, optionally standardised per feature and
// reduced by a fixed Gaussian random projection (dim), and features:
// embeddings the task learner's own penultimate embeddings (at the cold
// start, where no model exists yet, the raw inputs). The paper's code
// switches to mini-batch k-means beyond 50 clusters; this uses Lloyd's
// k-means throughout.
type TypiClust struct {
	features       string
	dim            int
	standardise    bool
	knn            int
	maxClusters    int
	minClusterSize int
	kmeans         KMeansConfig
	pre            Pretraining   // features: selfsupervised
	src            FeatureSource // installed by the runner; nil until then
}

// The values of option features.
const (
	featSelfSupervised = "selfsupervised"
	featInputs         = "inputs"
	featEmbeddings     = "embeddings"
)

func init() {
	Register(Info{
		Name:        "typiclust",
		Description: "most typical sample of the largest uncovered k-means clusters of self-supervised features; low budgets and cold start (Hacohen et al. 2022)",
		Options: []Option{
			{Name: "features", Default: featSelfSupervised, Doc: "selfsupervised (embeddings of a network pre-trained by DeepCluster on the pool, as the paper's self-supervised features; needs the torch backend), " +
				"inputs (the raw flattened inputs) or embeddings (the task learner's); the last two are ablations"},
			{Name: "dim", Default: 0, Doc: "features: inputs: width of a fixed Gaussian random projection, for speed on wide inputs (0 = none)"},
			{Name: "standardise", Default: false, Doc: "features: inputs: standardise every input feature before the projection (for tabular data with mixed scales; per-pixel scaling hurts images)"},
			{Name: "knn", Default: 20, Doc: "neighbours in the typicality estimate (paper: 20)"},
			{Name: "max_clusters", Default: 500, Doc: "cap on the number of clusters (paper's code: 500)"},
			{Name: "min_cluster_size", Default: 5, Doc: "clusters of this many samples or fewer are skipped (paper's code: 5)"},
			{Name: "max_iter", Default: 100, Doc: "maximum Lloyd iterations"},
			{Name: "tol", Default: 1e-4, Doc: "stop when the squared centre shift is below tol times the mean feature variance"},
			{Name: "dc_epochs", Default: 20, Doc: "features: selfsupervised: DeepCluster epochs (as trainer ssal's option)"},
			{Name: "dc_clusters", Default: 0, Doc: "features: selfsupervised: DeepCluster's k-means clusters (0 = 10 x classes)"},
			{Name: "dc_pca", Default: 256, Doc: "features: selfsupervised: PCA dimensions before DeepCluster's k-means"},
			{Name: "dc_kmeans_iters", Default: 20, Doc: "features: selfsupervised: Lloyd iterations of each DeepCluster clustering"},
			{Name: "dc_lr", Default: 0.0, Doc: "features: selfsupervised: pre-training learning rate (0 = learner.train.lr)"},
			{Name: "cache_dir", Default: "", Doc: "features: selfsupervised: folder of cached pre-trained weights, shared with trainer ssal (\"\" = the user cache folder, alrl/pretrained)"},
		},
		New: newTypiClust,
	})
}

func newTypiClust(o Options) (Strategy, error) {
	var t TypiClust
	var err error
	if t.features, err = o.String("features"); err != nil {
		return nil, err
	}
	if t.standardise, err = o.Bool("standardise"); err != nil {
		return nil, err
	}
	if t.features != featSelfSupervised && t.features != featInputs && t.features != featEmbeddings {
		return nil, fmt.Errorf("option features: %q is not one of %s, %s, %s", t.features, featSelfSupervised, featInputs, featEmbeddings)
	}
	for _, f := range []struct {
		name string
		dst  *int
		min  int
	}{{"dim", &t.dim, 0}, {"knn", &t.knn, 1}, {"max_clusters", &t.maxClusters, 1}, {"min_cluster_size", &t.minClusterSize, 0},
		{"dc_epochs", &t.pre.Epochs, 1}, {"dc_clusters", &t.pre.Clusters, 0}, {"dc_pca", &t.pre.PCA, 1}, {"dc_kmeans_iters", &t.pre.KMeansIters, 1}} {
		if *f.dst, err = o.Int(f.name); err != nil {
			return nil, err
		}
		if *f.dst < f.min {
			return nil, fmt.Errorf("option %s: must be >= %d, got %d", f.name, f.min, *f.dst)
		}
	}
	if t.pre.Clusters == 1 {
		return nil, fmt.Errorf("option dc_clusters: 1 cluster teaches nothing; use 0 (10 x classes) or more")
	}
	if t.pre.LR, err = o.Float("dc_lr"); err != nil {
		return nil, err
	}
	if t.pre.LR < 0 {
		return nil, fmt.Errorf("option dc_lr: must be >= 0, got %g", t.pre.LR)
	}
	if t.pre.CacheDir, err = o.String("cache_dir"); err != nil {
		return nil, err
	}
	if t.kmeans, err = kmeansOptions(o); err != nil {
		return nil, err
	}
	return t, nil
}

// Name returns "typiclust".
func (TypiClust) Name() string { return "typiclust" }

// Needs declares the representation's capability: inputs, embeddings, or,
// for features: selfsupervised until a FeatureSource is installed,
// CapSelfSupervised (afterwards nothing of the task learner).
func (t TypiClust) Needs() []learner.Capability {
	switch {
	case t.features == featEmbeddings:
		return []learner.Capability{learner.CapEmbeddings}
	case t.features == featInputs:
		return []learner.Capability{learner.CapInputs}
	case t.src == nil:
		return []learner.Capability{CapSelfSupervised}
	}
	return []learner.Capability{}
}

// Select clusters labeled and candidate samples together and returns k candidates.
func (t TypiClust) Select(ctx context.Context, q Query) ([]int, error) {
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("typiclust: %w", err)
	}
	all := append(append([]int(nil), q.Labeled...), q.Candidates...)
	var x *mat.Dense
	var err error
	switch t.features {
	case featSelfSupervised:
		x, err = t.selfSupervised(ctx, q.Model, all)
	case featEmbeddings:
		x, err = embeddings(ctx, q.Model, all, 0)
	default:
		im, ok := q.Model.(InputModel)
		if !ok {
			return nil, fmt.Errorf("typiclust: %w", &learner.CapabilityError{Capability: learner.CapInputs, Learner: describe(q.Model)})
		}
		x, err = ProjectedInputs(ctx, im, all, t.dim, t.standardise)
	}
	if err != nil {
		return nil, fmt.Errorf("typiclust: %w", err)
	}
	labeled := make([]bool, len(all))
	for i := range q.Labeled {
		labeled[i] = true
	}
	rows, err := t.selectRows(ctx, x, labeled, q.K, q.RNG)
	if err != nil {
		return nil, fmt.Errorf("typiclust: %w", err)
	}
	out := make([]int, len(rows))
	for i, r := range rows {
		out[i] = all[r]
	}
	return out, nil
}

// SelectInitial chooses n pool samples without labels or a task model (the
// cold start): from the installed self-supervised features, or, for
// features: inputs and embeddings, from the (projected, standardised) raw
// inputs of in.
func (t TypiClust) SelectInitial(ctx context.Context, in learner.InputSource, pool []int, n int, rng *rand.Rand) ([]int, error) {
	if n < 1 || n > len(pool) {
		return nil, fmt.Errorf("typiclust: cannot choose %d initial samples from a pool of %d", n, len(pool))
	}
	var x *mat.Dense
	var err error
	if t.features == featSelfSupervised {
		x, err = t.selfSupervised(ctx, nil, pool)
	} else {
		x, err = ProjectedInputs(ctx, in, pool, t.dim, t.standardise)
	}
	if err != nil {
		return nil, fmt.Errorf("typiclust: %w", err)
	}
	rows, err := t.selectRows(ctx, x, make([]bool, len(pool)), n, rng)
	if err != nil {
		return nil, fmt.Errorf("typiclust: %w", err)
	}
	out := make([]int, len(rows))
	for i, r := range rows {
		out[i] = pool[r]
	}
	return out, nil
}

// TypiClustConfig holds the settings of TypiClustRows.
type TypiClustConfig struct {
	KNN            int // neighbours in the typicality estimate
	MaxClusters    int // cap on the number of clusters
	MinClusterSize int // clusters of this many rows or fewer are skipped (unless no other is left)
	KMeans         KMeansConfig
}

func (t TypiClust) selectRows(ctx context.Context, x *mat.Dense, labeled []bool, k int, rng *rand.Rand) ([]int, error) {
	return TypiClustRows(ctx, x, labeled, k, rng, TypiClustConfig{
		KNN: t.knn, MaxClusters: t.maxClusters, MinClusterSize: t.minClusterSize, KMeans: t.kmeans})
}

// TypiClustRows returns k distinct rows of x that are not labeled, chosen by
// TypiClust: k-means into min(|L| + k, MaxClusters, N) clusters; clusters
// ordered by their number of labeled rows (fewest first), then by size
// (largest first), then by cluster number; clusters with MinClusterSize rows
// or fewer are left out unless no other has an unlabeled row; the i-th pick
// is the most typical remaining unlabeled row of the (i mod #clusters)-th
// cluster in that order.
func TypiClustRows(ctx context.Context, x *mat.Dense, labeled []bool, k int, rng *rand.Rand, cfg TypiClustConfig) ([]int, error) {
	n, _ := x.Dims()
	if x.IsEmpty() {
		n = 0
	}
	if len(labeled) != n {
		return nil, fmt.Errorf("%d labeled flags for %d rows", len(labeled), n)
	}
	nl := 0
	for _, l := range labeled {
		if l {
			nl++
		}
	}
	if k < 1 || k > n-nl {
		return nil, fmt.Errorf("k = %d is outside [1, %d unlabeled rows]", k, n-nl)
	}
	if cfg.KNN < 1 || cfg.MaxClusters < 1 {
		return nil, fmt.Errorf("knn and max_clusters must be >= 1")
	}
	nc := min(nl+k, cfg.MaxClusters, n)
	_, assign, err := KMeans(ctx, x, nil, nc, rng, cfg.KMeans)
	if err != nil {
		return nil, err
	}
	size := make([]int, nc)
	lab := make([]int, nc)
	members := make([][]int, nc) // unlabeled rows per cluster
	for i, a := range assign {
		size[a]++
		if labeled[i] {
			lab[a]++
		} else {
			members[a] = append(members[a], i)
		}
	}
	order := make([]int, 0, nc)
	for c := 0; c < nc; c++ {
		if size[c] > cfg.MinClusterSize && len(members[c]) > 0 {
			order = append(order, c)
		}
	}
	if len(order) == 0 {
		for c := 0; c < nc; c++ {
			if len(members[c]) > 0 {
				order = append(order, c)
			}
		}
	}
	sort.SliceStable(order, func(a, b int) bool {
		ca, cb := order[a], order[b]
		if lab[ca] != lab[cb] {
			return lab[ca] < lab[cb]
		}
		return size[ca] > size[cb]
	})
	xr := rowsOf(x)
	out := make([]int, 0, k)
	for i := 0; len(out) < k; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if len(order) == 0 {
			// Every unlabeled row of the eligible clusters is taken; the
			// small clusters still hold the rest.
			for c := 0; c < nc; c++ {
				if len(members[c]) > 0 {
					order = append(order, c)
				}
			}
			i = 0
		}
		c := order[i%len(order)]
		m := members[c]
		best := 0
		if len(m) > 1 {
			typ := Typicality(xr, m, min(cfg.KNN, len(m)/2))
			for j := range typ {
				if typ[j] > typ[best] {
					best = j
				}
			}
		}
		out = append(out, m[best])
		members[c] = append(m[:best:best], m[best+1:]...)
		if len(members[c]) == 0 {
			// Drop the exhausted cluster; keep the cycle position.
			pos := i % len(order)
			order = append(order[:pos:pos], order[pos+1:]...)
			i--
		}
	}
	return out, nil
}

// Typicality returns, for each listed row of xr, 1 / (mean SQUARED
// Euclidean distance to its K nearest other listed rows + 1e-5), the
// typicality of TypiClust as its authors' code computes it (the distances of
// its exact faiss L2 kNN search are squared). Distances are computed in blocks of rows against all listed
// rows (O(m^2 D) time; memory: a packed copy of the rows and one block per
// goroutine).
func Typicality(xr [][]float64, rows []int, K int) []float64 {
	m := len(rows)
	out := make([]float64, m)
	if m < 2 || K < 1 {
		return out
	}
	K = min(K, m-1)
	d := len(xr[rows[0]])
	sub := make([][]float64, m)
	for i, r := range rows {
		sub[i] = xr[r]
	}
	norms := sqNorms(sub)
	all := packRows(sub, d)
	forChunks(m, gemmBlock, func(_, lo, hi int) {
		a := all[lo*d : hi*d]
		prod := make([]float64, (hi-lo)*gemmBlock)
		heaps := make([]maxHeap, hi-lo)
		for clo := 0; clo < m; clo += gemmBlock {
			chi := min(clo+gemmBlock, m)
			w := chi - clo
			blas64.Gemm(blas.NoTrans, blas.Trans, 1,
				blas64.General{Rows: hi - lo, Cols: d, Stride: d, Data: a},
				blas64.General{Rows: w, Cols: d, Stride: d, Data: all[clo*d : chi*d]},
				0, blas64.General{Rows: hi - lo, Cols: w, Stride: w, Data: prod[:(hi-lo)*w]})
			for i := lo; i < hi; i++ {
				h := &heaps[i-lo]
				row := prod[(i-lo)*w : (i-lo+1)*w]
				for j, p := range row {
					if clo+j == i {
						continue
					}
					v := sqDist(norms[i], norms[clo+j], p)
					if len(*h) < K {
						heap.Push(h, v)
					} else if v < (*h)[0] {
						(*h)[0] = v
						heap.Fix(h, 0)
					}
				}
			}
		}
		for i := lo; i < hi; i++ {
			s := 0.0
			for _, v := range heaps[i-lo] {
				s += v // squared distance
			}
			out[i] = 1 / (s/float64(K) + 1e-5)
		}
	})
	return out
}

// maxHeap keeps the K smallest values seen, largest on top.
type maxHeap []float64

func (h maxHeap) Len() int           { return len(h) }
func (h maxHeap) Less(i, j int) bool { return h[i] > h[j] }
func (h maxHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *maxHeap) Push(v any)        { *h = append(*h, v.(float64)) }
func (h *maxHeap) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}

// projectionSeed fixes the random projection of ProjectedInputs, so that a
// data set is always projected the same way (every round, every run).
const projectionSeed = 0x7e1c1a57

// projectBlock is the number of rows read from the input source at a time.
const projectBlock = 4096

// ProjectedInputs reads the raw inputs of idx in blocks, optionally
// standardises every feature to zero mean and unit variance over idx
// (constant features are only centred) and, when dim > 0 and the input has
// more than dim features,
// multiplies by a fixed D x dim Gaussian random projection with entries of
// variance 1/dim (Johnson-Lindenstrauss), returning N x min(D, dim) features.
func ProjectedInputs(ctx context.Context, src learner.InputSource, idx []int, dim int, standardise bool) (*mat.Dense, error) {
	if len(idx) == 0 {
		return nil, fmt.Errorf("no samples to read inputs for")
	}
	// Pass 1: per-feature mean and variance (Welford's update, per block).
	var mean, m2 []float64
	count := 0
	for lo := 0; lo < len(idx); lo += projectBlock {
		hi := min(lo+projectBlock, len(idx))
		x, err := src.Inputs(ctx, idx[lo:hi])
		if err != nil {
			return nil, err
		}
		if err := checkRows("input", x, idx[lo:hi], len(mean)); err != nil {
			return nil, err
		}
		if mean == nil {
			_, d := x.Dims()
			mean, m2 = make([]float64, d), make([]float64, d)
		}
		for r := 0; r < hi-lo; r++ {
			count++
			for j, v := range x.RawRowView(r) {
				delta := v - mean[j]
				mean[j] += delta / float64(count)
				m2[j] += delta * (v - mean[j])
			}
		}
	}
	d := len(mean)
	scale := make([]float64, d)
	for j := range scale {
		sd := math.Sqrt(m2[j] / float64(count))
		scale[j] = 1
		if !standardise {
			mean[j] = 0
		} else if sd > 1e-12 {
			scale[j] = 1 / sd
		}
	}
	outDim := d
	var proj []float64
	if dim > 0 && d > dim {
		outDim = dim
		prng := rand.New(rand.NewPCG(projectionSeed, uint64(d)))
		proj = make([]float64, d*dim)
		s := 1 / math.Sqrt(float64(dim))
		for i := range proj {
			proj[i] = prng.NormFloat64() * s
		}
	}
	out := mat.NewDense(len(idx), outDim, nil)
	for lo := 0; lo < len(idx); lo += projectBlock {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+projectBlock, len(idx))
		x, err := src.Inputs(ctx, idx[lo:hi])
		if err != nil {
			return nil, err
		}
		z := make([]float64, (hi-lo)*d)
		for r := 0; r < hi-lo; r++ {
			row := z[r*d : (r+1)*d]
			copy(row, x.RawRowView(r))
			floats.Sub(row, mean)
			floats.Mul(row, scale)
		}
		dst := out.RawMatrix().Data[lo*outDim : hi*outDim]
		if proj == nil {
			copy(dst, z)
			continue
		}
		blas64.Gemm(blas.NoTrans, blas.NoTrans, 1,
			blas64.General{Rows: hi - lo, Cols: d, Stride: d, Data: z},
			blas64.General{Rows: d, Cols: outDim, Stride: outDim, Data: proj},
			0, blas64.General{Rows: hi - lo, Cols: outDim, Stride: outDim, Data: dst})
	}
	return out, nil
}
