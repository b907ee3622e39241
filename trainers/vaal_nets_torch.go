//go:build torch

package trainers

import (
	"fmt"
	"math"
	"slices"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/learner/torch"
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
	vars     []torch.NamedVar
	dvars    []torch.NamedVar
}

type denseParams struct{ w, b *ts.Tensor }

// bnLayer is a bias-free (transposed) convolution or dense layer followed by
// batch norm and ReLU.
type bnLayer struct {
	w                   *ts.Tensor
	gamma, beta, rm, rv *ts.Tensor
}

func newVAALNets(l *torch.Learner, opt learner.VAALOptions) (*vaalNets, error) {
	in := l.Architecture().Input
	n := &vaalNets{vs: nn.NewVarStore(l.Device()), dvs: nn.NewVarStore(l.Device()), latent: opt.Latent,
		chans: slices.Clone(opt.Channels), disc: opt.DiscWidth, image: len(in) == 3, in: slices.Clone(in)}
	if len(in) != 3 && len(in) != 1 {
		return nil, fmt.Errorf("vaal: inputs of shape %v are neither images [channels, height, width] nor flat", in)
	}
	root, droot := n.vs.Root(), n.dvs.Root()
	// add creates a variable: trainable ones start at the constant c, or are
	// drawn from N(0, std^2) when std > 0 (gotch v0.7.0's RandnInit ignores
	// its standard deviation when the mean is 0, so the draw is done here);
	// buffers start at c (0 or 1).
	add := func(vars *[]torch.NamedVar, p *nn.Path, name string, dims []int64, c, std float64, trainable bool) (*ts.Tensor, error) {
		var t *ts.Tensor
		var err error
		switch {
		case !trainable && c == 0:
			t, err = p.ZerosNoTrain(torch.VarName(name), dims)
		case !trainable:
			t, err = p.OnesNoTrain(torch.VarName(name), dims)
		default:
			t, err = p.NewVar(torch.VarName(name), dims, nn.NewConstInit(c))
			if err == nil && std > 0 {
				var restore func()
				if restore, err = torch.NoGrad(); err == nil {
					err = t.Normal_(0, std)
					restore()
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("vaal: creating %s: %w", name, err)
		}
		*vars = append(*vars, torch.NamedVar{Name: name, T: t})
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
	dense := func(vars *[]torch.NamedVar, p *nn.Path, name string, out, in int) (denseParams, error) {
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
	torch.FreeVars(n.vs)
	torch.FreeVars(n.dvs)
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
	w, err := torch.TensorsOf(append(slices.Clone(n.vars), n.dvars...))
	if err != nil {
		return nil, err
	}
	return append(w, n.meta()), nil
}

// vaalNetsFrom rebuilds VAAL networks saved in w (nil when w holds none).
func vaalNetsFrom(l *torch.Learner, w []learner.Tensor) (*vaalNets, error) {
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
	n, err := newVAALNets(l, opt)
	if err != nil {
		return nil, err
	}
	if err := torch.RestoreVars(append(slices.Clone(n.vars), n.dvars...), w, l.Device()); err != nil {
		n.free()
		return nil, err
	}
	return n, nil
}

// prepareInput pads images to the VAE's square side.
func (n *vaalNets) prepareInput(x *ts.Tensor, g *torch.Bag) (*ts.Tensor, error) {
	if !n.image || (n.in[1] == n.side && n.in[2] == n.side) {
		return x, nil
	}
	ph, pw := n.side-n.in[1], n.side-n.in[2]
	p, err := x.ConstantPadNd([]int64{int64(pw / 2), int64(pw - pw/2), int64(ph / 2), int64(ph - ph/2)}, false)
	return g.T(p), err
}

func (b bnLayer) apply(x *ts.Tensor, kind string, train bool, g *torch.Bag) (*ts.Tensor, error) {
	var y *ts.Tensor
	var err error
	switch kind {
	case "conv":
		y, err = ts.Conv2d(x, b.w, g.T(ts.NewTensor()), []int64{2, 2}, []int64{1, 1}, []int64{1, 1}, 1)
	case "deconv":
		y, err = torch.ConvTranspose2d(x, b.w, nil, 2, 1, g)
	default:
		y, err = ts.Linear(x, b.w, g.T(ts.NewTensor()))
	}
	if err != nil {
		return nil, err
	}
	g.T(y)
	z, err := ts.BatchNorm(y, b.gamma, b.beta, b.rm, b.rv, train, 0.1, 1e-5, false)
	if err != nil {
		return nil, err
	}
	g.T(z)
	r, err := z.Relu(false)
	return g.T(r), err
}

// encode returns the latent mean and log-variance of a (padded) batch.
func (n *vaalNets) encode(x *ts.Tensor, train bool, g *torch.Bag) (mu, logvar *ts.Tensor, err error) {
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
		g.T(h)
	}
	if mu, err = ts.Linear(h, n.mu.w, n.mu.b); err != nil {
		return nil, nil, err
	}
	g.T(mu)
	if logvar, err = ts.Linear(h, n.lv.w, n.lv.b); err != nil {
		return nil, nil, err
	}
	return mu, g.T(logvar), nil
}

func (n *vaalNets) decode(z *ts.Tensor, train bool, g *torch.Bag) (*ts.Tensor, error) {
	h, err := ts.Linear(z, n.dfc.w, n.dfc.b)
	if err != nil {
		return nil, err
	}
	g.T(h)
	kind := "dense"
	if n.image {
		kind = "deconv"
		if h, err = h.View([]int64{-1, int64(n.chans[len(n.chans)-1]), int64(n.start), int64(n.start)}, false); err != nil {
			return nil, err
		}
		g.T(h)
	}
	for _, b := range n.dec {
		if h, err = b.apply(h, kind, train, g); err != nil {
			return nil, err
		}
	}
	var out *ts.Tensor
	if n.image {
		out, err = torch.ConvTranspose2d(h, n.out.w, n.out.b, 1, 0, g)
	} else {
		out, err = ts.Linear(h, n.out.w, n.out.b)
	}
	return g.T(out), err
}

// discriminate returns the probability that latent codes come from labeled samples.
func (n *vaalNets) discriminate(z *ts.Tensor, g *torch.Bag) (*ts.Tensor, error) {
	h := z
	for i, p := range n.d {
		y, err := ts.Linear(h, p.w, p.b)
		if err != nil {
			return nil, err
		}
		g.T(y)
		if i < len(n.d)-1 {
			if y, err = y.Relu(false); err != nil {
				return nil, err
			}
			g.T(y)
		}
		h = y
	}
	s, err := h.Sigmoid(false)
	if err != nil {
		return nil, err
	}
	g.T(s)
	sq, err := s.SqueezeDim(1, false)
	return g.T(sq), err
}

// vaeTerms runs the VAE on x and returns reconstruction MSE (mean), the KL
// term (summed over batch and latent, as the paper's code does) and mu.
func (n *vaalNets) vaeTerms(x *ts.Tensor, g *torch.Bag) (mse, kl, mu *ts.Tensor, err error) {
	mu, logvar, err := n.encode(x, true, g)
	if err != nil {
		return nil, nil, nil, err
	}
	half, err := logvar.MulScalar(g.F(0.5), false)
	if err != nil {
		return nil, nil, nil, err
	}
	g.T(half)
	std, err := half.Exp(false)
	if err != nil {
		return nil, nil, nil, err
	}
	g.T(std)
	eps, err := mu.RandnLike(false)
	if err != nil {
		return nil, nil, nil, err
	}
	g.T(eps)
	es, err := eps.Mul(std, false)
	if err != nil {
		return nil, nil, nil, err
	}
	g.T(es)
	z, err := es.Add(mu, false)
	if err != nil {
		return nil, nil, nil, err
	}
	g.T(z)
	recon, err := n.decode(z, true, g)
	if err != nil {
		return nil, nil, nil, err
	}
	if mse, err = recon.MseLoss(x, ts.ReductionMean, false); err != nil {
		return nil, nil, nil, err
	}
	g.T(mse)
	// KL = -0.5 * sum(1 + logvar - mu^2 - exp(logvar)).
	mu2, err := mu.Square(false)
	if err != nil {
		return nil, nil, nil, err
	}
	g.T(mu2)
	ev, err := logvar.Exp(false)
	if err != nil {
		return nil, nil, nil, err
	}
	g.T(ev)
	a, err := logvar.AddScalar(g.F(1), false)
	if err != nil {
		return nil, nil, nil, err
	}
	g.T(a)
	b, err := a.Sub(mu2, false)
	if err != nil {
		return nil, nil, nil, err
	}
	g.T(b)
	c, err := b.Sub(ev, false)
	if err != nil {
		return nil, nil, nil, err
	}
	g.T(c)
	s, err := c.Sum(gotch.Float, false)
	if err != nil {
		return nil, nil, nil, err
	}
	g.T(s)
	if kl, err = s.MulScalar(g.F(-0.5), false); err != nil {
		return nil, nil, nil, err
	}
	return mse, g.T(kl), mu, nil
}

func bce(p *ts.Tensor, target float64, g *torch.Bag) (*ts.Tensor, error) {
	t, err := p.OnesLike(false)
	if err != nil {
		return nil, err
	}
	g.T(t)
	if target != 1 {
		if t, err = t.MulScalar(g.F(target), false); err != nil {
			return nil, err
		}
		g.T(t)
	}
	l, err := p.BinaryCrossEntropy(t, g.T(ts.NewTensor()), ts.ReductionMean, false)
	return g.T(l), err
}
