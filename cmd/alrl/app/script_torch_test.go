//go:build torch

package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alrl/alrl/experiments"
	"github.com/alrl/alrl/internal/testimages"
	"github.com/alrl/alrl/learner/torch"
)

// TestTrainOnATorchScriptBackbone: from a TorchScript file to an AL run on
// its features with one config (docs/backends.md's recipe): a frozen
// backbone (here a fixed random projection of the 16x16 images, saved as
// TorchScript), an MLP head, a folder of images.
func TestTrainOnATorchScriptBackbone(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	photos := filepath.Join(dir, "photos")
	if _, err := testimages.Folder(photos, 20, 0); err != nil {
		t.Fatal(err)
	}
	w := make([]float32, 256*16)
	for i := range w {
		w[i] = float32((i*7919)%13-6) / 6
	}
	backbone := filepath.Join(dir, "backbone.pt")
	if err := torch.SaveScript(backbone, `
def forward(self, x):
    return torch.relu(torch.matmul(torch.flatten(x, 1), self.weight))
`, w, 256, 16); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	cfg := filepath.Join(dir, "script.yaml")
	if err := os.WriteFile(cfg, []byte(`
name: backbone
seeds: [1]
data: {name: imagefolder, dir: `+photos+`}
split: {test: 12}
al: {init_size: 6, init_mode: balanced, k: 6, budget: 24}
learner:
  model: {name: torchscript, path: `+backbone+`, hidden: [16]}
  train: {epochs: 5, min_epoch_samples: 64}
strategies: [{name: margin}]
out: `+out+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := runCLI(t, "train", "-c", cfg); err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	s, err := experiments.ReadSummary(filepath.Join(out, "margin", "seed-1"))
	if err != nil || s.Labels != 24 {
		t.Fatalf("summary %+v (%v)", s, err)
	}
	// A backbone that does not fit the data fails before any run folder.
	bad := filepath.Join(dir, "bad.pt")
	if err := torch.SaveScript(bad, "def forward(self, x):\n    return torch.matmul(torch.flatten(x, 1), self.weight)\n", make([]float32, 10*2), 10, 2); err != nil {
		t.Fatal(err)
	}
	out2 := filepath.Join(dir, "out2")
	if _, err := runCLI(t, "train", "-c", cfg, "--set", "learner.model.path="+bad, "--out", out2); err == nil || !strings.Contains(err.Error(), "forward on samples of shape") {
		t.Fatalf("a backbone of the wrong input size: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out2, "margin", "seed-1", "config.yaml")); !os.IsNotExist(err) {
		t.Fatalf("the refused run left its config: %v", err)
	}
}
