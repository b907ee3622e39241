package envs

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/learner"
)

// Encoders for fast mode (fast.encoder).
const (
	// EncoderLearner trains the experiment's learner (e.g. the CNN) once on
	// fast.encoder_labels labeled rows of the training file that lie outside
	// the split's pool, validation and test sets, and keeps its penultimate
	// layer (Embed) frozen.
	EncoderLearner = "learner"
	// EncoderPCA projects the inputs on their first fast.dim principal
	// components, fitted without labels on a seeded sample of the pool (pure Go).
	EncoderPCA = "pca"
	// EncoderRaw uses the inputs as they are (small tabular or synthetic data).
	EncoderRaw = "raw"
)

// FastConfig is the `fast:` section: how fast mode encodes the data once
// and fits its small head every step.
type FastConfig struct {
	Encoder       string  `yaml:"encoder"`        // learner | pca | raw
	Dim           int     `yaml:"dim"`            // pca: components
	PCASamples    int     `yaml:"pca_samples"`    // pca: pool rows the components are fitted on
	EncoderLabels int     `yaml:"encoder_labels"` // learner: labeled training rows outside the split
	EncoderEpochs int     `yaml:"encoder_epochs"` // learner: training epochs of the encoder (0 = learner.train.epochs)
	L2            float64 `yaml:"l2"`             // head: prior precision on the weights
	Iterations    int     `yaml:"iterations"`     // head: maximum L-BFGS iterations per fit
	Cache         string  `yaml:"cache"`          // folder of cached embeddings; "" = the user cache folder
}

// DefaultFastConfig returns the documented defaults.
func DefaultFastConfig() FastConfig {
	return FastConfig{Encoder: EncoderLearner, Dim: 50, PCASamples: 5000, EncoderLabels: 1000, EncoderEpochs: 20, L2: 1, Iterations: 100}
}

// Validate checks the section.
func (f FastConfig) Validate() error {
	switch f.Encoder {
	case EncoderLearner, EncoderPCA, EncoderRaw:
	default:
		return fmt.Errorf("fast.encoder: %q is not one of %s, %s, %s", f.Encoder, EncoderLearner, EncoderPCA, EncoderRaw)
	}
	switch {
	case f.Encoder == EncoderPCA && (f.Dim < 1 || f.PCASamples < 2):
		return fmt.Errorf("fast.dim must be >= 1 and fast.pca_samples >= 2")
	case f.Encoder == EncoderLearner && f.EncoderLabels < 1:
		return fmt.Errorf("fast.encoder_labels: must be >= 1, got %d", f.EncoderLabels)
	case f.EncoderEpochs < 0:
		return fmt.Errorf("fast.encoder_epochs: must be >= 0, got %d", f.EncoderEpochs)
	case f.L2 <= 0:
		return fmt.Errorf("fast.l2: must be > 0, got %g", f.L2)
	case f.Iterations < 1:
		return fmt.Errorf("fast.iterations: must be >= 1, got %d", f.Iterations)
	}
	return nil
}

// CacheDir returns the folder embeddings are cached in.
func (f FastConfig) CacheDir() (string, error) {
	if f.Cache != "" {
		return f.Cache, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("fast.cache: no user cache folder (%v); set fast.cache", err)
	}
	return filepath.Join(d, "alrl", "encoders"), nil
}

// NewFastLearner returns the fast-mode learner for one split: the head over
// the encoder's embeddings, encoding (or reading the cache) first.
func NewFastLearner(ctx context.Context, fc FastConfig, lc learner.Config, data *datasets.Dataset, split datasets.Split, seed uint64) (*Head, error) {
	emb, err := Encode(ctx, fc, lc, data, split, seed)
	if err != nil {
		return nil, err
	}
	return NewHead(emb, data.NumClasses, fc.L2, fc.Iterations)
}

// Encode returns the frozen embeddings of the split's rows, from the cache
// when an earlier call made them. The cache key covers the data set (name,
// size and a checksum of its inputs and labels), the seed, the split and the
// encoder's configuration (with the learner's for EncoderLearner); files are
// written atomically with a checksum.
func Encode(ctx context.Context, fc FastConfig, lc learner.Config, data *datasets.Dataset, split datasets.Split, seed uint64) (*Embedding, error) {
	if err := fc.Validate(); err != nil {
		return nil, err
	}
	rows := sortedUnion(split.Pool, split.Val, split.Test)
	dir, err := fc.CacheDir()
	if err != nil {
		return nil, err
	}
	key := cacheKey(fc, lc, data, rows, seed)
	path := filepath.Join(dir, fmt.Sprintf("%s-%s-%016x.emb", safeName(data.Name), fc.Encoder, key))
	// A missing, corrupt or stale cache file is rebuilt (and replaced atomically).
	if em, err := readEmbedding(path, rows); err == nil {
		return em, nil
	}
	var em *Embedding
	switch fc.Encoder {
	case EncoderRaw:
		em, err = encodeRaw(data, rows)
	case EncoderPCA:
		em, err = encodePCA(ctx, fc, data, split, rows, seed)
	case EncoderLearner:
		em, err = encodeLearner(ctx, fc, lc, data, split, rows, seed)
	}
	if err != nil {
		return nil, fmt.Errorf("fast mode: %s encoder on %s: %w", fc.Encoder, data.Name, err)
	}
	em.standardize()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("fast.cache: %w", err)
	}
	if err := writeEmbedding(path, em); err != nil {
		return nil, fmt.Errorf("fast.cache: %w", err)
	}
	return em, nil
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

func cacheKey(fc FastConfig, lc learner.Config, data *datasets.Dataset, rows []int, seed uint64) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "v1|%s|%d|%v|%d|%s|%d|%d|%d|%d|", data.Name, data.Len(), data.Shape, data.NumClasses, fc.Encoder, fc.Dim, fc.PCASamples, fc.EncoderLabels, fc.EncoderEpochs)
	if fc.Encoder == EncoderLearner {
		fmt.Fprintf(h, "%+v|", lc)
	}
	if len(data.X) > 0 {
		b := unsafe.Slice((*byte)(unsafe.Pointer(&data.X[0])), 4*len(data.X))
		fmt.Fprintf(h, "%08x|", crc32.ChecksumIEEE(b))
	}
	var buf [8]byte
	for _, y := range data.Y {
		buf[0] = byte(y)
		h.Write(buf[:1])
	}
	binary.LittleEndian.PutUint64(buf[:], seed)
	h.Write(buf[:])
	for _, r := range rows {
		binary.LittleEndian.PutUint64(buf[:], uint64(r))
		h.Write(buf[:])
	}
	return h.Sum64()
}

func writeEmbedding(path string, em *Embedding) error {
	rows := make([]float32, len(em.Rows))
	for i, r := range em.Rows {
		rows[i] = float32(r) // exact below 2^24 rows
	}
	src := []float32{}
	for _, c := range em.Source {
		src = append(src, float32(c))
	}
	return learner.WriteWeights(path, []learner.Tensor{
		{Name: "rows", Shape: []int{len(rows)}, Data: rows},
		{Name: "z", Shape: []int{len(em.Rows), em.D}, Data: em.Z},
		{Name: "source", Shape: []int{len(src)}, Data: src},
	})
}

func readEmbedding(path string, rows []int) (*Embedding, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	ts, err := learner.ReadWeights(path)
	if err != nil {
		return nil, err
	}
	if len(ts) != 3 || ts[0].Name != "rows" || ts[1].Name != "z" || len(ts[1].Shape) != 2 || len(ts[0].Data) != len(rows) {
		return nil, fmt.Errorf("%s: not an embedding of these rows", path)
	}
	em := &Embedding{D: ts[1].Shape[1], Z: ts[1].Data}
	for i, r := range ts[0].Data {
		if int(r) != rows[i] {
			return nil, fmt.Errorf("%s: row list differs", path)
		}
		em.Rows = append(em.Rows, int(r))
	}
	var sb strings.Builder
	for _, c := range ts[2].Data {
		sb.WriteRune(rune(c))
	}
	em.Source = sb.String()
	return em, nil
}

func encodeRaw(data *datasets.Dataset, rows []int) (*Embedding, error) {
	z, err := data.Inputs().Gather(rows, nil)
	if err != nil {
		return nil, err
	}
	return &Embedding{Rows: rows, D: data.Dim(), Z: append([]float32(nil), z...), Source: "raw"}, nil
}

// encodePCA fits principal components on a seeded sample of pool rows (no
// labels) and projects every row on the first fc.Dim of them.
func encodePCA(ctx context.Context, fc FastConfig, data *datasets.Dataset, split datasets.Split, rows []int, seed uint64) (*Embedding, error) {
	d := data.Dim()
	k := min(fc.Dim, d)
	fitRows := append([]int(nil), split.Pool...)
	rng := RNG(seed, 0, "pca")
	rng.Shuffle(len(fitRows), func(i, j int) { fitRows[i], fitRows[j] = fitRows[j], fitRows[i] })
	if len(fitRows) > fc.PCASamples {
		fitRows = fitRows[:fc.PCASamples]
	}
	if len(fitRows) < 2 {
		return nil, fmt.Errorf("the pool has fewer than 2 rows")
	}
	in := data.Inputs()
	x32, err := in.Gather(fitRows, nil)
	if err != nil {
		return nil, err
	}
	n := len(fitRows)
	mean := make([]float64, d)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			mean[j] += float64(x32[i*d+j])
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	xc := mat.NewDense(n, d, nil)
	for i := 0; i < n; i++ {
		row := xc.RawRowView(i)
		for j := range row {
			row[j] = float64(x32[i*d+j]) - mean[j]
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var cov mat.SymDense
	cov.SymOuterK(1/float64(n-1), xc.T())
	var eig mat.EigenSym
	if !eig.Factorize(&cov, true) {
		return nil, fmt.Errorf("the eigendecomposition of the covariance did not converge")
	}
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	// Eigenvalues come in ascending order: the last k columns are the components.
	comp := mat.NewDense(d, k, nil)
	for c := 0; c < k; c++ {
		col := d - 1 - c
		for j := 0; j < d; j++ {
			comp.Set(j, c, vecs.At(j, col))
		}
	}
	em := &Embedding{Rows: rows, D: k, Z: make([]float32, len(rows)*k), Source: fmt.Sprintf("pca-%d", k)}
	const chunk = 2000
	for lo := 0; lo < len(rows); lo += chunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+chunk, len(rows))
		xs, err := in.Gather(rows[lo:hi], nil)
		if err != nil {
			return nil, err
		}
		xm := mat.NewDense(hi-lo, d, nil)
		for i := 0; i < hi-lo; i++ {
			r := xm.RawRowView(i)
			for j := range r {
				r[j] = float64(xs[i*d+j]) - mean[j]
			}
		}
		var proj mat.Dense
		proj.Mul(xm, comp)
		for i := 0; i < hi-lo; i++ {
			for c := 0; c < k; c++ {
				em.Z[(lo+i)*k+c] = float32(proj.At(i, c))
			}
		}
	}
	return em, nil
}

// encodeLearner trains the configured learner on labeled training rows
// outside the split and embeds the split's rows with its penultimate layer.
func encodeLearner(ctx context.Context, fc FastConfig, lc learner.Config, data *datasets.Dataset, split datasets.Split, rows []int, seed uint64) (*Embedding, error) {
	used := map[int]bool{}
	for _, r := range rows {
		used[r] = true
	}
	var free []int
	for i := 0; i < data.TrainN; i++ {
		if !used[i] {
			free = append(free, i)
		}
	}
	if len(free) < fc.EncoderLabels {
		return nil, fmt.Errorf("it needs %d labeled training rows outside the pool, validation and test sets but only %d are left; lower split.pool or split.val, lower fast.encoder_labels, or use fast.encoder pca", fc.EncoderLabels, len(free))
	}
	rng := RNG(seed, 0, "encoder")
	rng.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
	tr := learner.Labeled{Idx: free[:fc.EncoderLabels]}
	tr.Y = gather(data.Y, tr.Idx)
	if fc.EncoderEpochs > 0 {
		lc.Train.Epochs = fc.EncoderEpochs
	}
	l, err := learner.New(data.Inputs(), data.NumClasses, lc)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	emb, ok := l.(learner.Embedder)
	if !ok {
		return nil, &learner.CapabilityError{Capability: learner.CapEmbeddings, Learner: l.Describe(), Hint: "fast.encoder learner needs embeddings; use fast.encoder pca"}
	}
	if _, err := l.Fit(ctx, tr, learner.Labeled{}, RNG(seed, 0, "encoder-fit").Uint64()); err != nil {
		return nil, err
	}
	z, err := emb.Embed(ctx, rows)
	if err != nil {
		return nil, err
	}
	n, d := z.Dims()
	em := &Embedding{Rows: rows, D: d, Z: make([]float32, n*d), Source: "encoder(" + l.Describe() + ")"}
	for i := 0; i < n; i++ {
		for j, v := range z.RawRowView(i) {
			if math.IsNaN(v) {
				return nil, fmt.Errorf("the encoder's embedding of row %d is NaN", rows[i])
			}
			em.Z[i*d+j] = float32(v)
		}
	}
	return em, nil
}

// RawEmbedding returns the split's rows as they are, standardised, without
// the cache (for tasks generated afresh every episode).
func RawEmbedding(data *datasets.Dataset, split datasets.Split) (*Embedding, error) {
	em, err := encodeRaw(data, sortedUnion(split.Pool, split.Val, split.Test))
	if err != nil {
		return nil, fmt.Errorf("fast mode: raw encoder on %s: %w", data.Name, err)
	}
	em.standardize()
	return em, nil
}
