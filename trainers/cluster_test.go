package trainers

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestKMeansFindsSeparatedGroups(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	centres := [][]float64{{0, 0}, {10, 0}, {0, 10}}
	x := mat.NewDense(90, 2, nil)
	for i := 0; i < 90; i++ {
		c := centres[i%3]
		x.Set(i, 0, c[0]+0.1*rng.NormFloat64())
		x.Set(i, 1, c[1]+0.1*rng.NormFloat64())
	}
	assign, inertia, err := kmeans(context.Background(), x, 3, 10, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	truth := make([]int, 90)
	for i := range truth {
		truth[i] = i % 3
	}
	if v := nmi(assign, truth); math.Abs(v-1) > 1e-9 {
		t.Errorf("NMI with the true groups %v, want 1", v)
	}
	if inertia > 0.05 {
		t.Errorf("mean squared distance %v, want about 2 x 0.01", inertia)
	}
	if _, _, err := kmeans(context.Background(), x, 91, 1, rng); err == nil {
		t.Error("k > n: no error")
	}
}

func TestNMI(t *testing.T) {
	tests := []struct {
		a, b []int
		want float64
	}{
		{[]int{0, 0, 1, 1}, []int{1, 1, 0, 0}, 1},                // relabeling
		{[]int{0, 0, 1, 1}, []int{0, 1, 0, 1}, 0},                // independent
		{[]int{0, 0, 0, 0}, []int{0, 0, 0, 0}, 1},                // both constant
		{[]int{0, 0, 1, 1}, []int{0, 0, 0, 0}, 0},                // one constant
		{[]int{0, 0, 1, 1}, []int{0, 1, 2, 3}, 1 / math.Sqrt(2)}, // I = log 2, H = log 2 and log 4
	}
	for _, tc := range tests {
		if got := nmi(tc.a, tc.b); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("nmi(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestPCAWhitenIsWhiteAndUnitNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	x := mat.NewDense(500, 3, nil)
	for i := 0; i < 500; i++ {
		a, b := rng.NormFloat64(), rng.NormFloat64()
		x.SetRow(i, []float64{10 * a, a + 0.1*b, 5})
	}
	f, err := pcaWhiten(x, 2)
	if err != nil {
		t.Fatal(err)
	}
	r, c := f.Dims()
	if r != 500 || c != 2 {
		t.Fatalf("dims %d x %d, want 500 x 2", r, c)
	}
	for i := 0; i < r; i++ {
		if n := math.Hypot(f.At(i, 0), f.At(i, 1)); math.Abs(n-1) > 1e-9 {
			t.Fatalf("row %d has norm %v, want 1", i, n)
		}
	}
	// Both whitened components carry weight: neither dominates every row.
	big := 0
	for i := 0; i < r; i++ {
		if math.Abs(f.At(i, 1)) > 0.5 {
			big++
		}
	}
	if big < 100 {
		t.Errorf("only %d of 500 rows have a large second component; the second component was not whitened", big)
	}
}

func TestUniformOverClusters(t *testing.T) {
	assign := make([]int, 100)
	for i := range assign {
		if i >= 90 {
			assign[i] = 1
		}
	}
	got := uniformOverClusters(assign, 3, 100, rand.New(rand.NewPCG(1, 1)))
	cnt := [3]int{}
	for _, p := range got {
		cnt[assign[p]]++
	}
	if len(got) != 100 || cnt[0] != 50 || cnt[1] != 50 || cnt[2] != 0 {
		t.Errorf("%d draws with cluster counts %v, want 100 split 50/50 over the two non-empty clusters", len(got), cnt)
	}
}
