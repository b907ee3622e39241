//go:build torch

package torch

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/alrl/alrl/learner"
)

// vaalNets are VAAL's beta-VAE and discriminator (Sinha, Ebrahimi & Darrell
// 2019), shaped after the paper's code: for images, an encoder of 4x4
// stride-2 convolutions without bias, each followed by batch norm and ReLU,
// dense layers to the latent mean and log-variance, and a decoder of a dense
// layer, 4x4 stride-2 transposed convolutions with batch norm and ReLU and a
// final 1x1 transposed convolution; images are zero-padded to a square side
// divisible by 2^(conv layers) (MNIST's 28 to 32, the paper's CIFAR size).
// Flat inputs get the same structure with dense layers. The discriminator is
// four hidden dense layers with ReLU and a sigmoid output. Weights use
// Kaiming-normal initialisation and zero biases, as the paper's code does.
type vaalNets struct {
	vs, dvs *nn.VarStore // VAE, discriminator
	latent  int
	chans   []int
	disc    int
	image   bool
	in      []int // input shape
	side    int   // padded side (images)
	start   int   // decoder's first spatial side (images)

	enc, dec []bnLayer   // encoder and decoder blocks
	mu, lv   denseParams // latent heads
	dfc      denseParams // decoder's first dense layer
	out      denseParams // final 1x1 transposed conv (images) or dense layer (flat)
	d        []denseParams
	vars     []namedVar
	dvars    []namedVar
}

type denseParams struct{ w, b *ts.Tensor }

// bnLayer is a bias-free (transposed) convolution or dense layer followed by
// batch norm and ReLU.
type bnLayer struct {
	w                   *ts.Tensor
	gamma, beta, rm, rv *ts.Tensor
}

func (l *Learner) newVAALNets(opt learner.VAALOptions) (*vaalNets, error) {
	in := l.arch.Input
	n := &vaalNets{vs: nn.NewVarStore(l.device), dvs: nn.NewVarStore(l.device), latent: opt.Latent,
		chans: slices.Clone(opt.Channels), disc: opt.DiscWidth, image: len(in) == 3, in: slices.Clone(in)}
	if len(in) != 3 && len(in) != 1 {
		return nil, fmt.Errorf("vaal: inputs of shape %v are neither images [channels, height, width] nor flat", in)
	}
	root, droot := n.vs.Root(), n.dvs.Root()
	// add creates a variable: trainable ones start at the constant c, or are
	// drawn from N(0, std^2) when std > 0 (gotch v0.7.0's RandnInit ignores
	// its standard deviation when the mean is 0, so the draw is done here);
	// buffers start at c (0 or 1).
	add := func(vars *[]namedVar, p *nn.Path, name string, dims []int64, c, std float64, trainable bool) (*ts.Tensor, error) {
		var t *ts.Tensor
		var err error
		switch {
		case !trainable && c == 0:
			t, err = p.ZerosNoTrain(vsName(name), dims)
		case !trainable:
			t, err = p.OnesNoTrain(vsName(name), dims)
		default:
			t, err = p.NewVar(vsName(name), dims, nn.NewConstInit(c))
			if err == nil && std > 0 {
				var restore func()
				if restore, err = noGrad(); err == nil {
					err = t.Normal_(0, std)
					restore()
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("vaal: creating %s: %w", name, err)
		}
		*vars = append(*vars, namedVar{name, t})
		return t, nil
	}
	kaiming := func(fanIn int) float64 { return math.Sqrt(2 / float64(fanIn)) }
	bn := func(name string, dims []int64, fanIn, width int) (bnLayer, error) {
		var b bnLayer
		var err error
		if b.w, err = add(&n.vars, root, name+".weight", dims, 0, kaiming(fanIn), true); err != nil {
			return b, err
		}
		w := []int64{int64(width)}
		if b.gamma, err = add(&n.vars, root, name+".bn_weight", w, 1, 0, true); err != nil {
			return b, err
		}
		if b.beta, err = add(&n.vars, root, name+".bn_bias", w, 0, 0, true); err != nil {
			return b, err
		}
		if b.rm, err = add(&n.vars, root, name+".bn_mean", w, 0, 0, false); err != nil {
			return b, err
		}
		b.rv, err = add(&n.vars, root, name+".bn_var", w, 1, 0, false)
		return b, err
	}
	dense := func(vars *[]namedVar, p *nn.Path, name string, out, in int) (denseParams, error) {
		var d denseParams
		var err error
		if d.w, err = add(vars, p, name+".weight", []int64{int64(out), int64(in)}, 0, kaiming(in), true); err != nil {
			return d, err
		}
		d.b, err = add(vars, p, name+".bias", []int64{int64(out)}, 0, 0, true)
		return d, err
	}
	L := len(n.chans)
	var err error
	fail := func(e error) (*vaalNets, error) { n.free(); return nil, e }
	if n.image {
		c := in[0]
		div := 1 << L
		n.side = (max(in[1], in[2]) + div - 1) / div * div
		s := n.side / div
		prev := c
		for i, ch := range n.chans {
			b, err := bn(fmt.Sprintf("vaal.enc%d", i), []int64{int64(ch), int64(prev), 4, 4}, prev*16, ch)
			if err != nil {
				return fail(err)
			}
			n.enc = append(n.enc, b)
			prev = ch
		}
		flat := n.chans[L-1] * s * s
		if n.mu, err = dense(&n.vars, root, "vaal.mu", n.latent, flat); err != nil {
			return fail(err)
		}
		if n.lv, err = dense(&n.vars, root, "vaal.logvar", n.latent, flat); err != nil {
			return fail(err)
		}
		n.start = 2 * s
		if n.dfc, err = dense(&n.vars, root, "vaal.dec_fc", n.chans[L-1]*n.start*n.start, n.latent); err != nil {
			return fail(err)
		}
		for i := L - 1; i >= 1; i-- {
			// Transposed conv weights are [in, out, k, k]; PyTorch's fan-in is out*k*k.
			b, err := bn(fmt.Sprintf("vaal.dec%d", i), []int64{int64(n.chans[i]), int64(n.chans[i-1]), 4, 4}, n.chans[i-1]*16, n.chans[i-1])
			if err != nil {
				return fail(err)
			}
			n.dec = append(n.dec, b)
		}
		if n.out.w, err = add(&n.vars, root, "vaal.out.weight", []int64{int64(n.chans[0]), int64(c), 1, 1}, 0, kaiming(c), true); err != nil {
			return fail(err)
		}
		if n.out.b, err = add(&n.vars, root, "vaal.out.bias", []int64{int64(c)}, 0, 0, true); err != nil {
			return fail(err)
		}
	} else {
		d := in[0]
		prev := d
		for i, ch := range n.chans {
			b, err := bn(fmt.Sprintf("vaal.enc%d", i), []int64{int64(ch), int64(prev)}, prev, ch)
			if err != nil {
				return fail(err)
			}
			n.enc = append(n.enc, b)
			prev = ch
		}
		if n.mu, err = dense(&n.vars, root, "vaal.mu", n.latent, prev); err != nil {
			return fail(err)
		}
		if n.lv, err = dense(&n.vars, root, "vaal.logvar", n.latent, prev); err != nil {
			return fail(err)
		}
		if n.dfc, err = dense(&n.vars, root, "vaal.dec_fc", n.chans[L-1], n.latent); err != nil {
			return fail(err)
		}
		for i := L - 1; i >= 1; i-- {
			b, err := bn(fmt.Sprintf("vaal.dec%d", i), []int64{int64(n.chans[i-1]), int64(n.chans[i])}, n.chans[i], n.chans[i-1])
			if err != nil {
				return fail(err)
			}
			n.dec = append(n.dec, b)
		}
		if n.out, err = dense(&n.vars, root, "vaal.out", d, n.chans[0]); err != nil {
			return fail(err)
		}
	}
	prev := n.latent
	for i := 0; i < 4; i++ {
		p, err := dense(&n.dvars, droot, fmt.Sprintf("vaal.disc%d", i), n.disc, prev)
		if err != nil {
			return fail(err)
		}
		n.d = append(n.d, p)
		prev = n.disc
	}
	p, err := dense(&n.dvars, droot, "vaal.disc_out", 1, prev)
	if err != nil {
		return fail(err)
	}
	n.d = append(n.d, p)
	return n, nil
}

func (n *vaalNets) free() {
	freeVars(n.vs)
	freeVars(n.dvs)
}

// meta describes the networks' shape so that a weights file can rebuild them.
func (n *vaalNets) meta() learner.Tensor {
	v := []float32{float32(n.latent), float32(n.disc)}
	for _, c := range n.chans {
		v = append(v, float32(c))
	}
	return learner.Tensor{Name: "vaal.meta", Shape: []int{len(v)}, Data: v}
}

func (n *vaalNets) tensors() ([]learner.Tensor, error) {
	w, err := tensorsOf(append(slices.Clone(n.vars), n.dvars...))
	if err != nil {
		return nil, err
	}
	return append(w, n.meta()), nil
}

// vaalNetsFrom rebuilds VAAL networks saved in w (nil when w holds none).
func vaalNetsFrom(l *Learner, w []learner.Tensor) (*vaalNets, error) {
	var meta *learner.Tensor
	for i := range w {
		if w[i].Name == "vaal.meta" {
			meta = &w[i]
		}
	}
	if meta == nil {
		return nil, nil
	}
	if len(meta.Data) < 3 {
		return nil, fmt.Errorf("weights: vaal.meta is corrupt")
	}
	opt := learner.VAALOptions{Latent: int(meta.Data[0]), DiscWidth: int(meta.Data[1])}
	for _, c := range meta.Data[2:] {
		opt.Channels = append(opt.Channels, int(c))
	}
	n, err := l.newVAALNets(opt)
	if err != nil {
		return nil, err
	}
	if err := restoreVars(append(slices.Clone(n.vars), n.dvars...), w, l.device); err != nil {
		n.free()
		return nil, err
	}
	return n, nil
}

// prepareInput pads images to the VAE's square side.
func (n *vaalNets) prepareInput(x *ts.Tensor, g *bag) (*ts.Tensor, error) {
	if !n.image || (n.in[1] == n.side && n.in[2] == n.side) {
		return x, nil
	}
	ph, pw := n.side-n.in[1], n.side-n.in[2]
	p, err := x.ConstantPadNd([]int64{int64(pw / 2), int64(pw - pw/2), int64(ph / 2), int64(ph - ph/2)}, false)
	return g.t(p), err
}

func (b bnLayer) apply(x *ts.Tensor, kind string, train bool, g *bag) (*ts.Tensor, error) {
	var y *ts.Tensor
	var err error
	switch kind {
	case "conv":
		y, err = ts.Conv2d(x, b.w, g.t(ts.NewTensor()), []int64{2, 2}, []int64{1, 1}, []int64{1, 1}, 1)
	case "deconv":
		y, err = convTranspose2d(x, b.w, nil, 2, 1, g)
	default:
		y, err = ts.Linear(x, b.w, g.t(ts.NewTensor()))
	}
	if err != nil {
		return nil, err
	}
	g.t(y)
	z, err := ts.BatchNorm(y, b.gamma, b.beta, b.rm, b.rv, train, 0.1, 1e-5, false)
	if err != nil {
		return nil, err
	}
	g.t(z)
	r, err := z.Relu(false)
	return g.t(r), err
}

// encode returns the latent mean and log-variance of a (padded) batch.
func (n *vaalNets) encode(x *ts.Tensor, train bool, g *bag) (mu, logvar *ts.Tensor, err error) {
	kind := "dense"
	if n.image {
		kind = "conv"
	}
	h := x
	for _, b := range n.enc {
		if h, err = b.apply(h, kind, train, g); err != nil {
			return nil, nil, err
		}
	}
	if n.image {
		if h, err = h.Flatten(1, -1, false); err != nil {
			return nil, nil, err
		}
		g.t(h)
	}
	if mu, err = ts.Linear(h, n.mu.w, n.mu.b); err != nil {
		return nil, nil, err
	}
	g.t(mu)
	if logvar, err = ts.Linear(h, n.lv.w, n.lv.b); err != nil {
		return nil, nil, err
	}
	return mu, g.t(logvar), nil
}

func (n *vaalNets) decode(z *ts.Tensor, train bool, g *bag) (*ts.Tensor, error) {
	h, err := ts.Linear(z, n.dfc.w, n.dfc.b)
	if err != nil {
		return nil, err
	}
	g.t(h)
	kind := "dense"
	if n.image {
		kind = "deconv"
		if h, err = h.View([]int64{-1, int64(n.chans[len(n.chans)-1]), int64(n.start), int64(n.start)}, false); err != nil {
			return nil, err
		}
		g.t(h)
	}
	for _, b := range n.dec {
		if h, err = b.apply(h, kind, train, g); err != nil {
			return nil, err
		}
	}
	var out *ts.Tensor
	if n.image {
		out, err = convTranspose2d(h, n.out.w, n.out.b, 1, 0, g)
	} else {
		out, err = ts.Linear(h, n.out.w, n.out.b)
	}
	return g.t(out), err
}

// discriminate returns the probability that latent codes come from labeled samples.
func (n *vaalNets) discriminate(z *ts.Tensor, g *bag) (*ts.Tensor, error) {
	h := z
	for i, p := range n.d {
		y, err := ts.Linear(h, p.w, p.b)
		if err != nil {
			return nil, err
		}
		g.t(y)
		if i < len(n.d)-1 {
			if y, err = y.Relu(false); err != nil {
				return nil, err
			}
			g.t(y)
		}
		h = y
	}
	s, err := h.Sigmoid(false)
	if err != nil {
		return nil, err
	}
	g.t(s)
	sq, err := s.SqueezeDim(1, false)
	return g.t(sq), err
}

// vaeTerms runs the VAE on x and returns reconstruction MSE (mean), the KL
// term (summed over batch and latent, as the paper's code does) and mu.
func (n *vaalNets) vaeTerms(x *ts.Tensor, g *bag) (mse, kl, mu *ts.Tensor, err error) {
	mu, logvar, err := n.encode(x, true, g)
	if err != nil {
		return nil, nil, nil, err
	}
	half, err := logvar.MulScalar(g.f(0.5), false)
	if err != nil {
		return nil, nil, nil, err
	}
	g.t(half)
	std, err := half.Exp(false)
	if err != nil {
		return nil, nil, nil, err
	}
	g.t(std)
	eps, err := mu.RandnLike(false)
	if err != nil {
		return nil, nil, nil, err
	}
	g.t(eps)
	es, err := eps.Mul(std, false)
	if err != nil {
		return nil, nil, nil, err
	}
	g.t(es)
	z, err := es.Add(mu, false)
	if err != nil {
		return nil, nil, nil, err
	}
	g.t(z)
	recon, err := n.decode(z, true, g)
	if err != nil {
		return nil, nil, nil, err
	}
	if mse, err = recon.MseLoss(x, ts.ReductionMean, false); err != nil {
		return nil, nil, nil, err
	}
	g.t(mse)
	// KL = -0.5 * sum(1 + logvar - mu^2 - exp(logvar)).
	mu2, err := mu.Square(false)
	if err != nil {
		return nil, nil, nil, err
	}
	g.t(mu2)
	ev, err := logvar.Exp(false)
	if err != nil {
		return nil, nil, nil, err
	}
	g.t(ev)
	a, err := logvar.AddScalar(g.f(1), false)
	if err != nil {
		return nil, nil, nil, err
	}
	g.t(a)
	b, err := a.Sub(mu2, false)
	if err != nil {
		return nil, nil, nil, err
	}
	g.t(b)
	c, err := b.Sub(ev, false)
	if err != nil {
		return nil, nil, nil, err
	}
	g.t(c)
	s, err := c.Sum(gotch.Float, false)
	if err != nil {
		return nil, nil, nil, err
	}
	g.t(s)
	if kl, err = s.MulScalar(g.f(-0.5), false); err != nil {
		return nil, nil, nil, err
	}
	return mse, g.t(kl), mu, nil
}

func bce(p *ts.Tensor, target float64, g *bag) (*ts.Tensor, error) {
	t, err := p.OnesLike(false)
	if err != nil {
		return nil, err
	}
	g.t(t)
	if target != 1 {
		if t, err = t.MulScalar(g.f(target), false); err != nil {
			return nil, err
		}
		g.t(t)
	}
	l, err := p.BinaryCrossEntropy(t, g.t(ts.NewTensor()), ts.ReductionMean, false)
	return g.t(l), err
}

// stream cycles through fresh seeded permutations of a set of pool indices.
type stream struct {
	idx  []int
	perm []int
	pos  int
	rng  *rand.Rand
}

func (s *stream) next(n int) []int {
	out := make([]int, 0, n)
	for len(out) < n {
		if s.pos == len(s.perm) {
			s.perm, s.pos = s.rng.Perm(len(s.idx)), 0
		}
		out = append(out, s.idx[s.perm[s.pos]])
		s.pos++
	}
	return out
}

// FitVAAL trains fresh VAAL networks (the paper re-initialises them every
// round) for opt.Iterations iterations. Each iteration takes a labeled and
// an unlabeled batch and makes opt.VAESteps VAE steps (reconstruction MSE +
// beta KL on both batches + adversary_param times the adversarial loss,
// which asks the discriminator to call both batches labeled: the paper's
// Eq. 2; the paper's released code uses "unlabeled" as the target of the
// unlabeled batch here, which makes the VAE cooperate with the
// discriminator, and is not followed) and opt.AdvSteps discriminator steps
// (binary cross-entropy: labeled 1, unlabeled 0), drawing new batches
// between steps as the paper's code does. Both networks use Adam.
func (l *Learner) FitVAAL(ctx context.Context, labeled, unlabeled []int, seed uint64, opt learner.VAALOptions) (learner.VAALStats, error) {
	pin()
	defer runtime.UnlockOSThread()
	var st learner.VAALStats
	if err := opt.Check(); err != nil {
		return st, err
	}
	if len(labeled) == 0 || len(unlabeled) == 0 {
		return st, fmt.Errorf("vaal: needs labeled and unlabeled samples (%d and %d)", len(labeled), len(unlabeled))
	}
	ManualSeed(int64(seed >> 1))
	if l.ext.vaal != nil {
		l.ext.vaal.free()
		l.ext.vaal = nil
	}
	n, err := l.newVAALNets(opt)
	if err != nil {
		return st, err
	}
	l.ext.vaal = n
	vopt, err := nn.NewAdamConfig(0.9, 0.999, 0).Build(n.vs, opt.LR)
	if err != nil {
		return st, err
	}
	dopt, err := nn.NewAdamConfig(0.9, 0.999, 0).Build(n.dvs, opt.LR)
	if err != nil {
		return st, err
	}
	rng := rand.New(rand.NewPCG(seed, 0xfaa1))
	lab := &stream{idx: labeled, rng: rng}
	unl := &stream{idx: unlabeled, rng: rng}
	bs := opt.BatchSize
	window := max(1, opt.Iterations/10)
	var firstRecon, lastRecon, lastKL, lastVAE, lastDisc float64
	var nFirst, nLast int
	values := func(ts ...*ts.Tensor) ([]float64, error) {
		out := make([]float64, len(ts))
		for i, t := range ts {
			v, err := scalarValue(t)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	batch := func(s *stream, g *bag) (*ts.Tensor, error) {
		x, _, err := l.input(s.next(bs), nil)
		if err != nil {
			return nil, err
		}
		g.t(x)
		return n.prepareInput(x, g)
	}
	for it := 1; it <= opt.Iterations; it++ {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		var g bag
		xl, err := batch(lab, &g)
		if err != nil {
			g.drop()
			return st, err
		}
		xu, err := batch(unl, &g)
		if err != nil {
			g.drop()
			return st, err
		}
		var recon, kl, vaeLoss, discLoss float64
		for s := 0; s < opt.VAESteps; s++ {
			mseL, klL, muL, err := n.vaeTerms(xl, &g)
			if err != nil {
				g.drop()
				return st, err
			}
			mseU, klU, muU, err := n.vaeTerms(xu, &g)
			if err != nil {
				g.drop()
				return st, err
			}
			total, err := n.vaeObjective(mseL, klL, mseU, klU, muL, muU, opt, &g)
			if err != nil {
				g.drop()
				return st, err
			}
			if err := vopt.ZeroGrad(); err != nil {
				g.drop()
				return st, err
			}
			if err := total.Backward(); err != nil {
				g.drop()
				return st, err
			}
			if err := vopt.Step(); err != nil {
				g.drop()
				return st, err
			}
			v, err := values(mseL, mseU, klL, klU, total)
			if err != nil {
				g.drop()
				return st, err
			}
			recon, kl, vaeLoss = (v[0]+v[1])/2, (v[2]+v[3])/2, v[4]
			if s < opt.VAESteps-1 {
				if xl, err = batch(lab, &g); err != nil {
					g.drop()
					return st, err
				}
				if xu, err = batch(unl, &g); err != nil {
					g.drop()
					return st, err
				}
			}
		}
		for s := 0; s < opt.AdvSteps; s++ {
			d, err := n.discStep(xl, xu, dopt, &g)
			if err != nil {
				g.drop()
				return st, err
			}
			discLoss = d
			if s < opt.AdvSteps-1 {
				if xl, err = batch(lab, &g); err != nil {
					g.drop()
					return st, err
				}
				if xu, err = batch(unl, &g); err != nil {
					g.drop()
					return st, err
				}
			}
		}
		g.drop()
		if it <= window {
			firstRecon += recon
			nFirst++
		}
		if it > opt.Iterations-window {
			lastRecon += recon
			lastKL += kl
			lastVAE += vaeLoss
			lastDisc += discLoss
			nLast++
		}
		learner.Report(ctx, "vaal", it, opt.Iterations)
	}
	st.Iterations = opt.Iterations
	st.FirstRecon = firstRecon / float64(nFirst)
	st.ReconError = lastRecon / float64(nLast)
	st.KL = lastKL / float64(nLast)
	st.VAELoss = lastVAE / float64(nLast)
	st.DiscLoss = lastDisc / float64(nLast)
	pl, err := l.labeledProb(ctx, labeled[:min(len(labeled), 1000)])
	if err != nil {
		return st, err
	}
	pu, err := l.labeledProb(ctx, unlabeled[:min(len(unlabeled), 1000)])
	if err != nil {
		return st, err
	}
	st.LabeledProb, st.UnlabeledProb = mean(pl), mean(pu)
	return st, nil
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(max(len(v), 1))
}

// vaeObjective is MSE_L + beta KL_L + MSE_U + beta KL_U + adversary_param *
// (BCE(D(mu_L), 1) + BCE(D(mu_U), 1)).
func (n *vaalNets) vaeObjective(mseL, klL, mseU, klU, muL, muU *ts.Tensor, opt learner.VAALOptions, g *bag) (*ts.Tensor, error) {
	sum := func(a, b *ts.Tensor) (*ts.Tensor, error) {
		s, err := a.Add(b, false)
		return g.t(s), err
	}
	scale := func(a *ts.Tensor, v float64) (*ts.Tensor, error) {
		s, err := a.MulScalar(g.f(v), false)
		return g.t(s), err
	}
	bl, err := scale(klL, opt.Beta)
	if err != nil {
		return nil, err
	}
	bu, err := scale(klU, opt.Beta)
	if err != nil {
		return nil, err
	}
	pl, err := n.discriminate(muL, g)
	if err != nil {
		return nil, err
	}
	pu, err := n.discriminate(muU, g)
	if err != nil {
		return nil, err
	}
	al, err := bce(pl, 1, g)
	if err != nil {
		return nil, err
	}
	au, err := bce(pu, 1, g)
	if err != nil {
		return nil, err
	}
	adv, err := sum(al, au)
	if err != nil {
		return nil, err
	}
	advS, err := scale(adv, opt.AdversaryParam)
	if err != nil {
		return nil, err
	}
	t := mseL
	for _, x := range []*ts.Tensor{bl, mseU, bu, advS} {
		if t, err = sum(t, x); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// discStep makes one discriminator step on the latent means of the two
// batches (the VAE runs without gradient, in training mode as in the paper's
// code) and returns its loss.
func (n *vaalNets) discStep(xl, xu *ts.Tensor, dopt *nn.Optimizer, g *bag) (float64, error) {
	restore, err := noGrad()
	if err != nil {
		return 0, err
	}
	muL, _, err := n.encode(xl, true, g)
	var muU *ts.Tensor
	if err == nil {
		muU, _, err = n.encode(xu, true, g)
	}
	restore()
	if err != nil {
		return 0, err
	}
	pl, err := n.discriminate(muL, g)
	if err != nil {
		return 0, err
	}
	pu, err := n.discriminate(muU, g)
	if err != nil {
		return 0, err
	}
	al, err := bce(pl, 1, g)
	if err != nil {
		return 0, err
	}
	au, err := bce(pu, 0, g)
	if err != nil {
		return 0, err
	}
	loss, err := al.Add(au, false)
	if err != nil {
		return 0, err
	}
	g.t(loss)
	if err := dopt.ZeroGrad(); err != nil {
		return 0, err
	}
	if err := loss.Backward(); err != nil {
		return 0, err
	}
	if err := dopt.Step(); err != nil {
		return 0, err
	}
	return scalarValue(loss)
}
