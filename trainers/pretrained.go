package trainers

import (
	"context"
	"fmt"
	"time"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

// PretrainOptions are the settings of a DeepCluster pre-training outside
// trainer ssal (whose options dc_epochs, dc_clusters, dc_pca,
// dc_kmeans_iters, dc_lr and cache_dir they mirror): the self-supervised
// features of strategy typiclust.
type PretrainOptions struct {
	Epochs      int     // DeepCluster epochs (>= 1)
	Clusters    int     // k-means clusters (0 = 10 x classes; never 1)
	PCA         int     // PCA dimensions before k-means (>= 1)
	KMeansIters int     // Lloyd iterations per clustering (>= 1)
	LR          float64 // pre-training learning rate (0 = learner.train.lr)
	CacheDir    string  // folder of cached weights ("" = the user cache folder, alrl/pretrained)
}

// PretrainResult describes how PretrainedEmbeddings got its network.
type PretrainResult struct {
	Cached    bool    // the weights came from the cache
	Path      string  // the cached weights
	Seconds   float64 // wall time of the pre-training (or of loading the weights) and of the embeddings
	FinalLoss float64 // DeepCluster's training loss in its last epoch
	FinalNMI  float64 // NMI between the clusterings of the last two epochs (NaN after one epoch)
}

// CanPretrain returns nil when l can be pre-trained by DeepCluster (fresh
// weights, embeddings, a temporary output layer, loading saved weights),
// else a *learner.CapabilityError naming what it lacks.
func CanPretrain(l learner.Learner) error {
	for _, c := range []learner.Capability{learner.CapInitialize, learner.CapEmbeddings, learner.CapAuxHead} {
		if !learner.Has(l, c) {
			return &learner.CapabilityError{Capability: c, Learner: l.Describe(),
				Hint: "DeepCluster pre-training needs initialize, embeddings and aux_head_fit (the torch backend)"}
		}
	}
	return nil
}

// PretrainedEmbeddings pre-trains l without labels by DeepCluster on s.Pool
// (every epoch: cluster the pool's embeddings, then train one epoch on the
// cluster assignments through a fresh output layer; see deepCluster), or
// loads the weights cached by an earlier pre-training with the same key as
// trainer ssal's (the pool's inputs, s.Seed, the model and optimiser of
// s.Learner, the options; equal settings share the weights with ssal), and
// returns the L2-normalised penultimate embeddings of s.Pool, row i for
// s.Pool[i] (an all-zero embedding stays zero). Only s.Inputs, the pool and
// the class count (for the default cluster count and the output layer's
// shape) are read: no label. l must be a learner no one else uses: its
// weights are overwritten.
func PretrainedEmbeddings(ctx context.Context, l learner.Learner, s Setup, opt PretrainOptions) (*mat.Dense, PretrainResult, error) {
	var res PretrainResult
	switch {
	case opt.Epochs < 1 || opt.PCA < 1 || opt.KMeansIters < 1:
		return nil, res, fmt.Errorf("DeepCluster: epochs, pca and kmeans_iters must be >= 1")
	case opt.Clusters < 0 || opt.Clusters == 1 || opt.LR < 0:
		return nil, res, fmt.Errorf("DeepCluster: clusters must be 0 or >= 2 and lr >= 0")
	case len(s.Pool) == 0:
		return nil, res, fmt.Errorf("DeepCluster: the pool is empty")
	}
	if err := CanPretrain(l); err != nil {
		return nil, res, err
	}
	if k := opt.Clusters; k > len(s.Pool) || (k == 0 && 10*s.NumClasses > len(s.Pool)) {
		if k == 0 {
			k = 10 * s.NumClasses
		}
		return nil, res, fmt.Errorf("DeepCluster: %d clusters for a pool of %d samples; lower option dc_clusters", k, len(s.Pool))
	}
	t0 := time.Now()
	ss := &ssal{cacheDir: opt.CacheDir, setup: s,
		dc: dcOptions{Epochs: opt.Epochs, Clusters: opt.Clusters, PCA: opt.PCA, KMeansIters: opt.KMeansIters, LR: opt.LR}}
	path, st, cached, err := ss.pretrained(ctx, l, 0)
	if err != nil {
		return nil, res, fmt.Errorf("DeepCluster pre-training: %w", err)
	}
	if cached {
		// pretrained left l as it was; the cache holds the weights.
		if err := l.Load(path); err != nil {
			return nil, res, fmt.Errorf("loading the pre-trained weights: %w", err)
		}
	}
	z, err := l.(learner.Embedder).Embed(ctx, s.Pool)
	if err != nil {
		return nil, res, fmt.Errorf("embeddings of the pre-trained network: %w", err)
	}
	if r, _ := z.Dims(); r != len(s.Pool) {
		return nil, res, fmt.Errorf("embeddings of the pre-trained network: %d rows for %d pool samples", r, len(s.Pool))
	}
	for i := range s.Pool {
		row := z.RawRowView(i)
		for _, v := range row {
			if v-v != 0 { // NaN or Inf
				return nil, res, fmt.Errorf("the pre-trained network's embedding of pool index %d is not finite; lower option dc_lr", s.Pool[i])
			}
		}
		if n := floats.Norm(row, 2); n > 0 {
			floats.Scale(1/n, row)
		}
	}
	res = PretrainResult{Cached: cached, Path: path, Seconds: time.Since(t0).Seconds(),
		FinalLoss: float64(st.lastLoss()), FinalNMI: float64(st.lastNMI())}
	return z, res, nil
}
