package experiments

import (
	"context"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
)

// TestRunOnAnImageFolder: a folder of PNG class folders runs end to end.
func TestRunOnAnImageFolder(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	for c, name := range []string{"dark", "light", "mid"} {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 30; i++ {
			im := image.NewGray(image.Rect(0, 0, 6, 6))
			for p := range im.Pix {
				im.Pix[p] = uint8(min(255, c*100+rng.IntN(60)))
			}
			f, err := os.Create(filepath.Join(dir, name, filepath.Base(name)+string(rune('a'+i%26))+string(rune('0'+i/26))+".png"))
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
	cfg.Data = datasets.Source{Name: "imagefolder", Dir: dir}
	cfg.Split = SplitConfig{Test: 30}
	cfg.AL = envs.Config{InitSize: 6, InitMode: "balanced", K: 3, Budget: 18}
	res, err := Run(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Summary.Labels != 18 || !(res[0].Summary.FinalAcc > 0.9) {
		t.Fatalf("results %+v", res)
	}
}
