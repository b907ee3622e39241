package datasets

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeImage(t *testing.T, path string, im image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if strings.HasSuffix(path, ".jpg") {
		err = jpeg.Encode(f, im, &jpeg.Options{Quality: 100})
	} else {
		err = png.Encode(f, im)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func greyImage(w, h int, v uint8) *image.Gray {
	im := image.NewGray(image.Rect(0, 0, w, h))
	for i := range im.Pix {
		im.Pix[i] = v
	}
	return im
}

func TestImageFolderGreyKnownValues(t *testing.T) {
	dir := t.TempDir()
	writeImage(t, filepath.Join(dir, "cat", "a.png"), greyImage(4, 2, 255))
	writeImage(t, filepath.Join(dir, "cat", "b.png"), greyImage(4, 2, 0))
	writeImage(t, filepath.Join(dir, "dog", "c.png"), greyImage(4, 2, 51))
	if err := os.WriteFile(filepath.Join(dir, "dog", "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := LoadImageFolder(ImageFolder{Dir: dir, Cache: "off"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 3 || d.NumClasses != 2 || d.ClassNames[0] != "cat" || d.ClassNames[1] != "dog" {
		t.Fatalf("%d images, classes %v", d.Len(), d.ClassNames)
	}
	if len(d.Shape) != 3 || d.Shape[0] != 1 || d.Shape[1] != 2 || d.Shape[2] != 4 {
		t.Fatalf("shape %v, want [1 2 4]", d.Shape)
	}
	if d.X[0] != 1 || d.X[8] != 0 || math.Abs(float64(d.X[16])-0.2) > 1e-6 || d.Y[2] != 1 {
		t.Fatalf("pixels %v %v %v, labels %v", d.X[0], d.X[8], d.X[16], d.Y)
	}
}

func TestImageFolderResizeRGBTestDirAndCache(t *testing.T) {
	dir, test, cache := t.TempDir(), t.TempDir(), t.TempDir()
	red := image.NewRGBA(image.Rect(0, 0, 8, 6))
	for y := 0; y < 6; y++ {
		for x := 0; x < 8; x++ {
			red.Set(x, y, color.RGBA{255, 0, 0, 255})
		}
	}
	writeImage(t, filepath.Join(dir, "a", "1.png"), red)
	writeImage(t, filepath.Join(dir, "b", "2.jpg"), greyImage(3, 3, 128))
	writeImage(t, filepath.Join(test, "a", "3.png"), greyImage(5, 5, 0))
	writeImage(t, filepath.Join(test, "b", "4.png"), greyImage(5, 5, 255))
	cfg := ImageFolder{Dir: dir, TestDir: test, Size: []int{4, 4}, Cache: cache}
	d, err := LoadImageFolder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d.Shape[0] != 3 || d.Shape[1] != 4 || d.Shape[2] != 4 || d.Len() != 4 || d.TrainN != 2 {
		t.Fatalf("shape %v, %d images, TrainN %d", d.Shape, d.Len(), d.TrainN)
	}
	// The red image: R plane 1, G and B planes 0.
	if d.X[0] != 1 || d.X[16] != 0 || d.X[32] != 0 {
		t.Fatalf("red image planes: %v %v %v", d.X[0], d.X[16], d.X[32])
	}
	// The second read comes from the cache and is identical.
	again, err := LoadImageFolder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(cache)
	if len(ents) != 1 {
		t.Fatalf("cache holds %d files", len(ents))
	}
	for i := range d.X {
		if d.X[i] != again.X[i] {
			t.Fatalf("cached pixel %d differs", i)
		}
	}
	if again.NumClasses != 2 || again.TrainN != 2 || again.Y[3] != 1 {
		t.Fatalf("cached data set: %d classes, TrainN %d, labels %v", again.NumClasses, again.TrainN, again.Y)
	}
	// Grey forced to one channel.
	cfg.Channels, cfg.Cache = 1, "off"
	if g, err := LoadImageFolder(cfg); err != nil || g.Shape[0] != 1 || math.Abs(float64(g.X[0])-1.0/3) > 1e-6 {
		t.Fatalf("grey: %v, shape %v, x0 %v", err, g.Shape, g.X[0])
	}
}

func TestImageFolderErrorsNameTheFile(t *testing.T) {
	mk := func(t *testing.T, files map[string]image.Image, raw map[string]string) string {
		dir := t.TempDir()
		for p, im := range files {
			writeImage(t, filepath.Join(dir, p), im)
		}
		for p, body := range raw {
			_ = os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
			if err := os.WriteFile(filepath.Join(dir, p), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	for _, tc := range []struct {
		name  string
		files map[string]image.Image
		raw   map[string]string
		cfg   ImageFolder
		want  string
	}{
		{"mixed sizes", map[string]image.Image{"a/1.png": greyImage(2, 2, 0), "b/2.png": greyImage(3, 2, 0)}, nil, ImageFolder{}, "set data.size"},
		{"unreadable", map[string]image.Image{"a/1.png": greyImage(2, 2, 0)}, map[string]string{"b/bad.png": "not an image"}, ImageFolder{}, "bad.png is not a readable"},
		{"empty class", map[string]image.Image{"a/1.png": greyImage(2, 2, 0)}, map[string]string{"b/readme.txt": "x"}, ImageFolder{}, "holds no images"},
		{"one class", map[string]image.Image{"a/1.png": greyImage(2, 2, 0)}, nil, ImageFolder{}, "at least two"},
		{"bad size", map[string]image.Image{"a/1.png": greyImage(2, 2, 0), "b/1.png": greyImage(2, 2, 0)}, nil, ImageFolder{Size: []int{4}}, "data.size"},
		{"bad channels", map[string]image.Image{"a/1.png": greyImage(2, 2, 0), "b/1.png": greyImage(2, 2, 0)}, nil, ImageFolder{Channels: 2}, "data.channels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Dir, cfg.Cache = mk(t, tc.files, tc.raw), "off"
			_, err := LoadImageFolder(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to say %q", err, tc.want)
			}
		})
	}
	if _, err := LoadImageFolder(ImageFolder{}); err == nil || !strings.Contains(err.Error(), "data.dir") {
		t.Fatalf("no folder: %v", err)
	}
}

// TestImageFolderRefusesHugeImages: a header that claims more pixels than
// the limit is refused, naming the file, before any pixel is allocated.
func TestImageFolderRefusesHugeImages(t *testing.T) {
	dir := t.TempDir()
	writeImage(t, filepath.Join(dir, "a", "ok.png"), greyImage(2, 2, 1))
	var buf bytes.Buffer
	if err := png.Encode(&buf, greyImage(1, 1, 0)); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// IHDR's width and height (bytes 16-23) claim 20000x20000; the CRC no
	// longer matches, but DecodeConfig reads the header first.
	binary.BigEndian.PutUint32(b[16:], 20000)
	binary.BigEndian.PutUint32(b[20:], 20000)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	huge := filepath.Join(dir, "b", "huge.png")
	if err := os.MkdirAll(filepath.Dir(huge), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(huge, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadImageFolder(ImageFolder{Dir: dir, Cache: "off"})
	if err == nil || !strings.Contains(err.Error(), huge) || !strings.Contains(err.Error(), "pixels") {
		t.Fatalf("huge image: %v", err)
	}
}
