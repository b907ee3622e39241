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
			if err != nil {
				return err
			}
			p, err := softmax(logits)
			_ = logits.Drop()
			if err != nil {
				return err
			}
			err = copyRows(p, outs[t], lo)
			_ = p.Drop()
			if err != nil {
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
