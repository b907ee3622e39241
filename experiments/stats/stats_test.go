package stats

import (
	"math"
	"strings"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// tCDF4 is Student's t CDF with 4 degrees of freedom in closed form,
// independent of gonum: 1/2 + 3/8 x (1 - t^2 / (12 u)) with u = 1 + t^2/4 and
// x = t / sqrt(u).
func tCDF4(t float64) float64 {
	u := 1 + t*t/4
	return 0.5 + 3.0/8*(t/math.Sqrt(u))*(1-t*t/(12*u))
}

// The small table: differences 0.01, -0.02, 0.03, 0.04, 0.05.
var (
	tabA = []float64{0.81, 0.78, 0.83, 0.84, 0.85}
	tabB = []float64{0.80, 0.80, 0.80, 0.80, 0.80}
)

func TestPairedTHandComputed(t *testing.T) {
	// mean 0.022; squared deviations sum to 30.8e-4, variance 7.7e-4,
	// se = sqrt(7.7e-4 / 5), t = 0.022 / se = 1.7728105...
	r, err := PairedT(tabA, tabB, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	se := math.Sqrt(7.7e-4 / 5)
	wantT := 0.022 / se
	if r.N != 5 || r.DF != 4 || !near(r.MeanDiff, 0.022, 1e-12) || !near(r.SD, math.Sqrt(7.7e-4), 1e-12) {
		t.Errorf("n %d df %d mean %v sd %v", r.N, r.DF, r.MeanDiff, r.SD)
	}
	if !near(r.T, wantT, 1e-9) || !near(r.T, 1.7728105208558367, 1e-9) {
		t.Errorf("t = %v, want %v", r.T, wantT)
	}
	wantP := 2 * (1 - tCDF4(wantT)) // 0.15094...
	if !near(r.P, wantP, 1e-9) || !near(r.P, 0.150944, 1e-5) {
		t.Errorf("p = %v, want %v", r.P, wantP)
	}
	// 95% CI: mean +- 2.776445105 * se (t table, df 4).
	if !near(r.Lo, 0.022-2.776445105*se, 1e-8) || !near(r.Hi, 0.022+2.776445105*se, 1e-8) {
		t.Errorf("CI [%v, %v]", r.Lo, r.Hi)
	}
	// Swapping the arguments flips the sign, not the p-value.
	s, _ := PairedT(tabB, tabA, 0.95)
	if !near(s.T, -r.T, 1e-12) || !near(s.P, r.P, 1e-12) {
		t.Errorf("swapped: t %v p %v", s.T, s.P)
	}
}

func TestPairedTEdges(t *testing.T) {
	r, err := PairedT([]float64{1, 2, 3}, []float64{0, 1, 2}, 0.95)
	if err != nil || !math.IsInf(r.T, 1) || r.P != 0 {
		t.Errorf("constant positive difference: t %v p %v err %v", r.T, r.P, err)
	}
	r, err = PairedT([]float64{1, 2}, []float64{1, 2}, 0.95)
	if err != nil || !math.IsNaN(r.T) || r.P != 1 {
		t.Errorf("no difference: t %v p %v err %v", r.T, r.P, err)
	}
	for _, c := range []struct {
		a, b []float64
		want string
	}{
		{[]float64{1, 2}, []float64{1}, "pairs must match"},
		{[]float64{1}, []float64{2}, "at least 2"},
		{[]float64{1, math.NaN()}, []float64{1, 2}, "NaN"},
	} {
		if _, err := PairedT(c.a, c.b, 0.95); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("PairedT(%v, %v): %v, want %q", c.a, c.b, err, c.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	s := Describe([]float64{0.81, 0.78, math.NaN(), 0.83, 0.84, 0.85}, 0.95)
	// mean 0.822; deviations -0.012 -0.042 0.008 0.018 0.028 -> ss 30.8e-4.
	if s.N != 5 || !near(s.Mean, 0.822, 1e-12) || !near(s.SD, math.Sqrt(7.7e-4), 1e-12) {
		t.Errorf("describe %+v", s)
	}
	h := 2.776445105 * math.Sqrt(7.7e-4/5)
	if !near(s.Lo, 0.822-h, 1e-8) || !near(s.Hi, 0.822+h, 1e-8) {
		t.Errorf("CI [%v, %v], want +-%v", s.Lo, s.Hi, h)
	}
	if one := Describe([]float64{0.5}, 0.95); one.N != 1 || one.Lo != 0.5 || one.Hi != 0.5 || one.SD != 0 {
		t.Errorf("one value: %+v", one)
	}
	if none := Describe(nil, 0.95); none.N != 0 || !math.IsNaN(none.Mean) {
		t.Errorf("no values: %+v", none)
	}
	if c := TCritical(0.95, 4); !near(c, 2.776445105, 1e-8) {
		t.Errorf("t critical df 4: %v", c)
	}
}

func TestWilcoxonHandComputed(t *testing.T) {
	tests := []struct {
		name          string
		a, b          []float64
		n             int
		wPlus, wMinus float64
		p             float64
		tied          bool
	}{
		// d = 1..5, all positive: W+ = 15; only the all-plus and all-minus
		// sign patterns are as extreme: p = 2/32.
		{"all positive", []float64{1, 2, 3, 4, 5}, []float64{0, 0, 0, 0, 0}, 5, 15, 0, 2.0 / 32, false},
		// d = 1, -2, 3, 4, 5: W- = 2; subsets of {1..5} summing to <= 2 are
		// {}, {1}, {2}: P = 3/32, two-sided 6/32.
		{"one negative", []float64{1, -2, 3, 4, 5}, []float64{0, 0, 0, 0, 0}, 5, 13, 2, 6.0 / 32, false},
		// The small table, d = 0.01, -0.02, 0.03, 0.04, 0.05: same ranks as above.
		{"table", tabA, tabB, 5, 13, 2, 6.0 / 32, false},
		// d = 2, 2, -1, 4, 4 (ties): ranks 2.5, 2.5, 1, 4.5, 4.5; W+ = 14,
		// W- = 1. Doubled ranks {5, 5, 2, 9, 9} sum to 30; doubled W+ = 28:
		// subsets summing to >= 28 are the full set and all but {2}: 2/32,
		// two-sided 4/32.
		{"ties", []float64{2, 2, -1, 4, 4}, []float64{0, 0, 0, 0, 0}, 5, 14, 1, 4.0 / 32, true},
		// Zero differences are dropped: d = 0, 3, 0, -1, 2 -> 3, -1, 2: ranks
		// 3, 1, 2; W+ = 5, W- = 1; P(W- <= 1) = {}, {1} = 2/8, p = 4/8.
		{"zeros dropped", []float64{5, 3, 1, 0, 2}, []float64{5, 0, 1, 1, 0}, 3, 5, 1, 0.5, false},
		{"all zero", []float64{1, 2}, []float64{1, 2}, 0, 0, 0, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Wilcoxon(tc.a, tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if r.N != tc.n || !near(r.WPlus, tc.wPlus, 1e-12) || !near(r.WMinus, tc.wMinus, 1e-12) || r.TiedRanks != tc.tied {
				t.Errorf("n %d W+ %v W- %v tied %v, want %d %v %v %v", r.N, r.WPlus, r.WMinus, r.TiedRanks, tc.n, tc.wPlus, tc.wMinus, tc.tied)
			}
			if r.W != math.Min(tc.wPlus, tc.wMinus) {
				t.Errorf("W = %v", r.W)
			}
			if !near(r.P, tc.p, 1e-12) {
				t.Errorf("p = %v, want %v", r.P, tc.p)
			}
			if tc.n > 0 && !r.Exact {
				t.Error("small sample not exact")
			}
		})
	}
}

func TestWilcoxonLargeSampleNormal(t *testing.T) {
	// 60 positive differences 1..60: W+ = 1830, mean 915, variance
	// 60*61*121/24 = 18452.5; z = (915 - 0.5) / sqrt(18452.5) = 6.732.
	a := make([]float64, 60)
	b := make([]float64, 60)
	for i := range a {
		a[i] = float64(i + 1)
	}
	r, err := Wilcoxon(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Exact || r.WPlus != 1830 {
		t.Fatalf("exact %v W+ %v", r.Exact, r.WPlus)
	}
	z := (915 - 0.5) / math.Sqrt(18452.5)
	want := math.Erfc(z / math.Sqrt2)
	if !near(r.P, want, 1e-12) {
		t.Errorf("p = %v, want %v", r.P, want)
	}
}

func TestPenaltyMatrixHandMade(t *testing.T) {
	// Three methods, three seeds, two budgets.
	// Budget 0: A - B = 0.1 on every seed (t = +Inf, A beats B); A - C and
	// B - C vary in sign: no significant difference.
	// Budget 1: A - B = 0.2, 0.18, 0.21 (t = 22.3, p = 0.002), C - B = 0.1,
	// 0.09, 0.12 (t = 11.7, p = 0.007) and A - C = 0.1, 0.09, 0.09
	// (t = 28, p = 0.001): A beats B and C, C beats B.
	acc := [][][]float64{
		{{0.5, 0.6, 0.7}, {0.9, 0.8, 0.85}},    // A
		{{0.4, 0.5, 0.6}, {0.7, 0.62, 0.64}},   // B
		{{0.45, 0.7, 0.55}, {0.8, 0.71, 0.76}}, // C
	}
	p, err := PenaltyMatrix(acc, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]float64{{0, 1, 0.5}, {0, 0, 0}, {0, 0.5, 0}}
	for i := range want {
		for j := range want[i] {
			if !near(p[i][j], want[i][j], 1e-12) {
				t.Errorf("P[%d][%d] = %v, want %v", i, j, p[i][j], want[i][j])
			}
		}
	}
	cm := ColumnMeans(p)
	for j, w := range []float64{0, 0.5, 1.0 / 6} {
		if !near(cm[j], w, 1e-12) {
			t.Errorf("column mean %d = %v, want %v", j, cm[j], w)
		}
	}
	// Summing two settings doubles the entries.
	sum := [][]float64{{0, 0, 0}, {0, 0, 0}, {0, 0, 0}}
	AddInto(sum, p)
	AddInto(sum, p)
	if sum[0][1] != 2 || sum[2][1] != 1 {
		t.Errorf("sum of two settings %v", sum)
	}
}

func TestPenaltyMatrixAlpha(t *testing.T) {
	// The small table has p = 0.151: no win at alpha 0.05, a win at 0.2.
	acc := [][][]float64{{tabA}, {tabB}}
	for _, c := range []struct {
		alpha float64
		want  float64
	}{{0.05, 0}, {0.2, 1}} {
		p, err := PenaltyMatrix(acc, c.alpha)
		if err != nil {
			t.Fatal(err)
		}
		if p[0][1] != c.want || p[1][0] != 0 {
			t.Errorf("alpha %v: %v", c.alpha, p)
		}
	}
	if _, err := PenaltyMatrix(acc, 0); err == nil || !strings.Contains(err.Error(), "alpha") {
		t.Errorf("alpha 0: %v", err)
	}
	if _, err := PenaltyMatrix([][][]float64{{tabA}, {}}, 0.05); err == nil || !strings.Contains(err.Error(), "budgets") {
		t.Errorf("ragged: %v", err)
	}
	// Too few seeds at a budget: no win, no error.
	p, err := PenaltyMatrix([][][]float64{{{1}}, {{0}}}, 0.05)
	if err != nil || p[0][1] != 0 {
		t.Errorf("one seed: %v %v", p, err)
	}
}

func TestKappa(t *testing.T) {
	tests := []struct {
		name string
		a, b []int
		want float64
	}{
		{"identical", []int{0, 1, 2, 1}, []int{0, 1, 2, 1}, 1},
		// po = 0.5, both 50/50 marginals: pe = 0.5, kappa 0.
		{"chance", []int{0, 0, 1, 1}, []int{0, 1, 0, 1}, 0},
		// po = 0.8; marginals a: 3/5 class 0, b: 2/5 class 0:
		// pe = 0.6*0.4 + 0.4*0.6 = 0.48; kappa = 0.32/0.52.
		{"partial", []int{0, 0, 0, 1, 1}, []int{0, 0, 1, 1, 1}, 0.32 / 0.52},
		{"constant same", []int{1, 1, 1}, []int{1, 1, 1}, 1},
		{"constant different", []int{0, 0}, []int{1, 1}, 0},
	}
	for _, tc := range tests {
		k, err := Kappa(tc.a, tc.b, 3)
		if err != nil || !near(k, tc.want, 1e-12) {
			t.Errorf("%s: kappa %v err %v, want %v", tc.name, k, err, tc.want)
		}
	}
	if _, err := Kappa([]int{0}, []int{0, 1}, 2); err == nil {
		t.Error("length mismatch accepted")
	}
	if _, err := Kappa([]int{3}, []int{0}, 2); err == nil {
		t.Error("label out of range accepted")
	}
}
