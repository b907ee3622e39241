package strategies

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

const eps = 1e-12

// fakeModel returns fixed class probabilities: row r of probs belongs to pool
// index r (pool indices are the row numbers of the matrix).
type fakeModel struct {
	probs [][]float64
	calls int
}

func (m *fakeModel) Probs(_ context.Context, idx []int) (*mat.Dense, error) {
	m.calls++
	c := len(m.probs[0])
	out := mat.NewDense(len(idx), c, nil)
	for i, j := range idx {
		if j < 0 || j >= len(m.probs) {
			return nil, fmt.Errorf("fake: index %d out of range", j)
		}
		out.SetRow(i, m.probs[j])
	}
	return out, nil
}

func (m *fakeModel) MCProbs(context.Context, []int, int) ([]*mat.Dense, error) {
	return nil, &learner.CapabilityError{Capability: learner.CapMCDropout, Learner: "fake"}
}

func (m *fakeModel) Embed(context.Context, []int) (*mat.Dense, error) {
	return nil, &learner.CapabilityError{Capability: learner.CapEmbeddings, Learner: "fake"}
}

func (m *fakeModel) MemberProbs(context.Context, []int) ([]*mat.Dense, error) {
	return nil, &learner.CapabilityError{Capability: learner.CapEnsemble, Learner: "fake"}
}

func (m *fakeModel) NumClasses() int { return len(m.probs[0]) }

// errModel fails every capability.
type errModel struct{ fakeModel }

func (*errModel) Probs(context.Context, []int) (*mat.Dense, error) {
	return nil, errors.New("boom")
}

func seeded(a, b uint64) *rand.Rand { return rand.New(rand.NewPCG(a, b)) }

func near(a, b float64) bool { return math.Abs(a-b) < eps }

func TestUncertaintyScoresKnownValues(t *testing.T) {
	p := mat.NewDense(4, 3, []float64{
		1, 0, 0,
		1.0 / 3, 1.0 / 3, 1.0 / 3,
		0.5, 0.3, 0.2,
		0.2, 0.5, 0.3, // same as row 2 permuted: permutation invariant
	})
	ln3 := math.Log(3)
	h3 := -(0.5*math.Log(0.5) + 0.3*math.Log(0.3) + 0.2*math.Log(0.2))
	tests := []struct {
		name string
		f    func(*mat.Dense) []float64
		want []float64
	}{
		{"least_confidence", LeastConfidence, []float64{0, 2.0 / 3, 0.5, 0.5}},
		{"margin", Margin, []float64{-1, 0, -0.2, -0.2}},
		{"entropy", Entropy, []float64{0, ln3, h3, h3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.f(p)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d scores, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if !near(got[i], tc.want[i]) {
					t.Errorf("row %d: got %.15g, want %.15g", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestUncertaintyScoreBounds(t *testing.T) {
	// On any probability row: 0 <= LC <= 1-1/C, -1 <= margin <= 0,
	// 0 <= entropy <= ln C; and all three rank a one-hot row last.
	rng := seeded(7, 7)
	const n, c = 50, 4
	data := make([]float64, n*c)
	for i := 0; i < n; i++ {
		z := 0.0
		for j := 0; j < c; j++ {
			v := rng.ExpFloat64()
			data[i*c+j] = v
			z += v
		}
		for j := 0; j < c; j++ {
			data[i*c+j] /= z
		}
	}
	p := mat.NewDense(n, c, data)
	lc, mg, en := LeastConfidence(p), Margin(p), Entropy(p)
	for i := 0; i < n; i++ {
		if lc[i] < -eps || lc[i] > 1-1.0/c+eps {
			t.Errorf("row %d: least confidence %g out of [0, %g]", i, lc[i], 1-1.0/c)
		}
		if mg[i] < -1-eps || mg[i] > eps {
			t.Errorf("row %d: margin %g out of [-1, 0]", i, mg[i])
		}
		if en[i] < -eps || en[i] > math.Log(c)+eps {
			t.Errorf("row %d: entropy %g out of [0, ln %d]", i, en[i], c)
		}
	}
}

func TestLeastConfidenceAndEntropyPropagateNaN(t *testing.T) {
	p := mat.NewDense(1, 3, []float64{math.NaN(), 0.5, 0.5})
	if s := LeastConfidence(p); !math.IsNaN(s[0]) {
		t.Errorf("least confidence of a NaN row = %g, want NaN", s[0])
	}
	if s := Entropy(p); !math.IsNaN(s[0]) {
		t.Errorf("entropy of a NaN row = %g, want NaN", s[0])
	}
}

func TestMarginPropagatesNaN(t *testing.T) {
	for _, row := range [][]float64{
		{math.NaN(), 0.6, 0.4},
		{math.NaN(), math.NaN(), math.NaN()},
	} {
		s := Margin(mat.NewDense(1, 3, row))
		if !math.IsNaN(s[0]) {
			t.Errorf("Margin(%v) = %g, want NaN", row, s[0])
		}
	}
}

func TestTopK(t *testing.T) {
	cands := []int{10, 11, 12, 13, 14}
	tests := []struct {
		name    string
		scores  []float64
		cands   []int
		k       int
		want    []int
		wantErr []string
	}{
		{"order", []float64{0.1, 0.9, 0.5, 0.7, 0.3}, cands, 3, []int{11, 13, 12}, nil},
		{"all", []float64{0.1, 0.9, 0.5, 0.7, 0.3}, cands, 5, []int{11, 13, 12, 14, 10}, nil},
		{"ties keep candidate order", []float64{0.5, 1, 0.5, 1, 0.5}, cands, 4, []int{11, 13, 10, 12}, nil},
		{"all tied", []float64{2, 2, 2, 2, 2}, cands, 3, []int{10, 11, 12}, nil},
		{"negative and inf", []float64{-1, math.Inf(-1), -0.5, math.Inf(1), 0}, cands, 5, []int{13, 14, 12, 10, 11}, nil},
		{"k zero", []float64{1, 2, 3, 4, 5}, cands, 0, []int{}, nil},
		{"NaN names pool index", []float64{0.1, 0.2, math.NaN(), 0.3, 0.4}, cands, 2, nil, []string{"12", "NaN"}},
		{"k too large", []float64{1, 2, 3, 4, 5}, cands, 6, nil, []string{"6", "5 candidates"}},
		{"length mismatch", []float64{1, 2}, cands, 1, nil, []string{"2 scores", "5 candidates"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TopK(tc.scores, tc.cands, tc.k)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("TopK = %v, want an error", got)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("TopK = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTopKDoesNotModifyInputs(t *testing.T) {
	scores := []float64{0.3, 0.1, 0.2}
	cands := []int{5, 6, 7}
	if _, err := TopK(scores, cands, 2); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(scores, []float64{0.3, 0.1, 0.2}) || !slices.Equal(cands, []int{5, 6, 7}) {
		t.Errorf("TopK modified its inputs: scores %v candidates %v", scores, cands)
	}
}

func TestTopKNegativeK(t *testing.T) {
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("TopK(k=-1) panicked: %v", r)
		}
	}()
	if _, err := TopK([]float64{1}, []int{0}, -1); err == nil {
		t.Error("TopK(k=-1) succeeded, want an error")
	}
}

// probMatrix: pool index r has row r. Uncertainty order (most first) differs
// between the three scores, so a mixed-up registration would be caught.
//
//	row 0: [1, 0, 0]           LC 0     margin -1    H 0
//	row 1: [0.4, 0.4, 0.2]     LC 0.6   margin 0     H 1.0549
//	row 2: [0.5, 0.3, 0.2]     LC 0.5   margin -0.2  H 1.0297
//	row 3: [1/3, 1/3, 1/3]     LC 0.667 margin 0     H 1.0986
//	row 4: [0.9, 0.05, 0.05]   LC 0.1   margin -0.85 H 0.394
//	row 5: [0.45, 0.45, 0.1]   LC 0.55  margin 0     H 0.9489
//	row 6: [0.6, 0.39, 0.01]   LC 0.4   margin -0.21 H 0.7190
var probMatrix = [][]float64{
	{1, 0, 0},
	{0.4, 0.4, 0.2},
	{0.5, 0.3, 0.2},
	{1.0 / 3, 1.0 / 3, 1.0 / 3},
	{0.9, 0.05, 0.05},
	{0.45, 0.45, 0.1},
	{0.6, 0.39, 0.01},
}

func TestProbStrategiesSelect(t *testing.T) {
	all := []int{0, 1, 2, 3, 4, 5, 6}
	tests := []struct {
		name  string
		cands []int
		k     int
		want  []int
	}{
		{"least_confidence", all, 4, []int{3, 1, 5, 2}},
		// margin 0 for rows 1, 3, 5: ties keep candidate order.
		{"margin", all, 5, []int{1, 3, 5, 2, 6}},
		{"entropy", all, 4, []int{3, 1, 2, 5}},
		{"least_confidence", []int{0, 2, 4, 6}, 2, []int{2, 6}},
		{"margin", []int{6, 4, 2, 0}, 3, []int{2, 6, 4}},
		{"entropy", []int{0, 4, 6}, 3, []int{6, 4, 0}},
		{"entropy", []int{5}, 1, []int{5}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%v/k%d", tc.name, tc.cands, tc.k), func(t *testing.T) {
			s, err := New(tc.name, nil)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name() != tc.name {
				t.Errorf("Name() = %q, want %q", s.Name(), tc.name)
			}
			m := &fakeModel{probs: probMatrix}
			q := Query{Model: m, Candidates: tc.cands, K: tc.k, RNG: seeded(1, 2)}
			got, err := s.Select(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Select = %v, want %v", got, tc.want)
			}
			sc, ok := s.(Scorer)
			if !ok {
				t.Fatalf("%s is not a Scorer", tc.name)
			}
			scores, err := sc.Score(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if len(scores) != len(tc.cands) {
				t.Errorf("Score returned %d scores for %d candidates", len(scores), len(tc.cands))
			}
			nd, ok := s.(Needer)
			if !ok || !slices.Equal(nd.Needs(), []learner.Capability{learner.CapProbs}) {
				t.Errorf("%s should declare it needs only %q", tc.name, learner.CapProbs)
			}
		})
	}
}

func TestProbStrategiesScoreValues(t *testing.T) {
	m := &fakeModel{probs: probMatrix}
	cands := []int{4, 2, 0}
	for name, want := range map[string][]float64{
		"least_confidence": {0.1, 0.5, 0},
		"margin":           {-0.85, -0.2, -1},
		"entropy": {
			-(0.9*math.Log(0.9) + 0.1*math.Log(0.05)),
			-(0.5*math.Log(0.5) + 0.3*math.Log(0.3) + 0.2*math.Log(0.2)),
			0,
		},
	} {
		s, err := New(name, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.(Scorer).Score(context.Background(), Query{Model: m, Candidates: cands, K: 1, RNG: seeded(1, 2)})
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if !near(got[i], want[i]) {
				t.Errorf("%s: score of candidate %d = %.15g, want %.15g", name, cands[i], got[i], want[i])
			}
		}
	}
}

func TestProbStrategiesErrors(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"least_confidence", "margin", "entropy"} {
		s, err := New(name, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := &fakeModel{probs: probMatrix}
		cases := []struct {
			what string
			q    Query
			want string
		}{
			{"k too large", Query{Model: m, Candidates: []int{0, 1}, K: 3, RNG: seeded(1, 2)}, "larger than the 2"},
			{"k zero", Query{Model: m, Candidates: []int{0, 1}, K: 0, RNG: seeded(1, 2)}, ">= 1"},
			{"nil RNG", Query{Model: m, Candidates: []int{0, 1}, K: 1}, "RNG"},
			{"model error", Query{Model: &errModel{fakeModel{probs: probMatrix}}, Candidates: []int{0, 1}, K: 1, RNG: seeded(1, 2)}, "boom"},
			{"NaN probabilities", Query{Model: &fakeModel{probs: [][]float64{{0.5, 0.5, 0}, {math.NaN(), 0.5, 0.5}}}, Candidates: []int{0, 1}, K: 1, RNG: seeded(1, 2)}, "pool index 1"},
		}
		for _, c := range cases {
			if name == "margin" && c.what == "NaN probabilities" {
				continue // see TestMarginPropagatesNaN
			}
			_, err := s.Select(ctx, c.q)
			if err == nil {
				t.Errorf("%s, %s: Select succeeded, want an error", name, c.what)
				continue
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), name) {
				t.Errorf("%s, %s: error %q should mention %q and the strategy name", name, c.what, err, c.want)
			}
		}
		if m.calls != 0 {
			t.Errorf("%s: the model was asked for probabilities %d times by invalid queries", name, m.calls)
		}
	}
}

func TestRandom(t *testing.T) {
	ctx := context.Background()
	s, err := New("random", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "random" {
		t.Errorf("Name() = %q", s.Name())
	}
	cands := make([]int, 100)
	for i := range cands {
		cands[i] = 1000 + 3*i
	}
	orig := slices.Clone(cands)
	inCands := map[int]bool{}
	for _, c := range cands {
		inCands[c] = true
	}
	sel := func(a, b uint64, k int) []int {
		t.Helper()
		got, err := s.Select(ctx, Query{Candidates: cands, K: k, RNG: seeded(a, b)})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, k := range []int{1, 5, 37, 100} {
		got := sel(1, 2, k)
		if len(got) != k {
			t.Fatalf("k=%d: got %d indices", k, len(got))
		}
		seen := map[int]bool{}
		for _, i := range got {
			if !inCands[i] {
				t.Errorf("k=%d: %d is not a candidate", k, i)
			}
			if seen[i] {
				t.Errorf("k=%d: %d chosen twice", k, i)
			}
			seen[i] = true
		}
	}
	if !slices.Equal(cands, orig) {
		t.Error("random modified the candidate slice")
	}
	a, b := sel(1, 2, 10), sel(1, 2, 10)
	if !slices.Equal(a, b) {
		t.Errorf("same seed gave %v and %v", a, b)
	}
	if c := sel(3, 4, 10); slices.Equal(a, c) {
		t.Errorf("different seeds gave the same selection %v", a)
	}
	// k = len(candidates) is a permutation of them.
	all := sel(5, 6, len(cands))
	sort.Ints(all)
	if !slices.Equal(all, orig) {
		t.Error("k = all candidates is not a permutation of the candidates")
	}

	if _, err := s.Select(ctx, Query{Candidates: cands[:3], K: 4, RNG: seeded(1, 2)}); err == nil || !strings.Contains(err.Error(), "larger than the 3") {
		t.Errorf("k > candidates: err = %v", err)
	}
	if _, err := s.Select(ctx, Query{Candidates: cands, K: 2}); err == nil || !strings.Contains(err.Error(), "RNG") {
		t.Errorf("nil RNG: err = %v", err)
	}
}

func TestRandomIsRoughlyUniform(t *testing.T) {
	// Over many seeded draws of 1 out of 4, every candidate is picked.
	s, _ := New("random", nil)
	rng := seeded(9, 9)
	counts := map[int]int{}
	for i := 0; i < 4000; i++ {
		got, err := s.Select(context.Background(), Query{Candidates: []int{0, 1, 2, 3}, K: 1, RNG: rng})
		if err != nil {
			t.Fatal(err)
		}
		counts[got[0]]++
	}
	for c := 0; c < 4; c++ {
		if counts[c] < 850 || counts[c] > 1150 {
			t.Errorf("candidate %d drawn %d of 4000 times, want about 1000", c, counts[c])
		}
	}
}

func TestRegistryNamesAndLookup(t *testing.T) {
	names := Names()
	if !sort.StringsAreSorted(names) {
		t.Errorf("Names() not sorted: %v", names)
	}
	for _, n := range []string{"entropy", "least_confidence", "margin", "random"} {
		if !slices.Contains(names, n) {
			t.Errorf("Names() = %v lacks %q", names, n)
		}
		info, err := Lookup(n)
		if err != nil {
			t.Errorf("Lookup(%q): %v", n, err)
			continue
		}
		if info.Name != n || info.Description == "" || info.New == nil {
			t.Errorf("Lookup(%q) = %+v: incomplete registration", n, info)
		}
	}
	_, err := Lookup("no_such_strategy")
	if err == nil {
		t.Fatal("Lookup of an unknown name succeeded")
	}
	for _, n := range []string{"no_such_strategy", "entropy", "least_confidence", "margin", "random"} {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("unknown-name error %q does not mention %q", err, n)
		}
	}
	if _, err := New("no_such_strategy", nil); err == nil || !strings.Contains(err.Error(), "random") {
		t.Errorf("New(unknown) error %v should list registered names", err)
	}
}

func TestNewUnknownOption(t *testing.T) {
	_, err := New("entropy", map[string]any{"temperature": 2.0})
	if err == nil {
		t.Fatal("New with an unknown option succeeded")
	}
	for _, s := range []string{"entropy", `"temperature"`, "none"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %s", err, s)
		}
	}
}

type pluginStrategy struct{ n int }

func (pluginStrategy) Name() string { return "test_plugin_first" }
func (p pluginStrategy) Select(_ context.Context, q Query) ([]int, error) {
	if err := q.Check(); err != nil {
		return nil, err
	}
	return q.Candidates[:q.K], nil
}

// uniqueName gives each registration its own name, so that the tests also
// pass with -count=N (the registry is process-wide).
var uniqueN int

func uniqueName(base string) string {
	uniqueN++
	return fmt.Sprintf("%s_%d", base, uniqueN)
}

func TestRegisterPlugin(t *testing.T) {
	name := uniqueName("test_plugin_first")
	Register(Info{
		Name:        name,
		Description: "first K candidates",
		Options:     []Option{{Name: "n", Default: 3, Doc: "unused"}},
		New: func(o Options) (Strategy, error) {
			n, err := o.Int("n")
			if err != nil {
				return nil, err
			}
			return pluginStrategy{n: n}, nil
		},
	})
	if !slices.Contains(Names(), name) {
		t.Fatalf("registered plugin missing from Names() = %v", Names())
	}
	s, err := New(name, map[string]any{"n": 5})
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := s.(pluginStrategy); !ok || p.n != 5 {
		t.Errorf("New built %#v, want pluginStrategy{n: 5}", s)
	}
	got, err := s.Select(context.Background(), Query{Candidates: []int{4, 5, 6}, K: 2, RNG: seeded(1, 2)})
	if err != nil || !slices.Equal(got, []int{4, 5}) {
		t.Errorf("plugin Select = %v, %v", got, err)
	}
	// Unknown option lists the plugin's known options.
	if _, err := New(name, map[string]any{"m": 1}); err == nil || !strings.Contains(err.Error(), "known options: n") {
		t.Errorf("unknown option error = %v, want it to list n", err)
	}
	// Errors from the constructor are wrapped with the strategy name.
	if _, err := New(name, map[string]any{"n": "three"}); err == nil ||
		!strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "option n") {
		t.Errorf("bad option value error = %v", err)
	}
}

func TestRegisterTwiceMakesLookupFail(t *testing.T) {
	name := uniqueName("test_plugin_dup")
	info := Info{Name: name, Description: "dup", New: func(Options) (Strategy, error) { return Random{}, nil }}
	Register(info)
	if _, err := Lookup(name); err != nil {
		t.Fatalf("first registration: %v", err)
	}
	Register(info)
	_, err := Lookup(name)
	if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "more than once") {
		t.Errorf("Lookup after a duplicate registration: err = %v", err)
	}
	if _, err := New(name, nil); err == nil {
		t.Error("New after a duplicate registration succeeded")
	}
}

// optsCapture registers a strategy whose constructor hands back its Options.
var capturedOpts Options

func init() {
	Register(Info{
		Name:        "test_plugin_opts",
		Description: "captures its options",
		Options: []Option{
			{Name: "i", Default: 4},
			{Name: "f", Default: 0.25},
			{Name: "s", Default: "abc"},
			{Name: "b", Default: true},
			{Name: "nodef"},
		},
		New: func(o Options) (Strategy, error) {
			capturedOpts = o
			return Random{}, nil
		},
	})
}

func optsOf(t *testing.T, v map[string]any) Options {
	t.Helper()
	if _, err := New("test_plugin_opts", v); err != nil {
		t.Fatal(err)
	}
	return capturedOpts
}

func TestOptionsGetters(t *testing.T) {
	type res struct {
		v   any
		err bool
	}
	get := func(o Options, kind, name string) res {
		var v any
		var err error
		switch kind {
		case "int":
			v, err = o.Int(name)
		case "float":
			v, err = o.Float(name)
		case "string":
			v, err = o.String(name)
		case "bool":
			v, err = o.Bool(name)
		}
		return res{v, err != nil}
	}
	tests := []struct {
		name   string
		values map[string]any
		kind   string
		key    string
		want   any
		err    bool
	}{
		{"int default", nil, "int", "i", 4, false},
		{"int from int", map[string]any{"i": 7}, "int", "i", 7, false},
		{"int from int64", map[string]any{"i": int64(8)}, "int", "i", 8, false},
		{"int from uint64", map[string]any{"i": uint64(9)}, "int", "i", 9, false},
		{"int from float 3.0", map[string]any{"i": 3.0}, "int", "i", 3, false},
		{"int from float -2.0", map[string]any{"i": -2.0}, "int", "i", -2, false},
		{"int from float 3.5", map[string]any{"i": 3.5}, "int", "i", 0, true},
		{"int from string", map[string]any{"i": "3"}, "int", "i", 0, true},
		{"int nil value uses default", map[string]any{"i": nil}, "int", "i", 4, false},
		{"int no default", nil, "int", "nodef", 0, true},
		{"float default", nil, "float", "f", 0.25, false},
		{"float from float", map[string]any{"f": 1.5}, "float", "f", 1.5, false},
		{"float from int", map[string]any{"f": 2}, "float", "f", 2.0, false},
		{"float from int64", map[string]any{"f": int64(-3)}, "float", "f", -3.0, false},
		{"float from uint64", map[string]any{"f": uint64(5)}, "float", "f", 5.0, false},
		{"float from bool", map[string]any{"f": true}, "float", "f", 0.0, true},
		{"string default", nil, "string", "s", "abc", false},
		{"string set", map[string]any{"s": "xyz"}, "string", "s", "xyz", false},
		{"string from int", map[string]any{"s": 3}, "string", "s", "", true},
		{"bool default", nil, "bool", "b", true, false},
		{"bool set", map[string]any{"b": false}, "bool", "b", false, false},
		{"bool from string", map[string]any{"b": "yes"}, "bool", "b", false, true},
		{"bool no default", nil, "bool", "nodef", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := optsOf(t, tc.values)
			got := get(o, tc.kind, tc.key)
			if got.err != tc.err {
				t.Fatalf("%s(%q): error = %v, want error %v", tc.kind, tc.key, got.err, tc.err)
			}
			if !tc.err && !reflect.DeepEqual(got.v, tc.want) {
				t.Errorf("%s(%q) = %#v, want %#v", tc.kind, tc.key, got.v, tc.want)
			}
		})
	}
}

func TestOptionsErrorNamesOption(t *testing.T) {
	o := optsOf(t, map[string]any{"i": 3.5})
	_, err := o.Int("i")
	if err == nil || !strings.Contains(err.Error(), "option i") || !strings.Contains(err.Error(), "3.5") {
		t.Errorf("Int error = %v, want it to name the option and the value", err)
	}
}

func TestQueryCheck(t *testing.T) {
	tests := []struct {
		name string
		q    Query
		want string // "" = valid
	}{
		{"valid", Query{Candidates: []int{1, 2}, K: 2, RNG: seeded(1, 2)}, ""},
		{"k zero", Query{Candidates: []int{1, 2}, K: 0, RNG: seeded(1, 2)}, "k must be >= 1, got 0"},
		{"k negative", Query{Candidates: []int{1, 2}, K: -1, RNG: seeded(1, 2)}, "got -1"},
		{"k too large", Query{Candidates: []int{1, 2}, K: 3, RNG: seeded(1, 2)}, "k = 3"},
		{"no candidates", Query{K: 1, RNG: seeded(1, 2)}, "0 unlabeled"},
		{"nil RNG", Query{Candidates: []int{1}, K: 1}, "no RNG"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.q.Check()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
