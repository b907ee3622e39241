package strategies

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// bruteJointEntropy enumerates all C^n label configurations of rows:
// p(y_1..y_n) = (1/T) sum_t prod_j p_t(y_j | x_j).
func bruteJointEntropy(s [][][]float64, rows []int) float64 {
	T, C := len(s), len(s[0][0])
	n := len(rows)
	total := 1
	for range rows {
		total *= C
	}
	h := 0.0
	y := make([]int, n)
	for cfg := 0; cfg < total; cfg++ {
		v := cfg
		for j := n - 1; j >= 0; j-- {
			y[j] = v % C
			v /= C
		}
		p := 0.0
		for t := 0; t < T; t++ {
			q := 1.0
			for j, r := range rows {
				q *= s[t][r][y[j]]
			}
			p += q / float64(T)
		}
		if p > 0 {
			h -= p * math.Log(p)
		}
	}
	return h
}

func condEntropy(s [][][]float64, r int) float64 {
	h := 0.0
	for t := range s {
		h += entropyOf(s[t][r]) / float64(len(s))
	}
	return h
}

func exactOpts() BatchBALDOptions {
	return BatchBALDOptions{MaxJointConfigs: 1 << 20, NumSampledConfigs: 1000, Lazy: true}
}

func TestBatchBALDExactJointEntropyEqualsBruteForce(t *testing.T) {
	// T = 3, C = 3: joint entropies of 1, 2 and 3 points.
	rng := seeded(11, 12)
	s := randomSamples(rng, 3, 5, 3, 0.7)
	st := newBBState(mats(s), exactOpts(), rng)
	for r := range st.condH {
		st.condH[r] = condEntropy(s, r)
	}
	picks := []int{}
	for _, x := range []int{3, 0, 4} {
		// H(batch + x) = gain + H(batch) + E[H(y_x|w)]
		sc := &st.scratch[0]
		joint := st.gain(x, sc) + st.batchH + st.condH[x]
		want := bruteJointEntropy(s, append(slices.Clone(picks), x))
		if math.Abs(joint-want) > 1e-12 {
			t.Errorf("H(%v + %d) = %.15g, brute force %.15g", picks, x, joint, want)
		}
		st.add(x)
		picks = append(picks, x)
		if want := bruteJointEntropy(s, picks); math.Abs(st.batchH-want) > 1e-12 {
			t.Errorf("H(%v) = %.15g, brute force %.15g", picks, st.batchH, want)
		}
	}
	if st.M != 27 || st.sampled {
		t.Errorf("after 3 points of 3 classes: M = %d sampled = %v, want 27 exact", st.M, st.sampled)
	}
}

func TestBatchBALDGainsSumToJointMutualInformation(t *testing.T) {
	rng := seeded(5, 6)
	s := randomSamples(rng, 4, 12, 3, 0.5)
	res, err := BatchBALD(context.Background(), mats(s), 4, exactOpts(), rng)
	if err != nil {
		t.Fatal(err)
	}
	sum, cond := 0.0, 0.0
	for j, g := range res.Gains {
		sum += g
		cond += condEntropy(s, res.Picks[j])
		want := bruteJointEntropy(s, res.Picks[:j+1]) - cond
		if math.Abs(sum-want) > 1e-12 {
			t.Errorf("a_BatchBALD of %v = %.15g, brute force %.15g", res.Picks[:j+1], sum, want)
		}
		if res.Sampled[j] {
			t.Errorf("pick %d was sampled with max_joint_configs 2^20", j)
		}
	}
}

func TestBatchBALDFirstPickIsBALDArgmax(t *testing.T) {
	for seed := uint64(0); seed < 5; seed++ {
		rng := seeded(seed, 99)
		s := mats(randomSamples(rng, 6, 40, 4, 0.6))
		bald, _ := BALD(s)
		res, err := BatchBALD(context.Background(), s, 3, exactOpts(), rng)
		if err != nil {
			t.Fatal(err)
		}
		best := 0
		for i, v := range bald {
			if v > bald[best] {
				best = i
			}
		}
		if res.Picks[0] != best || math.Abs(res.Gains[0]-bald[best]) > 1e-12 {
			t.Errorf("seed %d: first pick %d (gain %g), BALD argmax %d (%g)", seed, res.Picks[0], res.Gains[0], best, bald[best])
		}
	}
}

// repeated: pool index 0 and 1 are the same point (BALD ln 2, its label
// reveals which half of the 4 MC samples is right); 2 splits the samples the
// other way, less confidently (BALD ln 2 - H(0.9)); 3 is uninformative.
var repeated = [][][]float64{
	{{1, 0}, {1, 0}, {0.9, 0.1}, {0.5, 0.5}},
	{{1, 0}, {1, 0}, {0.1, 0.9}, {0.5, 0.5}},
	{{0, 1}, {0, 1}, {0.9, 0.1}, {0.5, 0.5}},
	{{0, 1}, {0, 1}, {0.1, 0.9}, {0.5, 0.5}},
}

func TestBatchBALDAvoidsDuplicates(t *testing.T) {
	ctx := context.Background()
	cands := []int{0, 1, 2, 3}
	for _, lazy := range []bool{true, false} {
		st, err := New("batchbald", map[string]any{"samples": 4, "lazy": lazy})
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.Select(ctx, Query{Model: &mcModel{samples: repeated}, Candidates: cands, K: 2, RNG: seeded(1, 2)})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, []int{0, 2}) {
			t.Errorf("lazy=%v: batchbald picked %v, want [0 2] (not the duplicate 1)", lazy, got)
		}
	}
	bald, _ := New("bald", map[string]any{"samples": 4})
	got, err := bald.Select(ctx, Query{Model: &mcModel{samples: repeated}, Candidates: cands, K: 2, RNG: seeded(1, 2)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int{0, 1}) {
		t.Errorf("top-k bald picked %v, want the duplicate pair [0 1]", got)
	}
	// The duplicate's gain after its twin is 0: its label adds nothing.
	res, err := BatchBALD(ctx, mats(repeated), 4, exactOpts(), seeded(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{math.Ln2, math.Ln2 + 0.9*math.Log(0.9) + 0.1*math.Log(0.1), 0, 0}
	for j := range want {
		if math.Abs(res.Gains[j]-want[j]) > 1e-12 {
			t.Errorf("gain %d = %.15g, want %.15g (picks %v)", j, res.Gains[j], want[j], res.Picks)
		}
	}
}

func TestBatchBALDLazyEqualsFullScan(t *testing.T) {
	for seed := uint64(0); seed < 4; seed++ {
		rng := seeded(seed, 7)
		s := mats(randomSamples(rng, 8, 150, 4, 0.4))
		lazy, err := BatchBALD(context.Background(), s, 6, exactOpts(), seeded(1, 1))
		if err != nil {
			t.Fatal(err)
		}
		o := exactOpts()
		o.Lazy = false
		full, err := BatchBALD(context.Background(), s, 6, o, seeded(1, 1))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(lazy.Picks, full.Picks) {
			t.Errorf("seed %d: lazy picks %v, full scan %v", seed, lazy.Picks, full.Picks)
		}
		for j := range full.Gains {
			if math.Abs(lazy.Gains[j]-full.Gains[j]) > 1e-12 {
				t.Errorf("seed %d: gain %d lazy %g full %g", seed, j, lazy.Gains[j], full.Gains[j])
			}
		}
		if lazy.Evaluations >= full.Evaluations {
			t.Errorf("seed %d: lazy did %d evaluations, full scan %d", seed, lazy.Evaluations, full.Evaluations)
		}
	}
}

func TestBatchBALDSampledApproximatesExact(t *testing.T) {
	// 4 chosen points of 3 classes (81 configurations): the sampled
	// conditional entropy of each other candidate is close to the exact one.
	rng := seeded(21, 22)
	s := randomSamples(rng, 6, 8, 3, 0.6)
	ms := mats(s)
	exact := newBBState(ms, exactOpts(), rng)
	sampled := newBBState(ms, BatchBALDOptions{MaxJointConfigs: 9, NumSampledConfigs: 200000}, seeded(3, 3))
	for _, st := range []*bbState{exact, sampled} {
		for r := range st.condH {
			st.condH[r] = condEntropy(s, r)
		}
		for _, x := range []int{0, 1, 2, 3} {
			st.add(x)
		}
	}
	if exact.sampled || !sampled.sampled || sampled.M != 200000 {
		t.Fatalf("exact.sampled = %v, sampled.sampled = %v (M = %d)", exact.sampled, sampled.sampled, sampled.M)
	}
	for x := 4; x < 8; x++ {
		e := exact.gain(x, &exact.scratch[0])
		a := sampled.gain(x, &sampled.scratch[0])
		if math.Abs(e-a) > 0.01 {
			t.Errorf("candidate %d: sampled gain %.5f, exact %.5f", x, a, e)
		}
	}
}

func TestBatchBALDSampledSwitchAndDeterminism(t *testing.T) {
	rng := seeded(8, 8)
	s := mats(randomSamples(rng, 5, 60, 3, 0.5))
	o := BatchBALDOptions{MaxJointConfigs: 9, NumSampledConfigs: 500, Lazy: true}
	a, err := BatchBALD(context.Background(), s, 6, o, seeded(4, 4))
	if err != nil {
		t.Fatal(err)
	}
	// 3^2 = 9 configurations: picks 1-3 exact, the rest sampled.
	if !slices.Equal(a.Sampled, []bool{false, false, false, true, true, true}) {
		t.Errorf("sampled flags %v, want exact for the first 3 picks", a.Sampled)
	}
	o.Workers = 1
	b, _ := BatchBALD(context.Background(), s, 6, o, seeded(4, 4))
	if !slices.Equal(a.Picks, b.Picks) || !slices.Equal(a.Gains, b.Gains) {
		t.Errorf("same seed, different worker count: %v %v vs %v %v", a.Picks, a.Gains, b.Picks, b.Gains)
	}
	seen := map[int]bool{}
	for _, p := range a.Picks {
		if seen[p] {
			t.Errorf("row %d picked twice: %v", p, a.Picks)
		}
		seen[p] = true
	}
}

func TestBatchBALDSelectAndErrors(t *testing.T) {
	ctx := context.Background()
	s := randomSamples(seeded(1, 2), 3, 30, 3, 0.5)
	st, err := New("batchbald", map[string]any{"samples": 3, "max_joint_configs": 9, "num_sampled_configs": 200})
	if err != nil {
		t.Fatal(err)
	}
	cands := []int{29, 3, 7, 11, 12, 13, 20, 21, 25, 26}
	got, err := st.Select(ctx, Query{Model: &mcModel{samples: s}, Candidates: cands, Labeled: []int{0, 1}, K: len(cands), RNG: seeded(1, 2)})
	if err != nil {
		t.Fatal(err)
	}
	sorted := slices.Clone(got)
	slices.Sort(sorted)
	want := slices.Clone(cands)
	slices.Sort(want)
	if !slices.Equal(sorted, want) {
		t.Errorf("k = all candidates gave %v, want a permutation of %v", got, cands)
	}
	// NaN probabilities name the pool index.
	bad := randomSamples(seeded(1, 2), 3, 4, 2, 1)
	bad[1][2][0] = math.NaN()
	_, err = st.Select(ctx, Query{Model: &mcModel{samples: bad}, Candidates: []int{0, 2, 3}, K: 2, RNG: seeded(1, 2)})
	if err == nil || !strings.Contains(err.Error(), "pool index 2") {
		t.Errorf("NaN sample: err = %v, want it to name pool index 2", err)
	}
	if _, err := st.Select(ctx, Query{Model: &mcModel{samples: s}, Candidates: []int{0, 1}, K: 3, RNG: seeded(1, 2)}); err == nil {
		t.Error("k > candidates: no error")
	}
	for _, o := range []map[string]any{{"max_joint_configs": 0}, {"num_sampled_configs": -1}, {"lazy": "yes"}} {
		if _, err := New("batchbald", o); err == nil {
			t.Errorf("New(batchbald, %v) succeeded", o)
		}
	}
	if _, err := BatchBALD(ctx, []*mat.Dense{mat.NewDense(2, 2, nil)}, 3, exactOpts(), seeded(1, 1)); err == nil {
		t.Error("BatchBALD with k > N: no error")
	}
	if _, err := BatchBALD(ctx, mats(s), 2, exactOpts(), nil); err == nil {
		t.Error("BatchBALD without an RNG: no error")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := BatchBALD(cctx, mats(s), 3, exactOpts(), seeded(1, 1)); err == nil {
		t.Error("BatchBALD with a cancelled context: no error")
	}
}

// BenchmarkBatchBALD times the greedy on precomputed MC samples with the
// shipped options (exact joint entropy up to 40,000 configurations, then
// 40,000 sampled ones (and 4,000), lazy): N = 500 rows of C = 10 classes, T = 100, b = 10.
// Random Dirichlet rows are a hard case: their configurations rarely merge
// and lazy bounds rarely hold, so nearly every row is re-evaluated each step.
// `alrl bench` times it on the 60,000 MNIST pool.
func BenchmarkBatchBALD(b *testing.B) {
	s := mats(randomSamples(seeded(3, 3), 100, 500, 10, 0.3))
	for _, m := range []int{40000, 4000} { // the shipped num_sampled_configs, and a tenth of it
		b.Run("M="+strconv.Itoa(m), func(b *testing.B) {
			opt := BatchBALDOptions{MaxJointConfigs: 40000, NumSampledConfigs: m, Lazy: true}
			evals := 0
			for i := 0; i < b.N; i++ {
				res, err := BatchBALD(context.Background(), s, 10, opt, seeded(1, uint64(i)))
				if err != nil {
					b.Fatal(err)
				}
				evals += res.Evaluations
			}
			b.ReportMetric(float64(evals)/float64(b.N), "evaluations/op")
			b.ReportMetric(b.Elapsed().Seconds()*1000/float64(evals), "ms/evaluation")
		})
	}
}
