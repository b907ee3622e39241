//go:build torch

package experiments

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/learner"
	_ "github.com/alrl/alrl/learner/torch" // the torch backend
	"github.com/alrl/alrl/strategies"
)

// squares is a synthetic image data set: n grey 1 x 10 x 10 images, each a
// bright 3 x 3 square in one of four places (the class) of varying
// brightness, on noise.
func squares(t *testing.T, n int, seed uint64) *datasets.Dataset {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	const side = 10
	d := &datasets.Dataset{Name: "squares", Shape: []int{1, side, side}, NumClasses: 4, TrainN: n,
		X: make([]float32, n*side*side), Y: make([]int, n)}
	corners := [][2]int{{1, 1}, {1, 6}, {6, 1}, {6, 6}}
	for i := 0; i < n; i++ {
		c := rng.IntN(4)
		d.Y[i] = c
		img := d.X[i*side*side : (i+1)*side*side]
		for j := range img {
			img[j] = float32(0.15 * rng.Float64())
		}
		v := float32(0.6 + 0.4*rng.Float64())
		dy, dx := rng.IntN(2), rng.IntN(2)
		for y := 0; y < 3; y++ {
			for x := 0; x < 3; x++ {
				img[(corners[c][0]+dy+y)*side+corners[c][1]+dx+x] = v
			}
		}
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	return d
}

// tinyCNN is a small convolutional learner config for the squares.
func tinyCNN() learner.Config {
	lc := learner.DefaultConfig()
	lc.Backend = "torch"
	lc.Threads = 1
	lc.InferenceBatch = 128
	lc.Model = learner.ModelSpec{Name: "layers", Layers: []learner.Layer{
		{Type: "conv2d", Out: 8, Kernel: 3}, {Type: "relu"}, {Type: "maxpool2d", Kernel: 2},
		{Type: "flatten"}, {Type: "dense", Out: 32}, {Type: "relu"}, {Type: "dense"}}}
	lc.Train.BatchSize = 32
	lc.Train.LR = 1e-3
	return lc
}

// TestTorchTypiClustSelfSupervised: the default typiclust (features:
// selfsupervised) pre-trains a separate network by DeepCluster on the pool,
// once, and picks from its embeddings both at the cold start and per round;
// the labels play no part; a second run reuses the cached weights.
func TestTorchTypiClustSelfSupervised(t *testing.T) {
	ctx := context.Background()
	const n, seed = 300, 3
	data := squares(t, n, 1)
	pool := make([]int, n)
	for i := range pool {
		pool[i] = i
	}
	cache := t.TempDir()
	opts := map[string]any{"dc_epochs": 3, "dc_clusters": 20, "dc_pca": 16, "knn": 10, "cache_dir": cache}
	// pick runs the cold start (10 samples) and one round (5 more) with a
	// fresh set of features over d, returning the picks and the source.
	pick := func(d *datasets.Dataset, opts map[string]any) ([]int, []int, *sslSource, time.Duration) {
		t.Helper()
		s, err := strategies.New("typiclust", opts)
		if err != nil {
			t.Fatal(err)
		}
		ssl := newSelfSupervised(d, pool, seed, tinyCNN(), nil)
		s, err = ssl.install(s)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		init, err := s.(strategies.ColdStarter).SelectInitial(ctx, learner.DatasetInputs(d.Inputs()), pool, 10,
			envs.RNG(seed, 0, "init"))
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(t0)
		var cands []int
		for _, i := range pool {
			if !slices.Contains(init, i) {
				cands = append(cands, i)
			}
		}
		q := strategies.Query{Labeled: init, Candidates: cands, K: 5, RNG: envs.RNG(seed, 1, "query"), Round: 1}
		round, err := s.Select(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.CheckSelection(round); err != nil {
			t.Fatal(err)
		}
		p, _ := s.(strategies.SelfSupervisedUser).Pretraining()
		src := ssl.srcs[p]
		if src == nil || len(ssl.srcs) != 1 {
			t.Fatalf("%d feature sources for one pre-training", len(ssl.srcs))
		}
		return init, round, src, took
	}
	init, round, src, took := pick(data, opts)
	t.Logf("DeepCluster pre-training (3 epochs, pool %d, 1 thread) and embeddings: %.2f s (cached: %v); cold start %v, round 1 %v",
		n, src.result.Seconds, src.result.Cached, init, round)
	t.Logf("cold start with the pre-training: %v", took)
	if src.result.Cached || src.runs != 1 {
		t.Errorf("first pre-training: cached %v, %d computations; want a fresh one, once for the cold start and the round", src.result.Cached, src.runs)
	}
	seen := map[int]bool{}
	for _, i := range append(slices.Clone(init), round...) {
		if seen[i] || i < 0 || i >= n {
			t.Fatalf("pick %d twice or outside the pool: %v, %v", i, init, round)
		}
		seen[i] = true
	}
	if len(init) != 10 || len(round) != 5 {
		t.Fatalf("%d + %d picks, want 10 + 5", len(init), len(round))
	}
	classes := map[int]bool{}
	for _, i := range init {
		classes[data.Y[i]] = true
	}
	t.Logf("the 10 cold-start picks cover %d of 4 classes", len(classes))
	if ents, _ := filepath.Glob(filepath.Join(cache, "ssal-*.bin")); len(ents) != 1 {
		t.Errorf("cache holds %v, want one weights file", ents)
	}

	// Garbage labels, a fresh cache (so it pre-trains again): the same picks.
	garbage := *data
	garbage.Y = make([]int, n)
	for i := range garbage.Y {
		garbage.Y[i] = (i * 7) % garbage.NumClasses
	}
	rand.New(rand.NewPCG(5, 5)).Shuffle(n, func(i, j int) { garbage.Y[i], garbage.Y[j] = garbage.Y[j], garbage.Y[i] })
	gopts := map[string]any{}
	for k, v := range opts {
		gopts[k] = v
	}
	gopts["cache_dir"] = t.TempDir()
	ginit, ground, gsrc, _ := pick(&garbage, gopts)
	if gsrc.result.Cached {
		t.Error("the garbage-label run found weights in its fresh cache")
	}
	if !slices.Equal(ginit, init) || !slices.Equal(ground, round) {
		t.Errorf("labels changed the picks: %v, %v with the true labels, %v, %v with garbage", init, round, ginit, ground)
	}

	// The first cache again: loaded, not trained, and the same picks.
	cinit, cround, csrc, ctook := pick(data, opts)
	t.Logf("cold start from the cached weights: %v (%.2f s loading and embedding)", ctook, csrc.result.Seconds)
	if !csrc.result.Cached || csrc.result.Path != src.result.Path {
		t.Errorf("second call: cached %v at %s, want the weights of %s", csrc.result.Cached, csrc.result.Path, src.result.Path)
	}
	if !slices.Equal(cinit, init) || !slices.Equal(cround, round) {
		t.Errorf("cached weights changed the picks: %v, %v then %v, %v", init, round, cinit, cround)
	}
}

// TestTorchRunTypiClustSelfSupervised runs an experiment with the default
// typiclust as cold start and strategy: one pre-training serves both, the
// task learner trains as usual on the picks.
func TestTorchRunTypiClustSelfSupervised(t *testing.T) {
	cfg := Default()
	cfg.Name = "typiclust-ssl"
	cfg.Seeds = []uint64{4}
	cfg.Data = datasets.Source{Name: "moons", N: 300, Noise: 0.1}
	cfg.Split = SplitConfig{Test: 60}
	cfg.AL = envs.Config{InitSize: 6, InitMode: "typiclust", K: 4, Budget: 14}
	cfg.Learner = learner.DefaultConfig()
	cfg.Learner.Backend = "torch"
	cfg.Learner.Threads = 1
	cfg.Learner.InferenceBatch = 64
	cfg.Learner.Model = learner.ModelSpec{Name: "mlp", Hidden: []int{16, 16}}
	cfg.Learner.Train.Epochs = 5
	cfg.Learner.Train.BatchSize = 16
	cfg.Learner.Train.LR = 0.01
	cfg.Targets = []float64{0.9}
	cfg.Out = t.TempDir()
	cache := t.TempDir()
	dc := map[string]any{"dc_epochs": 2, "dc_clusters": 8, "dc_pca": 8, "knn": 5, "cache_dir": cache}
	cfg.AL.InitOptions = dc
	cfg.Strategies = []StrategyConfig{{Name: "typiclust", Options: dc}}
	res, err := Run(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	recs := readRounds(t, res[0].Dir)
	if len(recs) != 3 || recs[len(recs)-1].Labels != 14 {
		t.Fatalf("%d rounds, last %+v", len(recs), recs[len(recs)-1])
	}
	ents, _ := os.ReadDir(cache)
	var bins []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".bin") {
			bins = append(bins, e.Name())
		}
	}
	if len(bins) != 1 {
		t.Errorf("cache %v, want one pre-training shared by the cold start and the rounds", bins)
	}
}
