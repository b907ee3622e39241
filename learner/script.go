package learner

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/internal/atomicfile"
)

// ScriptRunner runs a TorchScript module on every row of in, in batches of
// batch rows, and returns the outputs (row-major) and their width.
type ScriptRunner func(ctx context.Context, path string, in datasets.Inputs, batch int) ([]float32, int, error)

// scriptRunner is set by the torch backend (its init registers it, like a backend).
var scriptRunner ScriptRunner

// RegisterScriptRunner installs the function that runs TorchScript backbones.
func RegisterScriptRunner(f ScriptRunner) { scriptRunner = f }

// checkScript rejects a torchscript model that cannot run here.
func checkScript(m ModelSpec) error {
	if m.Path == "" {
		return fmt.Errorf("learner.model.path: model torchscript needs the path of the backbone file (saved with torch.jit.save)")
	}
	if _, err := os.Stat(m.Path); err != nil {
		return fmt.Errorf("learner.model.path: %w", err)
	}
	if scriptRunner == nil {
		return fmt.Errorf("learner.model torchscript runs its backbone through libtorch, which this binary lacks: build with make build (-tags torch)")
	}
	return nil
}

// ScriptFeatures returns the outputs of the TorchScript backbone m.Path on
// every row of in, as flat inputs for the head. The backbone is frozen: it
// runs in eval mode without gradients, once per file and data set (cached
// under the user cache folder, keyed by the file's and the inputs' hashes).
// Fine-tuning the backbone is not implemented.
func ScriptFeatures(ctx context.Context, m ModelSpec, in datasets.Inputs, batch int) (datasets.Inputs, error) {
	if err := checkScript(m); err != nil {
		return datasets.Inputs{}, err
	}
	f, err := os.Open(m.Path)
	if err != nil {
		return datasets.Inputs{}, fmt.Errorf("learner.model.path: %w", err)
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return datasets.Inputs{}, fmt.Errorf("learner.model.path: %w", err)
	}
	fmt.Fprintf(h, "|%016x", in.Hash())
	cache := ""
	if dir, err := os.UserCacheDir(); err == nil {
		cache = filepath.Join(dir, "alrl", "torchscript", fmt.Sprintf("%x.bin", h.Sum(nil)[:12]))
		if x, width, err := readFeatures(cache, in.Len()); err == nil {
			return datasets.NewInputs(x, []int{width})
		}
	}
	x, width, err := scriptRunner(ctx, m.Path, in, max(1, batch))
	if err != nil {
		return datasets.Inputs{}, err
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return datasets.Inputs{}, fmt.Errorf("learner.model.path: %s returns %v for row %d; the backbone must give finite features", m.Path, v, i/width)
		}
	}
	if cache != "" {
		_ = writeFeatures(cache, x, width) // without the cache the next run recomputes
	}
	return datasets.NewInputs(x, []int{width})
}

// writeFeatures stores n x width features: two uint64 then the values.
func writeFeatures(path string, x []float32, width int) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b := make([]byte, 16+4*len(x))
	binary.LittleEndian.PutUint64(b, uint64(len(x)/width))
	binary.LittleEndian.PutUint64(b[8:], uint64(width))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[16+4*i:], math.Float32bits(v))
	}
	return atomicfile.WriteBytes(path, b)
}

// readFeatures reads what writeFeatures stored, for n rows.
func readFeatures(path string, n int) ([]float32, int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	if len(b) < 16 || binary.LittleEndian.Uint64(b) != uint64(n) {
		return nil, 0, fmt.Errorf("%s: not a feature cache of %d rows", path, n)
	}
	width := int(binary.LittleEndian.Uint64(b[8:]))
	if width < 1 || len(b) != 16+4*n*width {
		return nil, 0, fmt.Errorf("%s: truncated feature cache", path)
	}
	x := make([]float32, n*width)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[16+4*i:]))
	}
	return x, width, nil
}
