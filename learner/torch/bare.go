//go:build torch

package torch

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/sugarme/gotch/ts"
)

// bareForwardRows bounds the inputs BareForward holds (60,000 MNIST images
// are 188 MB of float32).
const bareForwardRows = 60000

// BareForwardSeconds times the network's forward pass over the pool
// indices in inference batches with everything a capability adds left out:
// the input tensors are built before the clock starts and the logits are
// dropped on the device (no softmax, no copy into Go). It is the floor that
// `alrl bench` sets the backend's throughput against. At most
// bareForwardRows samples are timed (their inputs are held at once); it
// returns how many and the seconds.
func (l *Learner) BareForward(ctx context.Context, idx []int) (int, float64, error) {
	if len(idx) > bareForwardRows {
		idx = idx[:bareForwardRows]
	}
	pin()
	defer runtime.UnlockOSThread()
	if err := l.ready(); err != nil {
		return 0, 0, err
	}
	restore, err := noGrad()
	if err != nil {
		return 0, 0, err
	}
	defer restore()
	var xs []*ts.Tensor
	defer func() {
		for _, x := range xs {
			_ = x.Drop()
		}
	}()
	bs := l.cfg.InferenceBatch
	for lo := 0; lo < len(idx); lo += bs {
		x, _, err := l.input(idx[lo:min(lo+bs, len(idx))], nil)
		if err != nil {
			return 0, 0, fmt.Errorf("bare forward: %w", err)
		}
		xs = append(xs, x)
	}
	n := len(l.arch.Layers)
	t0 := time.Now()
	for _, x := range xs {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		logits, err := l.forward(x, 0, n, false)
		if err != nil {
			return 0, 0, fmt.Errorf("bare forward: %w", err)
		}
		_ = logits.Drop()
	}
	return len(idx), time.Since(t0).Seconds(), nil
}
