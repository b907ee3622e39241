package datasets

import (
	"math"
	"slices"
	"testing"
)

func TestSynthetic(t *testing.T) {
	tests := []struct {
		name    string
		gen     func(seed uint64) (*Dataset, error)
		n, dim  int
		classes int
	}{
		{"blobs 2d", func(s uint64) (*Dataset, error) { return Blobs(300, 3, 2, 1, s) }, 300, 2, 3},
		{"blobs 1d many classes", func(s uint64) (*Dataset, error) { return Blobs(100, 10, 1, 0.5, s) }, 100, 1, 10},
		{"blobs uneven", func(s uint64) (*Dataset, error) { return Blobs(101, 4, 5, 1, s) }, 101, 5, 4},
		{"moons", func(s uint64) (*Dataset, error) { return Moons(200, 0.1, s) }, 200, 2, 2},
		{"moons odd", func(s uint64) (*Dataset, error) { return Moons(201, 0.1, s) }, 201, 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := tc.gen(1)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Validate(); err != nil {
				t.Fatal(err)
			}
			if a.Len() != tc.n || a.Dim() != tc.dim || !slices.Equal(a.Shape, []int{tc.dim}) || a.NumClasses != tc.classes || a.TrainN != tc.n {
				t.Errorf("N=%d dim=%d shape=%v classes=%d TrainN=%d", a.Len(), a.Dim(), a.Shape, a.NumClasses, a.TrainN)
			}
			counts := make([]int, tc.classes)
			for _, y := range a.Y {
				counts[y]++
			}
			lo, hi := slices.Min(counts), slices.Max(counts)
			if hi-lo > 1 {
				t.Errorf("unbalanced classes %v", counts)
			}
			b, _ := tc.gen(1)
			if !slices.Equal(a.X, b.X) || !slices.Equal(a.Y, b.Y) {
				t.Error("same seed gave different data")
			}
			c, _ := tc.gen(2)
			if slices.Equal(a.X, c.X) {
				t.Error("different seeds gave identical data")
			}
		})
	}
}

// TestBlobsSeparable checks that with std 1 every sample is nearest to its own class mean.
func TestBlobsSeparable(t *testing.T) {
	for _, dim := range []int{1, 2, 10} {
		d, err := Blobs(600, 4, dim, 1, 7)
		if err != nil {
			t.Fatal(err)
		}
		means := make([][]float64, 4)
		for c := range means {
			means[c] = make([]float64, dim)
		}
		for i, y := range d.Y {
			for k := range dim {
				means[y][k] += float64(d.X[i*dim+k]) / 150
			}
		}
		wrong := 0
		for i, y := range d.Y {
			best, bestD := -1, math.Inf(1)
			for c, m := range means {
				s := 0.0
				for k := range dim {
					v := float64(d.X[i*dim+k]) - m[k]
					s += v * v
				}
				if s < bestD {
					best, bestD = c, s
				}
			}
			if best != y {
				wrong++
			}
		}
		if wrong > 0 {
			t.Errorf("dim %d: %d of 600 samples closer to another blob", dim, wrong)
		}
	}
}

func TestMoonsShape(t *testing.T) {
	d, err := Moons(100, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, y := range d.Y {
		px, py := float64(d.X[2*i]), float64(d.X[2*i+1])
		cx, cy := 0.0, 0.0
		if y == 1 {
			cx, cy = 1, 0.5
		}
		if r := math.Hypot(px-cx, py-cy); math.Abs(r-1) > 1e-5 {
			t.Fatalf("row %d (class %d) at radius %v from its centre", i, y, r)
		}
		if (y == 0 && py < -1e-6) || (y == 1 && py > 0.5+1e-6) {
			t.Fatalf("row %d (class %d) on the wrong half: %v,%v", i, y, px, py)
		}
	}
}

func TestSyntheticErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"blobs classes 0", second(Blobs(10, 0, 2, 1, 1))},
		{"blobs n < classes", second(Blobs(2, 3, 2, 1, 1))},
		{"blobs dim 0", second(Blobs(10, 2, 0, 1, 1))},
		{"blobs negative std", second(Blobs(10, 2, 2, -1, 1))},
		{"moons n 1", second(Moons(1, 0.1, 1))},
		{"moons negative noise", second(Moons(10, -0.1, 1))},
	}
	for _, tc := range tests {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func second[A, B any](_ A, b B) B { return b }
