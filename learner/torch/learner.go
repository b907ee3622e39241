//go:build torch

package torch

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"unsafe"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/learner"
)

func init() {
	learner.RegisterBackend("torch", "libtorch through gotch v0.7.0 (CPU; CUDA with a CUDA build of libtorch)", New, learner.WithSupports(supports))
}

// supports rejects a CUDA device that this libtorch or machine lacks, so that
// the config fails before any run folder exists.
func supports(cfg learner.Config, _ learner.Architecture) error {
	d := strings.TrimSpace(cfg.Device)
	if !strings.HasPrefix(d, "cuda") {
		return nil
	}
	if !gotch.CUDA.IsAvailable() {
		return fmt.Errorf("learner.device: %q, but this libtorch has no usable CUDA device (a CPU build, or no GPU or driver here); use device cpu, or auto to take a GPU only where there is one", d)
	}
	n := 0
	if strings.HasPrefix(d, "cuda:") {
		if _, err := fmt.Sscanf(d, "cuda:%d", &n); err != nil {
			return fmt.Errorf("learner.device: %q is not cuda:N", d)
		}
	}
	if count := gotch.CUDA.DeviceCount(); int64(n) >= count {
		return fmt.Errorf("learner.device: %q, but this machine has %d CUDA device(s) (cuda:0 to cuda:%d)", d, count, count-1)
	}
	return nil
}

// Learner is a feed-forward network on libtorch, built from a resolved
// learner.Architecture.
type Learner struct {
	in     datasets.Inputs
	c      int
	cfg    learner.Config
	arch   learner.Architecture
	device gotch.Device

	vs     *nn.VarStore
	params []*param // in layer order; nil entries for parameter-free layers
	res    resState // residual layers and batch norm (layers_res.go)
	fitted bool
}

type param struct {
	w, b *ts.Tensor
	wn   string
	bn   string
}

// New builds a torch learner over the label-free inputs of a data set.
func New(in datasets.Inputs, numClasses int, cfg learner.Config) (learner.Learner, error) {
	arch, err := cfg.Model.Resolve(in.Shape(), numClasses)
	if err != nil {
		return nil, err
	}
	dev, err := parseDevice(cfg.Device)
	if err != nil {
		return nil, err
	}
	threads := cfg.Threads
	if threads == 0 {
		threads = runtime.NumCPU()
	}
	SetNumThreads(threads)
	return &Learner{in: in, c: numClasses, cfg: cfg, arch: arch, device: dev}, nil
}

func parseDevice(s string) (gotch.Device, error) {
	switch {
	case s == "" || s == "cpu":
		return gotch.CPU, nil
	case s == "auto":
		return gotch.CudaIfAvailable(), nil
	case s == "cuda":
		return gotch.CudaBuilder(0), nil
	case strings.HasPrefix(s, "cuda:"):
		var n uint
		if _, err := fmt.Sscanf(s, "cuda:%d", &n); err != nil {
			return gotch.CPU, fmt.Errorf("learner.device: %q is not cuda:N", s)
		}
		return gotch.CudaBuilder(n), nil
	}
	return gotch.CPU, fmt.Errorf("learner.device: %q is not one of cpu, cuda:N, auto", s)
}

// Reseed seeds libtorch's generator, which draws the MC-dropout masks.
func (l *Learner) Reseed(seed uint64) { ManualSeed(int64(seed >> 1)) }

// Architecture returns the resolved network.
func (l *Learner) Architecture() learner.Architecture { return l.arch }

// NumClasses returns the number of classes.
func (l *Learner) NumClasses() int { return l.c }

// HasDropout reports whether MC-dropout sampling is meaningful.
func (l *Learner) HasDropout() bool { return l.arch.HasDropout() }

// Describe names the backend, the network and its size.
func (l *Learner) Describe() string {
	return fmt.Sprintf("torch %s [%s] (%d parameters)", l.cfg.Model.Name, l.arch, l.arch.Params())
}

// build creates fresh parameters, initialised as PyTorch does by default
// (uniform in +-1/sqrt(fan_in) for weights and biases).
func (l *Learner) build() error {
	l.free()
	l.vs = nn.NewVarStore(l.device)
	root := l.vs.Root()
	l.params = make([]*param, len(l.arch.Layers))
	for i, s := range l.arch.Layers {
		var wdims []int64
		var fanIn int
		switch s.Type {
		case "conv2d":
			wdims = []int64{int64(s.Out), int64(s.InShape[0]), int64(s.Kernel), int64(s.Kernel)}
			fanIn = s.InShape[0] * s.Kernel * s.Kernel
		case "dense":
			wdims = []int64{int64(s.Out), int64(s.InShape[0])}
			fanIn = s.InShape[0]
		default:
			if err := l.buildRes(root, i, s); err != nil {
				return err
			}
			continue
		}
		bound := 1 / math.Sqrt(float64(fanIn))
		p := &param{wn: fmt.Sprintf("l%d_weight", i), bn: fmt.Sprintf("l%d_bias", i)}
		var err error
		if p.w, err = root.NewVar(p.wn, wdims, nn.NewUniformInit(-bound, bound)); err != nil {
			return fmt.Errorf("creating layer %d weights: %w", i, err)
		}
		if p.b, err = root.NewVar(p.bn, []int64{int64(s.Out)}, nn.NewUniformInit(-bound, bound)); err != nil {
			return fmt.Errorf("creating layer %d bias: %w", i, err)
		}
		l.params[i] = p
	}
	return nil
}

func (l *Learner) free() {
	if l.vs == nil {
		return
	}
	for _, t := range l.vs.Variables() {
		t := t
		_ = t.Drop()
	}
	l.vs = nil
	l.params = nil
	l.res.layers = nil
}

// Close frees the parameters.
func (l *Learner) Close() error {
	l.free()
	return nil
}

// layer applies layer i to x. It never frees x.
func (l *Learner) layer(i int, x *ts.Tensor, train bool) (*ts.Tensor, error) {
	s := l.arch.Layers[i]
	k := []int64{int64(s.Kernel), int64(s.Kernel)}
	st := []int64{int64(s.Stride), int64(s.Stride)}
	pd := []int64{int64(s.Padding), int64(s.Padding)}
	switch s.Type {
	case "conv2d":
		p := l.params[i]
		return ts.Conv2d(x, p.w, p.b, st, pd, []int64{1, 1}, 1)
	case "maxpool2d":
		return x.MaxPool2d(k, st, pd, []int64{1, 1}, false, false)
	case "avgpool2d":
		return x.AvgPool2d(k, st, pd, false, true, nil, false)
	case "relu":
		return x.Relu(false)
	case "tanh":
		return x.Tanh(false)
	case "sigmoid":
		return x.Sigmoid(false)
	case "dropout":
		return ts.Dropout(x, s.P, train)
	case "dropout2d":
		return ts.FeatureDropout(x, s.P, train)
	case "flatten":
		return x.Flatten(1, -1, false)
	case "dense":
		p := l.params[i]
		return ts.Linear(x, p.w, p.b)
	}
	if learner.IsResidualLayer(s.Type) {
		return l.resLayer(i, x, train)
	}
	return nil, fmt.Errorf("layer %d: unknown type %q", i, s.Type)
}

// forward runs layers [from, to) on x, freeing intermediates but not x.
func (l *Learner) forward(x *ts.Tensor, from, to int, train bool) (*ts.Tensor, error) {
	cur := x
	for i := from; i < to; i++ {
		y, err := l.layer(i, cur, train)
		if cur != x {
			_ = cur.Drop()
		}
		if err != nil {
			return nil, fmt.Errorf("forward through layer %d (%s): %w", i, l.arch.Layers[i].Type, err)
		}
		cur = y
	}
	if cur == x {
		return x.ShallowClone()
	}
	return cur, nil
}

// input gathers pool rows idx into a [n, shape...] float tensor. The rows
// are copied straight into the tensor's memory (gotch's NewTensorFromData
// goes through binary.Write and cost a third of a forward pass).
func (l *Learner) input(idx []int, buf []float32) (*ts.Tensor, []float32, error) {
	shape := append([]int64{int64(len(idx))}, toInt64(l.arch.Input)...)
	t, err := ts.Empty(shape, gotch.Float, gotch.CPU)
	if err != nil {
		return nil, buf, err
	}
	n := len(idx) * l.in.Dim()
	if n > 0 {
		ptr, err := t.DataPtr()
		if err != nil {
			_ = t.Drop()
			return nil, buf, err
		}
		dst := unsafe.Slice((*float32)(ptr), n)
		got, err := l.in.Gather(idx, dst[:0])
		if err != nil {
			_ = t.Drop()
			return nil, buf, err
		}
		if &got[0] != &dst[0] {
			_ = t.Drop()
			return nil, buf, fmt.Errorf("input: gather did not fill the tensor in place")
		}
	}
	if l.device != gotch.CPU {
		d, err := t.To(l.device, true)
		if err != nil {
			return nil, buf, err
		}
		t = d
	}
	return t, buf, nil
}

func toInt64(s []int) []int64 {
	out := make([]int64, len(s))
	for i, v := range s {
		out[i] = int64(v)
	}
	return out
}

func (l *Learner) ready() error {
	if l.vs == nil || !l.fitted {
		return fmt.Errorf("torch learner: the model has not been fitted or loaded yet")
	}
	return nil
}

// pin locks the goroutine to its OS thread. libtorch's grad mode is
// thread-local, so a goroutine that moved between threads could disable
// gradients on one thread and re-enable them on another; every public method
// pins itself for its whole duration (pins nest).
func pin() { runtime.LockOSThread() }

// noGrad disables gradient tracking on this thread and returns the function
// that enables it again. (gotch v0.7.0's GradSetEnabled misreads the previous
// state from C, so it is not used to restore; no caller nests noGrad.)
func noGrad() (func(), error) {
	if _, err := ts.GradSetEnabled(false); err != nil {
		return nil, err
	}
	return func() { _, _ = ts.GradSetEnabled(true) }, nil
}

// batches runs f on consecutive chunks of idx of at most the inference batch size.
func (l *Learner) batches(ctx context.Context, stage string, idx []int, f func(lo, hi int, x *ts.Tensor) error) error {
	restore, err := noGrad()
	if err != nil {
		return err
	}
	defer restore()
	var buf []float32
	bs := l.cfg.InferenceBatch
	for lo := 0; lo < len(idx); lo += bs {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+bs, len(idx))
		var x *ts.Tensor
		x, buf, err = l.input(idx[lo:hi], buf)
		if err != nil {
			return err
		}
		err = f(lo, hi, x)
		_ = x.Drop()
		if err != nil {
			return err
		}
		learner.Report(ctx, stage, hi, len(idx))
	}
	return nil
}

// copyRows copies a [n, d] float tensor into rows lo.. of m.
func copyRows(t *ts.Tensor, m *mat.Dense, lo int) error {
	vals, err := hostFloats(t)
	if err != nil {
		return err
	}
	_, d := m.Dims()
	for i := 0; i < len(vals)/d; i++ {
		row := m.RawRowView(lo + i)
		for j := range row {
			row[j] = float64(vals[i*d+j])
		}
	}
	return nil
}

// hostFloats copies t, of any dtype and on any device, into float32s in Go
// memory.
func hostFloats(t *ts.Tensor) ([]float32, error) {
	c, err := t.To(gotch.CPU, false)
	if err != nil {
		return nil, err
	}
	defer c.Drop()
	f, err := c.Totype(gotch.Float, false)
	if err != nil {
		return nil, err
	}
	defer f.Drop()
	vals := make([]float32, f.Numel())
	if err := f.CopyData(vals, uint(len(vals))); err != nil {
		return nil, err
	}
	return vals, nil
}

func softmax(logits *ts.Tensor) (*ts.Tensor, error) {
	return logits.Softmax(-1, gotch.Float, false)
}

// Probs returns class probabilities for the pool indices.
func (l *Learner) Probs(ctx context.Context, idx []int) (*mat.Dense, error) {
	pin()
	defer runtime.UnlockOSThread()
	if err := l.ready(); err != nil {
		return nil, err
	}
	out := mat.NewDense(max(len(idx), 1), l.c, nil)
	if len(idx) == 0 {
		return &mat.Dense{}, nil
	}
	n := len(l.arch.Layers)
	err := l.batches(ctx, "score", idx, func(lo, hi int, x *ts.Tensor) error {
		logits, err := l.forward(x, 0, n, false)
		if err != nil {
			return err
		}
		defer logits.Drop()
		p, err := softmax(logits)
		if err != nil {
			return err
		}
		defer p.Drop()
		return copyRows(p, out, lo)
	})
	if err != nil {
		return nil, fmt.Errorf("class probabilities: %w", err)
	}
	return out, nil
}

// Embed returns the penultimate activations (the output layer's input).
func (l *Learner) Embed(ctx context.Context, idx []int) (*mat.Dense, error) {
	pin()
	defer runtime.UnlockOSThread()
	if err := l.ready(); err != nil {
		return nil, err
	}
	if len(idx) == 0 {
		return &mat.Dense{}, nil
	}
	n := len(l.arch.Layers)
	out := mat.NewDense(len(idx), l.arch.EmbedDim(), nil)
	err := l.batches(ctx, "embed", idx, func(lo, hi int, x *ts.Tensor) error {
		z, err := l.forward(x, 0, n-1, false)
		if err != nil {
			return err
		}
		defer z.Drop()
		return copyRows(z, out, lo)
	})
	if err != nil {
		return nil, fmt.Errorf("embeddings: %w", err)
	}
	return out, nil
}

// LastLayerWeights returns the C x D output-layer weights.
func (l *Learner) LastLayerWeights() (*mat.Dense, error) {
	pin()
	defer runtime.UnlockOSThread()
	if err := l.ready(); err != nil {
		return nil, err
	}
	p := l.params[len(l.params)-1]
	out := mat.NewDense(l.c, l.arch.EmbedDim(), nil)
	if err := copyRows(p.w, out, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// Fit trains the network on the labeled set, from scratch unless warm_start
// is set, with early stopping on validation accuracy when patience > 0.
func (l *Learner) Fit(ctx context.Context, train, val learner.Labeled, seed uint64) (learner.FitStats, error) {
	pin()
	defer runtime.UnlockOSThread()
	var st learner.FitStats
	if train.Len() == 0 {
		return st, fmt.Errorf("fit: no labeled samples")
	}
	for i, y := range train.Y {
		if y < 0 || y >= l.c {
			return st, fmt.Errorf("fit: label %d of pool index %d is outside [0, %d)", y, train.Idx[i], l.c)
		}
	}
	ManualSeed(int64(seed >> 1))
	l.res.training = true // batch norm uses batch statistics only inside Fit
	defer func() { l.res.training = false }()
	if !l.cfg.Train.WarmStart || l.vs == nil {
		if err := l.build(); err != nil {
			return st, err
		}
	}
	tc := l.cfg.Train
	wd := tc.WeightDecay
	if tc.WeightDecayPerSample {
		wd /= float64(train.Len())
	}
	var opt *nn.Optimizer
	var err error
	switch tc.Optimizer {
	case "sgd":
		opt, err = nn.NewSGDConfig(tc.Momentum, 0, wd, false).Build(l.vs, tc.LR)
	default:
		opt, err = nn.NewAdamConfig(0.9, 0.999, wd).Build(l.vs, tc.LR)
	}
	if err != nil {
		return st, fmt.Errorf("fit: building the %s optimizer: %w", tc.Optimizer, err)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	n := train.Len()
	bs := min(tc.BatchSize, n)
	// Each epoch visits every labeled sample in a fresh order; a small set is
	// cycled until the epoch has min_epoch_samples draws.
	perEpoch := max(n, tc.MinEpochSamples)
	epochs := tc.Epochs
	l.fitted = true
	stopper := learner.EarlyStop{Patience: tc.Patience}
	var bestW []learner.Tensor
	order := make([]int, 0, perEpoch+n)
	var buf []float32
	st.ValAcc, st.ValLoss = math.NaN(), math.NaN()
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
			idx := make([]int, hi-lo)
			ys := make([]int64, hi-lo)
			for j, o := range order[lo:hi] {
				idx[j] = train.Idx[o]
				ys[j] = int64(train.Y[o])
			}
			var loss float64
			loss, buf, err = l.trainStep(opt, idx, ys, buf)
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
			if bestW, err = l.snapshot(); err != nil {
				return st, err
			}
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
			if st.ValAcc, st.ValLoss, err = l.accuracy(ctx, val); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

func (l *Learner) trainStep(opt *nn.Optimizer, idx []int, ys []int64, buf []float32) (float64, []float32, error) {
	x, buf, err := l.input(idx, buf)
	if err != nil {
		return 0, buf, err
	}
	defer x.Drop()
	y, err := ts.NewTensorFromData(ys, []int64{int64(len(ys))})
	if err != nil {
		return 0, buf, err
	}
	defer y.Drop()
	if l.device != gotch.CPU {
		yd, err := y.To(l.device, false)
		if err != nil {
			return 0, buf, err
		}
		defer yd.Drop()
		y = yd
	}
	logits, err := l.forward(x, 0, len(l.arch.Layers), true)
	if err != nil {
		return 0, buf, err
	}
	defer logits.Drop()
	logp, err := logits.LogSoftmax(-1, gotch.Float, false)
	if err != nil {
		return 0, buf, err
	}
	defer logp.Drop()
	loss, err := logp.NllLoss(y, ts.NewTensor(), ts.ReductionMean, -100, false)
	if err != nil {
		return 0, buf, err
	}
	defer loss.Drop()
	// Not opt.BackwardStep: it panics (log.Fatal) on a backward error.
	if err := opt.ZeroGrad(); err != nil {
		return 0, buf, err
	}
	if err := loss.Backward(); err != nil {
		return 0, buf, err
	}
	if err := opt.Step(); err != nil {
		return 0, buf, err
	}
	v := make([]float32, 1)
	if err := loss.CopyData(v, 1); err != nil {
		return 0, buf, err
	}
	return float64(v[0]), buf, nil
}

func (l *Learner) accuracy(ctx context.Context, set learner.Labeled) (acc, nll float64, err error) {
	p, err := l.Probs(ctx, set.Idx)
	if err != nil {
		return 0, 0, err
	}
	acc, nll = learner.Accuracy(p, set.Y)
	return acc, nll, nil
}
