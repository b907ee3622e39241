package trainers

import (
	"context"
	"math"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestTopK(t *testing.T) {
	tests := []struct {
		s    []float64
		k    int
		self int
		want []int
	}{
		{[]float64{0.1, 0.9, 0.5, 0.7}, 2, -1, []int{1, 3}},
		{[]float64{0.1, 0.9, 0.5, 0.7}, 2, 1, []int{3, 2}},
		{[]float64{1, 1, 1, 1}, 3, 0, []int{1, 2, 3}}, // ties: lower index first
		{[]float64{0.3, 0.2}, 5, 0, []int{1}},
	}
	for _, tc := range tests {
		if got := topK(tc.s, tc.k, tc.self); !slices.Equal(got, tc.want) {
			t.Errorf("topK(%v, %d, self %d) = %v, want %v", tc.s, tc.k, tc.self, got, tc.want)
		}
	}
}

func TestFromTriplesMergesDuplicates(t *testing.T) {
	m := fromTriples(3, []int{0, 2, 0, 1, 0}, []int{1, 0, 1, 2, 2}, []float64{1, 2, 3, 4, 5})
	dense := mat.NewDense(3, 3, nil)
	for i := 0; i < 3; i++ {
		for p := m.ptr[i]; p < m.ptr[i+1]; p++ {
			dense.Set(i, m.col[p], dense.At(i, m.col[p])+m.val[p])
		}
	}
	want := mat.NewDense(3, 3, []float64{0, 4, 5, 0, 0, 4, 2, 0, 0})
	if !mat.Equal(dense, want) || len(m.col) != 4 {
		t.Errorf("matrix %v with %d entries, want %v with 4", mat.Formatted(dense), len(m.col), mat.Formatted(want))
	}
}

// The diffusion solve equals the closed form (I - alpha Wn)^-1 y on a path graph.
func TestDiffusionMatchesClosedForm(t *testing.T) {
	// Path 0 - 1 - 2 with weights 1 and 2.
	w := fromTriples(3, []int{0, 1, 1, 2}, []int{1, 0, 2, 1}, []float64{1, 1, 2, 2})
	w.symmetricNormalize()
	// D = diag(1, 3, 2): Wn_01 = 1/sqrt(3), Wn_12 = 2/sqrt(6).
	a := 0.9
	A := mat.NewDense(3, 3, []float64{
		1, -a / math.Sqrt(3), 0,
		-a / math.Sqrt(3), 1, -a * 2 / math.Sqrt(6),
		0, -a * 2 / math.Sqrt(6), 1,
	})
	y := []float64{1, 0, 0}
	var want mat.VecDense
	if err := want.SolveVec(A, mat.NewVecDense(3, y)); err != nil {
		t.Fatal(err)
	}
	got, it, err := conjugateGradient(context.Background(), func(dst, v []float64) { w.mulShifted(dst, v, a) }, y, 50, 1e-12)
	if err != nil {
		t.Fatal(err)
	}
	if it > 3 {
		t.Errorf("CG took %d iterations on a 3x3 system, at most 3 expected", it)
	}
	for i := range got {
		if math.Abs(got[i]-want.AtVec(i)) > 1e-9 {
			t.Errorf("z[%d] = %v, want %v", i, got[i], want.AtVec(i))
		}
	}
}

func TestLabelPropagationTinyGraph(t *testing.T) {
	// Two groups of directions: around 0 degrees and around 90 degrees.
	deg := []float64{0, 5, 10, 80, 85, 90}
	x := mat.NewDense(6, 2, nil)
	for i, d := range deg {
		r := d * math.Pi / 180
		x.Set(i, 0, math.Cos(r))
		x.Set(i, 1, math.Sin(r))
	}
	known := []int{0, -1, -1, -1, -1, 1}
	res, err := LabelPropagation(context.Background(), x, known, 2, LPOptions{K: 2, Gamma: 3, Alpha: 0.99, MaxIter: 50, Tol: 1e-10})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 0, 0, 1, 1, 1}; !slices.Equal(res.Labels, want) {
		t.Fatalf("labels %v, want %v", res.Labels, want)
	}
	if res.Weights[0] != 1 || res.Weights[5] != 1 {
		t.Errorf("labeled samples have weights %v and %v, want 1", res.Weights[0], res.Weights[5])
	}
	// With k = 2 the two groups are not connected: every score row is pure.
	for i, w := range res.Weights {
		if math.Abs(w-1) > 1e-12 {
			t.Errorf("k=2: weight %d = %v, want 1 (one class reaches each group)", i, w)
		}
	}
	if !slices.Equal(res.ClassWeights, []float64{1, 1}) {
		t.Errorf("class weights %v, want [1 1] for two classes of 3", res.ClassWeights)
	}
	// With k = 3 the groups touch at 10 and 80 degrees: labels stay, and the
	// samples at the border are less certain than those next to a seed.
	res, err = LabelPropagation(context.Background(), x, known, 2, LPOptions{K: 3, Gamma: 3, Alpha: 0.99, MaxIter: 50, Tol: 1e-10})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 0, 0, 1, 1, 1}; !slices.Equal(res.Labels, want) {
		t.Fatalf("k=3: labels %v, want %v", res.Labels, want)
	}
	for i := 1; i < 5; i++ {
		if res.Weights[i] <= 0 || res.Weights[i] >= 1 {
			t.Errorf("k=3: weight %d = %v outside (0, 1)", i, res.Weights[i])
		}
	}
	if !(res.Weights[1] > res.Weights[2]) || !(res.Weights[4] > res.Weights[3]) {
		t.Errorf("k=3: weights %v: samples nearer the labeled ones should be more certain", res.Weights)
	}
}

func TestLabelPropagationUnreachedAndErrors(t *testing.T) {
	// Sample 2 is orthogonal to everything: it gets no label and weight 0.
	x := mat.NewDense(3, 3, []float64{1, 0, 0, 0.9, 0.1, 0, 0, 0, 1})
	res, err := LabelPropagation(context.Background(), x, []int{0, -1, -1}, 2, LPOptions{K: 1, Gamma: 1, Alpha: 0.5, MaxIter: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Labels[1] != 0 || res.Labels[2] != -1 || res.Weights[2] != 0 {
		t.Errorf("labels %v weights %v, want sample 1 -> 0 and sample 2 unreached", res.Labels, res.Weights)
	}
	bad := []struct {
		name  string
		known []int
		opt   LPOptions
	}{
		{"alpha 1", []int{0, -1, -1}, LPOptions{K: 1, Gamma: 1, Alpha: 1, MaxIter: 1}},
		{"k 0", []int{0, -1, -1}, LPOptions{K: 0, Gamma: 1, Alpha: 0.5, MaxIter: 1}},
		{"label out of range", []int{2, -1, -1}, LPOptions{K: 1, Gamma: 1, Alpha: 0.5, MaxIter: 1}},
		{"length", []int{0, -1}, LPOptions{K: 1, Gamma: 1, Alpha: 0.5, MaxIter: 1}},
	}
	for _, tc := range bad {
		if _, err := LabelPropagation(context.Background(), x, tc.known, 2, tc.opt); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestClassBalance(t *testing.T) {
	got := classBalance([]int{0, 0, 0, 1, -1, 2, 2, 2}, 4)
	// 7 labeled samples over 4 classes: (7/4)/n_j.
	want := []float64{7.0 / 4 / 3, 7.0 / 4, 7.0 / 4 / 3, 0}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("class weights %v, want %v", got, want)
			break
		}
	}
}
