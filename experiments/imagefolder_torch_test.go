//go:build torch

package experiments

import (
	"context"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/learner"
)

// TestCNNOnAnRGBImageFolder: the DBAL CNN trains on a folder of 28 x 28 RGB
// PNGs of two classes (reddish and bluish noise) and separates them.
func TestCNNOnAnRGBImageFolder(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	for c, name := range []string{"red", "blue"} {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 40; i++ {
			im := image.NewRGBA(image.Rect(0, 0, 28, 28))
			for y := 0; y < 28; y++ {
				for x := 0; x < 28; x++ {
					v := uint8(rng.IntN(120))
					if c == 0 {
						im.Set(x, y, color.RGBA{120 + v, v, v / 2, 255})
					} else {
						im.Set(x, y, color.RGBA{v / 2, v, 120 + v, 255})
					}
				}
			}
			f, err := os.Create(filepath.Join(dir, name, strconv.Itoa(i)+".png"))
			if err != nil {
				t.Fatal(err)
			}
			if err := png.Encode(f, im); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	}
	cfg := runTestConfig(t)
	cfg.Seeds = []uint64{1}
	cfg.Strategies = []StrategyConfig{{Name: "margin"}}
	cfg.Data = datasets.Source{Name: "imagefolder", Dir: dir}
	cfg.Split = SplitConfig{Test: 30}
	cfg.AL = envs.Config{InitSize: 4, InitMode: "balanced", K: 2, Budget: 8}
	cfg.Learner = learner.DefaultConfig()
	cfg.Learner.Backend, cfg.Learner.Threads = "torch", 1
	cfg.Learner.Model = learner.ModelSpec{Name: "cnn", Dropout: 0.5}
	cfg.Learner.Train.Epochs, cfg.Learner.Train.MinEpochSamples = 3, 128
	res, err := Run(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s := res[0].Summary; s.Labels != 8 || !(s.FinalAcc > 0.9) || !strings.Contains(s.Learner, "conv") {
		t.Fatalf("summary %+v", s)
	}
}
