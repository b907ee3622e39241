package datasets

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// LoadCSV reads a CSV file with a header row; labelColumn names the label column, every other column must be numeric, labels map to class ids in the sorted order of their distinct values, and a row with an empty label is Unlabeled.
func LoadCSV(path, labelColumn string) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("datasets: csv: %s: file not found", path)
		}
		return nil, fmt.Errorf("datasets: csv: %s: cannot open: %w", path, err)
	}
	defer f.Close()

	r := csv.NewReader(f)
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("datasets: csv: %s: empty file, a header row is required", path)
	}
	if err != nil {
		return nil, fmt.Errorf("datasets: csv: %s: header: %w", path, err)
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff") // UTF-8 byte order mark
	}
	labelCol := -1
	for i, h := range header {
		if h != labelColumn {
			continue
		}
		if labelCol >= 0 {
			return nil, fmt.Errorf("datasets: csv: %s: label column %q appears more than once in the header", path, labelColumn)
		}
		labelCol = i
	}
	if labelCol < 0 {
		return nil, fmt.Errorf("datasets: csv: %s: label column %q not found; available columns: %s", path, labelColumn, strings.Join(quoteAll(header), ", "))
	}
	dim := len(header) - 1
	if dim == 0 {
		return nil, fmt.Errorf("datasets: csv: %s: no feature columns besides label column %q", path, labelColumn)
	}

	var x []float32
	var rawLabels []string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("datasets: csv: %s: %w", path, err)
		}
		line, _ := r.FieldPos(0)
		for j, v := range rec {
			v = strings.TrimSpace(v)
			if j == labelCol {
				rawLabels = append(rawLabels, v) // "": an unlabeled row

				continue
			}
			val, err := strconv.ParseFloat(v, 32)
			if err != nil || math.IsNaN(val) || math.IsInf(val, 0) {
				return nil, fmt.Errorf("datasets: csv: %s: line %d: column %q: bad numeric value %q", path, line, header[j], v)
			}
			x = append(x, float32(val))
		}
	}
	if len(rawLabels) == 0 {
		return nil, fmt.Errorf("datasets: csv: %s: no data rows after the header", path)
	}

	names := slices.DeleteFunc(slices.Clone(rawLabels), func(l string) bool { return l == "" })
	slices.Sort(names)
	names = slices.Compact(names)
	ids := make(map[string]int, len(names))
	for i, n := range names {
		ids[n] = i
	}
	y := make([]int, len(rawLabels))
	for i, l := range rawLabels {
		y[i] = Unlabeled
		if l != "" {
			y[i] = ids[l]
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("datasets: csv: %s: column %q is empty in every row; the labeled rows name the classes (and make the test split), so label some", path, labelColumn)
	}
	if len(names) < 2 {
		return nil, fmt.Errorf("datasets: csv: %s: every row has %s %q; a classification data set needs at least two classes (is %q the label column?)", path, labelColumn, names[0], labelColumn)
	}
	base := filepath.Base(path)
	return &Dataset{
		Name:       strings.TrimSuffix(base, filepath.Ext(base)),
		X:          x,
		Y:          y,
		Shape:      []int{dim},
		NumClasses: len(names),
		ClassNames: names,
		TrainN:     len(y),
	}, nil
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}
