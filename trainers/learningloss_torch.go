//go:build torch

package trainers

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/learner/torch"
)

// lossNet is the loss-prediction module of Yoo & Kweon (2019, "Learning loss
// for active learning"): every tapped feature map is globally average-pooled
// (flat features pass as they are), fed to its own dense layer with ReLU,
// the results are concatenated and a dense layer gives one number, the
// predicted loss.
type lossNet struct {
	vs     *nn.VarStore
	taps   []int
	width  int
	tw, tb []*ts.Tensor // per tap
	ow, ob *ts.Tensor
}

// defaultTaps returns the activation layers before the output layer (for
// the BatchBALD CNN: after each conv block and after the hidden dense layer).
func defaultTaps(a learner.Architecture) []int {
	var out []int
	for i, s := range a.Layers[:len(a.Layers)-1] {
		switch s.Type {
		case "relu", "tanh", "sigmoid":
			out = append(out, i)
		}
	}
	return out
}

func newLossNet(l *torch.Learner, taps []int, width int) (*lossNet, error) {
	m := &lossNet{vs: nn.NewVarStore(l.Device()), taps: slices.Clone(taps), width: width}
	root := m.vs.Root()
	dense := func(name string, out, in int) (*ts.Tensor, *ts.Tensor, error) {
		bound := 1 / math.Sqrt(float64(in))
		w, err := root.NewVar(torch.VarName(name+".weight"), []int64{int64(out), int64(in)}, nn.NewUniformInit(-bound, bound))
		if err != nil {
			return nil, nil, err
		}
		b, err := root.NewVar(torch.VarName(name+".bias"), []int64{int64(out)}, nn.NewUniformInit(-bound, bound))
		return w, b, err
	}
	for _, t := range taps {
		w, b, err := dense(fmt.Sprintf("lossnet.tap.%d", t), width, l.Architecture().Layers[t].OutShape[0])
		if err != nil {
			m.free()
			return nil, err
		}
		m.tw, m.tb = append(m.tw, w), append(m.tb, b)
	}
	var err error
	if m.ow, m.ob, err = dense("lossnet.out", 1, width*len(taps)); err != nil {
		m.free()
		return nil, err
	}
	return m, nil
}

func (m *lossNet) free() { torch.FreeVars(m.vs) }

func (m *lossNet) vars() []torch.NamedVar {
	var out []torch.NamedVar
	for i, t := range m.taps {
		out = append(out, torch.NamedVar{Name: fmt.Sprintf("lossnet.tap.%d.weight", t), T: m.tw[i]},
			torch.NamedVar{Name: fmt.Sprintf("lossnet.tap.%d.bias", t), T: m.tb[i]})
	}
	return append(out, torch.NamedVar{Name: "lossnet.out.weight", T: m.ow}, torch.NamedVar{Name: "lossnet.out.bias", T: m.ob})
}

func (m *lossNet) tensors() ([]learner.Tensor, error) { return torch.TensorsOf(m.vars()) }

func (m *lossNet) restore(w []learner.Tensor) error {
	return torch.RestoreVars(m.vars(), w, m.vs.Device())
}

// lossNetFrom rebuilds a module saved in w (nil when w holds none).
func lossNetFrom(l *torch.Learner, w []learner.Tensor) (*lossNet, error) {
	var taps []int
	width := 0
	for _, t := range w {
		rest, ok := strings.CutPrefix(t.Name, "lossnet.tap.")
		if !ok || !strings.HasSuffix(rest, ".weight") {
			continue
		}
		i, err := strconv.Atoi(strings.TrimSuffix(rest, ".weight"))
		if err != nil || i < 0 || i >= len(l.Architecture().Layers)-1 || len(t.Shape) != 2 {
			return nil, fmt.Errorf("weights: loss module tensor %q does not fit this model", t.Name)
		}
		taps = append(taps, i)
		width = t.Shape[0]
	}
	if len(taps) == 0 {
		return nil, nil
	}
	slices.Sort(taps)
	m, err := newLossNet(l, taps, width)
	if err != nil {
		return nil, err
	}
	if err := m.restore(w); err != nil {
		m.free()
		return nil, err
	}
	return m, nil
}

// forward predicts one loss per sample from the tapped features (in tap
// order); with detach the features are cut from the network's graph.
func (m *lossNet) forward(feats []*ts.Tensor, detach bool, g *torch.Bag) (*ts.Tensor, error) {
	if len(feats) != len(m.taps) {
		return nil, fmt.Errorf("loss module: %d feature maps for %d taps", len(feats), len(m.taps))
	}
	parts := make([]ts.Tensor, len(feats))
	for i, f := range feats {
		x := f
		if detach {
			d, err := f.Detach(false)
			if err != nil {
				return nil, err
			}
			x = g.T(d)
		}
		size, err := x.Size()
		if err != nil {
			return nil, err
		}
		if len(size) == 4 {
			p, err := x.MeanDim([]int64{2, 3}, false, gotch.Float, false)
			if err != nil {
				return nil, err
			}
			x = g.T(p)
		} else if len(size) != 2 {
			return nil, fmt.Errorf("loss module: tap %d has a %d-dimensional output; tap conv or dense activations", m.taps[i], len(size)-1)
		}
		h, err := ts.Linear(x, m.tw[i], m.tb[i])
		if err != nil {
			return nil, err
		}
		g.T(h)
		a, err := h.Relu(false)
		if err != nil {
			return nil, err
		}
		g.T(a)
		parts[i] = *a
	}
	cat, err := ts.Cat(parts, 1)
	if err != nil {
		return nil, err
	}
	g.T(cat)
	out, err := ts.Linear(cat, m.ow, m.ob)
	if err != nil {
		return nil, err
	}
	g.T(out)
	sq, err := out.SqueezeDim(1, false)
	if err != nil {
		return nil, err
	}
	return g.T(sq), nil
}

// rankingLoss is the paper's loss-prediction loss: the batch is split into
// pairs (sample i of the first half with sample i of the second half), and
// each pair costs max(0, -sign(l_i - l_j) (p_i - p_j) + margin), where l
// are the true (detached) losses, p the predicted ones, and sign is +1 when
// l_i > l_j and -1 otherwise; the result is the mean over pairs. A batch of
// one sample gives 0.
func rankingLoss(pred, target *ts.Tensor, margin float64, g *torch.Bag) (*ts.Tensor, error) {
	size, err := pred.Size()
	if err != nil {
		return nil, err
	}
	half := size[0] / 2
	if half == 0 {
		z, err := pred.MulScalar(g.F(0), false)
		if err != nil {
			return nil, err
		}
		g.T(z)
		s, err := z.Sum(gotch.Float, false)
		return g.T(s), err
	}
	narrow := func(t *ts.Tensor, start int64) (*ts.Tensor, error) {
		n, err := t.Narrow(0, start, half, false)
		return g.T(n), err
	}
	p1, err := narrow(pred, 0)
	if err != nil {
		return nil, err
	}
	p2, err := narrow(pred, half)
	if err != nil {
		return nil, err
	}
	t1, err := narrow(target, 0)
	if err != nil {
		return nil, err
	}
	t2, err := narrow(target, half)
	if err != nil {
		return nil, err
	}
	d, err := t1.Sub(t2, false)
	if err != nil {
		return nil, err
	}
	g.T(d)
	pos, err := d.ClampMin(g.F(0), false)
	if err != nil {
		return nil, err
	}
	g.T(pos)
	sg, err := pos.Sign(false)
	if err != nil {
		return nil, err
	}
	g.T(sg)
	two, err := sg.MulScalar(g.F(2), false)
	if err != nil {
		return nil, err
	}
	g.T(two)
	one, err := two.AddScalar(g.F(-1), false)
	if err != nil {
		return nil, err
	}
	g.T(one)
	l, err := ts.MarginRankingLoss(p1, p2, one, margin, ts.ReductionMean)
	return g.T(l), err
}

// FitWithLossModule trains the network jointly with the loss-prediction
// module: loss = mean CE + weight * ranking loss. The module is rebuilt
// whenever the network is (from scratch unless warm_start), and after
// stop_grad_fraction of the epochs its input is detached, so it no longer
// shapes the network's features.
func (l *torchLearner) FitWithLossModule(ctx context.Context, train, val learner.Labeled, seed uint64, opt learner.LossModuleOptions) (learner.FitStats, learner.LossModuleStats, error) {
	torch.Pin()
	defer runtime.UnlockOSThread()
	var ls learner.LossModuleStats
	if err := opt.Check(); err != nil {
		return learner.FitStats{}, ls, err
	}
	if train.Len() == 0 {
		return learner.FitStats{}, ls, fmt.Errorf("fit: no labeled samples")
	}
	fresh, err := l.Prepare(seed, learner.InitConfig)
	if err != nil {
		return learner.FitStats{}, ls, err
	}
	taps := slices.Clone(opt.Taps)
	if len(taps) == 0 {
		taps = defaultTaps(l.Architecture())
	}
	slices.Sort(taps)
	taps = slices.Compact(taps)
	if len(taps) == 0 {
		return learner.FitStats{}, ls, fmt.Errorf("loss module: the model has no activation layer to tap; set trainer.options.taps")
	}
	arch := l.Architecture()
	for _, t := range taps {
		if t < 0 || t >= len(arch.Layers)-1 {
			return learner.FitStats{}, ls, fmt.Errorf("trainer.options.taps: layer %d is not a hidden layer of the model (0..%d)", t, len(arch.Layers)-2)
		}
		if s := arch.Layers[t].OutShape; len(s) != 1 && len(s) != 3 {
			return learner.FitStats{}, ls, fmt.Errorf("trainer.options.taps: layer %d has output shape %v; tap flat or [channels, height, width] outputs", t, s)
		}
	}
	if m := l.loss; fresh || m == nil || !slices.Equal(m.taps, taps) || m.width != opt.Width {
		if m != nil {
			m.free()
		}
		if l.loss, err = newLossNet(l.Learner, taps, opt.Width); err != nil {
			l.loss = nil
			return learner.FitStats{}, ls, fmt.Errorf("loss module: %w", err)
		}
	}
	st, err := l.loop(ctx, loopSpec{train: learner.FromLabeled(train), val: val, seed: seed, loss: l.loss, lossOp: opt,
		opt: learner.FitOptions{NoEarlyStop: !opt.EarlyStopping}})
	ls = learner.LossModuleStats{TargetLoss: st.target, RankingLoss: st.rank, StopGradEpoch: st.stopEpoch}
	if err != nil {
		return st.FitStats, ls, fmt.Errorf("fit with loss module: %w", err)
	}
	return st.FitStats, ls, nil
}

// PredictedLoss returns the loss module's prediction for each pool index.
func (l *torchLearner) PredictedLoss(ctx context.Context, idx []int) ([]float64, error) {
	torch.Pin()
	defer runtime.UnlockOSThread()
	if err := l.Ready(); err != nil {
		return nil, err
	}
	m := l.loss
	if m == nil {
		return nil, fmt.Errorf("predicted loss: the loss module has not been trained; use trainer: {name: learning_loss}")
	}
	out := make([]float64, len(idx))
	n := len(l.Architecture().Layers)
	err := l.Batches(ctx, "predicted-loss", idx, func(lo, hi int, x *ts.Tensor) error {
		var g torch.Bag
		defer g.Drop()
		logits, feats, err := l.ForwardTaps(x, n, false, m.taps)
		for _, f := range feats {
			g.T(f)
		}
		if err != nil {
			return err
		}
		g.T(logits)
		p, err := m.forward(feats, false, &g)
		if err != nil {
			return err
		}
		return torch.CopyValues(p, out[lo:hi])
	})
	if err != nil {
		return nil, fmt.Errorf("predicted loss: %w", err)
	}
	return out, nil
}
