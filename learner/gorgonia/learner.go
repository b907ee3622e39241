// Package gorgonia is alrl's pure-Go learner backend, on gorgonia
// (gorgonia.org/gorgonia v0.9.18): no cgo and no libtorch, so that alrl
// builds and runs with the Go toolchain alone. It runs the same networks as
// the torch backend (learner.Architecture: conv2d, max/avg pooling, ReLU,
// tanh, sigmoid, dropout, dropout2d, flatten, dense) on the CPU, trains them
// with Adam or SGD under the same learner.TrainConfig semantics, and reads
// and writes weights in the torch backend's format (same tensor names and
// shapes), so a model trained on one backend loads into the other. It is
// several times slower than libtorch; `make bench-purego` measures it.
package gorgonia

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/learner"
)

// Name is the backend's registered name (learner.backend: gorgonia).
const Name = "gorgonia"

func init() {
	learner.Register(learner.BackendInfo{
		Name:     Name,
		Doc:      "pure Go on gorgonia v0.9.18 (CPU only, no cgo; slower than torch)",
		New:      New,
		Supports: Supports,
	})
}

// Supports reports whether the gorgonia backend can run cfg: every layer
// type of learner.LayerTypes, on the CPU. A GPU device needs the torch
// backend.
func Supports(cfg learner.Config, arch learner.Architecture) error {
	if cfg.Device != "" && cfg.Device != "cpu" && cfg.Device != "auto" {
		return fmt.Errorf("learner.device: %q needs the torch backend (learner.backend: torch); the gorgonia backend runs on the CPU only. %s",
			cfg.Device, learner.BuildHint("torch"))
	}
	for i, l := range arch.Layers {
		if !slices.Contains(learner.LayerTypes, l.Type) {
			return fmt.Errorf("learner.model.layers[%d]: layer type %q is not supported by the gorgonia backend; use learner.backend: torch (%s)",
				i, l.Type, learner.BuildHint("torch"))
		}
	}
	return nil
}

// param holds one layer's weights and bias in the layout the graphs use:
// conv2d weights [out, in, k, k] and bias [1, out, 1, 1]; dense weights
// transposed to [in, out] (x W) and bias [1, out].
type param struct {
	w, b  []float32
	shape []int // the weight's shape in the weights file (torch layout)
}

// Learner is a feed-forward network on gorgonia, built from a resolved
// learner.Architecture.
type Learner struct {
	in   datasets.Inputs
	c    int
	cfg  learner.Config
	arch learner.Architecture

	params []*param // one per layer; nil for layers without parameters
	fitted bool
	opt    optimizer // kept across Fit calls for warm starts
	mcRNG  *rand.Rand
	nets   map[netKey]*net
}

type netKey struct {
	kind  string
	batch int
}

// maxNets bounds the compiled graphs kept during one call (one per kind and
// batch size; the remainder of a set that the batch size does not divide
// adds one).
const maxNets = 8

// New builds a gorgonia learner over the label-free inputs of a data set.
func New(in datasets.Inputs, numClasses int, cfg learner.Config) (learner.Learner, error) {
	arch, err := cfg.Model.Resolve(in.Shape(), numClasses)
	if err != nil {
		return nil, err
	}
	if err := Supports(cfg, arch); err != nil {
		return nil, err
	}
	if cfg.InferenceBatch < 1 {
		return nil, fmt.Errorf("learner.inference_batch: must be >= 1, got %d", cfg.InferenceBatch)
	}
	if cfg.Threads > 0 {
		runtime.GOMAXPROCS(cfg.Threads)
	}
	return &Learner{in: in, c: numClasses, cfg: cfg, arch: arch,
		mcRNG: rand.New(rand.NewPCG(0, mcStream)), nets: map[netKey]*net{}}, nil
}

// Streams of the PCG generators, so that one seed gives independent draws.
const (
	initStream  = 0x1a17
	orderStream = 0x5eed // the torch backend's data order stream: same minibatches
	dropStream  = 0xd209
	mcStream    = 0x6d63
)

// Reseed seeds the generator of the MC-dropout masks.
func (l *Learner) Reseed(seed uint64) { l.mcRNG = rand.New(rand.NewPCG(seed, mcStream)) }

// Architecture returns the resolved network.
func (l *Learner) Architecture() learner.Architecture { return l.arch }

// NumClasses returns the number of classes.
func (l *Learner) NumClasses() int { return l.c }

// HasDropout reports whether MC-dropout sampling is meaningful.
func (l *Learner) HasDropout() bool { return l.arch.HasDropout() }

// Describe names the backend, the network and its size.
func (l *Learner) Describe() string {
	return fmt.Sprintf("gorgonia %s [%s] (%d parameters)", l.cfg.Model.Name, l.arch, l.arch.Params())
}

// Close forgets the parameters and the compiled graphs.
func (l *Learner) Close() error {
	l.params, l.nets, l.fitted, l.opt = nil, map[netKey]*net{}, false, nil
	return nil
}

// build creates fresh parameters, initialised as PyTorch does by default
// (uniform in +-1/sqrt(fan_in) for weights and biases), drawn in the torch
// layout's order.
func (l *Learner) build(rng *rand.Rand) {
	l.params = make([]*param, len(l.arch.Layers))
	for i, s := range l.arch.Layers {
		var shape []int
		var fanIn int
		switch s.Type {
		case "conv2d":
			shape = []int{s.Out, s.InShape[0], s.Kernel, s.Kernel}
			fanIn = s.InShape[0] * s.Kernel * s.Kernel
		case "dense":
			shape = []int{s.Out, s.InShape[0]}
			fanIn = s.InShape[0]
		default:
			continue
		}
		bound := 1 / math.Sqrt(float64(fanIn))
		u := func(n int) []float32 {
			v := make([]float32, n)
			for j := range v {
				v[j] = float32((2*rng.Float64() - 1) * bound)
			}
			return v
		}
		w := u(prod(shape))
		b := u(s.Out)
		p := &param{shape: shape, b: b}
		p.w = toInternal(s.Type, shape, w)
		l.params[i] = p
	}
	l.opt = nil
}

// toInternal converts torch-layout weights to the graph layout (dense
// weights are transposed); fromInternal is its inverse.
func toInternal(typ string, shape []int, w []float32) []float32 {
	if typ != "dense" {
		return slices.Clone(w)
	}
	return transpose(w, shape[0], shape[1])
}

func fromInternal(typ string, shape []int, w []float32) []float32 {
	if typ != "dense" {
		return slices.Clone(w)
	}
	return transpose(w, shape[1], shape[0])
}

// transpose returns the c x r transpose of the r x c row-major matrix a.
func transpose(a []float32, r, c int) []float32 {
	out := make([]float32, len(a))
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			out[j*r+i] = a[i*c+j]
		}
	}
	return out
}

func (l *Learner) ready() error {
	if l.params == nil || !l.fitted {
		return fmt.Errorf("gorgonia learner: the model has not been fitted or loaded yet")
	}
	return nil
}

// netFor returns the compiled graph of spec for batch samples.
func (l *Learner) netFor(spec netSpec, batch int) (*net, error) {
	key := netKey{spec.kind, batch}
	if n, ok := l.nets[key]; ok {
		return n, nil
	}
	if len(l.nets) >= maxNets {
		clear(l.nets)
	}
	n, err := l.newNet(spec, batch)
	if err != nil {
		return nil, err
	}
	l.nets[key] = n
	return n, nil
}

// dropNets forgets the compiled graphs and the activations they hold.
func (l *Learner) dropNets() { clear(l.nets) }

// all returns 0..n-1.
func all(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func (l *Learner) detSpec() netSpec {
	return netSpec{kind: "det", layers: all(len(l.arch.Layers)), in: l.arch.Input}
}

// batches runs f on consecutive chunks of idx of at most the inference batch
// size, with the chunk's inputs gathered into the graph's input buffer.
func (l *Learner) batches(ctx context.Context, stage string, spec netSpec, idx []int, f func(lo, hi int, n *net) error) error {
	bs := l.cfg.InferenceBatch
	for lo := 0; lo < len(idx); lo += bs {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+bs, len(idx))
		n, err := l.netFor(spec, hi-lo)
		if err != nil {
			return err
		}
		if _, err := l.in.Gather(idx[lo:hi], n.xbuf[:0]); err != nil {
			return err
		}
		if err := f(lo, hi, n); err != nil {
			return err
		}
		learner.Report(ctx, stage, hi, len(idx))
	}
	return nil
}

// copyRows copies n rows of d float32 values into rows lo.. of m.
func copyRows(vals []float32, m *mat.Dense, lo int) {
	_, d := m.Dims()
	for i := 0; i < len(vals)/d; i++ {
		row := m.RawRowView(lo + i)
		for j := range row {
			row[j] = float64(vals[i*d+j])
		}
	}
}

// Probs returns class probabilities for the pool indices.
func (l *Learner) Probs(ctx context.Context, idx []int) (*mat.Dense, error) {
	defer l.dropNets()
	if err := l.ready(); err != nil {
		return nil, err
	}
	if len(idx) == 0 {
		return &mat.Dense{}, nil
	}
	out := mat.NewDense(len(idx), l.c, nil)
	err := l.batches(ctx, "score", l.detSpec(), idx, func(lo, hi int, n *net) error {
		if err := n.run(l.params); err != nil {
			return err
		}
		p, err := values(n.probs)
		if err != nil {
			return err
		}
		copyRows(p, out, lo)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("class probabilities: %w", err)
	}
	return out, nil
}

// Embed returns the penultimate activations (the output layer's input).
func (l *Learner) Embed(ctx context.Context, idx []int) (*mat.Dense, error) {
	defer l.dropNets()
	if err := l.ready(); err != nil {
		return nil, err
	}
	if len(idx) == 0 {
		return &mat.Dense{}, nil
	}
	out := mat.NewDense(len(idx), l.arch.EmbedDim(), nil)
	err := l.batches(ctx, "embed", l.detSpec(), idx, func(lo, hi int, n *net) error {
		if err := n.run(l.params); err != nil {
			return err
		}
		z, err := values(n.embed)
		if err != nil {
			return err
		}
		copyRows(z, out, lo)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("embeddings: %w", err)
	}
	return out, nil
}

// LastLayerWeights returns the C x D output-layer weights.
func (l *Learner) LastLayerWeights() (*mat.Dense, error) {
	if err := l.ready(); err != nil {
		return nil, err
	}
	p := l.params[len(l.params)-1]
	w := fromInternal("dense", p.shape, p.w)
	out := mat.NewDense(l.c, l.arch.EmbedDim(), nil)
	copyRows(w, out, 0)
	return out, nil
}

// fillMask draws a dropout mask into buf for a [batch, shape...] activation:
// each element (dropout) or each (sample, channel) pair (dropout2d) is kept
// with probability 1-p and then scaled by 1/(1-p), as PyTorch's inverted
// dropout does. The number of draws does not depend on the spatial size, so
// a dropout2d mask drawn for a pooled map equals the one for the map before
// pooling.
func fillMask(buf []float32, typ string, p float64, batch int, shape []int, rng *rand.Rand) {
	scale := float32(1 / (1 - p))
	if typ == "dropout2d" {
		c := shape[0]
		spatial := prod(shape[1:])
		for bc := 0; bc < batch*c; bc++ {
			v := float32(0)
			if rng.Float64() >= p {
				v = scale
			}
			seg := buf[bc*spatial : (bc+1)*spatial]
			for j := range seg {
				seg[j] = v
			}
		}
		return
	}
	for j := range buf {
		if rng.Float64() >= p {
			buf[j] = scale
		} else {
			buf[j] = 0
		}
	}
}

// fillMasks draws every mask of n.
func (l *Learner) fillMasks(n *net, rng *rand.Rand) {
	for _, i := range n.spec.layers {
		m, ok := n.mbuf[i]
		if !ok {
			continue
		}
		s := l.arch.Layers[i]
		shape := []int(n.masks[i].Shape()[1:])
		fillMask(m, s.Type, s.P, n.batch, shape, rng)
	}
}

// MCProbs returns T Monte-Carlo-dropout samples of the class probabilities.
// The deterministic prefix of the network (see learner.Architecture.MCSplit) runs once per batch
// and only the layers after it run T times.
func (l *Learner) MCProbs(ctx context.Context, idx []int, T int) ([]*mat.Dense, error) {
	defer l.dropNets()
	if err := l.ready(); err != nil {
		return nil, err
	}
	if T < 1 {
		return nil, fmt.Errorf("mc dropout: T must be >= 1")
	}
	outs := make([]*mat.Dense, T)
	if len(idx) == 0 {
		for t := range outs {
			outs[t] = &mat.Dense{}
		}
		return outs, nil
	}
	for t := range outs {
		outs[t] = mat.NewDense(len(idx), l.c, nil)
	}
	prefix, drop, rest := l.arch.MCSplit()
	if drop < 0 {
		p, err := l.Probs(ctx, idx)
		if err != nil {
			return nil, err
		}
		for t := range outs {
			outs[t].Copy(p)
		}
		return outs, nil
	}
	head := netSpec{kind: "head", layers: prefix, in: l.arch.Input}
	hShape := l.arch.Input
	if len(prefix) > 0 {
		hShape = l.arch.Layers[prefix[len(prefix)-1]].OutShape
	}
	tail := netSpec{kind: "tail", layers: append([]int{drop}, seqFrom(rest, len(l.arch.Layers))...), in: hShape, masks: true}
	err := l.batches(ctx, "mc-dropout", head, idx, func(lo, hi int, hn *net) error {
		var h []float32
		if len(prefix) == 0 {
			h = slices.Clone(hn.xbuf)
		} else {
			if err := hn.run(l.params); err != nil {
				return err
			}
			v, err := values(hn.logits)
			if err != nil {
				return err
			}
			h = slices.Clone(v)
		}
		tn, err := l.netFor(tail, hi-lo)
		if err != nil {
			return err
		}
		for t := 0; t < T; t++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			copy(tn.xbuf, h)
			l.fillMasks(tn, l.mcRNG)
			if err := tn.run(l.params); err != nil {
				return err
			}
			p, err := values(tn.probs)
			if err != nil {
				return err
			}
			copyRows(p, outs[t], lo)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mc dropout: %w", err)
	}
	return outs, nil
}

func seqFrom(lo, hi int) []int {
	var out []int
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

// Fit trains the network on the labeled set, from scratch unless warm_start
// is set, with early stopping on validation accuracy when patience > 0. It
// follows the torch backend step by step: the same data order for a seed,
// epochs of max(n, min_epoch_samples) draws, and the best weights kept.
func (l *Learner) Fit(ctx context.Context, train, val learner.Labeled, seed uint64) (learner.FitStats, error) {
	defer l.dropNets()
	var st learner.FitStats
	if train.Len() == 0 {
		return st, fmt.Errorf("fit: no labeled samples")
	}
	for _, set := range []learner.Labeled{train, val} {
		if len(set.Y) != set.Len() {
			return st, fmt.Errorf("fit: %d labels for %d samples", len(set.Y), set.Len())
		}
		for i, y := range set.Y {
			if y < 0 || y >= l.c {
				return st, fmt.Errorf("fit: label %d of pool index %d is outside [0, %d)", y, set.Idx[i], l.c)
			}
		}
	}
	tc := l.cfg.Train
	if !tc.WarmStart || l.params == nil {
		l.build(rand.New(rand.NewPCG(seed, initStream)))
	}
	l.Reseed(seed)
	wd := tc.WeightDecay
	if tc.WeightDecayPerSample {
		wd /= float64(train.Len())
	}
	// A fresh optimizer per Fit, as the torch backend builds one per Fit.
	switch tc.Optimizer {
	case "sgd":
		l.opt = newSGD(tc.LR, tc.Momentum, wd)
	case "adam", "":
		l.opt = newAdam(tc.LR, wd)
	default:
		return st, fmt.Errorf("fit: learner.train.optimizer %q is not one of adam, sgd", tc.Optimizer)
	}
	rng := rand.New(rand.NewPCG(seed, orderStream))
	dropRNG := rand.New(rand.NewPCG(seed, dropStream))
	n := train.Len()
	bs := min(max(tc.BatchSize, 1), n)
	// Each epoch visits every labeled sample in a fresh order; a small set is
	// cycled until the epoch has min_epoch_samples draws.
	perEpoch := max(n, tc.MinEpochSamples)
	epochs := tc.Epochs
	l.fitted = true
	stopper := learner.EarlyStop{Patience: tc.Patience}
	var bestW []learner.Tensor
	order := make([]int, 0, perEpoch+n)
	st.ValAcc, st.ValLoss = math.NaN(), math.NaN()
	spec := netSpec{kind: "train", layers: all(len(l.arch.Layers)), in: l.arch.Input, masks: true, train: true}
	for ep := 1; ep <= epochs; ep++ {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		order = order[:0]
		for len(order) < perEpoch {
			order = append(order, rng.Perm(n)...)
		}
		order = order[:perEpoch]
		total := 0.0
		for lo := 0; lo < len(order); lo += bs {
			hi := min(lo+bs, len(order))
			loss, err := l.trainStep(spec, train, order[lo:hi], dropRNG)
			if err != nil {
				return st, fmt.Errorf("fit: epoch %d: %w", ep, err)
			}
			total += loss * float64(hi-lo)
		}
		if err := learner.EndEpoch(ctx, &st, ep, epochs, total, len(order)); err != nil {
			return st, fmt.Errorf("fit: %w", err)
		}
		if val.Len() == 0 || tc.Patience == 0 {
			continue
		}
		acc, vloss, err := l.accuracy(ctx, val)
		if err != nil {
			return st, err
		}
		improved, stop := stopper.Observe(acc)
		if improved {
			st.BestEpoch, st.ValAcc, st.ValLoss = ep, acc, vloss
			bestW = l.snapshot()
		} else if stop {
			break
		}
	}
	if bestW != nil {
		if err := l.restore(bestW); err != nil {
			return st, err
		}
	} else {
		st.BestEpoch = st.Epochs
		if val.Len() > 0 {
			var err error
			if st.ValAcc, st.ValLoss, err = l.accuracy(ctx, val); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

// trainStep runs one minibatch (positions pos of the labeled set) forward and
// backward and updates the parameters; it returns the mean loss.
func (l *Learner) trainStep(spec netSpec, train learner.Labeled, pos []int, dropRNG *rand.Rand) (float64, error) {
	n, err := l.netFor(spec, len(pos))
	if err != nil {
		return 0, err
	}
	idx := make([]int, len(pos))
	clear(n.ybuf)
	for j, o := range pos {
		idx[j] = train.Idx[o]
		n.ybuf[j*l.c+train.Y[o]] = 1
	}
	if _, err := l.in.Gather(idx, n.xbuf[:0]); err != nil {
		return 0, err
	}
	l.fillMasks(n, dropRNG)
	if err := n.run(l.params); err != nil {
		return 0, err
	}
	lv, err := values(n.loss)
	if err != nil {
		return 0, err
	}
	gw, gb := map[int][]float32{}, map[int][]float32{}
	for i := range n.gradW {
		if gw[i], err = values(n.gradW[i]); err != nil {
			return 0, err
		}
		if gb[i], err = values(n.gradB[i]); err != nil {
			return 0, err
		}
		if len(gw[i]) != len(l.params[i].w) || len(gb[i]) != len(l.params[i].b) {
			return 0, fmt.Errorf("gorgonia: layer %d: gradient sizes %d, %d for parameters %d, %d",
				i, len(gw[i]), len(gb[i]), len(l.params[i].w), len(l.params[i].b))
		}
	}
	l.opt.step(l.params, gw, gb)
	return float64(lv[0]), nil
}

func (l *Learner) accuracy(ctx context.Context, set learner.Labeled) (acc, nll float64, err error) {
	p, err := l.Probs(ctx, set.Idx)
	if err != nil {
		return 0, 0, err
	}
	acc, nll = learner.Accuracy(p, set.Y)
	return acc, nll, nil
}

// snapshot copies the parameters in the weights file's layout and names.
func (l *Learner) snapshot() []learner.Tensor {
	var out []learner.Tensor
	for i, p := range l.params {
		if p == nil {
			continue
		}
		typ := l.arch.Layers[i].Type
		out = append(out,
			learner.Tensor{Name: fmt.Sprintf("l%d_weight", i), Shape: slices.Clone(p.shape), Data: fromInternal(typ, p.shape, p.w)},
			learner.Tensor{Name: fmt.Sprintf("l%d_bias", i), Shape: []int{p.shape[0]}, Data: slices.Clone(p.b)})
	}
	return out
}

// restore copies saved values into the parameters, checking names and shapes.
func (l *Learner) restore(w []learner.Tensor) error {
	byName := map[string]learner.Tensor{}
	for _, t := range w {
		byName[t.Name] = t
	}
	for i, p := range l.params {
		if p == nil {
			continue
		}
		for _, pair := range []struct {
			name  string
			shape []int
		}{{fmt.Sprintf("l%d_weight", i), p.shape}, {fmt.Sprintf("l%d_bias", i), []int{p.shape[0]}}} {
			src, ok := byName[pair.name]
			if !ok {
				return fmt.Errorf("weights: tensor %q is missing (the model in the config differs from the saved one)", pair.name)
			}
			if !slices.Equal(src.Shape, pair.shape) {
				return fmt.Errorf("weights: tensor %q has shape %v, the model needs %v (the model in the config differs from the saved one)", pair.name, src.Shape, pair.shape)
			}
		}
	}
	for i, p := range l.params {
		if p == nil {
			continue
		}
		typ := l.arch.Layers[i].Type
		copy(p.w, toInternal(typ, p.shape, byName[fmt.Sprintf("l%d_weight", i)].Data))
		copy(p.b, byName[fmt.Sprintf("l%d_bias", i)].Data)
	}
	return nil
}

// Save writes the weights atomically.
func (l *Learner) Save(path string) error {
	if err := l.ready(); err != nil {
		return err
	}
	return learner.WriteWeights(path, l.snapshot())
}

// Load reads weights written by Save (by either backend).
func (l *Learner) Load(path string) error {
	w, err := learner.ReadWeights(path)
	if err != nil {
		return err
	}
	if l.params == nil {
		l.build(rand.New(rand.NewPCG(0, initStream)))
	}
	if err := l.restore(w); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	l.fitted = true
	return nil
}
