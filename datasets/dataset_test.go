package datasets

import (
	"slices"
	"strings"
	"testing"
)

// seqDataset returns n rows of dim features where row i holds i*10+k, with TrainN train rows.
func seqDataset(n, dim, trainN int) *Dataset {
	x := make([]float32, n*dim)
	for i := range n {
		for k := range dim {
			x[i*dim+k] = float32(i*10 + k)
		}
	}
	return &Dataset{Name: "seq", X: x, Y: make([]int, n), Shape: []int{dim}, NumClasses: 1, TrainN: trainN}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name            string
		n, trainN       int
		cfg             SplitConfig
		pool, val, test int
		testFrom        int // lowest allowed test index
		trainTo         int // pool/val indices must be < trainTo
	}{
		{"one file defaults", 100, 100, SplitConfig{}, 80, 0, 20, 0, 100},
		{"one file val", 100, 100, SplitConfig{ValSize: 10}, 70, 10, 20, 0, 100},
		{"one file all sizes", 100, 100, SplitConfig{PoolSize: 30, ValSize: 5, TestSize: 15}, 30, 5, 15, 0, 100},
		{"one file rounding", 13, 13, SplitConfig{}, 10, 0, 3, 0, 13},
		{"one file exact fit", 10, 10, SplitConfig{PoolSize: 5, ValSize: 2, TestSize: 3}, 5, 2, 3, 0, 10},
		{"test file all", 100, 60, SplitConfig{ValSize: 10}, 50, 10, 40, 60, 60},
		{"test file sized", 100, 60, SplitConfig{PoolSize: 20, ValSize: 5, TestSize: 7}, 20, 5, 7, 60, 60},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := seqDataset(tc.n, 1, tc.trainN)
			s, err := d.Split(42, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Pool) != tc.pool || len(s.Val) != tc.val || len(s.Test) != tc.test {
				t.Fatalf("sizes pool=%d val=%d test=%d, want %d %d %d", len(s.Pool), len(s.Val), len(s.Test), tc.pool, tc.val, tc.test)
			}
			seen := map[int]string{}
			for part, idx := range map[string][]int{"pool": s.Pool, "val": s.Val, "test": s.Test} {
				if !slices.IsSorted(idx) {
					t.Errorf("%s not sorted", part)
				}
				for _, i := range idx {
					if prev, dup := seen[i]; dup {
						t.Errorf("row %d in both %s and %s", i, prev, part)
					}
					seen[i] = part
					if i < 0 || i >= tc.n {
						t.Errorf("%s row %d out of range", part, i)
					}
					if part == "test" && i < tc.testFrom {
						t.Errorf("test row %d below %d", i, tc.testFrom)
					}
					if part != "test" && i >= tc.trainTo {
						t.Errorf("%s row %d not from training rows [0,%d)", part, i, tc.trainTo)
					}
				}
			}
			again, _ := d.Split(42, tc.cfg)
			if !slices.Equal(s.Pool, again.Pool) || !slices.Equal(s.Val, again.Val) || !slices.Equal(s.Test, again.Test) {
				t.Error("same seed gave a different split")
			}
		})
	}
}

func TestSplitSeedMatters(t *testing.T) {
	d := seqDataset(200, 1, 200)
	a, _ := d.Split(1, SplitConfig{ValSize: 20})
	b, _ := d.Split(2, SplitConfig{ValSize: 20})
	if slices.Equal(a.Test, b.Test) && slices.Equal(a.Val, b.Val) {
		t.Error("different seeds gave the same split")
	}
}

func TestSplitErrors(t *testing.T) {
	tests := []struct {
		name    string
		n, tr   int
		cfg     SplitConfig
		phrases []string
	}{
		{"one file too big", 100, 100, SplitConfig{PoolSize: 90, ValSize: 5}, []string{"90", "20", "5", "100 rows"}},
		{"one file test+val too big", 10, 10, SplitConfig{ValSize: 5, TestSize: 6}, []string{"6", "5", "10 rows"}},
		{"test file too small", 100, 90, SplitConfig{TestSize: 11}, []string{"11", "10 rows of the test file"}},
		{"train too small", 100, 90, SplitConfig{PoolSize: 85, ValSize: 10}, []string{"85", "10", "90 training rows"}},
		{"val too big", 100, 90, SplitConfig{ValSize: 91}, []string{"91", "90 training rows"}},
		{"negative", 100, 100, SplitConfig{PoolSize: -1}, []string{"negative"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := seqDataset(tc.n, 1, tc.tr).Split(1, tc.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			for _, ph := range tc.phrases {
				if !strings.Contains(err.Error(), ph) {
					t.Errorf("error %q lacks %q", err, ph)
				}
			}
		})
	}
}

func TestInputs(t *testing.T) {
	d := &Dataset{Name: "img", X: make([]float32, 5*4), Y: []int{0, 1, 0, 1, 0}, Shape: []int{1, 2, 2}, NumClasses: 2, TrainN: 5}
	for i := range d.X {
		d.X[i] = float32(i)
	}
	in := d.Inputs()
	if in.Len() != 5 || in.Dim() != 4 || !slices.Equal(in.Shape(), []int{1, 2, 2}) {
		t.Fatalf("Len=%d Dim=%d Shape=%v", in.Len(), in.Dim(), in.Shape())
	}
	sh := in.Shape()
	sh[0] = 99
	if in.Shape()[0] != 1 {
		t.Error("Shape does not return a copy")
	}
	tests := []struct {
		name string
		idx  []int
		dst  []float32
		want []float32
	}{
		{"nil dst", []int{3, 0}, nil, []float32{12, 13, 14, 15, 0, 1, 2, 3}},
		{"repeat", []int{1, 1}, nil, []float32{4, 5, 6, 7, 4, 5, 6, 7}},
		{"empty", nil, nil, []float32{}},
		{"big dst reused", []int{4}, make([]float32, 3, 100), []float32{16, 17, 18, 19}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := in.Gather(tc.idx, tc.dst)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if cap(tc.dst) >= len(tc.want) && len(tc.want) > 0 && &got[0] != &tc.dst[:1][0] {
				t.Error("dst with enough capacity was not reused")
			}
		})
	}
	for _, bad := range [][]int{{0, 5}, {-1}} {
		_, err := in.Gather(bad, nil)
		if err == nil || !strings.Contains(err.Error(), "out of range [0,5)") {
			t.Errorf("Gather(%v): want out-of-range error, got %v", bad, err)
		}
	}
}

func TestValidate(t *testing.T) {
	good := seqDataset(4, 2, 4)
	good.NumClasses = 2
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(d *Dataset)
		phrase string
	}{
		{"X length", func(d *Dataset) { d.X = d.X[:7] }, "len(X)"},
		{"label range", func(d *Dataset) { d.Y[2] = 2 }, "label 2 of row 2"},
		{"TrainN", func(d *Dataset) { d.TrainN = 5 }, "TrainN"},
		{"class names", func(d *Dataset) { d.ClassNames = []string{"a"} }, "class names"},
		{"shape", func(d *Dataset) { d.Shape = nil }, "empty shape"},
	}
	for _, tc := range tests {
		d := seqDataset(4, 2, 4)
		d.NumClasses = 2
		tc.mutate(d)
		if err := d.Validate(); err == nil || !strings.Contains(err.Error(), tc.phrase) {
			t.Errorf("%s: got %v, want error with %q", tc.name, err, tc.phrase)
		}
	}
}
