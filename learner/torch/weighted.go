//go:build torch

package torch

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/alrl/alrl/learner"
)

// This file holds the training loop shared by the capabilities that the
// trainers using the unlabeled pool need: weighted fits (CEAL, SSAL),
// temporary output layers (DeepCluster pre-training), the loss-prediction
// module (learning loss, lossnet.go), plus seeded initialisation and loading
// of everything but the output layer.

// bag collects tensors and scalars to free together.
type bag struct {
	ts []*ts.Tensor
	sc []*ts.Scalar
}

// t records x (which may be nil) and returns it.
func (b *bag) t(x *ts.Tensor) *ts.Tensor {
	if x != nil {
		b.ts = append(b.ts, x)
	}
	return x
}

// f returns a float scalar freed with the bag.
func (b *bag) f(v float64) *ts.Scalar {
	s := ts.FloatScalar(v)
	b.sc = append(b.sc, s)
	return s
}

func (b *bag) drop() {
	for _, x := range b.ts {
		_ = x.Drop()
	}
	for _, s := range b.sc {
		_ = s.Drop()
	}
	b.ts, b.sc = nil, nil
}

// extensions are networks the trainers attach to the learner; they are saved
// and loaded with its weights.
type extensions struct {
	loss *lossNet  // learning loss (lossnet.go)
	vaal *vaalNets // VAAL (vaal.go)
}

// extTensors returns the extensions' tensors for Save.
func (l *Learner) extTensors() ([]learner.Tensor, error) {
	var out []learner.Tensor
	if l.ext.loss != nil {
		w, err := l.ext.loss.tensors()
		if err != nil {
			return nil, err
		}
		out = append(out, w...)
	}
	if l.ext.vaal != nil {
		w, err := l.ext.vaal.tensors()
		if err != nil {
			return nil, err
		}
		out = append(out, w...)
	}
	return out, nil
}

// loadExt rebuilds the extensions found in a weights file (none found: none kept).
func (l *Learner) loadExt(w []learner.Tensor) error {
	l.freeExt()
	ln, err := lossNetFrom(l, w)
	if err != nil {
		return err
	}
	l.ext.loss = ln
	vn, err := vaalNetsFrom(l, w)
	if err != nil {
		return err
	}
	l.ext.vaal = vn
	return nil
}

func (l *Learner) freeExt() {
	if l.ext.loss != nil {
		l.ext.loss.free()
		l.ext.loss = nil
	}
	if l.ext.vaal != nil {
		l.ext.vaal.free()
		l.ext.vaal = nil
	}
}

// newOptimizer builds the configured optimiser over vs with learning rate lr.
func (l *Learner) newOptimizer(vs *nn.VarStore, lr, wd float64) (*nn.Optimizer, error) {
	tc := l.cfg.Train
	var opt *nn.Optimizer
	var err error
	switch tc.Optimizer {
	case "sgd":
		opt, err = nn.NewSGDConfig(tc.Momentum, 0, wd, false).Build(vs, lr)
	default:
		opt, err = nn.NewAdamConfig(0.9, 0.999, wd).Build(vs, lr)
	}
	if err != nil {
		return nil, fmt.Errorf("building the %s optimizer: %w", tc.Optimizer, err)
	}
	return opt, nil
}

// auxHead is a temporary dense output layer over the embedding.
type auxHead struct {
	vs   *nn.VarStore
	w, b *ts.Tensor
}

func (l *Learner) newAuxHead(outputs int) (*auxHead, error) {
	d := l.arch.EmbedDim()
	h := &auxHead{vs: nn.NewVarStore(l.device)}
	bound := 1 / math.Sqrt(float64(d))
	var err error
	if h.w, err = h.vs.Root().NewVar("aux_weight", []int64{int64(outputs), int64(d)}, nn.NewUniformInit(-bound, bound)); err != nil {
		return nil, err
	}
	if h.b, err = h.vs.Root().NewVar("aux_bias", []int64{int64(outputs)}, nn.NewUniformInit(-bound, bound)); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *auxHead) free() {
	for _, t := range h.vs.Variables() {
		t := t
		_ = t.Drop()
	}
}

// loopSpec is one call of the shared training loop.
type loopSpec struct {
	train  learner.Weighted
	val    learner.Labeled
	seed   uint64
	opt    learner.FitOptions
	head   *auxHead // train under this output layer instead of the classifier
	loss   *lossNet // train this loss-prediction module jointly
	lossOp learner.LossModuleOptions
}

// loopStats extends FitStats with the loss module's numbers.
type loopStats struct {
	learner.FitStats
	rank, target float64
	stopEpoch    int
}

// prepare seeds libtorch and (re)builds the network as opt.Init says; it
// reports whether the weights are fresh.
func (l *Learner) prepare(seed uint64, init learner.Init) (bool, error) {
	ManualSeed(int64(seed >> 1))
	fresh := false
	switch init {
	case learner.InitScratch:
		fresh = true
	case learner.InitCurrent:
		fresh = l.vs == nil
	default:
		fresh = !l.cfg.Train.WarmStart || l.vs == nil
	}
	if fresh {
		if err := l.build(); err != nil {
			return false, err
		}
	}
	return fresh, nil
}

// loop trains for the given spec: mini-batches of the weighted set in a
// fresh seeded order every epoch (small sets cycled to min_epoch_samples),
// loss = mean_i w_i classW[y_i] CE_i (+ weight * ranking loss with a loss
// module), early stopping on validation accuracy unless disabled or
// training under a temporary head.
func (l *Learner) loop(ctx context.Context, s loopSpec) (loopStats, error) {
	var st loopStats
	st.ValAcc, st.ValLoss = math.NaN(), math.NaN()
	c := l.c
	if s.head != nil {
		size, err := s.head.w.Size()
		if err != nil {
			return st, err
		}
		c = int(size[0])
	}
	if s.train.Len() == 0 {
		return st, fmt.Errorf("no training samples")
	}
	if err := s.train.Check(c); err != nil {
		return st, err
	}
	if err := s.opt.Check(l.c); err != nil {
		return st, err
	}
	tc := l.cfg.Train
	lr := tc.LR
	if s.opt.LR > 0 {
		lr = s.opt.LR
	}
	wd := tc.WeightDecay
	if tc.WeightDecayPerSample {
		wd /= float64(s.train.Len())
	}
	opt, err := l.newOptimizer(l.vs, lr, wd)
	if err != nil {
		return st, err
	}
	var headOpt, lossOpt *nn.Optimizer
	if s.head != nil {
		if headOpt, err = l.newOptimizer(s.head.vs, lr, wd); err != nil {
			return st, err
		}
	}
	if s.loss != nil {
		if lossOpt, err = l.newOptimizer(s.loss.vs, lr, wd); err != nil {
			return st, err
		}
	}
	var classW *ts.Tensor
	if s.opt.ClassWeights != nil && s.head == nil {
		cw := make([]float32, len(s.opt.ClassWeights))
		for i, v := range s.opt.ClassWeights {
			cw[i] = float32(v)
		}
		if classW, err = l.toDevice(ts.NewTensorFromData(cw, []int64{int64(len(cw))})); err != nil {
			return st, err
		}
		defer classW.Drop()
	}
	epochs := tc.Epochs
	if s.opt.Epochs > 0 {
		epochs = s.opt.Epochs
	}
	if s.loss != nil {
		st.stopEpoch = int(math.Round(s.lossOp.StopGradFraction*float64(epochs))) + 1
	}
	earlyStop := !s.opt.NoEarlyStop && s.head == nil && s.val.Len() > 0 && tc.Patience > 0
	rng := rand.New(rand.NewPCG(s.seed, 0x5eed))
	n := s.train.Len()
	bs := min(tc.BatchSize, n)
	perEpoch := max(n, tc.MinEpochSamples)
	l.fitted = true
	stopper := learner.EarlyStop{Patience: tc.Patience}
	var bestW, bestLoss []learner.Tensor
	order := make([]int, 0, perEpoch+n)
	for ep := 1; ep <= epochs; ep++ {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		order = order[:0]
		for len(order) < perEpoch {
			order = append(order, rng.Perm(n)...)
		}
		order = order[:perEpoch]
		detach := s.loss != nil && ep >= st.stopEpoch
		var total, rank, target float64
		for lo := 0; lo < len(order); lo += bs {
			hi := min(lo+bs, len(order))
			b := stepBatch{idx: make([]int, hi-lo), y: make([]int64, hi-lo), w: make([]float32, hi-lo)}
			for j, o := range order[lo:hi] {
				b.idx[j] = s.train.Idx[o]
				b.y[j] = int64(s.train.Y[o])
				b.w[j] = float32(s.train.WeightOf(o))
			}
			r, err := l.step(b, s, classW, detach, opt, headOpt, lossOpt)
			if err != nil {
				return st, fmt.Errorf("epoch %d: %w", ep, err)
			}
			m := float64(hi - lo)
			total += r.loss * m
			rank += r.rank * m
			target += r.target * m
		}
		st.Epochs = ep
		st.TrainLoss = total / float64(len(order))
		st.rank, st.target = rank/float64(len(order)), target/float64(len(order))
		learner.Report(ctx, "train", ep, epochs)
		if math.IsNaN(st.TrainLoss) {
			return st, fmt.Errorf("the training loss became NaN at epoch %d; lower the learning rate", ep)
		}
		if !earlyStop {
			continue
		}
		acc, vloss, err := l.accuracy(ctx, s.val)
		if err != nil {
			return st, err
		}
		improved, stop := stopper.Observe(acc)
		if improved {
			st.BestEpoch, st.ValAcc, st.ValLoss = ep, acc, vloss
			if bestW, err = l.snapshot(); err != nil {
				return st, err
			}
			if s.loss != nil {
				if bestLoss, err = s.loss.tensors(); err != nil {
					return st, err
				}
			}
		} else if stop {
			break
		}
	}
	if bestW != nil {
		if err := l.restore(bestW); err != nil {
			return st, err
		}
		if bestLoss != nil {
			if err := s.loss.restore(bestLoss); err != nil {
				return st, err
			}
		}
		return st, nil
	}
	st.BestEpoch = st.Epochs
	if s.val.Len() > 0 && s.head == nil {
		if st.ValAcc, st.ValLoss, err = l.accuracy(ctx, s.val); err != nil {
			return st, err
		}
	}
	return st, nil
}

func (l *Learner) toDevice(t *ts.Tensor, err error) (*ts.Tensor, error) {
	if err != nil || l.device == gotch.CPU {
		return t, err
	}
	d, err := t.To(l.device, true)
	if err != nil {
		_ = t.Drop()
		return nil, err
	}
	return d, nil
}

type stepBatch struct {
	idx []int
	y   []int64
	w   []float32
}

type stepResult struct{ loss, rank, target float64 }

// forwardTaps runs layers [0, to) on x and also returns the outputs of the
// tap layers (ascending). Every returned tensor must be freed by the caller.
func (l *Learner) forwardTaps(x *ts.Tensor, to int, train bool, taps []int) (*ts.Tensor, []*ts.Tensor, error) {
	isTap := map[int]bool{}
	for _, t := range taps {
		isTap[t] = true
	}
	var feats []*ts.Tensor
	cur := x
	for i := 0; i < to; i++ {
		y, err := l.layer(i, cur, train)
		if cur != x && !isTap[i-1] {
			_ = cur.Drop()
		}
		if err != nil {
			for _, f := range feats {
				_ = f.Drop()
			}
			return nil, nil, fmt.Errorf("forward through layer %d (%s): %w", i, l.arch.Layers[i].Type, err)
		}
		if isTap[i] {
			feats = append(feats, y)
		}
		cur = y
	}
	if cur == x {
		c, err := x.ShallowClone()
		return c, feats, err
	}
	if len(feats) > 0 && feats[len(feats)-1] == cur {
		// The last tap is the output itself: hand out a separate handle.
		c, err := cur.ShallowClone()
		return c, feats, err
	}
	return cur, feats, nil
}

// step runs one optimisation step on a batch.
func (l *Learner) step(b stepBatch, s loopSpec, classW *ts.Tensor, detach bool, opt, headOpt, lossOpt *nn.Optimizer) (stepResult, error) {
	var r stepResult
	var g bag
	defer g.drop()
	x, _, err := l.input(b.idx, nil)
	if err != nil {
		return r, err
	}
	g.t(x)
	y, err := l.toDevice(ts.NewTensorFromData(b.y, []int64{int64(len(b.y))}))
	if err != nil {
		return r, err
	}
	g.t(y)
	w, err := l.toDevice(ts.NewTensorFromData(b.w, []int64{int64(len(b.w))}))
	if err != nil {
		return r, err
	}
	g.t(w)
	n := len(l.arch.Layers)
	var logits *ts.Tensor
	var feats []*ts.Tensor
	switch {
	case s.head != nil:
		z, err := l.forward(x, 0, n-1, true)
		if err != nil {
			return r, err
		}
		g.t(z)
		if logits, err = ts.Linear(z, s.head.w, s.head.b); err != nil {
			return r, err
		}
	case s.loss != nil:
		logits, feats, err = l.forwardTaps(x, n, true, s.loss.taps)
		for _, f := range feats {
			g.t(f)
		}
		if err != nil {
			return r, err
		}
	default:
		if logits, err = l.forward(x, 0, n, true); err != nil {
			return r, err
		}
	}
	g.t(logits)
	logp, err := logits.LogSoftmax(-1, gotch.Float, false)
	if err != nil {
		return r, err
	}
	g.t(logp)
	cw := classW
	if cw == nil {
		cw = ts.NewTensor()
		g.t(cw)
	}
	ce, err := logp.NllLoss(y, cw, ts.ReductionNone, -100, false)
	if err != nil {
		return r, err
	}
	g.t(ce)
	wce, err := ce.Mul(w, false)
	if err != nil {
		return r, err
	}
	g.t(wce)
	loss, err := wce.Mean(gotch.Float, false)
	if err != nil {
		return r, err
	}
	g.t(loss)
	if s.loss != nil {
		target, err := ce.Detach(false)
		if err != nil {
			return r, err
		}
		g.t(target)
		pred, err := s.loss.forward(feats, detach, &g)
		if err != nil {
			return r, err
		}
		rl, err := rankingLoss(pred, target, s.lossOp.Margin, &g)
		if err != nil {
			return r, err
		}
		scaled, err := rl.MulScalar(g.f(s.lossOp.Weight), false)
		if err != nil {
			return r, err
		}
		g.t(scaled)
		total, err := loss.Add(scaled, false)
		if err != nil {
			return r, err
		}
		g.t(total)
		if r.rank, err = scalarValue(rl); err != nil {
			return r, err
		}
		tm, err := target.Mean(gotch.Float, false)
		if err != nil {
			return r, err
		}
		g.t(tm)
		if r.target, err = scalarValue(tm); err != nil {
			return r, err
		}
		loss = total
	}
	for _, o := range []*nn.Optimizer{opt, headOpt, lossOpt} {
		if o != nil {
			if err := o.ZeroGrad(); err != nil {
				return r, err
			}
		}
	}
	if err := loss.Backward(); err != nil {
		return r, err
	}
	for _, o := range []*nn.Optimizer{opt, headOpt, lossOpt} {
		if o != nil {
			if err := o.Step(); err != nil {
				return r, err
			}
		}
	}
	r.loss, err = scalarValue(loss)
	return r, err
}

// scalarValue reads a one-element tensor.
func scalarValue(t *ts.Tensor) (float64, error) {
	v := make([]float32, 1)
	c, err := t.To(gotch.CPU, false)
	if err != nil {
		return 0, err
	}
	defer c.Drop()
	f, err := c.Totype(gotch.Float, false)
	if err != nil {
		return 0, err
	}
	defer f.Drop()
	if err := f.CopyData(v, 1); err != nil {
		return 0, err
	}
	return float64(v[0]), nil
}

// FitWeighted trains on a weighted set: the loss is the batch mean of
// w_i * classW[y_i] * CE_i; otherwise it behaves as Fit (epochs, early
// stopping, min_epoch_samples) unless the options say otherwise.
func (l *Learner) FitWeighted(ctx context.Context, train learner.Weighted, val learner.Labeled, seed uint64, opt learner.FitOptions) (learner.FitStats, error) {
	pin()
	defer runtime.UnlockOSThread()
	if err := opt.Check(l.c); err != nil {
		return learner.FitStats{}, fmt.Errorf("weighted fit: %w", err)
	}
	if err := train.Check(l.c); err != nil {
		return learner.FitStats{}, fmt.Errorf("weighted fit: %w", err)
	}
	if _, err := l.prepare(seed, opt.Init); err != nil {
		return learner.FitStats{}, err
	}
	st, err := l.loop(ctx, loopSpec{train: train, val: val, seed: seed, opt: opt})
	if err != nil {
		return st.FitStats, fmt.Errorf("weighted fit: %w", err)
	}
	return st.FitStats, nil
}

// FitAuxHead trains the body under a fresh temporary output layer of
// `outputs` units on train's labels (e.g. cluster assignments); the
// classifier's own output layer is not touched.
func (l *Learner) FitAuxHead(ctx context.Context, train learner.Weighted, outputs int, seed uint64, opt learner.FitOptions) (learner.FitStats, error) {
	pin()
	defer runtime.UnlockOSThread()
	if outputs < 2 {
		return learner.FitStats{}, fmt.Errorf("auxiliary head: needs at least 2 outputs, got %d", outputs)
	}
	if _, err := l.prepare(seed, learner.InitCurrent); err != nil {
		return learner.FitStats{}, err
	}
	h, err := l.newAuxHead(outputs)
	if err != nil {
		return learner.FitStats{}, fmt.Errorf("auxiliary head: %w", err)
	}
	defer h.free()
	opt.ClassWeights = nil
	st, err := l.loop(ctx, loopSpec{train: train, seed: seed, opt: opt, head: h})
	if err != nil {
		return st.FitStats, fmt.Errorf("auxiliary head: %w", err)
	}
	return st.FitStats, nil
}

// Initialize gives the network fresh weights drawn from seed.
func (l *Learner) Initialize(seed uint64) error {
	pin()
	defer runtime.UnlockOSThread()
	if _, err := l.prepare(seed, learner.InitScratch); err != nil {
		return err
	}
	l.fitted = true
	return nil
}

// LoadBackbone loads every layer but the output layer from a weights file
// and initialises the output layer afresh from seed.
func (l *Learner) LoadBackbone(path string, seed uint64) error {
	pin()
	defer runtime.UnlockOSThread()
	w, err := learner.ReadWeights(path)
	if err != nil {
		return err
	}
	if _, err := l.prepare(seed, learner.InitScratch); err != nil {
		return err
	}
	last := len(l.arch.Layers) - 1
	keep := w[:0:0]
	skip := map[string]bool{fmt.Sprintf("l%d_weight", last): true, fmt.Sprintf("l%d_bias", last): true}
	for _, t := range w {
		if !skip[t.Name] {
			keep = append(keep, t)
		}
	}
	fresh, err := l.snapshot()
	if err != nil {
		return err
	}
	for _, t := range fresh {
		if skip[t.Name] {
			keep = append(keep, t)
		}
	}
	if err := l.restore(keep); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	l.fitted = true
	return nil
}

// vsName turns a weights-file name into a var-store name (gotch refuses dots).
func vsName(name string) string { return strings.ReplaceAll(name, ".", "_") }

// namedVar is a parameter (or buffer) of an extension network with the name
// it has in weights files.
type namedVar struct {
	name string
	t    *ts.Tensor
}

// tensorsOf copies named variables into Go memory.
func tensorsOf(vars []namedVar) ([]learner.Tensor, error) {
	out := make([]learner.Tensor, 0, len(vars))
	for _, v := range vars {
		size, err := v.t.Size()
		if err != nil {
			return nil, err
		}
		c, err := v.t.To(gotch.CPU, false)
		if err != nil {
			return nil, err
		}
		f, err := c.Totype(gotch.Float, false)
		_ = c.Drop()
		if err != nil {
			return nil, err
		}
		vals := make([]float32, f.Numel())
		err = f.CopyData(vals, uint(len(vals)))
		_ = f.Drop()
		if err != nil {
			return nil, err
		}
		shape := make([]int, len(size))
		for i, s := range size {
			shape[i] = int(s)
		}
		out = append(out, learner.Tensor{Name: v.name, Shape: shape, Data: vals})
	}
	return out, nil
}

// restoreVars copies saved values into named variables, checking shapes.
func restoreVars(vars []namedVar, w []learner.Tensor, device gotch.Device) error {
	byName := map[string]learner.Tensor{}
	for _, t := range w {
		byName[t.Name] = t
	}
	done, err := noGrad()
	if err != nil {
		return err
	}
	defer done()
	for _, v := range vars {
		src, ok := byName[v.name]
		if !ok {
			return fmt.Errorf("weights: tensor %q is missing", v.name)
		}
		size, err := v.t.Size()
		if err != nil {
			return err
		}
		if fmt.Sprint(toInt64(src.Shape)) != fmt.Sprint(size) {
			return fmt.Errorf("weights: tensor %q has shape %v, the network needs %v", v.name, src.Shape, size)
		}
		t, err := ts.NewTensorFromData(src.Data, size)
		if err != nil {
			return err
		}
		if device != gotch.CPU {
			d, err := t.To(device, true)
			if err != nil {
				return err
			}
			t = d
		}
		v.t.Copy_(t)
		_ = t.Drop()
	}
	return nil
}

// freeVars frees every variable of a var store.
func freeVars(vs *nn.VarStore) {
	if vs == nil {
		return
	}
	for _, t := range vs.Variables() {
		t := t
		_ = t.Drop()
	}
}
