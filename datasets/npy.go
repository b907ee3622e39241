package datasets

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// NpyArray is an array read from a NumPy .npy file, as float64 values in C order.
type NpyArray struct {
	Shape []int
	Data  []float64
	Int   bool // the file held integers (or booleans)
}

// maxNpyElements bounds what a header may announce (a corrupt header must
// not allocate the machine's memory).
const maxNpyElements = 1 << 31

// ReadNpy parses a .npy stream (format versions 1 to 3; little- or
// big-endian float16/32/64, signed and unsigned integers of 1 to 8 bytes,
// booleans; C order only).
func ReadNpy(r io.Reader) (NpyArray, error) {
	var a NpyArray
	magic := make([]byte, 8)
	if _, err := io.ReadFull(r, magic); err != nil {
		return a, fmt.Errorf("not a .npy file (too short)")
	}
	if !bytes.Equal(magic[:6], []byte("\x93NUMPY")) {
		return a, fmt.Errorf("not a .npy file (no \\x93NUMPY magic)")
	}
	var hlen int
	switch magic[6] {
	case 1:
		b := make([]byte, 2)
		if _, err := io.ReadFull(r, b); err != nil {
			return a, fmt.Errorf(".npy header length is truncated")
		}
		hlen = int(binary.LittleEndian.Uint16(b))
	case 2, 3:
		b := make([]byte, 4)
		if _, err := io.ReadFull(r, b); err != nil {
			return a, fmt.Errorf(".npy header length is truncated")
		}
		hlen = int(binary.LittleEndian.Uint32(b))
	default:
		return a, fmt.Errorf(".npy format version %d.%d is not supported (1, 2 or 3)", magic[6], magic[7])
	}
	if hlen > 1<<20 {
		return a, fmt.Errorf(".npy header of %d bytes is implausible (corrupt file?)", hlen)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return a, fmt.Errorf(".npy header is truncated")
	}
	descr, fortran, shape, err := parseNpyHeader(string(hb))
	if err != nil {
		return a, err
	}
	if fortran {
		return a, fmt.Errorf(".npy array is in Fortran order; save it with numpy.ascontiguousarray first")
	}
	n := 1
	for _, s := range shape {
		if s < 0 || (s > 0 && n > maxNpyElements/s) {
			return a, fmt.Errorf(".npy shape %v is too large", shape)
		}
		n *= s
	}
	a.Shape = shape
	if len(descr) < 2 {
		return a, fmt.Errorf(".npy dtype %q is not supported", descr)
	}
	var order binary.ByteOrder = binary.LittleEndian
	switch descr[0] {
	case '<', '|', '=':
	case '>':
		order = binary.BigEndian
	default:
		return a, fmt.Errorf(".npy dtype %q is not supported", descr)
	}
	kind := descr[1]
	size, err := strconv.Atoi(descr[2:])
	if err != nil || size < 1 || size > 8 {
		return a, fmt.Errorf(".npy dtype %q is not supported", descr)
	}
	raw := make([]byte, 0, min(n*size, 1<<26))
	buf := bytes.NewBuffer(raw)
	if _, err := io.CopyN(buf, r, int64(n*size)); err != nil {
		return a, fmt.Errorf(".npy data is truncated: the header announces %d values of %d bytes", n, size)
	}
	b := buf.Bytes()
	a.Data = make([]float64, n)
	for i := 0; i < n; i++ {
		v := b[i*size : (i+1)*size]
		switch {
		case kind == 'f' && size == 8:
			a.Data[i] = math.Float64frombits(order.Uint64(v))
		case kind == 'f' && size == 4:
			a.Data[i] = float64(math.Float32frombits(order.Uint32(v)))
		case kind == 'f' && size == 2:
			a.Data[i] = half(order.Uint16(v))
		case kind == 'i' || kind == 'u' || kind == 'b':
			a.Int = true
			var u uint64
			switch size {
			case 1:
				u = uint64(v[0])
			case 2:
				u = uint64(order.Uint16(v))
			case 4:
				u = uint64(order.Uint32(v))
			case 8:
				u = order.Uint64(v)
			default:
				return a, fmt.Errorf(".npy dtype %q is not supported", descr)
			}
			if kind == 'i' {
				shift := 64 - 8*uint(size)
				a.Data[i] = float64(int64(u<<shift) >> shift)
			} else {
				a.Data[i] = float64(u)
			}
		default:
			return a, fmt.Errorf(".npy dtype %q is not supported (floats, integers or booleans)", descr)
		}
	}
	return a, nil
}

// half converts an IEEE 754 binary16 value.
func half(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * frac * math.Pow(2, -24)
	case 31:
		if frac == 0 {
			return sign * math.Inf(1)
		}
		return math.NaN()
	}
	return sign * (1 + frac/1024) * math.Pow(2, float64(exp-15))
}

// parseNpyHeader reads the header's Python dict literal.
func parseNpyHeader(h string) (descr string, fortran bool, shape []int, err error) {
	get := func(key string) (string, bool) {
		i := strings.Index(h, "'"+key+"'")
		if i < 0 {
			return "", false
		}
		rest := strings.TrimSpace(h[i+len(key)+2:])
		if !strings.HasPrefix(rest, ":") {
			return "", false
		}
		return strings.TrimSpace(rest[1:]), true
	}
	d, ok := get("descr")
	if !ok || len(d) < 2 || d[0] != '\'' {
		return "", false, nil, fmt.Errorf(".npy header has no dtype ('descr'): %q", h)
	}
	end := strings.IndexByte(d[1:], '\'')
	if end < 0 {
		return "", false, nil, fmt.Errorf(".npy header's dtype is malformed: %q", h)
	}
	descr = d[1 : 1+end]
	f, ok := get("fortran_order")
	if !ok {
		return "", false, nil, fmt.Errorf(".npy header has no 'fortran_order': %q", h)
	}
	fortran = strings.HasPrefix(f, "True")
	s, ok := get("shape")
	if !ok || !strings.HasPrefix(s, "(") {
		return "", false, nil, fmt.Errorf(".npy header has no 'shape': %q", h)
	}
	close := strings.IndexByte(s, ')')
	if close < 0 {
		return "", false, nil, fmt.Errorf(".npy header's shape is malformed: %q", h)
	}
	for _, part := range strings.Split(s[1:close], ",") {
		part = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(part), "L"))
		if part == "" {
			continue
		}
		v, err := strconv.Atoi(part)
		if err != nil || v < 0 {
			return "", false, nil, fmt.Errorf(".npy header's shape %q is malformed", s[:close+1])
		}
		shape = append(shape, v)
	}
	return descr, fortran, shape, nil
}

func readNpyFile(path string) (NpyArray, error) {
	f, err := os.Open(path)
	if err != nil {
		return NpyArray{}, fmt.Errorf("datasets: npy: %w", err)
	}
	defer f.Close()
	a, err := ReadNpy(f)
	if err != nil {
		return a, fmt.Errorf("datasets: npy: %s: %w", path, err)
	}
	return a, nil
}

func readNpzMember(path, name string) (NpyArray, error) {
	z, err := zip.OpenReader(path)
	if err != nil {
		return NpyArray{}, fmt.Errorf("datasets: npz: %s is not a .npz (zip) file: %v", path, err)
	}
	defer z.Close()
	var names []string
	for _, f := range z.File {
		names = append(names, strings.TrimSuffix(f.Name, ".npy"))
		if f.Name == name+".npy" || f.Name == name {
			rc, err := f.Open()
			if err != nil {
				return NpyArray{}, fmt.Errorf("datasets: npz: %s: %w", path, err)
			}
			defer rc.Close()
			a, err := ReadNpy(rc)
			if err != nil {
				return a, fmt.Errorf("datasets: npz: %s[%s]: %w", path, name, err)
			}
			return a, nil
		}
	}
	return NpyArray{}, fmt.Errorf("datasets: npz: %s has no array %q (it has: %s); set data.x_key / data.y_key", path, name, strings.Join(names, ", "))
}

// LoadNpy builds a data set from features and labels in NumPy files: a .npz
// with arrays xKey and yKey, or a .npy of features with a .npy of labels
// (labelsPath). Features are N x ... (float or integer; shape[1:] becomes the
// sample shape, e.g. N x 1 x 28 x 28 images), labels N integers 0..C-1, or
// -1 for an unlabeled row.
func LoadNpy(path, labelsPath, xKey, yKey string) (*Dataset, error) {
	var x, y NpyArray
	var err error
	if strings.HasSuffix(strings.ToLower(path), ".npz") {
		if xKey == "" {
			xKey = "x"
		}
		if yKey == "" {
			yKey = "y"
		}
		if x, err = readNpzMember(path, xKey); err != nil {
			return nil, err
		}
		if y, err = readNpzMember(path, yKey); err != nil {
			return nil, err
		}
	} else {
		if labelsPath == "" {
			return nil, fmt.Errorf("datasets: npy: %s holds the features; set data.labels to the .npy file of labels (or use a .npz with both)", path)
		}
		if x, err = readNpyFile(path); err != nil {
			return nil, err
		}
		if y, err = readNpyFile(labelsPath); err != nil {
			return nil, err
		}
	}
	if len(x.Shape) < 2 {
		return nil, fmt.Errorf("datasets: npy: the features have shape %v; want N x D (or N x C x H x W)", x.Shape)
	}
	n := x.Shape[0]
	if len(y.Shape) != 1 || y.Shape[0] != n {
		return nil, fmt.Errorf("datasets: npy: the labels have shape %v, want (%d,) for %d feature rows", y.Shape, n, n)
	}
	if !y.Int {
		return nil, fmt.Errorf("datasets: npy: the labels are floats; save them as integers 0..C-1")
	}
	d := &Dataset{Name: strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), Shape: append([]int(nil), x.Shape[1:]...), TrainN: n}
	d.X = make([]float32, len(x.Data))
	for i, v := range x.Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("datasets: npy: feature value %d (row %d) is %v; clean the features first", i, i/max(1, shapeProduct(d.Shape)), v)
		}
		d.X[i] = float32(v)
	}
	maxY := -1
	distinct := map[int]bool{}
	for i, v := range y.Data {
		if v == Unlabeled {
			d.Y = append(d.Y, Unlabeled)
			continue
		}
		if v < 0 || v != math.Trunc(v) {
			return nil, fmt.Errorf("datasets: npy: label %v of row %d is not a class index 0..C-1 (or -1 for an unlabeled row)", v, i)
		}
		d.Y = append(d.Y, int(v))
		maxY = max(maxY, int(v))
		distinct[int(v)] = true
	}
	d.NumClasses = maxY + 1
	if len(distinct) < 2 {
		return nil, fmt.Errorf("datasets: npy: every label is %d; a classification data set needs at least two classes", maxY)
	}
	return d, d.Validate()
}
