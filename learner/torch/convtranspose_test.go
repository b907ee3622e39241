//go:build torch

package torch

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// ConvTranspose2d equals libtorch's transposed convolution.
func TestConvTransposeEquivalence(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ManualSeed(3)
	var g Bag
	defer g.Drop()
	randn := func(dims ...int64) *ts.Tensor {
		x, err := ts.Randn(dims, gotch.Float, gotch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		return g.T(x)
	}
	maxDiff := func(a, b *ts.Tensor) float64 {
		d, _ := a.Sub(b, false)
		g.T(d)
		ab, _ := d.Abs(false)
		g.T(ab)
		m, _ := ab.Max(false)
		g.T(m)
		v, _ := ScalarValue(m)
		return v
	}
	for _, tc := range []struct{ stride, pad, k, h int64 }{{2, 1, 4, 3}, {1, 0, 1, 5}, {2, 0, 3, 4}, {3, 1, 4, 2},
		{2, 1, 4, 1}, {2, 2, 5, 4}, {1, 1, 3, 4}, {2, 0, 2, 3}, {2, 0, 1, 3}, {3, 2, 3, 3}} {
		x := randn(2, 3, tc.h, tc.h+1)
		w := randn(3, 5, tc.k, tc.k)
		b := randn(5)
		want, err := ts.ConvTranspose2d(x, w, b, []int64{tc.stride, tc.stride}, []int64{tc.pad, tc.pad}, []int64{0, 0}, 1, []int64{1, 1})
		if err != nil {
			t.Fatal(err)
		}
		g.T(want)
		got, err := ConvTranspose2d(x, w, b, tc.stride, tc.pad, &g)
		if err != nil {
			t.Fatal(err)
		}
		g.T(got)
		ws, _ := want.Size()
		gs, _ := got.Size()
		if fmt.Sprint(ws) != fmt.Sprint(gs) {
			t.Fatalf("%+v: shape %v, want %v", tc, gs, ws)
		}
		if v := maxDiff(want, got); v > 1e-4 {
			t.Errorf("%+v: largest difference %v", tc, v)
		}
		// The gradients with respect to input and weights match the
		// zero-dilation form's (libtorch's own backward is the slow path).
		xg, _ := x.SetRequiresGrad(true, false)
		wg, _ := w.SetRequiresGrad(true, false)
		coef := randn(ws...)
		var grads [2][]ts.Tensor
		for i, f := range []func(x, w, b *ts.Tensor, stride, pad int64, g *Bag) (*ts.Tensor, error){ConvTranspose2d, convTranspose2dDilated} {
			y, err := f(xg, wg, b, tc.stride, tc.pad, &g)
			if err != nil {
				t.Fatal(err)
			}
			g.T(y)
			prod, _ := y.Mul(coef, false)
			g.T(prod)
			sum, _ := prod.Sum(gotch.Float, false)
			g.T(sum)
			// One input per call: gotch's RunBackward reads only the first input's handle.
			for j, in := range []*ts.Tensor{xg, wg} {
				gr, err := ts.RunBackward([]ts.Tensor{*sum}, []ts.Tensor{*in}, j == 0, false)
				if err != nil {
					t.Fatal(err)
				}
				grads[i] = append(grads[i], gr[0])
				g.T(&gr[0])
			}
		}
		for j, name := range []string{"input", "weight"} {
			if v := maxDiff(&grads[0][j], &grads[1][j]); v > 1e-3 {
				t.Errorf("%+v: %s gradient differs by %v", tc, name, v)
			}
		}
	}
}
