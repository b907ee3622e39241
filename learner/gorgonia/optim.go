package gorgonia

import "math"

// optimizer updates parameters in place from their gradients. The two
// optimizers follow PyTorch 1.13's torch.optim.Adam and torch.optim.SGD
// (what the torch backend uses), including how weight decay enters: as
// wd * w added to the gradient (L2, not AdamW's decoupled decay).
type optimizer interface {
	step(ps []*param, gw, gb map[int][]float32)
}

// adam is torch.optim.Adam with betas (0.9, 0.999) and eps 1e-8.
type adam struct {
	lr, wd            float64
	beta1, beta2, eps float64
	t                 int
	mw, vw, mb, vb    map[int][]float32
}

func newAdam(lr, wd float64) *adam {
	return &adam{lr: lr, wd: wd, beta1: 0.9, beta2: 0.999, eps: 1e-8,
		mw: map[int][]float32{}, vw: map[int][]float32{}, mb: map[int][]float32{}, vb: map[int][]float32{}}
}

func (o *adam) step(ps []*param, gw, gb map[int][]float32) {
	o.t++
	bc1 := 1 - math.Pow(o.beta1, float64(o.t))
	bc2 := 1 - math.Pow(o.beta2, float64(o.t))
	stepSize := float32(o.lr / bc1)
	sqrtBC2 := float32(math.Sqrt(bc2))
	b1, b2 := float32(o.beta1), float32(o.beta2)
	eps, wd := float32(o.eps), float32(o.wd)
	upd := func(w, g []float32, m, v map[int][]float32, i int) {
		if m[i] == nil {
			m[i], v[i] = make([]float32, len(w)), make([]float32, len(w))
		}
		mi, vi := m[i], v[i]
		for j := range w {
			gj := g[j]
			if wd != 0 {
				gj += wd * w[j]
			}
			mi[j] = b1*mi[j] + (1-b1)*gj
			vi[j] = b2*vi[j] + (1-b2)*gj*gj
			denom := float32(math.Sqrt(float64(vi[j])))/sqrtBC2 + eps
			w[j] -= stepSize * mi[j] / denom
		}
	}
	for i, p := range ps {
		if p == nil {
			continue
		}
		upd(p.w, gw[i], o.mw, o.vw, i)
		upd(p.b, gb[i], o.mb, o.vb, i)
	}
}

// sgd is torch.optim.SGD with momentum (dampening 0, not Nesterov).
type sgd struct {
	lr, momentum, wd float64
	bw, bb           map[int][]float32
}

func newSGD(lr, momentum, wd float64) *sgd {
	return &sgd{lr: lr, momentum: momentum, wd: wd, bw: map[int][]float32{}, bb: map[int][]float32{}}
}

func (o *sgd) step(ps []*param, gw, gb map[int][]float32) {
	lr, mom, wd := float32(o.lr), float32(o.momentum), float32(o.wd)
	upd := func(w, g []float32, buf map[int][]float32, i int) {
		var b []float32
		if mom != 0 {
			if buf[i] == nil {
				buf[i] = make([]float32, len(w))
				b = buf[i]
				for j := range w {
					b[j] = g[j] + wd*w[j]
				}
			} else {
				b = buf[i]
				for j := range w {
					b[j] = mom*b[j] + g[j] + wd*w[j]
				}
			}
		}
		for j := range w {
			d := g[j] + wd*w[j]
			if b != nil {
				d = b[j]
			}
			w[j] -= lr * d
		}
	}
	for i, p := range ps {
		if p == nil {
			continue
		}
		upd(p.w, gw[i], o.bw, i)
		upd(p.b, gb[i], o.bb, i)
	}
}
