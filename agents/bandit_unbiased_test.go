package agents

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/strategies"
)

// TestUnbiasedPPSInclusion samples many batches with the systematic PPS
// sampler and checks that every batch holds exactly k distinct positions,
// that each position's empirical inclusion frequency is pi_j, and that the
// Horvitz-Thompson estimate sum_{j in B} x_j / pi_j averages to sum_j x_j.
func TestUnbiasedPPSInclusion(t *testing.T) {
	x := []float64{3, 1, 4, 1, 5, 9, 2, 6}
	cases := []struct {
		name string
		p    []float64
		k    int
		pi   []float64 // known answer, nil to check the min(1, c p) form only
	}{
		{name: "one capped", p: []float64{0.45, 0.2, 0.1, 0.08, 0.07, 0.05, 0.03, 0.02}, k: 3},
		{name: "two capped", p: []float64{0.4, 0.35, 0.1, 0.05, 0.04, 0.03, 0.02, 0.01}, k: 3,
			pi: []float64{1, 1, 0.4, 0.2, 0.16, 0.12, 0.08, 0.04}},
		{name: "uniform", p: []float64{0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125}, k: 3,
			pi: []float64{0.375, 0.375, 0.375, 0.375, 0.375, 0.375, 0.375, 0.375}},
		{name: "k=1 is the single draw", p: []float64{0.45, 0.2, 0.1, 0.08, 0.07, 0.05, 0.03, 0.02}, k: 1,
			pi: []float64{0.45, 0.2, 0.1, 0.08, 0.07, 0.05, 0.03, 0.02}},
	}
	const draws = 200000
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pi := inclusionProbs(tc.p, tc.k)
			checkInclusionProbs(t, tc.p, tc.k, pi)
			for j := range tc.pi {
				if math.Abs(pi[j]-tc.pi[j]) > 1e-12 {
					t.Fatalf("pi = %v, want %v", pi, tc.pi)
				}
			}
			rng := rand.New(rand.NewPCG(11, uint64(ci)))
			count := make([]int, len(pi))
			ht, want := 0.0, 0.0
			for _, v := range x {
				want += v
			}
			for d := 0; d < draws; d++ {
				b := samplePPS(pi, tc.k, rng)
				if len(b) != tc.k {
					t.Fatalf("batch %v has %d items, want %d", b, len(b), tc.k)
				}
				seen := map[int]bool{}
				for _, j := range b {
					if seen[j] {
						t.Fatalf("batch %v repeats %d", b, j)
					}
					seen[j] = true
					count[j]++
					ht += x[j] / pi[j]
				}
			}
			for j, c := range count {
				f := float64(c) / draws
				tol := 5*math.Sqrt(pi[j]*(1-pi[j])/draws) + 1e-9
				if math.Abs(f-pi[j]) > tol {
					t.Errorf("item %d included in %.5f of the batches, want pi = %.5f (tolerance %.5f)", j, f, pi[j], tol)
				}
			}
			if rel := math.Abs(ht/draws-want) / want; rel > 0.01 {
				t.Errorf("Horvitz-Thompson mean %.4f, want %.4f (relative error %.4f)", ht/draws, want, rel)
			}
		})
	}
}

// checkInclusionProbs checks pi_j = min(1, c p_j) with one c and sum pi = k.
func checkInclusionProbs(t *testing.T, p []float64, k int, pi []float64) {
	t.Helper()
	sum, c := 0.0, math.NaN()
	for j, v := range pi {
		sum += v
		if v < 0 || v > 1 {
			t.Fatalf("pi[%d] = %v is not a probability", j, v)
		}
		if v < 1 {
			if math.IsNaN(c) {
				c = v / p[j]
			} else if math.Abs(v/p[j]-c) > 1e-9*c {
				t.Fatalf("pi %v is not proportional to p %v below the cap", pi, p)
			}
		}
	}
	for j, v := range pi {
		if v == 1 && !math.IsNaN(c) && c*p[j] < 1-1e-9 {
			t.Fatalf("pi[%d] is capped at 1 but c p = %v", j, c*p[j])
		}
	}
	if math.Abs(sum-float64(k)) > 1e-9 {
		t.Fatalf("pi %v sums to %v, want k = %d", pi, sum, k)
	}
}

// TestUnbiasedOldSchemeBiased shows what the sampler replaces: k successive
// draws without replacement, each weighted 1/p_j of a single draw, give a
// Horvitz-Thompson-style estimate that is off by about a factor of k.
func TestUnbiasedOldSchemeBiased(t *testing.T) {
	p := []float64{0.45, 0.2, 0.1, 0.08, 0.07, 0.05, 0.03, 0.02}
	x := []float64{3, 1, 4, 1, 5, 9, 2, 6}
	const k, draws = 3, 50000
	rng := rand.New(rand.NewPCG(5, 6))
	est, want := 0.0, 0.0
	for _, v := range x {
		want += v
	}
	for d := 0; d < draws; d++ {
		left := slices.Clone(p)
		for n := 0; n < k; n++ {
			s := 0.0
			for _, v := range left {
				s += v
			}
			u, j := rng.Float64()*s, 0
			for ; j < len(left)-1 && (left[j] == 0 || u >= left[j]); j++ {
				u -= left[j]
			}
			est += x[j] / p[j]
			left[j] = 0
		}
	}
	if rel := math.Abs(est/draws-want) / want; rel < 0.5 {
		t.Errorf("the old scheme's estimate %.3f is within %.3f of %.3f; it should be biased by about k", est/draws, rel, want)
	}
}

func TestALBLDefaultPMin(t *testing.T) {
	for _, tc := range []struct {
		n, rounds int
		want      float64
	}{
		{4, 28, math.Sqrt(math.Log(4) / (4 * 28))},   // budget 300, init 20, k 10
		{4, 280, math.Sqrt(math.Log(4) / (4 * 280))}, // the same budget one query at a time
		{3, 10, math.Sqrt(math.Log(3) / (3 * 10))},
		{4, 5, 0.25},    // sqrt(ln 4 / 20) = 0.263 > 1/4: clamped so that N pmin = 1
		{2, 1, 0.5},     // sqrt(ln 2 / 2) = 0.589 > 1/2
		{3, 3, 1.0 / 3}, // sqrt(ln 3 / 9) = 0.349 > 1/3
	} {
		if got := alblPMin(tc.n, tc.rounds); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("pmin(N = %d, T = %d) = %v, want %v", tc.n, tc.rounds, got, tc.want)
		}
		if got := alblPMin(tc.n, tc.rounds); float64(tc.n)*got > 1+1e-15 {
			t.Errorf("pmin(N = %d, T = %d) = %v: N pmin > 1", tc.n, tc.rounds, got)
		}
	}

	// In a shipped setting (2,000 candidates, k = 10, budget 300, 20
	// initial labels) the default is the paper's value, not 1/(2K).
	arms := DefaultBanditConfig().Arms
	m := fixedModel{}
	pool := make([]int, 2100)
	for i := range pool {
		pool[i] = i
	}
	labeled, cands := pool[:20], pool[20:2020]
	ep := envs.Episode{Budget: 300, InitSize: 20, K: 10, Labeled: labeled, LabeledY: labelsOf(labeled)}
	for _, tc := range []struct {
		name string
		pmin float64
		want float64
	}{
		{"default", 0, math.Sqrt(math.Log(4) / (4 * 28))},
		{"explicit", 0.05, 0.05},
	} {
		a, err := NewALBL(BanditConfig{Arms: arms, Delta: 0.1, PMin: tc.pmin})
		if err != nil {
			t.Fatal(err)
		}
		q := strategies.Query{Model: m, Candidates: cands, Labeled: labeled, K: 10, RNG: rand.New(rand.NewPCG(1, 2)), Episode: &ep}
		if _, err := a.Select(context.Background(), q); err != nil {
			t.Fatal(err)
		}
		pd := a.pending
		if pd.T != 28 || math.Abs(pd.pmin-tc.want) > 1e-15 {
			t.Errorf("%s: T = %d, pmin = %v, want 28 and %v", tc.name, pd.T, pd.pmin, tc.want)
		}
		sum := 0.0
		for _, v := range pd.p {
			sum += v
			if v < pd.pmin-1e-15 {
				t.Errorf("%s: arm probability %v below pmin %v", tc.name, v, pd.pmin)
			}
		}
		if math.Abs(sum-1) > 1e-12 {
			t.Errorf("%s: arm probabilities sum to %v", tc.name, sum)
		}
		checkInclusionProbs(t, mixture(pd.psi, pd.p), 10, pd.pi)
	}
	if _, err := NewALBL(BanditConfig{Arms: arms, Delta: 0.1, PMin: 0.3}); err == nil {
		t.Error("pmin 0.3 > 1/N for 4 arms was accepted")
	}
	if _, err := strategies.New("albl", map[string]any{"arms": "random,entropy", "pmin": 0.6}); err == nil {
		t.Error("the albl strategy accepted pmin 0.6 > 1/2")
	}
}

func mixture(psi [][]float64, p []float64) []float64 {
	q := make([]float64, len(psi[0]))
	for i, a := range psi {
		for j, v := range a {
			q[j] += p[i] * v
		}
	}
	return q
}

// TestALBLOneUpdatePerRound runs ALBL through an episode and checks that
// every acquisition round applies exactly one EXP4.P update: the experts'
// log-weights move by pmin/2 (rhat_i + conf/p_i) once, with the round's
// IW-ACC r and rhat_i = r sum_{j in batch} psi_ij / pi_j, and Rewards
// gains one entry per round.
func TestALBLOneUpdatePerRound(t *testing.T) {
	for _, k := range []int{1, 4} {
		a, err := NewALBL(BanditConfig{Arms: []string{"random", "entropy", "margin"}, Delta: 0.1})
		if err != nil {
			t.Fatal(err)
		}
		const init, budget = 6, 30
		labeled := []int{0, 1, 2, 3, 4, 5}
		unl := make([]int, 0, 60)
		for i := init; i < 66; i++ {
			unl = append(unl, i)
		}
		rng := rand.New(rand.NewPCG(9, uint64(k)))
		m := fixedModel{}
		rounds := (budget - init + k - 1) / k
		for round := 1; round <= rounds; round++ {
			ep := envs.Episode{Round: round, K: k, Budget: budget, InitSize: init, BudgetUsed: len(labeled), Labeled: labeled, LabeledY: labelsOf(labeled)}
			var want []float64
			if pd := a.pending; pd != nil {
				sum := 0.0
				for i, idx := range a.queried {
					if m.predict(idx) == idx%2 {
						sum += a.weight[i]
					}
				}
				r := sum / (float64(len(pd.pi)) * float64(rounds))
				conf := math.Sqrt(math.Log(3/0.1) / (3 * float64(rounds)))
				want = slices.Clone(a.exp.LogW)
				for i := range want {
					rhat := 0.0
					for _, j := range pd.batch {
						rhat += r * pd.psi[i][j] / pd.pi[j]
					}
					want[i] += pd.pmin / 2 * (rhat + conf/pd.p[i])
				}
			}
			q := strategies.Query{Model: m, Candidates: unl, Labeled: labeled, K: k, RNG: rng, Round: round, Episode: &ep}
			sel, err := a.Select(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if err := q.CheckSelection(sel); err != nil {
				t.Fatalf("k = %d, round %d: %v", k, round, err)
			}
			if len(a.Rewards) != round-1 {
				t.Fatalf("k = %d: %d rewards after %d rounds, want one per measured round (%d)", k, len(a.Rewards), round, round-1)
			}
			if want != nil {
				for i := range want {
					if math.Abs(a.exp.LogW[i]-want[i]) > 1e-12*math.Max(1, math.Abs(want[i])) {
						t.Fatalf("k = %d, round %d: log-weights %v, want one update to %v", k, round, a.exp.LogW, want)
					}
				}
			}
			for i, j := range a.pending.batch { // IW-ACC weights are 1/pi of the batch sampler
				if w := a.weight[len(a.weight)-k+i]; w != 1/a.pending.pi[j] {
					t.Fatalf("k = %d: weight %v of a sample with inclusion probability %v", k, w, a.pending.pi[j])
				}
			}
			if a.pending.T != rounds {
				t.Fatalf("k = %d: the bandit counts %d rounds, want %d", k, a.pending.T, rounds)
			}
			labeled = append(slices.Clone(labeled), sel...)
			unl = slices.DeleteFunc(slices.Clone(unl), func(i int) bool { return slices.Contains(sel, i) })
		}
		if len(a.queried) != budget-init {
			t.Errorf("k = %d: %d samples queried, want %d", k, len(a.queried), budget-init)
		}
	}
}

// TestALBLSingleDrawIsPaper checks the k = 1 case against the paper's
// single-draw EXP4.P: pi = q, W = 1/q_j and rhat_i = r psi_ij / q_j.
func TestALBLSingleDrawIsPaper(t *testing.T) {
	q := []float64{0.05, 0.6, 0.15, 0.2}
	pi := inclusionProbs(q, 1)
	if !slices.Equal(pi, q) {
		t.Fatalf("k = 1: pi = %v, want q = %v", pi, q)
	}
	psi := [][]float64{{0, 1, 0, 0}, {0, 0, 0, 1}, {0.25, 0.25, 0.25, 0.25}}
	const r = 0.3
	got := alblRewardEstimate(psi, pi, []int{3}, r)
	for i := range psi {
		if want := r * psi[i][3] / q[3]; math.Abs(got[i]-want) > 1e-15 {
			t.Errorf("rhat[%d] = %v, want r psi / q = %v", i, got[i], want)
		}
	}
	// EXP4P.Update (one played action) is UpdateEstimate with rhat_j = r / p_j.
	b1, b2 := NewEXP4P(3, 0.1), NewEXP4P(3, 0.1)
	b1.Update(psi, q, 1, r, 0.05, 10)
	rhat := []float64{0, r / q[1], 0, 0}
	b2.UpdateEstimate(psi, q, rhat, 0.05, 10)
	for i := range b1.LogW {
		if math.Abs(b1.LogW[i]-b2.LogW[i]) > 1e-15 {
			t.Errorf("Update and UpdateEstimate disagree: %v vs %v", b1.LogW, b2.LogW)
		}
	}
}

// fixedModel predicts 2 classes from the pool index alone; the true label is idx % 2.
type fixedModel struct{}

func (fixedModel) p1(idx int) float64 { return math.Mod(float64(idx)*0.618034, 1) }

func (m fixedModel) predict(idx int) int {
	if m.p1(idx) > 0.5 {
		return 1
	}
	return 0
}

func (m fixedModel) Probs(_ context.Context, idx []int) (*mat.Dense, error) {
	out := mat.NewDense(max(len(idx), 1), 2, nil)
	for i, x := range idx {
		out.Set(i, 0, 1-m.p1(x))
		out.Set(i, 1, m.p1(x))
	}
	return out, nil
}

func (m fixedModel) MCProbs(ctx context.Context, idx []int, T int) ([]*mat.Dense, error) {
	p, err := m.Probs(ctx, idx)
	out := make([]*mat.Dense, T)
	for i := range out {
		out[i] = p
	}
	return out, err
}

func (m fixedModel) Embed(ctx context.Context, idx []int) (*mat.Dense, error) {
	return m.Probs(ctx, idx)
}

func (fixedModel) NumClasses() int { return 2 }

func labelsOf(idx []int) []int {
	y := make([]int, len(idx))
	for i, x := range idx {
		y[i] = x % 2
	}
	return y
}
