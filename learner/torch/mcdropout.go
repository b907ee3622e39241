//go:build torch

package torch

import (
	"context"
	"fmt"
	"runtime"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
	"gonum.org/v1/gonum/mat"
)

// mcMasks draws T consistent dropout masks for every dropout layer: mask t
// of layer i has the layer's per-sample shape with a leading 1 ([1, C, 1, 1]
// for dropout2d) and values 0 or 1/(1-p), and is shared by every pool point
// and every inference batch of one MCProbs call. masks[t][i] is nil for
// layers that are not dropout.
func (l *Learner) mcMasks(T int) ([][]*ts.Tensor, error) {
	masks := make([][]*ts.Tensor, T)
	for t := range masks {
		masks[t] = make([]*ts.Tensor, len(l.arch.Layers))
		for i, s := range l.arch.Layers {
			if (s.Type != "dropout" && s.Type != "dropout2d") || s.P <= 0 {
				continue
			}
			shape := append([]int64{1}, toInt64(s.InShape)...)
			if s.Type == "dropout2d" {
				shape = []int64{1, int64(s.InShape[0]), 1, 1}
			}
			ones, err := ts.Ones(shape, gotch.Float, l.device)
			if err != nil {
				freeMasks(masks)
				return nil, err
			}
			m, err := ts.Dropout(ones, s.P, true)
			_ = ones.Drop()
			if err != nil {
				freeMasks(masks)
				return nil, err
			}
			masks[t][i] = m
		}
	}
	return masks, nil
}

func freeMasks(masks [][]*ts.Tensor) {
	for _, ms := range masks {
		for _, m := range ms {
			if m != nil {
				_ = m.Drop()
			}
		}
	}
}

// forwardMasked runs layers [from, to) on x with dropout layers replaced by
// the given masks, freeing intermediates but not x.
func (l *Learner) forwardMasked(x *ts.Tensor, from, to int, masks []*ts.Tensor) (*ts.Tensor, error) {
	cur := x
	for i := from; i < to; i++ {
		var y *ts.Tensor
		var err error
		if masks[i] != nil {
			y, err = cur.Mul(masks[i], false)
		} else {
			y, err = l.layer(i, cur, false)
		}
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

// MCProbs returns T Monte-Carlo-dropout samples of the class probabilities.
// The samples are consistent (Kirsch et al. 2019): sample t uses one set of
// dropout masks w_t for every requested pool point, so that joint quantities
// over several points (BatchBALD) are estimated under the same w_t. Each
// point's own samples are distributed exactly as with independent masks.
func (l *Learner) MCProbs(ctx context.Context, idx []int, T int) ([]*mat.Dense, error) {
	pin()
	defer runtime.UnlockOSThread()
	if err := l.ready(); err != nil {
		return nil, err
	}
	if T < 1 {
		return nil, fmt.Errorf("mc dropout: T must be >= 1")
	}
	outs := make([]*mat.Dense, T)
	for t := range outs {
		outs[t] = mat.NewDense(max(len(idx), 1), l.c, nil)
	}
	if len(idx) == 0 {
		return outs, nil
	}
	masks, err := l.mcMasks(T)
	if err != nil {
		return nil, fmt.Errorf("mc dropout masks: %w", err)
	}
	defer freeMasks(masks)
	prefix, drop, rest := l.arch.MCSplit()
	n := len(l.arch.Layers)
	var stack *ts.Tensor // [T, C] channel masks, when the first dense folds
	if l.foldsChannelDense(drop, rest) {
		if stack, err = channelMaskStack(masks, drop); err != nil {
			return nil, fmt.Errorf("mc dropout masks: %w", err)
		}
		defer stack.Drop()
	}
	err = l.batches(ctx, "mc-dropout", idx, func(lo, hi int, x *ts.Tensor) error {
		h, err := x.ShallowClone()
		if err != nil {
			return err
		}
		for _, i := range prefix {
			y, err := l.layer(i, h, false)
			_ = h.Drop()
			if err != nil {
				return fmt.Errorf("layer %d: %w", i, err)
			}
			h = y
		}
		defer h.Drop()
		if stack != nil {
			return l.mcFolded(h, stack, masks, rest, outs, lo)
		}
		for t := 0; t < T; t++ {
			var logits *ts.Tensor
			if drop < 0 {
				logits, err = l.forwardMasked(h, rest, n, masks[t])
			} else {
				d, derr := h.Mul(masks[t][drop], false)
				if derr != nil {
					return derr
				}
				logits, err = l.forwardMasked(d, rest, n, masks[t])
				_ = d.Drop()
			}
			if err := probsInto(logits, err, outs[t], lo); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mc dropout: %w", err)
	}
	return outs, nil
}

// foldsChannelDense reports whether the T passes can start after the first
// dense layer: a channel-wise dropout whose (hoisted) pooling and ReLU are
// followed by flatten and dense. That dense layer is linear, so with h the
// hoisted activations, m_t the channel mask and W_c the weight columns of
// channel c, W (m_t . h) = sum_c m_t[c] (W_c h_c): the C partial products
// W_c h_c are computed once and each MC sample costs only a [T, C] x
// [C, B*O] product, C*O multiply-adds per sample instead of C*S*O (exact
// up to floating-point reassociation).
func (l *Learner) foldsChannelDense(drop, rest int) bool {
	ls := l.arch.Layers
	return drop >= 0 && ls[drop].Type == "dropout2d" && rest+1 < len(ls) &&
		ls[rest].Type == "flatten" && ls[rest+1].Type == "dense" && len(ls[rest].InShape) == 3
}

// channelMaskStack stacks the T channel masks of layer drop ([1, C, 1, 1]
// each) into a [T, C] tensor.
func channelMaskStack(masks [][]*ts.Tensor, drop int) (*ts.Tensor, error) {
	rows := make([]ts.Tensor, len(masks))
	var views []*ts.Tensor
	defer func() {
		for _, v := range views {
			_ = v.Drop()
		}
	}()
	for t, ms := range masks {
		v, err := ms[drop].Flatten(0, -1, false)
		if err != nil {
			return nil, err
		}
		u, err := v.Unsqueeze(0, true)
		if err != nil {
			return nil, err
		}
		views = append(views, u)
		rows[t] = *u
	}
	return ts.Cat(rows, 0)
}

// mcFolded runs the T MC passes of one batch from the hoisted activations h
// ([B, C, H, W]) with the first dense layer (layer rest+1) folded over the
// channel masks (see foldsChannelDense), writing sample t's probabilities
// into rows lo.. of outs[t].
func (l *Learner) mcFolded(h, stack *ts.Tensor, masks [][]*ts.Tensor, rest int, outs []*mat.Dense, lo int) error {
	size, err := h.Size()
	if err != nil {
		return err
	}
	b, c, s := size[0], size[1], int64(1)
	for _, d := range size[2:] {
		s *= d
	}
	dense := l.params[rest+1]
	o := int64(l.arch.Layers[rest+1].Out)
	T := int64(len(masks))
	z, err := chain(h,
		func(x *ts.Tensor) (*ts.Tensor, error) { return x.Reshape([]int64{b, c, s}, false) },
		func(x *ts.Tensor) (*ts.Tensor, error) { return x.Permute([]int64{1, 0, 2}, false) }, // [C, B, S]
		func(x *ts.Tensor) (*ts.Tensor, error) {
			w, err := chain(dense.w,
				func(w *ts.Tensor) (*ts.Tensor, error) { return w.Reshape([]int64{o, c, s}, false) },
				func(w *ts.Tensor) (*ts.Tensor, error) { return w.Permute([]int64{1, 2, 0}, false) }) // [C, S, O]
			if err != nil {
				return nil, err
			}
			defer w.Drop()
			return x.Bmm(w, false) // [C, B, O]: W_c h_c
		},
		func(x *ts.Tensor) (*ts.Tensor, error) { return x.Reshape([]int64{c, b * o}, false) },
		func(x *ts.Tensor) (*ts.Tensor, error) { return stack.Mm(x, false) }, // [T, B*O]
		func(x *ts.Tensor) (*ts.Tensor, error) { return x.Reshape([]int64{T, b, o}, false) },
		func(x *ts.Tensor) (*ts.Tensor, error) { return x.Add(dense.b, false) },
	)
	if err != nil {
		return fmt.Errorf("folded dense layer %d: %w", rest+1, err)
	}
	defer z.Drop()
	n := len(l.arch.Layers)
	for t := range masks {
		zt, err := z.Select(0, int64(t), false)
		if err != nil {
			return err
		}
		logits, err := l.forwardMasked(zt, rest+2, n, masks[t])
		_ = zt.Drop()
		if err := probsInto(logits, err, outs[t], lo); err != nil {
			return err
		}
	}
	return nil
}

// probsInto writes softmax(logits) into rows lo.. of out and frees logits;
// ferr is the error of the forward pass that made them, returned unchanged.
func probsInto(logits *ts.Tensor, ferr error, out *mat.Dense, lo int) error {
	if ferr != nil {
		return ferr
	}
	p, err := softmax(logits)
	_ = logits.Drop()
	if err != nil {
		return err
	}
	defer p.Drop()
	return copyRows(p, out, lo)
}
