package datasets

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// npyBytes builds a version-1 .npy file.
func npyBytes(descr string, fortran bool, shape []int, data any) []byte {
	sh := ""
	for _, s := range shape {
		sh += fmt.Sprintf("%d, ", s)
	}
	if len(shape) > 1 {
		sh = strings.TrimSuffix(sh, ", ")
	}
	f := "False"
	if fortran {
		f = "True"
	}
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }", descr, f, sh)
	for (10+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	b.WriteString(h)
	var order binary.ByteOrder = binary.LittleEndian
	if strings.HasPrefix(descr, ">") {
		order = binary.BigEndian
	}
	binary.Write(&b, order, data)
	return b.Bytes()
}

func TestReadNpyKnownValues(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  []byte
		shape []int
		want  []float64
		isInt bool
	}{
		{"float32", npyBytes("<f4", false, []int{2, 3}, []float32{1, 2, 3, 4, 5, 6.5}), []int{2, 3}, []float64{1, 2, 3, 4, 5, 6.5}, false},
		{"big-endian float64", npyBytes(">f8", false, []int{2}, []float64{-1.25, 3}), []int{2}, []float64{-1.25, 3}, false},
		{"float16", npyBytes("<f2", false, []int{3}, []uint16{0x3c00, 0xc000, 0x3555}), []int{3}, []float64{1, -2, 0.333251953125}, false},
		{"int64", npyBytes("<i8", false, []int{3}, []int64{0, -7, 2}), []int{3}, []float64{0, -7, 2}, true},
		{"uint8", npyBytes("|u1", false, []int{2}, []uint8{255, 3}), []int{2}, []float64{255, 3}, true},
		{"int16", npyBytes("<i2", false, []int{2}, []int16{-300, 12}), []int{2}, []float64{-300, 12}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ReadNpy(bytes.NewReader(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(a.Shape) != fmt.Sprint(tc.shape) || a.Int != tc.isInt || len(a.Data) != len(tc.want) {
				t.Fatalf("shape %v int %v data %v", a.Shape, a.Int, a.Data)
			}
			for i := range tc.want {
				if math.Abs(a.Data[i]-tc.want[i]) > 1e-12 {
					t.Errorf("value %d = %v, want %v", i, a.Data[i], tc.want[i])
				}
			}
		})
	}
}

func TestReadNpyRejectsBadFiles(t *testing.T) {
	good := npyBytes("<f4", false, []int{2}, []float32{1, 2})
	for name, b := range map[string][]byte{
		"magic":     append([]byte("\x93NUMPX"), good[6:]...),
		"truncated": good[:len(good)-2],
		"fortran":   npyBytes("<f4", true, []int{2, 1}, []float32{1, 2}),
		"dtype":     npyBytes("<c8", false, []int{1}, []float64{1}),
		"object":    npyBytes("|O", false, []int{1}, []uint8{0}),
		"version":   append([]byte("\x93NUMPY\x09\x00"), good[8:]...),
		"empty":     {},
	} {
		if _, err := ReadNpy(bytes.NewReader(b)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLoadNpyAndNpz(t *testing.T) {
	dir := t.TempDir()
	x := npyBytes("<f4", false, []int{4, 1, 2, 2}, []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	y := npyBytes("<i8", false, []int{4}, []int64{0, 1, 1, 2})
	os.WriteFile(filepath.Join(dir, "x.npy"), x, 0o644)
	os.WriteFile(filepath.Join(dir, "y.npy"), y, 0o644)
	d, err := LoadNpy(filepath.Join(dir, "x.npy"), filepath.Join(dir, "y.npy"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 4 || fmt.Sprint(d.Shape) != "[1 2 2]" || d.NumClasses != 3 || d.X[5] != 5 || d.Y[3] != 2 {
		t.Fatalf("data set: %d rows, shape %v, %d classes", d.Len(), d.Shape, d.NumClasses)
	}
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for name, body := range map[string][]byte{"feats.npy": x, "labels.npy": y} {
		w, _ := zw.Create(name)
		w.Write(body)
	}
	zw.Close()
	npz := filepath.Join(dir, "d.npz")
	os.WriteFile(npz, zb.Bytes(), 0o644)
	if _, err := LoadNpy(npz, "", "", ""); err == nil || !strings.Contains(err.Error(), "x_key") {
		t.Fatalf("missing default key: %v", err)
	}
	if d, err = LoadNpy(npz, "", "feats", "labels"); err != nil || d.Len() != 4 {
		t.Fatalf("npz: %v", err)
	}
	// Labels that are floats, or do not match the rows, are refused.
	os.WriteFile(filepath.Join(dir, "yf.npy"), npyBytes("<f4", false, []int{4}, []float32{0, 1, 1, 0}), 0o644)
	os.WriteFile(filepath.Join(dir, "y3.npy"), npyBytes("<i8", false, []int{3}, []int64{0, 1, 1}), 0o644)
	os.WriteFile(filepath.Join(dir, "y1.npy"), npyBytes("<i8", false, []int{4}, []int64{1, 1, 1, 1}), 0o644)
	for lab, want := range map[string]string{"yf.npy": "integers", "y3.npy": "want (4,)", "y1.npy": "two classes"} {
		if _, err := LoadNpy(filepath.Join(dir, "x.npy"), filepath.Join(dir, lab), "", ""); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", lab, err)
		}
	}
	if _, err := LoadNpy(filepath.Join(dir, "x.npy"), "", "", ""); err == nil || !strings.Contains(err.Error(), "data.labels") {
		t.Errorf("no labels file: %v", err)
	}
}

func TestDataShapeReshapesRows(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "img.csv")
	os.WriteFile(p, []byte("a,b,c,d,label\n1,2,3,4,x\n5,6,7,8,y\n"), 0o644)
	d, err := Load(Source{Name: "csv", Path: p, Shape: []int{1, 2, 2}}, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(d.Shape) != "[1 2 2]" || d.X[7] != 8 {
		t.Fatalf("shape %v", d.Shape)
	}
	for _, bad := range [][]int{{3, 2}, {0, 4}} {
		if _, err := Load(Source{Name: "csv", Path: p, Shape: bad}, "", 0); err == nil || !strings.Contains(err.Error(), "data.shape") {
			t.Errorf("shape %v: %v", bad, err)
		}
	}
	if _, err := Load(Source{Name: "blobs", Shape: []int{2}}, "", 0); err == nil {
		t.Error("a reshape of blobs was accepted")
	}
}
