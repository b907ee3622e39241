//go:build torch

package trainers

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/learner/torch"
)

// This file holds the torch training loop shared by the capabilities that
// the trainers using the unlabeled pool need: weighted fits (CEAL, SSAL),
// temporary output layers (DeepCluster pre-training) and the loss-prediction
// module (learning loss, learningloss_torch.go).

// auxHead is a temporary dense output layer over the embedding.
type auxHead struct {
	vs   *nn.VarStore
	w, b *ts.Tensor
}

func (l *torchLearner) newAuxHead(outputs int) (*auxHead, error) {
	d := l.Architecture().EmbedDim()
	h := &auxHead{vs: nn.NewVarStore(l.Device())}
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

func (h *auxHead) free() { torch.FreeVars(h.vs) }

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

// loop trains for the given spec: mini-batches of the weighted set in a
// fresh seeded order every epoch (small sets cycled to min_epoch_samples),
// loss = mean_i w_i classW[y_i] CE_i (+ weight * ranking loss with a loss
// module), early stopping on validation accuracy unless disabled or
// training under a temporary head.
func (l *torchLearner) loop(ctx context.Context, s loopSpec) (loopStats, error) {
	var st loopStats
	st.ValAcc, st.ValLoss = math.NaN(), math.NaN()
	c := l.NumClasses()
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
	if err := s.opt.Check(l.NumClasses()); err != nil {
		return st, err
	}
	tc := l.Config().Train
	lr := tc.LR
	if s.opt.LR > 0 {
		lr = s.opt.LR
	}
	wd := tc.WeightDecay
	if tc.WeightDecayPerSample {
		wd /= float64(s.train.Len())
	}
	opt, err := l.NewOptimizer(l.VarStore(), lr, wd)
	if err != nil {
		return st, err
	}
	var headOpt, lossOpt *nn.Optimizer
	if s.head != nil {
		if headOpt, err = l.NewOptimizer(s.head.vs, lr, wd); err != nil {
			return st, err
		}
	}
	if s.loss != nil {
		if lossOpt, err = l.NewOptimizer(s.loss.vs, lr, wd); err != nil {
			return st, err
		}
	}
	var classW *ts.Tensor
	if s.opt.ClassWeights != nil && s.head == nil {
		cw := make([]float32, len(s.opt.ClassWeights))
		for i, v := range s.opt.ClassWeights {
			cw[i] = float32(v)
		}
		if classW, err = l.ToDevice(ts.NewTensorFromData(cw, []int64{int64(len(cw))})); err != nil {
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
	l.MarkFitted()
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
		acc, vloss, err := l.Accuracy(ctx, s.val)
		if err != nil {
			return st, err
		}
		improved, stop := stopper.Observe(acc)
		if improved {
			st.BestEpoch, st.ValAcc, st.ValLoss = ep, acc, vloss
			if bestW, err = l.Snapshot(); err != nil {
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
		if err := l.Restore(bestW); err != nil {
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
		if st.ValAcc, st.ValLoss, err = l.Accuracy(ctx, s.val); err != nil {
			return st, err
		}
	}
	return st, nil
}

type stepBatch struct {
	idx []int
	y   []int64
	w   []float32
}

type stepResult struct{ loss, rank, target float64 }

// step runs one optimisation step on a batch.
func (l *torchLearner) step(b stepBatch, s loopSpec, classW *ts.Tensor, detach bool, opt, headOpt, lossOpt *nn.Optimizer) (stepResult, error) {
	var r stepResult
	var g torch.Bag
	defer g.Drop()
	x, err := l.Input(b.idx)
	if err != nil {
		return r, err
	}
	g.T(x)
	y, err := l.ToDevice(ts.NewTensorFromData(b.y, []int64{int64(len(b.y))}))
	if err != nil {
		return r, err
	}
	g.T(y)
	w, err := l.ToDevice(ts.NewTensorFromData(b.w, []int64{int64(len(b.w))}))
	if err != nil {
		return r, err
	}
	g.T(w)
	n := len(l.Architecture().Layers)
	var logits *ts.Tensor
	var feats []*ts.Tensor
	switch {
	case s.head != nil:
		z, err := l.Forward(x, 0, n-1, true)
		if err != nil {
			return r, err
		}
		g.T(z)
		if logits, err = ts.Linear(z, s.head.w, s.head.b); err != nil {
			return r, err
		}
	case s.loss != nil:
		logits, feats, err = l.ForwardTaps(x, n, true, s.loss.taps)
		for _, f := range feats {
			g.T(f)
		}
		if err != nil {
			return r, err
		}
	default:
		if logits, err = l.Forward(x, 0, n, true); err != nil {
			return r, err
		}
	}
	g.T(logits)
	logp, err := logits.LogSoftmax(-1, gotch.Float, false)
	if err != nil {
		return r, err
	}
	g.T(logp)
	cw := classW
	if cw == nil {
		cw = ts.NewTensor()
		g.T(cw)
	}
	ce, err := logp.NllLoss(y, cw, ts.ReductionNone, -100, false)
	if err != nil {
		return r, err
	}
	g.T(ce)
	wce, err := ce.Mul(w, false)
	if err != nil {
		return r, err
	}
	g.T(wce)
	loss, err := wce.Mean(gotch.Float, false)
	if err != nil {
		return r, err
	}
	g.T(loss)
	if s.loss != nil {
		target, err := ce.Detach(false)
		if err != nil {
			return r, err
		}
		g.T(target)
		pred, err := s.loss.forward(feats, detach, &g)
		if err != nil {
			return r, err
		}
		rl, err := rankingLoss(pred, target, s.lossOp.Margin, &g)
		if err != nil {
			return r, err
		}
		scaled, err := rl.MulScalar(g.F(s.lossOp.Weight), false)
		if err != nil {
			return r, err
		}
		g.T(scaled)
		total, err := loss.Add(scaled, false)
		if err != nil {
			return r, err
		}
		g.T(total)
		if r.rank, err = torch.ScalarValue(rl); err != nil {
			return r, err
		}
		tm, err := target.Mean(gotch.Float, false)
		if err != nil {
			return r, err
		}
		g.T(tm)
		if r.target, err = torch.ScalarValue(tm); err != nil {
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
	r.loss, err = torch.ScalarValue(loss)
	return r, err
}

// FitWeighted trains on a weighted set: the loss is the batch mean of
// w_i * classW[y_i] * CE_i; otherwise it behaves as Fit (epochs, early
// stopping, min_epoch_samples) unless the options say otherwise.
func (l *torchLearner) FitWeighted(ctx context.Context, train learner.Weighted, val learner.Labeled, seed uint64, opt learner.FitOptions) (learner.FitStats, error) {
	torch.Pin()
	defer runtime.UnlockOSThread()
	if err := opt.Check(l.NumClasses()); err != nil {
		return learner.FitStats{}, fmt.Errorf("weighted fit: %w", err)
	}
	if err := train.Check(l.NumClasses()); err != nil {
		return learner.FitStats{}, fmt.Errorf("weighted fit: %w", err)
	}
	if _, err := l.Prepare(seed, opt.Init); err != nil {
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
func (l *torchLearner) FitAuxHead(ctx context.Context, train learner.Weighted, outputs int, seed uint64, opt learner.FitOptions) (learner.FitStats, error) {
	torch.Pin()
	defer runtime.UnlockOSThread()
	if outputs < 2 {
		return learner.FitStats{}, fmt.Errorf("auxiliary head: needs at least 2 outputs, got %d", outputs)
	}
	if _, err := l.Prepare(seed, learner.InitCurrent); err != nil {
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
