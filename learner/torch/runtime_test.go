//go:build torch

package torch

import (
	"reflect"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func TestMatmulRandom(t *testing.T) {
	a, err := ts.Randn([]int64{3, 4}, gotch.Float, gotch.CPU)
	if err != nil {
		t.Fatalf("randn a: %v", err)
	}
	defer a.MustDrop()
	b, err := ts.Randn([]int64{4, 5}, gotch.Float, gotch.CPU)
	if err != nil {
		t.Fatalf("randn b: %v", err)
	}
	defer b.MustDrop()

	c, err := a.Matmul(b, false)
	if err != nil {
		t.Fatalf("matmul: %v", err)
	}
	defer c.MustDrop()
	shape, err := c.Size()
	if err != nil {
		t.Fatalf("size: %v", err)
	}
	if want := []int64{3, 5}; !reflect.DeepEqual(shape, want) {
		t.Fatalf("matmul shape = %v, want %v", shape, want)
	}
}

func TestManualSeedAndThreads(t *testing.T) {
	draw := func() []float64 {
		t.Helper()
		x, err := ts.Randn([]int64{16}, gotch.Float, gotch.CPU)
		if err != nil {
			t.Fatalf("randn: %v", err)
		}
		defer x.MustDrop()
		return x.Float64Values()
	}

	ManualSeed(7)
	first := draw()
	ManualSeed(7)
	second := draw()
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("same seed gave different tensors:\n%v\n%v", first, second)
	}
	ManualSeed(8)
	if third := draw(); reflect.DeepEqual(first, third) {
		t.Fatalf("different seeds gave the same tensor: %v", third)
	}

	old := NumThreads()
	t.Cleanup(func() { SetNumThreads(old) })
	SetNumThreads(2)
	if got := NumThreads(); got != 2 {
		t.Fatalf("NumThreads() = %d after SetNumThreads(2)", got)
	}
}
