package strategies

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

// mcModel serves fixed MC samples: samples[t][r] is p(y | pool index r, w_t).
type mcModel struct {
	samples [][][]float64
	calls   int
}

func (m *mcModel) Probs(_ context.Context, idx []int) (*mat.Dense, error) {
	T := len(m.samples)
	c := len(m.samples[0][0])
	out := mat.NewDense(len(idx), c, nil)
	for i, r := range idx {
		for t := 0; t < T; t++ {
			for k, v := range m.samples[t][r] {
				out.Set(i, k, out.At(i, k)+v/float64(T))
			}
		}
	}
	return out, nil
}

func (m *mcModel) MCProbs(_ context.Context, idx []int, T int) ([]*mat.Dense, error) {
	m.calls++
	if T > len(m.samples) {
		return nil, fmt.Errorf("mcModel: %d samples asked, %d available", T, len(m.samples))
	}
	return samplesOf(m.samples[:T], idx), nil
}

func (m *mcModel) Embed(context.Context, []int) (*mat.Dense, error) {
	return nil, &learner.CapabilityError{Capability: learner.CapEmbeddings, Learner: "mc fake"}
}

// MemberProbs treats the samples as ensemble members.
func (m *mcModel) MemberProbs(_ context.Context, idx []int) ([]*mat.Dense, error) {
	m.calls++
	return samplesOf(m.samples, idx), nil
}

func (m *mcModel) NumClasses() int { return len(m.samples[0][0]) }

// samplesOf builds T matrices of the given rows.
func samplesOf(s [][][]float64, rows []int) []*mat.Dense {
	out := make([]*mat.Dense, len(s))
	for t := range s {
		out[t] = mat.NewDense(len(rows), len(s[t][0]), nil)
		for i, r := range rows {
			out[t].SetRow(i, s[t][r])
		}
	}
	return out
}

// mats turns samples[t][row] into T matrices over all rows.
func mats(s [][][]float64) []*mat.Dense {
	rows := make([]int, len(s[0]))
	for i := range rows {
		rows[i] = i
	}
	return samplesOf(s, rows)
}

// randomSamples draws T x N x C Dirichlet(alpha)-like probabilities.
func randomSamples(rng *rand.Rand, T, N, C int, alpha float64) [][][]float64 {
	s := make([][][]float64, T)
	for t := range s {
		s[t] = make([][]float64, N)
		for i := range s[t] {
			row := make([]float64, C)
			z := 0.0
			for c := range row {
				row[c] = math.Pow(rng.Float64()+1e-9, 1/alpha)
				z += row[c]
			}
			for c := range row {
				row[c] /= z
			}
			s[t][i] = row
		}
	}
	return s
}

func TestMCScoresKnownValues(t *testing.T) {
	ln2, ln3 := math.Log(2), math.Log(3)
	h91 := -(0.9*math.Log(0.9) + 0.1*math.Log(0.1))
	// Each case: T samples of one row.
	cases := []struct {
		name                       string
		rows                       [][]float64 // one per sample t
		bald, vr, meanSTD, entropy float64
	}{
		{"identical one-hot", [][]float64{{1, 0}, {1, 0}, {1, 0}}, 0, 0, 0, 0},
		{"identical uncertain", [][]float64{{0.3, 0.7}, {0.3, 0.7}}, 0, 0, 0, -(0.3*math.Log(0.3) + 0.7*math.Log(0.7))},
		{"two disagreeing one-hot", [][]float64{{1, 0}, {0, 1}}, ln2, 0.5, 0.5, ln2},
		{"three disagreeing one-hot", [][]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, ln3, 2.0 / 3, math.Sqrt(2) / 3, ln3},
		// argmaxes 0, 0, 1, 2: mode frequency 2 of 4
		{"mode of four", [][]float64{{1, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, 1.5 * ln2, 0.5, (math.Sqrt(0.25) + 2*math.Sqrt(0.25-1.0/16)) / 3, 1.5 * ln2},
		// a tie for the mode (0, 0, 1, 1) still has frequency 2
		{"tied modes", [][]float64{{0.9, 0.1}, {0.9, 0.1}, {0.1, 0.9}, {0.1, 0.9}}, ln2 - h91, 0.5, 0.4, ln2},
		// a tie within a sample goes to class 0: argmaxes 0, 0
		{"argmax tie", [][]float64{{0.5, 0.5}, {0.6, 0.4}}, -(0.55*math.Log(0.55) + 0.45*math.Log(0.45)) - (ln2-(0.6*math.Log(0.6)+0.4*math.Log(0.4)))/2, 0, 0.05, -(0.55*math.Log(0.55) + 0.45*math.Log(0.45))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := make([]*mat.Dense, len(tc.rows))
			for i, r := range tc.rows {
				s[i] = mat.NewDense(1, len(r), r)
			}
			for _, f := range []struct {
				name string
				f    func([]*mat.Dense) ([]float64, error)
				want float64
			}{{"BALD", BALD, tc.bald}, {"VarRatios", VarRatios, tc.vr}, {"MeanSTD", MeanSTD, tc.meanSTD}, {"MCEntropy", MCEntropy, tc.entropy}} {
				got, err := f.f(s)
				if err != nil {
					t.Fatalf("%s: %v", f.name, err)
				}
				if math.Abs(got[0]-f.want) > 1e-12 {
					t.Errorf("%s = %.15g, want %.15g", f.name, got[0], f.want)
				}
			}
		})
	}
}

func TestMCScoresInvariants(t *testing.T) {
	// On random samples: 0 <= BALD <= MCEntropy <= ln C, 0 <= var ratios <= 1 - 1/C,
	// and BALD = MCEntropy - mean entropy exactly.
	rng := seeded(3, 4)
	const T, N, C = 7, 40, 4
	s := mats(randomSamples(rng, T, N, C, 0.5))
	bald, _ := BALD(s)
	ent, _ := MCEntropy(s)
	vr, _ := VarRatios(s)
	sd, _ := MeanSTD(s)
	for i := 0; i < N; i++ {
		mh := 0.0
		for _, m := range s {
			mh += entropyOf(m.RawRowView(i)) / T
		}
		if math.Abs(bald[i]-(ent[i]-mh)) > 1e-12 {
			t.Errorf("row %d: BALD %g != entropy %g - mean entropy %g", i, bald[i], ent[i], mh)
		}
		if bald[i] < 0 || bald[i] > ent[i]+1e-12 || ent[i] > math.Log(C)+1e-12 {
			t.Errorf("row %d: want 0 <= BALD %g <= entropy %g <= ln %d", i, bald[i], ent[i], C)
		}
		if vr[i] < 0 || vr[i] > 1-1.0/C+1e-12 || sd[i] < 0 || sd[i] > 0.5 {
			t.Errorf("row %d: var ratios %g or mean std %g out of range", i, vr[i], sd[i])
		}
	}
}

func TestMCScoresNaNAndBadShapes(t *testing.T) {
	nan := []*mat.Dense{mat.NewDense(1, 2, []float64{math.NaN(), 0.5}), mat.NewDense(1, 2, []float64{0.5, 0.5})}
	for name, f := range map[string]func([]*mat.Dense) ([]float64, error){"BALD": BALD, "VarRatios": VarRatios, "MeanSTD": MeanSTD, "MCEntropy": MCEntropy} {
		got, err := f(nan)
		if err != nil {
			t.Fatal(err)
		}
		if !math.IsNaN(got[0]) {
			t.Errorf("%s of a NaN row = %g, want NaN (TopK then names the pool index)", name, got[0])
		}
		if _, err := f(nil); err == nil || !strings.Contains(err.Error(), "T = 0") {
			t.Errorf("%s(no samples): err = %v", name, err)
		}
		bad := []*mat.Dense{mat.NewDense(2, 3, nil), mat.NewDense(2, 2, nil)}
		if _, err := f(bad); err == nil || !strings.Contains(err.Error(), "2x2") {
			t.Errorf("%s(mismatched shapes): err = %v", name, err)
		}
	}
}

func TestMCStrategiesSelect(t *testing.T) {
	// Pool index 0: agreeing confident samples; 1: disagreeing one-hot
	// (max BALD); 2: agreeing uncertain (max entropy of the mean, BALD 0);
	// 3: mild disagreement.
	s := [][][]float64{
		{{1, 0}, {1, 0}, {0.5, 0.5}, {0.8, 0.2}},
		{{1, 0}, {0, 1}, {0.5, 0.5}, {0.4, 0.6}},
	}
	tests := []struct {
		name string
		want []int
	}{
		{"bald", []int{1, 3}},
		{"mc_entropy", []int{1, 2}},
		{"var_ratios", []int{1, 3}},
		{"mean_std", []int{1, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := New(tc.name, map[string]any{"samples": 2})
			if err != nil {
				t.Fatal(err)
			}
			m := &mcModel{samples: s}
			got, err := st.Select(context.Background(), Query{Model: m, Candidates: []int{0, 1, 2, 3}, K: 2, RNG: seeded(1, 1)})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Select = %v, want %v", got, tc.want)
			}
			if nd, ok := st.(Needer); !ok || !slices.Equal(nd.Needs(), []learner.Capability{learner.CapMCDropout}) {
				t.Errorf("%s should declare it needs %q", tc.name, learner.CapMCDropout)
			}
			if _, ok := st.(Scorer); !ok {
				t.Errorf("%s is not a Scorer", tc.name)
			}
			// Without MC dropout the learner's capability error comes through.
			_, err = st.Select(context.Background(), Query{Model: &fakeModel{probs: probMatrix}, Candidates: []int{0, 1}, K: 1, RNG: seeded(1, 1)})
			if !learner.IsCapabilityError(err) || !strings.Contains(err.Error(), tc.name) {
				t.Errorf("without MC dropout: err = %v, want a capability error naming the strategy", err)
			}
		})
	}
}

func TestMCStrategiesOptions(t *testing.T) {
	for _, name := range []string{"bald", "var_ratios", "mean_std", "mc_entropy", "batchbald"} {
		info, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if info.Options[0].Name != "samples" || info.Options[0].Default != 20 {
			t.Errorf("%s: first option = %+v, want samples with default 20", name, info.Options[0])
		}
		if _, err := New(name, map[string]any{"samples": 1}); err == nil || !strings.Contains(err.Error(), "samples") {
			t.Errorf("%s with samples 1: err = %v, want an error naming the option", name, err)
		}
		m := &mcModel{samples: randomSamples(seeded(1, 1), 3, 5, 2, 1)}
		st, err := New(name, map[string]any{"samples": 3})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Select(context.Background(), Query{Model: m, Candidates: []int{0, 1, 2, 3, 4}, K: 2, RNG: seeded(1, 1)}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		// The model is asked for exactly T samples (the memo caches per T).
		st, _ = New(name, map[string]any{"samples": 4})
		if _, err := st.Select(context.Background(), Query{Model: m, Candidates: []int{0, 1}, K: 1, RNG: seeded(1, 1)}); err == nil || !strings.Contains(err.Error(), "4 samples asked") {
			t.Errorf("%s: err = %v, want the model's error for T = 4", name, err)
		}
	}
}
