package datasets

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// SklearnSets are the classification data sets read from the CSV files that
// Debian's python3-sklearn package ships (sklearn/datasets/data).
var SklearnSets = map[string]string{
	"iris":          "iris.csv",
	"wine":          "wine_data.csv",
	"breast_cancer": "breast_cancer.csv",
	"digits":        "digits.csv.gz",
}

// SklearnDirs are the folders searched for those files, in order: where
// python3-sklearn installs them, and where `make deps` extracts them from
// the package without installing it.
func SklearnDirs() []string {
	dirs := []string{"/usr/lib/python3/dist-packages/sklearn/datasets/data"}
	if c, err := os.UserCacheDir(); err == nil {
		dirs = append(dirs, filepath.Join(c, "alrl", "sklearn"))
	}
	return dirs
}

// LoadSklearn reads one of SklearnSets from dir ("" = the first of
// SklearnDirs that has the file). The files hold one row per sample with
// the class index last; iris, wine and breast_cancer start with a header
// "n,d,class names...", digits (8x8 images, 0..16) has none. Every feature
// is standardised over all rows (zero mean, unit variance), which uses no
// labels.
func LoadSklearn(set, dir string) (*Dataset, error) {
	file, ok := SklearnSets[set]
	if !ok {
		return nil, fmt.Errorf("datasets: sklearn set %q is not one of iris, wine, breast_cancer, digits", set)
	}
	path := ""
	if dir != "" {
		path = filepath.Join(dir, file)
	} else {
		for _, d := range SklearnDirs() {
			if _, err := os.Stat(filepath.Join(d, file)); err == nil {
				path = filepath.Join(d, file)
				break
			}
		}
		if path == "" {
			return nil, fmt.Errorf("datasets: sklearn %s: %s is in none of %s; run `make deps` (it extracts the files from Debian's python3-sklearn package) or set data.dir", set, file, strings.Join(SklearnDirs(), ", "))
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("datasets: sklearn %s: %w", set, err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("datasets: sklearn %s: %s is not gzip: %w", set, path, err)
		}
		defer gz.Close()
		r = gz
	}
	d, err := parseSklearn(r, set != "digits")
	if err != nil {
		return nil, fmt.Errorf("datasets: sklearn %s: %s: %w", set, path, err)
	}
	d.Name = set
	return d, nil
}

func parseSklearn(r io.Reader, header bool) (*Dataset, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	d := &Dataset{}
	wantN, dim := -1, -1
	line := 0
	if header {
		if !sc.Scan() {
			return nil, fmt.Errorf("empty file")
		}
		line++
		h := strings.Split(strings.TrimSpace(sc.Text()), ",")
		if len(h) < 4 {
			return nil, fmt.Errorf("line 1: header %q is not \"n,d,class names...\"", sc.Text())
		}
		var err1, err2 error
		wantN, err1 = strconv.Atoi(h[0])
		dim, err2 = strconv.Atoi(h[1])
		if err1 != nil || err2 != nil || wantN < 1 || dim < 1 {
			return nil, fmt.Errorf("line 1: header %q does not start with the sample and feature counts", sc.Text())
		}
		d.ClassNames = h[2:]
	}
	maxY := -1
	for sc.Scan() {
		line++
		txt := strings.TrimSpace(sc.Text())
		if txt == "" {
			continue
		}
		cells := strings.Split(txt, ",")
		if dim < 0 {
			dim = len(cells) - 1
		}
		if len(cells) != dim+1 || dim < 1 {
			return nil, fmt.Errorf("line %d: %d values, want %d features and the class", line, len(cells), dim)
		}
		for _, c := range cells[:dim] {
			v, err := strconv.ParseFloat(c, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("line %d: %q is not a finite number", line, c)
			}
			d.X = append(d.X, float32(v))
		}
		y, err := strconv.Atoi(strings.TrimSuffix(cells[dim], ".0"))
		if err != nil || y < 0 {
			return nil, fmt.Errorf("line %d: class %q is not a class index", line, cells[dim])
		}
		d.Y = append(d.Y, y)
		maxY = max(maxY, y)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if wantN >= 0 && len(d.Y) != wantN {
		return nil, fmt.Errorf("the header announces %d samples, the file has %d (truncated?)", wantN, len(d.Y))
	}
	if len(d.Y) == 0 {
		return nil, fmt.Errorf("no samples")
	}
	d.NumClasses = maxY + 1
	if d.ClassNames != nil && len(d.ClassNames) != d.NumClasses {
		return nil, fmt.Errorf("the header names %d classes, the labels use %d", len(d.ClassNames), d.NumClasses)
	}
	if d.NumClasses < 2 {
		return nil, fmt.Errorf("every sample has class 0: a classification data set needs at least two classes")
	}
	d.Shape = []int{dim}
	d.TrainN = len(d.Y)
	StandardizeColumns(d.X, len(d.Y), dim)
	return d, d.Validate()
}

// StandardizeColumns rescales every column of the n x dim row-major matrix
// x to zero mean and unit variance over its rows; a column whose standard
// deviation is below 1e-8 is only centred.
func StandardizeColumns(x []float32, n, dim int) {
	if n == 0 {
		return
	}
	for j := 0; j < dim; j++ {
		m, v := 0.0, 0.0
		for i := 0; i < n; i++ {
			m += float64(x[i*dim+j])
		}
		m /= float64(n)
		for i := 0; i < n; i++ {
			e := float64(x[i*dim+j]) - m
			v += e * e
		}
		s := math.Sqrt(v / float64(n))
		if s < 1e-8 {
			s = 1
		}
		for i := 0; i < n; i++ {
			x[i*dim+j] = float32((float64(x[i*dim+j]) - m) / s)
		}
	}
}
