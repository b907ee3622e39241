//go:build torch

package torch

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/learner"
)

const projection = `
def forward(self, x):
    return torch.relu(torch.matmul(torch.flatten(x, 1), self.weight))
`

// TestScriptFeatures: a TorchScript backbone written by SaveScript gives
// the outputs computed by hand, and the second call reads them from the cache.
func TestScriptFeatures(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	path := filepath.Join(t.TempDir(), "proj.pt")
	w := []float32{1, 0, -1, 0, 1, 2, 1, 1, 0, -1, 0, 1} // 4 x 3
	if err := SaveScript(path, projection, w, 4, 3); err != nil {
		t.Fatal(err)
	}
	x := []float32{1, 2, 3, 4, -1, 0, 0.5, 2} // two samples of shape [2, 2]
	in, err := datasets.NewInputs(x, []int{2, 2})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, 0, 6)
	for n := 0; n < 2; n++ {
		for j := 0; j < 3; j++ {
			s := 0.0
			for i := 0; i < 4; i++ {
				s += float64(x[n*4+i] * w[i*3+j])
			}
			want = append(want, math.Max(0, s))
		}
	}
	spec := learner.ModelSpec{Name: "torchscript", Path: path}
	for pass := 0; pass < 2; pass++ {
		f, err := learner.ScriptFeatures(context.Background(), spec, in, 1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.Gather([]int{0, 1}, nil)
		if err != nil || f.Dim() != 3 || len(got) != 6 {
			t.Fatalf("pass %d: dim %d, %v (%v)", pass, f.Dim(), got, err)
		}
		for i := range want {
			if math.Abs(float64(got[i])-want[i]) > 1e-6 {
				t.Fatalf("pass %d: features %v, want %v", pass, got, want)
			}
		}
	}
	cached, _ := filepath.Glob(filepath.Join(os.Getenv("XDG_CACHE_HOME"), "alrl", "torchscript", "*.bin"))
	if len(cached) != 1 {
		t.Fatalf("feature cache files: %v", cached)
	}
}

// TestScriptErrors: what a bad backbone file gives.
func TestScriptErrors(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pt")
	if err := os.WriteFile(junk, []byte("not a zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(dir, "wrong.pt")
	if err := SaveScript(wrong, projection, make([]float32, 6), 3, 2); err != nil { // wants 3 inputs, gets 4
		t.Fatal(err)
	}
	in, _ := datasets.NewInputs([]float32{1, 2, 3, 4}, []int{4})
	tests := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "none.pt"), "no such file"},
		{"not torchscript", junk, "is not a TorchScript file"},
		{"wrong input size", wrong, "forward on samples of shape [4]"},
		{"no path", "", "needs the path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := learner.ScriptFeatures(context.Background(), learner.ModelSpec{Name: "torchscript", Path: tc.path}, in, 8)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	if err := SaveScript(filepath.Join(dir, "bad.pt"), "def forward(self, x):\n    return x +\n", []float32{1}, 1, 1); err == nil {
		t.Fatal("a syntax error was saved")
	}
}

// TestScriptLearner: learner.New with model torchscript fits its head on
// the backbone's outputs and predicts every row.
func TestScriptLearner(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	d, err := datasets.Load(datasets.Source{Name: "blobs", N: 120, Classes: 3, Dim: 4}, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "proj.pt")
	w := make([]float32, 4*6)
	for i := range w {
		w[i] = float32(math.Sin(float64(i + 1)))
	}
	if err := SaveScript(path, projection, w, 4, 6); err != nil {
		t.Fatal(err)
	}
	cfg := learner.DefaultConfig()
	cfg.Backend = "torch"
	cfg.Model = learner.ModelSpec{Name: "torchscript", Path: path, Hidden: []int{8}}
	cfg.Train.Epochs, cfg.Train.Patience = 20, 0
	if err := cfg.Validate(d.Shape, d.NumClasses); err != nil {
		t.Fatal(err)
	}
	l, err := learner.New(d.Inputs(), d.NumClasses, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	idx := make([]int, 60)
	ys := make([]int, 60)
	for i := range idx {
		idx[i], ys[i] = i, d.Y[i]
	}
	if _, err := l.Fit(context.Background(), learner.Labeled{Idx: idx, Y: ys}, learner.Labeled{}, 1); err != nil {
		t.Fatal(err)
	}
	p, err := l.Probs(context.Background(), []int{100, 101, 102})
	if err != nil {
		t.Fatal(err)
	}
	if r, c := p.Dims(); r != 3 || c != 3 {
		t.Fatalf("probs %dx%d", r, c)
	}
}
