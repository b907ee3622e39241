//go:build torch

// Package torchnet is the agents' network backend on libtorch (gotch
// v0.7.0): it builds the policy, value and Q networks' graphs from the Go
// weights of an agents.MLP, computes the policy-gradient (REINFORCE / PPO)
// and regression (baseline, DQN) losses and returns their gradients. It is
// compiled only with the build tag torch and registers itself as the
// "torch" backend; import it for its side effect.
package torchnet

import (
	"fmt"
	"runtime"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/agents"
)

func init() {
	agents.RegisterBackend("torch", func() (agents.Backend, error) { return Backend{}, nil })
}

// Backend computes losses and gradients on libtorch (CPU, float64: the
// networks are small, and exact gradients keep training reproducible).
type Backend struct{}

// Name returns "torch".
func (Backend) Name() string { return "torch" }

// Close does nothing: every call frees its own tensors.
func (Backend) Close() error { return nil }

// graph tracks the tensors of one computation and frees them all at the end.
type graph struct {
	held []*ts.Tensor
	sc   []*ts.Scalar
	err  error
}

func (g *graph) keep(t *ts.Tensor, err error) *ts.Tensor {
	if g.err != nil {
		if t != nil {
			_ = t.Drop()
		}
		return nil
	}
	if err != nil {
		g.err = err
		return nil
	}
	g.held = append(g.held, t)
	return t
}

func (g *graph) scalar(v float64) *ts.Scalar {
	s := ts.FloatScalar(v)
	g.sc = append(g.sc, s)
	return s
}

func (g *graph) free() {
	for i := len(g.held) - 1; i >= 0; i-- {
		_ = g.held[i].Drop()
	}
	for _, s := range g.sc {
		_ = s.Drop()
	}
	g.held, g.sc = nil, nil
}

// ok reports whether every operation so far succeeded.
func (g *graph) ok() bool { return g.err == nil }

func (g *graph) data(vals []float64, shape ...int64) *ts.Tensor {
	if g.err != nil {
		return nil
	}
	if len(vals) == 0 {
		return g.keep(ts.Zeros(shape, gotch.Double, gotch.CPU))
	}
	return g.keep(ts.NewTensorFromData(vals, shape))
}

func (g *graph) matrix(x *mat.Dense) *ts.Tensor {
	r, c := x.Dims()
	vals := make([]float64, 0, r*c)
	for i := 0; i < r; i++ {
		vals = append(vals, x.RawRowView(i)...)
	}
	return g.data(vals, int64(r), int64(c))
}

// op applies f to t unless an earlier step failed.
func (g *graph) op(t *ts.Tensor, f func(*ts.Tensor) (*ts.Tensor, error)) *ts.Tensor {
	if g.err != nil || t == nil {
		if g.err == nil {
			g.err = fmt.Errorf("torchnet: nil tensor")
		}
		return nil
	}
	return g.keep(f(t))
}

func (g *graph) op2(a, b *ts.Tensor, f func(a, b *ts.Tensor) (*ts.Tensor, error)) *ts.Tensor {
	if g.err != nil || a == nil || b == nil {
		if g.err == nil {
			g.err = fmt.Errorf("torchnet: nil tensor")
		}
		return nil
	}
	return g.keep(f(a, b))
}

// params makes leaf tensors that require gradients from the network's weights.
func (g *graph) params(net *agents.MLP) []*ts.Tensor {
	var out []*ts.Tensor
	for l := range net.W {
		w := g.data(net.W[l], int64(net.Sizes[l+1]), int64(net.Sizes[l]))
		b := g.data(net.B[l], int64(net.Sizes[l+1]))
		w = g.op(w, func(t *ts.Tensor) (*ts.Tensor, error) { return t.SetRequiresGrad(true, false) })
		b = g.op(b, func(t *ts.Tensor) (*ts.Tensor, error) { return t.SetRequiresGrad(true, false) })
		out = append(out, w, b)
	}
	return out
}

// forward runs the network on x ([n, in]) with optional dropout masks.
func (g *graph) forward(net *agents.MLP, p []*ts.Tensor, x *ts.Tensor, n int, masks [][]float64) *ts.Tensor {
	h := x
	for l := range net.W {
		w, b := p[2*l], p[2*l+1]
		h = g.op(h, func(t *ts.Tensor) (*ts.Tensor, error) { return ts.Linear(t, w, b) })
		if l+1 < len(net.W) {
			h = g.op(h, func(t *ts.Tensor) (*ts.Tensor, error) { return t.Relu(false) })
			if masks != nil {
				m := g.data(masks[l], int64(n), int64(net.Sizes[l+1]))
				h = g.op2(h, m, func(a, b *ts.Tensor) (*ts.Tensor, error) { return a.Mul(b, false) })
			}
		}
	}
	return h
}

// scores returns the policy's [n] scores of the rows of x as
// agents.SampleScores defines them: one deterministic pass without passes,
// else the mean over the passes' outputs (each under its stored dropout
// masks) plus bonus x their population standard deviation.
func (g *graph) scores(net *agents.MLP, p []*ts.Tensor, x *ts.Tensor, n int, passes [][][]float64, bonus float64) *ts.Tensor {
	flat := func(t *ts.Tensor) (*ts.Tensor, error) { return t.View([]int64{int64(n)}, false) }
	if len(passes) == 0 {
		return g.op(g.forward(net, p, x, n, nil), flat)
	}
	outs := make([]ts.Tensor, 0, len(passes))
	for _, mk := range passes {
		o := g.op(g.forward(net, p, x, n, mk), flat)
		if o == nil {
			return nil
		}
		outs = append(outs, *o)
	}
	st := g.keep(ts.Stack(outs, 0)) // [passes, n]
	mean := g.op(st, func(t *ts.Tensor) (*ts.Tensor, error) { return t.MeanDim([]int64{0}, false, gotch.Double, false) })
	if bonus == 0 || len(passes) == 1 {
		return mean // one pass: the standard deviation is exactly 0
	}
	d := g.op2(st, mean, func(a, b *ts.Tensor) (*ts.Tensor, error) { return a.Sub(b, false) })
	sq := g.op2(d, d, func(a, b *ts.Tensor) (*ts.Tensor, error) { return a.Mul(b, false) })
	v := g.op(sq, func(t *ts.Tensor) (*ts.Tensor, error) { return t.MeanDim([]int64{0}, false, gotch.Double, false) })
	// sqrt has an infinite derivative at 0 (identical passes): clamping
	// the variance to 1e-300 keeps the gradient finite (0 there) and moves
	// the score by at most |bonus| x 1e-150.
	v = g.op(v, func(t *ts.Tensor) (*ts.Tensor, error) { return t.ClampMin(g.scalar(1e-300), false) })
	sd := g.op(v, func(t *ts.Tensor) (*ts.Tensor, error) { return t.Sqrt(false) })
	sd = g.op(sd, func(t *ts.Tensor) (*ts.Tensor, error) { return t.MulScalar(g.scalar(bonus), false) })
	return g.op2(mean, sd, func(a, b *ts.Tensor) (*ts.Tensor, error) { return a.Add(b, false) })
}

// add returns total + term, or term when total is nil (the first term).
func (g *graph) add(total, term *ts.Tensor) *ts.Tensor {
	if total == nil {
		return term
	}
	return g.op2(total, term, func(a, b *ts.Tensor) (*ts.Tensor, error) { return a.Add(b, false) })
}

// negMean returns -total / n: the loss of n samples' summed objectives.
func (g *graph) negMean(total *ts.Tensor, n int) *ts.Tensor {
	return g.op(total, func(t *ts.Tensor) (*ts.Tensor, error) { return t.MulScalar(g.scalar(-1/float64(n)), false) })
}

// grads runs backward from loss and copies the parameters' gradients out.
func (g *graph) grads(loss *ts.Tensor, p []*ts.Tensor, net *agents.MLP) (float64, [][]float64, error) {
	if g.err != nil {
		return 0, nil, g.err
	}
	if err := loss.Backward(); err != nil {
		return 0, nil, fmt.Errorf("torchnet: backward: %w", err)
	}
	lv := make([]float64, 1)
	if err := loss.CopyData(lv, 1); err != nil {
		return 0, nil, err
	}
	params := net.Params()
	out := make([][]float64, len(p))
	for i, t := range p {
		gt := g.keep(t.Grad(false))
		if gt == nil {
			return 0, nil, g.err
		}
		out[i] = make([]float64, len(params[i]))
		if err := gt.CopyData(out[i], uint(len(out[i]))); err != nil {
			return 0, nil, fmt.Errorf("torchnet: reading a gradient: %w", err)
		}
	}
	return lv[0], out, nil
}

// begin pins the goroutine (libtorch's grad mode is thread-local) and makes
// sure gradients are tracked.
func begin() (func(), error) {
	runtime.LockOSThread()
	if _, err := ts.GradSetEnabled(true); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	return runtime.UnlockOSThread, nil
}

// PolicyGrad computes the REINFORCE or PPO loss of a Plackett-Luce policy
// whose logits are the network's single output per candidate (for an
// MC-dropout policy: the mean, plus loss.Bonus x the standard deviation, of
// that output over the sample's stored dropout passes), and its gradient.
func (Backend) PolicyGrad(net *agents.MLP, samples []agents.PLSample, loss agents.PGLoss) (float64, [][]float64, error) {
	if net.Out() != 1 {
		return 0, nil, fmt.Errorf("torchnet: a policy network has one output (the score), got %d", net.Out())
	}
	if len(samples) == 0 {
		return 0, nil, fmt.Errorf("torchnet: no samples")
	}
	tau := loss.Temperature
	if tau <= 0 {
		tau = 1
	}
	done, err := begin()
	if err != nil {
		return 0, nil, err
	}
	defer done()
	g := &graph{}
	defer g.free()
	p := g.params(net)
	var total *ts.Tensor
	for si, s := range samples {
		m, _ := s.X.Dims()
		k := len(s.Chosen)
		if k == 0 || k > m {
			return 0, nil, fmt.Errorf("torchnet: sample %d chose %d of %d candidates", si, k, m)
		}
		x := g.matrix(s.X)
		// The scores under the sample's own stored passes: the distribution
		// the agent acted with (agents.SampleScores).
		sc := g.scores(net, p, x, m, s.Passes, loss.Bonus)
		sc = g.op(sc, func(t *ts.Tensor) (*ts.Tensor, error) { return t.DivScalar(g.scalar(tau), false) })
		// Row j of the mask removes the candidates drawn before step j.
		add := make([]float64, k*m)
		idx := make([]int64, k)
		for j, c := range s.Chosen {
			if c < 0 || c >= m {
				return 0, nil, fmt.Errorf("torchnet: sample %d chose row %d of %d", si, c, m)
			}
			idx[j] = int64(c)
			for jj := j + 1; jj < k; jj++ {
				add[jj*m+c] = -1e30
			}
		}
		mask := g.data(add, int64(k), int64(m))
		rowsAll := g.op(sc, func(t *ts.Tensor) (*ts.Tensor, error) { return t.Unsqueeze(0, false) })
		masked := g.op2(rowsAll, mask, func(a, b *ts.Tensor) (*ts.Tensor, error) { return a.Add(b, false) })
		lse := g.op(masked, func(t *ts.Tensor) (*ts.Tensor, error) { return t.Logsumexp([]int64{1}, false, false) })
		it := g.keep(ts.NewTensorFromData(idx, []int64{int64(k)}))
		chosen := g.op2(sc, it, func(a, b *ts.Tensor) (*ts.Tensor, error) { return a.IndexSelect(0, b, false) })
		diff := g.op2(chosen, lse, func(a, b *ts.Tensor) (*ts.Tensor, error) { return a.Sub(b, false) })
		logp := g.op(diff, func(t *ts.Tensor) (*ts.Tensor, error) { return t.Sum(gotch.Double, false) })
		var obj *ts.Tensor
		switch loss.Algo {
		case "ppo":
			d := g.op(logp, func(t *ts.Tensor) (*ts.Tensor, error) { return t.AddScalar(g.scalar(-s.OldLogP), false) })
			ratio := g.op(d, func(t *ts.Tensor) (*ts.Tensor, error) { return t.Exp(false) })
			a := g.op(ratio, func(t *ts.Tensor) (*ts.Tensor, error) { return t.MulScalar(g.scalar(s.Adv), false) })
			cl := g.op(ratio, func(t *ts.Tensor) (*ts.Tensor, error) {
				return t.Clamp(g.scalar(1-loss.Clip), g.scalar(1+loss.Clip), false)
			})
			b := g.op(cl, func(t *ts.Tensor) (*ts.Tensor, error) { return t.MulScalar(g.scalar(s.Adv), false) })
			obj = g.op2(a, b, func(a, b *ts.Tensor) (*ts.Tensor, error) { return a.Minimum(b, false) })
		case "reinforce", "":
			obj = g.op(logp, func(t *ts.Tensor) (*ts.Tensor, error) { return t.MulScalar(g.scalar(s.Adv), false) })
		default:
			return 0, nil, fmt.Errorf("torchnet: unknown policy-gradient algorithm %q", loss.Algo)
		}
		if loss.Entropy != 0 {
			lsm := g.op(sc, func(t *ts.Tensor) (*ts.Tensor, error) { return t.LogSoftmax(0, gotch.Double, false) })
			pr := g.op(lsm, func(t *ts.Tensor) (*ts.Tensor, error) { return t.Exp(false) })
			pl := g.op2(pr, lsm, func(a, b *ts.Tensor) (*ts.Tensor, error) { return a.Mul(b, false) })
			negH := g.op(pl, func(t *ts.Tensor) (*ts.Tensor, error) { return t.Sum(gotch.Double, false) })
			bonus := g.op(negH, func(t *ts.Tensor) (*ts.Tensor, error) { return t.MulScalar(g.scalar(-loss.Entropy), false) })
			obj = g.op2(obj, bonus, func(a, b *ts.Tensor) (*ts.Tensor, error) { return a.Add(b, false) })
		}
		total = g.add(total, obj)
		if !g.ok() {
			return 0, nil, fmt.Errorf("torchnet: policy loss of sample %d: %w", si, g.err)
		}
	}
	return g.grads(g.negMean(total, len(samples)), p, net)
}

// RegressionGrad computes the mean squared error (or Huber loss) between
// selected outputs of the network and targets, and its gradient.
func (Backend) RegressionGrad(net *agents.MLP, x *mat.Dense, masks [][]float64, out []int, targets []float64, huber bool) (float64, [][]float64, error) {
	n, _ := x.Dims()
	if len(out) != n || len(targets) != n || n == 0 {
		return 0, nil, fmt.Errorf("torchnet: %d rows, %d output indices, %d targets", n, len(out), len(targets))
	}
	idx := make([]int64, n)
	for i, o := range out {
		if o < 0 || o >= net.Out() {
			return 0, nil, fmt.Errorf("torchnet: output index %d of row %d is outside [0, %d)", o, i, net.Out())
		}
		idx[i] = int64(o)
	}
	done, err := begin()
	if err != nil {
		return 0, nil, err
	}
	defer done()
	g := &graph{}
	defer g.free()
	p := g.params(net)
	xt := g.matrix(x)
	y := g.forward(net, p, xt, n, masks)
	it := g.keep(ts.NewTensorFromData(idx, []int64{int64(n), 1}))
	sel := g.op2(y, it, func(a, b *ts.Tensor) (*ts.Tensor, error) { return a.Gather(1, b, false, false) })
	sel = g.op(sel, func(t *ts.Tensor) (*ts.Tensor, error) { return t.View([]int64{int64(n)}, false) })
	tg := g.data(targets, int64(n))
	var l *ts.Tensor
	if huber {
		l = g.op2(sel, tg, func(a, b *ts.Tensor) (*ts.Tensor, error) { return a.HuberLoss(b, ts.ReductionMean, 1.0, false) })
	} else {
		l = g.op2(sel, tg, func(a, b *ts.Tensor) (*ts.Tensor, error) { return a.MseLoss(b, ts.ReductionMean, false) })
	}
	if !g.ok() {
		return 0, nil, fmt.Errorf("torchnet: regression loss: %w", g.err)
	}
	return g.grads(l, p, net)
}

// ListwiseGrad computes the mean over samples of the top-one ListNet loss
// -sum_i q_i log softmax(scores)_i of the network's scores of s.X against
// s.Target, and its gradient.
func (Backend) ListwiseGrad(net *agents.MLP, samples []agents.RankSample) (float64, [][]float64, error) {
	if net.Out() != 1 {
		return 0, nil, fmt.Errorf("torchnet: a ranking network has one output (the score), got %d", net.Out())
	}
	if len(samples) == 0 {
		return 0, nil, fmt.Errorf("torchnet: no samples")
	}
	done, err := begin()
	if err != nil {
		return 0, nil, err
	}
	defer done()
	g := &graph{}
	defer g.free()
	p := g.params(net)
	var total *ts.Tensor
	for si, s := range samples {
		m, _ := s.X.Dims()
		if len(s.Target) != m || m == 0 {
			return 0, nil, fmt.Errorf("torchnet: sample %d has %d rows and %d targets", si, m, len(s.Target))
		}
		sc := g.scores(net, p, g.matrix(s.X), m, nil, 0)
		lsm := g.op(sc, func(t *ts.Tensor) (*ts.Tensor, error) { return t.LogSoftmax(0, gotch.Double, false) })
		q := g.data(s.Target, int64(m))
		prod := g.op2(lsm, q, func(a, b *ts.Tensor) (*ts.Tensor, error) { return a.Mul(b, false) })
		sum := g.op(prod, func(t *ts.Tensor) (*ts.Tensor, error) { return t.Sum(gotch.Double, false) })
		total = g.add(total, sum)
		if !g.ok() {
			return 0, nil, fmt.Errorf("torchnet: listwise loss of sample %d: %w", si, g.err)
		}
	}
	return g.grads(g.negMean(total, len(samples)), p, net)
}
