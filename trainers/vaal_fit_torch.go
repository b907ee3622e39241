//go:build torch

package trainers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/learner/torch"
)

// VAAL's training (FitVAAL) and scores (LabeledProb) on the torch backend;
// the networks are in vaal_nets_torch.go.

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
func (l *torchLearner) FitVAAL(ctx context.Context, labeled, unlabeled []int, seed uint64, opt learner.VAALOptions) (learner.VAALStats, error) {
	torch.Pin()
	defer runtime.UnlockOSThread()
	var st learner.VAALStats
	if err := opt.Check(); err != nil {
		return st, err
	}
	if len(labeled) == 0 || len(unlabeled) == 0 {
		return st, fmt.Errorf("vaal: needs labeled and unlabeled samples (%d and %d)", len(labeled), len(unlabeled))
	}
	torch.ManualSeed(int64(seed >> 1))
	if l.vaal != nil {
		l.vaal.free()
		l.vaal = nil
	}
	n, err := newVAALNets(l.Learner, opt)
	if err != nil {
		return st, err
	}
	l.vaal = n
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
			v, err := torch.ScalarValue(t)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	batch := func(s *stream, g *torch.Bag) (*ts.Tensor, error) {
		x, err := l.Input(s.next(bs))
		if err != nil {
			return nil, err
		}
		g.T(x)
		return n.prepareInput(x, g)
	}
	for it := 1; it <= opt.Iterations; it++ {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		var g torch.Bag
		xl, err := batch(lab, &g)
		if err != nil {
			g.Drop()
			return st, err
		}
		xu, err := batch(unl, &g)
		if err != nil {
			g.Drop()
			return st, err
		}
		var recon, kl, vaeLoss, discLoss float64
		for s := 0; s < opt.VAESteps; s++ {
			mseL, klL, muL, err := n.vaeTerms(xl, &g)
			if err != nil {
				g.Drop()
				return st, err
			}
			mseU, klU, muU, err := n.vaeTerms(xu, &g)
			if err != nil {
				g.Drop()
				return st, err
			}
			total, err := n.vaeObjective(mseL, klL, mseU, klU, muL, muU, opt, &g)
			if err != nil {
				g.Drop()
				return st, err
			}
			if err := vopt.ZeroGrad(); err != nil {
				g.Drop()
				return st, err
			}
			if err := total.Backward(); err != nil {
				g.Drop()
				return st, err
			}
			if err := vopt.Step(); err != nil {
				g.Drop()
				return st, err
			}
			v, err := values(mseL, mseU, klL, klU, total)
			if err != nil {
				g.Drop()
				return st, err
			}
			recon, kl, vaeLoss = (v[0]+v[1])/2, (v[2]+v[3])/2, v[4]
			if s < opt.VAESteps-1 {
				if xl, err = batch(lab, &g); err != nil {
					g.Drop()
					return st, err
				}
				if xu, err = batch(unl, &g); err != nil {
					g.Drop()
					return st, err
				}
			}
		}
		for s := 0; s < opt.AdvSteps; s++ {
			d, err := n.discStep(xl, xu, dopt, &g)
			if err != nil {
				g.Drop()
				return st, err
			}
			discLoss = d
			if s < opt.AdvSteps-1 {
				if xl, err = batch(lab, &g); err != nil {
					g.Drop()
					return st, err
				}
				if xu, err = batch(unl, &g); err != nil {
					g.Drop()
					return st, err
				}
			}
		}
		g.Drop()
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
func (n *vaalNets) vaeObjective(mseL, klL, mseU, klU, muL, muU *ts.Tensor, opt learner.VAALOptions, g *torch.Bag) (*ts.Tensor, error) {
	sum := func(a, b *ts.Tensor) (*ts.Tensor, error) {
		s, err := a.Add(b, false)
		return g.T(s), err
	}
	scale := func(a *ts.Tensor, v float64) (*ts.Tensor, error) {
		s, err := a.MulScalar(g.F(v), false)
		return g.T(s), err
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
func (n *vaalNets) discStep(xl, xu *ts.Tensor, dopt *nn.Optimizer, g *torch.Bag) (float64, error) {
	restore, err := torch.NoGrad()
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
	g.T(loss)
	if err := dopt.ZeroGrad(); err != nil {
		return 0, err
	}
	if err := loss.Backward(); err != nil {
		return 0, err
	}
	if err := dopt.Step(); err != nil {
		return 0, err
	}
	return torch.ScalarValue(loss)
}

// labeledProb scores pool indices with the trained networks (batch norm in
// inference mode): the discriminator's probability that each is labeled.
func (l *torchLearner) labeledProb(ctx context.Context, idx []int) ([]float64, error) {
	n := l.vaal
	if n == nil {
		return nil, fmt.Errorf("vaal scores: the VAAL networks have not been trained; use trainer: {name: vaal}")
	}
	out := make([]float64, len(idx))
	err := l.Batches(ctx, "vaal", idx, func(lo, hi int, x *ts.Tensor) error {
		var g torch.Bag
		defer g.Drop()
		xp, err := n.prepareInput(x, &g)
		if err != nil {
			return err
		}
		mu, _, err := n.encode(xp, false, &g)
		if err != nil {
			return err
		}
		p, err := n.discriminate(mu, &g)
		if err != nil {
			return err
		}
		return torch.CopyValues(p, out[lo:hi])
	})
	return out, err
}

// LabeledProb returns VAAL's discriminator probability that each pool index is labeled.
func (l *torchLearner) LabeledProb(ctx context.Context, idx []int) ([]float64, error) {
	torch.Pin()
	defer runtime.UnlockOSThread()
	p, err := l.labeledProb(ctx, idx)
	if err != nil {
		return nil, fmt.Errorf("vaal scores: %w", err)
	}
	return p, nil
}
