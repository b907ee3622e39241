package trainers

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/internal/atomicfile"
	"github.com/alrl/alrl/internal/filelock"
	"github.com/alrl/alrl/learner"
)

func init() {
	Register(Info{
		Name: "ssal",
		Description: "SSAL (Siméoni et al. 2020): DeepCluster pre-training on the pool (cached per data, model and seed), " +
			"then each round supervised fine-tuning and semi-supervised training with label propagation (Iscen et al. 2019)",
		Options: []Option{
			{Name: "pretrain", Default: true, Doc: "unsupervised DeepCluster pre-training on the whole pool, once per run"},
			{Name: "semi_supervised", Default: true, Doc: "semi-supervised training with label propagation after fine-tuning"},
			{Name: "cache_dir", Default: "", Doc: "folder of cached pre-trained weights (\"\" = the user cache folder, alrl/pretrained)"},
			{Name: "dc_epochs", Default: 20, Doc: "DeepCluster epochs (cluster, then one epoch on the cluster labels with a fresh head)"},
			{Name: "dc_clusters", Default: 0, Doc: "k-means clusters (0 = 10 x classes, over-segmenting as DeepCluster advises)"},
			{Name: "dc_pca", Default: 256, Doc: "PCA dimensions before k-means (features are whitened and L2-normalised; capped at the embedding width)"},
			{Name: "dc_kmeans_iters", Default: 20, Doc: "Lloyd iterations of each clustering"},
			{Name: "dc_lr", Default: 0.0, Doc: "pre-training learning rate (0 = learner.train.lr)"},
			{Name: "ss_epochs", Default: 10, Doc: "semi-supervised epochs; labels are propagated again before each"},
			{Name: "ss_unlabeled", Default: 10000, Doc: "unlabeled samples drawn (per round) for the graph and semi-supervised training (0 = all)"},
			{Name: "k", Default: 50, Doc: "nearest neighbours of the graph (Iscen et al.: 50)"},
			{Name: "gamma", Default: 3.0, Doc: "similarity exponent (Iscen et al.: 3)"},
			{Name: "alpha", Default: 0.99, Doc: "diffusion parameter (Iscen et al.: 0.99)"},
			{Name: "cg_iters", Default: 20, Doc: "conjugate-gradient iterations (Iscen et al.: 20)"},
			{Name: "cg_tol", Default: 1e-6, Doc: "conjugate-gradient relative tolerance (Iscen et al.: 1e-6)"},
		},
		Needs: []learner.Capability{learner.CapWeightedFit},
		New:   newSSAL,
	})
}

// ssal implements Siméoni, Budnik, Avrithis & Gravier (2020): the network is
// pre-trained once per run without labels by DeepCluster on the whole pool;
// every round starts again from those weights (with a fresh output layer),
// is fine-tuned on the labeled set, then trained for ss_epochs epochs on the
// labeled set plus the unlabeled samples with pseudo-labels from label
// propagation on a kNN graph of its embeddings, weighted by their certainty
// and by class balance (Iscen et al. 2019). Simplification: each
// semi-supervised epoch starts a fresh optimiser, and by default the graph
// holds the labeled samples plus 10,000 random unlabeled ones (the paper's
// GPU kNN search covers the whole pool; ss_unlabeled: 0 restores that).
type ssal struct {
	pretrain, semi bool
	cacheDir       string
	dc             dcOptions
	ssEpochs       int
	ssUnlabeled    int
	lp             LPOptions
	setup          Setup
}

type dcOptions struct {
	Epochs, Clusters, PCA, KMeansIters int
	LR                                 float64
}

func newSSAL(o Options, s Setup) (envs.Trainer, error) {
	r := reader{o: o}
	t := &ssal{
		pretrain: r.boolean("pretrain"), semi: r.boolean("semi_supervised"), cacheDir: r.str("cache_dir"),
		dc: dcOptions{Epochs: r.int("dc_epochs"), Clusters: r.int("dc_clusters"), PCA: r.int("dc_pca"),
			KMeansIters: r.int("dc_kmeans_iters"), LR: r.float("dc_lr")},
		ssEpochs: r.int("ss_epochs"), ssUnlabeled: r.int("ss_unlabeled"),
		lp: LPOptions{K: r.int("k"), Gamma: r.float("gamma"), Alpha: r.float("alpha"),
			MaxIter: r.int("cg_iters"), Tol: r.float("cg_tol")},
		setup: s,
	}
	if r.err != nil {
		return nil, r.err
	}
	switch {
	case t.dc.Epochs < 1 || t.dc.PCA < 1 || t.dc.KMeansIters < 1:
		return nil, fmt.Errorf("options dc_epochs, dc_pca and dc_kmeans_iters must be >= 1")
	case t.dc.Clusters < 0 || t.dc.LR < 0 || t.ssEpochs < 0 || t.ssUnlabeled < 0:
		return nil, fmt.Errorf("options dc_clusters, dc_lr, ss_epochs and ss_unlabeled must be >= 0")
	case t.dc.Clusters == 1:
		return nil, fmt.Errorf("option dc_clusters: 1 cluster teaches nothing; use 0 (10 x classes) or more")
	}
	if err := t.lp.Check(); err != nil {
		return nil, err
	}
	return t, nil
}

// Name returns "ssal".
func (s *ssal) Name() string { return "ssal" }

// Needs lists the capabilities this configuration uses.
func (s *ssal) Needs() []learner.Capability {
	n := []learner.Capability{learner.CapWeightedFit}
	if s.semi {
		n = append(n, learner.CapEmbeddings)
	}
	if s.pretrain {
		n = append(n, learner.CapInitialize, learner.CapEmbeddings, learner.CapAuxHead, learner.CapLoadBackbone)
	}
	return n
}

// Train loads the pre-trained weights (pre-training first if they are not
// cached), fine-tunes on the labeled set, then trains semi-supervised.
func (s *ssal) Train(ctx context.Context, r envs.TrainRound) (envs.TrainResult, error) {
	var res envs.TrainResult
	l := learner.Unwrap(r.Model)
	wf, err := need[learner.WeightedFitter](r.Model, learner.CapWeightedFit, "ssal")
	if err != nil {
		return res, err
	}
	info := map[string]any{}
	res.Info = info
	res.PseudoLabeling = s.semi && s.ssEpochs > 0
	if s.pretrain {
		path, st, cached, err := s.pretrained(ctx, l, r.Round)
		if err != nil {
			return res, fmt.Errorf("pre-training: %w", err)
		}
		bl, err := need[learner.BackboneLoader](r.Model, learner.CapLoadBackbone, "ssal")
		if err != nil {
			return res, err
		}
		if err := bl.LoadBackbone(path, r.Seed); err != nil {
			return res, fmt.Errorf("loading the pre-trained weights: %w", err)
		}
		info["pretrain_cached"] = cached
		if r.Round == 0 {
			info["pretrain_final_loss"] = st.lastLoss()
			info["pretrain_final_nmi"] = st.lastNMI()
		}
	}
	init := learner.InitCurrent
	if !s.pretrain {
		init = learner.InitScratch
	}
	st, err := wf.FitWeighted(ctx, learner.FromLabeled(r.Labeled), r.Val, r.Seed, learner.FitOptions{Init: init})
	if err != nil {
		return res, fmt.Errorf("supervised fine-tuning: %w", err)
	}
	res.Stats = st
	info["finetune_epochs"] = float64(st.Epochs)
	info["finetune_val_acc"] = envs.Float(st.ValAcc)
	if !s.semi || s.ssEpochs == 0 || len(r.Unlabeled) == 0 {
		return res, nil
	}
	emb, err := need[learner.Embedder](r.Model, learner.CapEmbeddings, "ssal")
	if err != nil {
		return res, err
	}
	unl := r.Unlabeled
	rng := rand.New(rand.NewPCG(r.Seed, 0x55a1))
	if s.ssUnlabeled > 0 && len(unl) > s.ssUnlabeled {
		perm := rng.Perm(len(unl))[:s.ssUnlabeled]
		sub := make([]int, len(perm))
		for i, p := range perm {
			sub[i] = unl[p]
		}
		unl = sub
	}
	rows := append(append([]int(nil), r.Labeled.Idx...), unl...)
	known := make([]int, len(rows))
	for i := range known {
		known[i] = -1
	}
	copy(known, r.Labeled.Y)
	classes := r.Model.NumClasses()
	var cgIters int
	for ep := 1; ep <= s.ssEpochs; ep++ {
		z, err := emb.Embed(ctx, rows)
		if err != nil {
			return res, fmt.Errorf("semi-supervised epoch %d: embeddings: %w", ep, err)
		}
		lp, err := LabelPropagation(ctx, z, known, classes, s.lp)
		if err != nil {
			return res, fmt.Errorf("semi-supervised epoch %d: %w", ep, err)
		}
		cgIters = max(cgIters, lp.CGIters)
		var pseudo learner.Weighted
		pseudo.W = []float64{}
		for i := len(r.Labeled.Idx); i < len(rows); i++ {
			if lp.Labels[i] < 0 || lp.Weights[i] <= 0 {
				continue
			}
			pseudo.Idx = append(pseudo.Idx, rows[i])
			pseudo.Y = append(pseudo.Y, lp.Labels[i])
			pseudo.W = append(pseudo.W, lp.Weights[i])
		}
		train := learner.FromLabeled(r.Labeled).Append(pseudo)
		seed := envs.RNG(r.Seed, ep, "ssal").Uint64()
		st, err = wf.FitWeighted(ctx, train, r.Val, seed, learner.FitOptions{Init: learner.InitCurrent, Epochs: 1,
			NoEarlyStop: true, ClassWeights: lp.ClassWeights})
		if err != nil {
			return res, fmt.Errorf("semi-supervised epoch %d: %w", ep, err)
		}
		res.Pseudo = pseudo
	}
	res.Stats.ValAcc, res.Stats.ValLoss, res.Stats.TrainLoss = st.ValAcc, st.ValLoss, st.TrainLoss
	res.Stats.Epochs += s.ssEpochs
	info["ss_epochs"] = float64(s.ssEpochs)
	info["ss_graph_size"] = float64(len(rows))
	info["cg_iters"] = float64(cgIters)
	return res, nil
}

// dcStats are the per-epoch diagnostics of a DeepCluster pre-training.
type dcStats struct {
	Loss    []envs.Float `json:"loss"`    // training loss on the cluster labels
	NMI     []envs.Float `json:"nmi"`     // NMI between the assignments of successive epochs (null for the first)
	Inertia []envs.Float `json:"inertia"` // k-means mean squared distance
}

func (d dcStats) lastLoss() envs.Float {
	if len(d.Loss) == 0 {
		return envs.Float(math.NaN())
	}
	return d.Loss[len(d.Loss)-1]
}

func (d dcStats) lastNMI() envs.Float {
	if len(d.NMI) == 0 {
		return envs.Float(math.NaN())
	}
	return d.NMI[len(d.NMI)-1]
}

// cacheKey identifies a pre-training: the pool's inputs, the seed, the model
// and optimiser, and the DeepCluster options. The model is learner.model,
// or the network a learner reports it trains next (an Active-iNAS
// architecture: every architecture the search reaches is pre-trained once).
func (s *ssal) cacheKey(l learner.Learner) (string, error) {
	h := sha256.New()
	tc := s.setup.Learner.Train
	model := s.setup.Learner.Model
	if ms, ok := l.(learner.ModelSpecer); ok {
		model = ms.ModelSpec()
	}
	fmt.Fprintf(h, "ssal-deepcluster-v1|seed=%d|model=%+v|train=%s,%g,%g,%g,%t,%d,%d|dc=%+v|n=%d|",
		s.setup.Seed, model, tc.Optimizer, tc.LR, tc.Momentum, tc.WeightDecay, tc.WeightDecayPerSample,
		tc.BatchSize, tc.MinEpochSamples, s.dc, len(s.setup.Pool))
	var buf []float32
	var b [4]byte
	for lo := 0; lo < len(s.setup.Pool); lo += 1024 {
		hi := min(lo+1024, len(s.setup.Pool))
		var err error
		buf, err = s.setup.Inputs.Gather(s.setup.Pool[lo:hi], buf)
		if err != nil {
			return "", fmt.Errorf("hashing the pool: %w", err)
		}
		for _, v := range buf {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			h.Write(b[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}

func (s *ssal) cacheFolder() (string, error) {
	if s.cacheDir != "" {
		return s.cacheDir, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no user cache folder (%v); set trainer.options.cache_dir", err)
	}
	return filepath.Join(d, "alrl", "pretrained"), nil
}

// pretrained returns the path of the cached pre-trained weights, running
// DeepCluster first when they are not cached.
func (s *ssal) pretrained(ctx context.Context, l learner.Learner, round int) (string, dcStats, bool, error) {
	var st dcStats
	if len(s.setup.Pool) == 0 {
		return "", st, false, fmt.Errorf("the trainer was built without the run's pool")
	}
	dir, err := s.cacheFolder()
	if err != nil {
		return "", st, false, err
	}
	key, err := s.cacheKey(l)
	if err != nil {
		return "", st, false, err
	}
	path := filepath.Join(dir, "ssal-"+key+".bin")
	meta := filepath.Join(dir, "ssal-"+key+".json")
	cached := func() (bool, error) {
		b, err := os.ReadFile(meta)
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		if _, err := os.Stat(path); err != nil {
			return false, nil
		}
		return json.Unmarshal(b, &st) == nil, nil
	}
	if ok, err := cached(); ok || err != nil {
		return path, st, ok, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", st, false, fmt.Errorf("creating the cache folder: %w", err)
	}
	// Runs of a sweep that share the pre-training (ssal with and without the
	// semi-supervised step, same seed) wait for the first one's result.
	unlock, err := filelock.Lock(ctx, filepath.Join(dir, "ssal-"+key+".lock"))
	if err != nil {
		return "", st, false, err
	}
	defer unlock()
	if ok, err := cached(); ok || err != nil {
		return path, st, ok, err
	}
	st, err = deepCluster(ctx, l, s.setup.Pool, s.setup.NumClasses, s.dc, s.setup.Seed)
	if err != nil {
		return "", st, false, err
	}
	if err := l.Save(path); err != nil {
		return "", st, false, fmt.Errorf("caching the pre-trained weights: %w", err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return "", st, false, err
	}
	// The weights are written first: a metadata file means a complete entry.
	if err := atomicfile.WriteBytes(meta, b); err != nil {
		return "", st, false, fmt.Errorf("caching the pre-training statistics: %w", err)
	}
	return path, st, false, nil
}

// deepCluster pre-trains l without labels (Caron, Bojanowski, Joulin & Douze
// 2018): every epoch, the pool's embeddings are PCA-whitened,
// L2-normalised and clustered by k-means, and the network is trained for one
// epoch to predict the cluster of each sample through a freshly initialised
// output layer, drawing samples uniformly over clusters.
func deepCluster(ctx context.Context, l learner.Learner, pool []int, classes int, opt dcOptions, seed uint64) (dcStats, error) {
	var st dcStats
	ini, ok1 := l.(learner.Initializer)
	emb, ok2 := l.(learner.Embedder)
	aux, ok3 := l.(learner.AuxHeadFitter)
	if !ok1 || !ok2 || !ok3 {
		return st, &learner.CapabilityError{Capability: learner.CapAuxHead, Learner: l.Describe(),
			Hint: "DeepCluster pre-training needs initialize, embeddings and aux_head_fit (the torch backend); or set trainer.options.pretrain: false"}
	}
	k := opt.Clusters
	if k == 0 {
		k = 10 * classes
	}
	if k > len(pool) {
		return st, fmt.Errorf("dc_clusters: %d clusters for a pool of %d samples; lower trainer.options.dc_clusters", k, len(pool))
	}
	if err := ini.Initialize(seed); err != nil {
		return st, err
	}
	var prev []int
	for ep := 1; ep <= opt.Epochs; ep++ {
		z, err := emb.Embed(ctx, pool)
		if err != nil {
			return st, fmt.Errorf("DeepCluster epoch %d: embeddings: %w", ep, err)
		}
		f, err := pcaWhiten(z, opt.PCA)
		if err != nil {
			return st, fmt.Errorf("DeepCluster epoch %d: %w", ep, err)
		}
		rng := envs.RNG(seed, ep, "deepcluster")
		assign, inertia, err := kmeans(ctx, f, k, opt.KMeansIters, rng)
		if err != nil {
			return st, fmt.Errorf("DeepCluster epoch %d: %w", ep, err)
		}
		nm := math.NaN()
		if prev != nil {
			nm = nmi(prev, assign)
		}
		prev = assign
		pos := uniformOverClusters(assign, k, len(pool), rng)
		train := learner.Weighted{Idx: make([]int, len(pos)), Y: make([]int, len(pos))}
		for i, p := range pos {
			train.Idx[i], train.Y[i] = pool[p], assign[p]
		}
		fs, err := aux.FitAuxHead(ctx, train, k, rng.Uint64(), learner.FitOptions{Init: learner.InitCurrent, Epochs: 1,
			NoEarlyStop: true, LR: opt.LR})
		if err != nil {
			return st, fmt.Errorf("DeepCluster epoch %d: %w", ep, err)
		}
		st.Loss = append(st.Loss, envs.Float(fs.TrainLoss))
		st.NMI = append(st.NMI, envs.Float(nm))
		st.Inertia = append(st.Inertia, envs.Float(inertia))
		learner.Report(ctx, "pretrain", ep, opt.Epochs)
	}
	return st, nil
}
