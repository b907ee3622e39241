package datasets

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseSklearn: no file makes the sklearn reader panic, and an accepted
// one is a consistent data set.
func FuzzParseSklearn(f *testing.F) {
	f.Add([]byte("2,2,a,b\n1,2,0\n3,4,1\n"), true)
	f.Add([]byte("0,16,0\n4,8,1\n"), false)
	f.Fuzz(func(t *testing.T, b []byte, header bool) {
		d, err := parseSklearn(bytes.NewReader(b), header)
		if err == nil {
			if verr := d.Validate(); verr != nil || d.NumClasses < 2 {
				t.Fatalf("accepted an inconsistent data set: %v", verr)
			}
		}
	})
}

// FuzzLoadCSV: no CSV file makes the reader panic, and an accepted one is consistent.
func FuzzLoadCSV(f *testing.F) {
	f.Add([]byte("a,b,label\n1,2,x\n3,4,y\n"))
	f.Add([]byte("label\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "f.csv")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := LoadCSV(p, "label")
		if err == nil {
			if verr := d.Validate(); verr != nil {
				t.Fatalf("accepted an inconsistent data set: %v", verr)
			}
		}
	})
}

// FuzzLoadIDX: no pair of IDX files makes the reader panic.
func FuzzLoadIDX(f *testing.F) {
	img := []byte{0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4}
	lab := []byte{0, 0, 8, 1, 0, 0, 0, 1, 7}
	f.Add(img, lab)
	f.Fuzz(func(t *testing.T, a, b []byte) {
		dir := t.TempDir()
		pa, pb := filepath.Join(dir, "i"), filepath.Join(dir, "l")
		if os.WriteFile(pa, a, 0o644) != nil || os.WriteFile(pb, b, 0o644) != nil {
			t.Fatal("write")
		}
		x, y, shape, err := LoadIDX(pa, pb)
		if err == nil && len(x) != len(y)*shapeProduct(shape) {
			t.Fatalf("accepted %d values for %d labels of shape %v", len(x), len(y), shape)
		}
	})
}

// FuzzReadNpy: no .npy stream makes the reader panic or allocate without bound.
func FuzzReadNpy(f *testing.F) {
	f.Add(npyBytes("<f4", false, []int{2, 3}, []float32{1, 2, 3, 4, 5, 6}))
	f.Add(npyBytes("<i8", false, []int{2}, []int64{1, 2}))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ReadNpy(bytes.NewReader(b))
		if err == nil && shapeProduct(a.Shape) != len(a.Data) && len(a.Shape) > 0 {
			t.Fatalf("shape %v with %d values", a.Shape, len(a.Data))
		}
	})
}

// FuzzLoadImageFolder: no image file makes the image-folder reader panic;
// an accepted folder is a consistent data set of its two images.
func FuzzLoadImageFolder(f *testing.F) {
	var good bytes.Buffer
	if err := png.Encode(&good, greyImage(3, 2, 7)); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes(), true)
	f.Add([]byte("GIF89a\x01\x00\x01\x00"), false)
	f.Fuzz(func(t *testing.T, b []byte, resize bool) {
		// Large (valid) images only make executions slow; the pixel limit
		// has its own test.
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(b)); err == nil && cfg.Width*cfg.Height > 1<<12 {
			return
		}
		dir := t.TempDir()
		for _, c := range []string{"a", "b"} {
			if err := os.MkdirAll(filepath.Join(dir, c), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if os.WriteFile(filepath.Join(dir, "a", "x.png"), b, 0o644) != nil || os.WriteFile(filepath.Join(dir, "b", "y.png"), good.Bytes(), 0o644) != nil {
			t.Fatal("write")
		}
		folder := ImageFolder{Dir: dir, Cache: "off"}
		if resize {
			folder.Size = []int{2, 3}
		}
		d, err := LoadImageFolder(folder)
		if err == nil {
			if verr := d.Validate(); verr != nil || d.Len() != 2 {
				t.Fatalf("accepted an inconsistent data set (%d rows): %v", d.Len(), verr)
			}
		}
	})
}

// FuzzReadImageCache: no cache file makes the decoded-image cache reader
// panic or allocate beyond the file's size; an accepted one has n rows.
func FuzzReadImageCache(f *testing.F) {
	d := &Dataset{X: []float32{1, 2, 3, 4, 5, 6}, Y: []int{0, 1}, Shape: []int{1, 1, 3}}
	p := filepath.Join(f.TempDir(), "c.bin")
	if err := writeImageCache(p, d); err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(p)
	f.Add(good)
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "c.bin")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := readImageCache(p, 2)
		if err == nil && len(d.X) != 2*shapeProduct(d.Shape) {
			t.Fatalf("accepted %d values for 2 rows of shape %v", len(d.X), d.Shape)
		}
	})
}
