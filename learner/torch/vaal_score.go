//go:build torch

package torch

import (
	"context"
	"fmt"
	"runtime"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// labeledProb scores pool indices with the trained networks (batch norm in
// inference mode): the discriminator's probability that each is labeled.
func (l *Learner) labeledProb(ctx context.Context, idx []int) ([]float64, error) {
	n := l.ext.vaal
	if n == nil {
		return nil, fmt.Errorf("vaal scores: the VAAL networks have not been trained; use trainer: {name: vaal}")
	}
	out := make([]float64, len(idx))
	err := l.batches(ctx, "vaal", idx, func(lo, hi int, x *ts.Tensor) error {
		var g bag
		defer g.drop()
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
		c, err := p.To(gotch.CPU, false)
		if err != nil {
			return err
		}
		g.t(c)
		vals := make([]float32, hi-lo)
		if err := c.CopyData(vals, uint(len(vals))); err != nil {
			return err
		}
		for i, v := range vals {
			out[lo+i] = float64(v)
		}
		return nil
	})
	return out, err
}

// LabeledProb returns VAAL's discriminator probability that each pool index is labeled.
func (l *Learner) LabeledProb(ctx context.Context, idx []int) ([]float64, error) {
	pin()
	defer runtime.UnlockOSThread()
	p, err := l.labeledProb(ctx, idx)
	if err != nil {
		return nil, fmt.Errorf("vaal scores: %w", err)
	}
	return p, nil
}
