//go:build torch

package torch

/*
#include <stdlib.h>
char* alrl_script_save(const char* src, const char* path, const float* w, long long rows, long long cols);
*/
import "C"

import (
	"context"
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/learner"
)

func init() { learner.RegisterScriptRunner(runScript) }

// SaveScript writes a TorchScript module to path: source holds its methods
// (TorchScript, at least forward), and weight, rows x cols, is its
// parameter self.weight. A fixed random projection, say, becomes a backbone
// file for learner.model {name: torchscript} without Python.
func SaveScript(path, source string, weight []float32, rows, cols int) error {
	if rows*cols != len(weight) || len(weight) == 0 {
		return fmt.Errorf("torchscript: weight has %d values, not %d x %d", len(weight), rows, cols)
	}
	cs, cp := C.CString(source), C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	defer C.free(unsafe.Pointer(cp))
	if msg := C.alrl_script_save(cs, cp, (*C.float)(unsafe.Pointer(&weight[0])), C.longlong(rows), C.longlong(cols)); msg != nil {
		defer C.free(unsafe.Pointer(msg))
		return fmt.Errorf("torchscript: %s", C.GoString(msg))
	}
	return nil
}

// runScript runs the TorchScript module at path, in eval mode and without
// gradients, on every row of in (batches of batch rows shaped as the
// samples) and returns each row's output, flattened, with its width.
func runScript(ctx context.Context, path string, in datasets.Inputs, batch int) ([]float32, int, error) {
	pin()
	m, err := ts.ModuleLoad(path)
	if err != nil {
		return nil, 0, fmt.Errorf("learner.model.path: %s is not a TorchScript file that libtorch can load (save it with torch.jit.save): %w", path, err)
	}
	defer m.Drop()
	m.SetEval()
	restore, err := noGrad()
	if err != nil {
		return nil, 0, err
	}
	defer restore()
	n, dim := in.Len(), in.Dim()
	var out []float32
	width := 0
	rows := make([]int, 0, batch)
	buf := make([]float32, 0, batch*dim)
	for lo := 0; lo < n; lo += batch {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		hi := min(lo+batch, n)
		rows = rows[:0]
		for i := lo; i < hi; i++ {
			rows = append(rows, i)
		}
		if buf, err = in.Gather(rows, buf[:0]); err != nil {
			return nil, 0, err
		}
		x, err := ts.NewTensorFromData(buf, append([]int64{int64(hi - lo)}, toInt64(in.Shape())...))
		if err != nil {
			return nil, 0, err
		}
		y, err := m.Forward(x)
		_ = x.Drop()
		if err != nil {
			return nil, 0, fmt.Errorf("learner.model.path: %s: forward on samples of shape %v: %w", path, in.Shape(), err)
		}
		w, vals, err := flatRows(y, hi-lo)
		_ = y.Drop()
		if err != nil {
			return nil, 0, fmt.Errorf("learner.model.path: %s: %w", path, err)
		}
		if width == 0 {
			width = w
			out = make([]float32, 0, n*w)
		} else if w != width {
			return nil, 0, fmt.Errorf("learner.model.path: %s: the output width changed from %d to %d between batches", path, width, w)
		}
		out = append(out, vals...)
		learner.Report(ctx, "backbone", hi, n)
	}
	return out, width, nil
}

// flatRows returns the values of a [n, ...] float tensor, row-major, and
// the width of one row.
func flatRows(y *ts.Tensor, n int) (int, []float32, error) {
	shape, err := y.Size()
	if err != nil {
		return 0, nil, err
	}
	if len(shape) < 1 || int(shape[0]) != n {
		return 0, nil, fmt.Errorf("the module returned shape %v for a batch of %d; it must return one row per sample", shape, n)
	}
	f, err := y.Totype(gotch.Float, false)
	if err != nil {
		return 0, nil, err
	}
	defer f.Drop()
	c, err := f.Contiguous(false)
	if err != nil {
		return 0, nil, err
	}
	defer c.Drop()
	numel := 1
	for _, s := range shape {
		numel *= int(s)
	}
	vals := make([]float32, numel)
	if err := c.CopyData(vals, uint(numel)); err != nil {
		return 0, nil, err
	}
	return numel / n, vals, nil
}
