//go:build torch

package torch

import (
	"fmt"

	"github.com/sugarme/gotch/ts"
)

// ConvTranspose2d computes a transposed convolution (weights [in, out, k, k])
// from plain convolutions: output pixels o = stride*m + r of phase r depend
// only on the kernel taps t = (r + pad) mod stride + stride*j, so each of
// the stride^2 phases is one small convolution of the undilated input, and
// the phases are interleaved. The result equals ts.ConvTranspose2d (a test
// checks it), which Debian's libtorch 1.13 runs through a slow fallback on
// CPU (seconds for a small batch), and it does stride^2 times less work than
// convolving the zero-dilated input. The returned tensor is not in g; callers
// add it.
func ConvTranspose2d(x, w, b *ts.Tensor, stride, pad int64, g *Bag) (*ts.Tensor, error) {
	ws, err := w.Size()
	if err != nil {
		return nil, err
	}
	xs, err := x.Size()
	if err != nil {
		return nil, err
	}
	if len(ws) != 4 || len(xs) != 4 || ws[2] != ws[3] {
		return nil, fmt.Errorf("transposed convolution: input %v and square weights %v must be 4-d", xs, ws)
	}
	k, s := ws[2], stride
	if pad > k-1 {
		return nil, fmt.Errorf("transposed convolution: padding %d is larger than kernel - 1 = %d", pad, k-1)
	}
	if k < s {
		// Some phases see no kernel tap at all (bias only).
		return convTranspose2dDilated(x, w, b, stride, pad, g)
	}
	if b == nil {
		b = g.T(ts.NewTensor())
	}
	outH, outW := (xs[2]-1)*s-2*pad+k, (xs[3]-1)*s-2*pad+k
	nH, nW := (outH+s-1)/s, (outW+s-1)/s
	// phase returns the first tap, the tap count and the input offset of
	// output 0 of phase r, and the zero padding its n outputs need on an
	// axis of length size.
	type phaseGeom struct{ t0, taps, start, lo, hi int64 }
	phase := func(r, n, size int64) phaseGeom {
		t0 := (r + pad) % s
		taps := (k - t0 + s - 1) / s
		st := (r+pad-t0)/s - taps + 1
		return phaseGeom{t0: t0, taps: taps, start: st, lo: max(0, -st), hi: max(0, n-1+st+taps-1-(size-1))}
	}
	rows := make([]ts.Tensor, 0, s)
	for rh := int64(0); rh < s; rh++ {
		ph := phase(rh, nH, xs[2])
		cols := make([]ts.Tensor, 0, s)
		for rw := int64(0); rw < s; rw++ {
			pw := phase(rw, nW, xs[3])
			kr, err := w.Slice(2, []int64{ph.t0}, []int64{k}, s, false)
			if err != nil {
				return nil, err
			}
			g.T(kr)
			kc, err := kr.Slice(3, []int64{pw.t0}, []int64{k}, s, false)
			if err != nil {
				return nil, err
			}
			g.T(kc)
			kt, err := correlationKernel(kc, g)
			if err != nil {
				return nil, err
			}
			xp := x
			if ph.lo+ph.hi+pw.lo+pw.hi > 0 {
				if xp, err = x.ConstantPadNd([]int64{pw.lo, pw.hi, ph.lo, ph.hi}, false); err != nil {
					return nil, err
				}
				g.T(xp)
			}
			y, err := ts.Conv2d(xp, kt, b, []int64{1, 1}, []int64{0, 0}, []int64{1, 1}, 1)
			if err != nil {
				return nil, err
			}
			g.T(y)
			if y, err = y.Narrow(2, ph.start+ph.lo, nH, false); err != nil {
				return nil, err
			}
			g.T(y)
			if y, err = y.Narrow(3, pw.start+pw.lo, nW, false); err != nil {
				return nil, err
			}
			if s == 1 {
				return y, nil
			}
			cols = append(cols, *g.T(y))
		}
		st, err := ts.Stack(cols, 4) // [N, C, nH, nW, s]
		if err != nil {
			return nil, err
		}
		g.T(st)
		r, err := st.Reshape([]int64{xs[0], ws[1], nH, nW * s}, false)
		if err != nil {
			return nil, err
		}
		g.T(r)
		if r, err = r.Narrow(3, 0, outW, false); err != nil {
			return nil, err
		}
		rows = append(rows, *g.T(r))
	}
	st, err := ts.Stack(rows, 3) // [N, C, nH, s, outW]
	if err != nil {
		return nil, err
	}
	g.T(st)
	r, err := st.Reshape([]int64{xs[0], ws[1], nH * s, outW}, false)
	if err != nil {
		return nil, err
	}
	g.T(r)
	return r.Narrow(2, 0, outH, false)
}

// convTranspose2dDilated is ConvTranspose2d by convolving the input dilated
// with stride-1 zeros between pixels and padded by k-1-pad with the
// spatially flipped kernel, in and out channels swapped; ConvTranspose2d
// uses it where some output phase sees no kernel tap (kernel < stride).
func convTranspose2dDilated(x, w, b *ts.Tensor, stride, pad int64, g *Bag) (*ts.Tensor, error) {
	size, err := w.Size()
	if err != nil {
		return nil, err
	}
	k := size[2]
	h := x
	if stride > 1 {
		for _, dim := range []int64{3, 2} { // width, then height
			z, err := h.ZerosLike(false)
			if err != nil {
				return nil, err
			}
			g.T(z)
			parts := []ts.Tensor{*h, *z}
			for i := int64(2); i < stride; i++ {
				parts = append(parts, *z)
			}
			st, err := ts.Stack(parts, dim+1)
			if err != nil {
				return nil, err
			}
			g.T(st)
			xs, err := h.Size()
			if err != nil {
				return nil, err
			}
			shape := append([]int64(nil), xs...)
			shape[dim] *= stride
			r, err := st.Reshape(shape, false)
			if err != nil {
				return nil, err
			}
			g.T(r)
			if h, err = r.Narrow(dim, 0, xs[dim]*stride-(stride-1), false); err != nil {
				return nil, err
			}
			g.T(h)
		}
	}
	if p := k - 1 - pad; p > 0 {
		if h, err = h.ConstantPadNd([]int64{p, p, p, p}, false); err != nil {
			return nil, err
		}
		g.T(h)
	} else if p < 0 {
		return nil, fmt.Errorf("transposed convolution: padding %d is larger than kernel - 1 = %d", pad, k-1)
	}
	wt, err := correlationKernel(w, g)
	if err != nil {
		return nil, err
	}
	if b == nil {
		b = g.T(ts.NewTensor())
	}
	return ts.Conv2d(h, wt, b, []int64{1, 1}, []int64{0, 0}, []int64{1, 1}, 1)
}

// correlationKernel turns transposed-convolution weights [in, out, kh, kw]
// into the plain convolution's [out, in, kh, kw], spatially flipped.
func correlationKernel(w *ts.Tensor, g *Bag) (*ts.Tensor, error) {
	wf, err := w.Flip([]int64{2, 3}, false)
	if err != nil {
		return nil, err
	}
	g.T(wf)
	wt, err := wf.Transpose(0, 1, false)
	return g.T(wt), err
}
