package strategies

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/alrl/alrl/learner"
)

// fixedScorer scores pool index i by scores[i]; it ignores the model.
type fixedScorer struct {
	scores []float64
	needs  []learner.Capability
}

func (fixedScorer) Name() string { return "test_fixed_scores" }

func (f fixedScorer) Needs() []learner.Capability { return f.needs }

func (f fixedScorer) Score(_ context.Context, q Query) ([]float64, error) {
	out := make([]float64, len(q.Candidates))
	for i, c := range q.Candidates {
		if c < 0 || c >= len(f.scores) {
			return nil, fmt.Errorf("fixed scorer: no score for pool index %d", c)
		}
		out[i] = f.scores[c]
	}
	return out, nil
}

func (f fixedScorer) Select(ctx context.Context, q Query) ([]int, error) {
	return scoreSelect(ctx, f, q)
}

// recorder remembers the query it was given and answers with a fixed rule.
type recorder struct {
	seen   []int
	answer func(q Query) []int
	needs  []learner.Capability
}

func (*recorder) Name() string { return "test_recorder" }

func (r *recorder) Needs() []learner.Capability { return r.needs }

func (r *recorder) Select(_ context.Context, q Query) ([]int, error) {
	r.seen = append([]int(nil), q.Candidates...)
	if r.answer != nil {
		return r.answer(q), nil
	}
	return q.Candidates[len(q.Candidates)-q.K:], nil // the last k: not what top-k would give
}

func init() {
	Register(Info{
		Name:        "test_fixed_scores",
		Description: "test: fixed score per pool index",
		Options:     []Option{{Name: "scores", Doc: "score of pool index i"}},
		New: func(o Options) (Strategy, error) {
			list, ok := o.Value("scores").([]any)
			if !ok {
				return nil, fmt.Errorf("option scores: expected a list")
			}
			f := fixedScorer{}
			for _, v := range list {
				switch x := v.(type) {
				case int:
					f.scores = append(f.scores, float64(x))
				case float64:
					f.scores = append(f.scores, x)
				default:
					return nil, fmt.Errorf("option scores: %v is not a number", v)
				}
			}
			return f, nil
		},
	})
}

func fixedCfg(scores ...float64) map[string]any {
	l := make([]any, len(scores))
	for i, s := range scores {
		l[i] = s
	}
	return map[string]any{"name": "test_fixed_scores", "options": map[string]any{"scores": l}}
}

func TestPrefilterKeepsTopAndThenSeesOnlyThose(t *testing.T) {
	scores := []float64{0.5, 0.9, 0.1, 0.7, 0.3, 0.8, 0.2, 0.6}
	all := []int{0, 1, 2, 3, 4, 5, 6, 7}
	tests := []struct {
		name     string
		keep     int
		factor   float64
		cands    []int
		k        int
		wantSeen []int
	}{
		{"keep 3", 3, 0, all, 2, []int{1, 3, 5}},
		{"keep 1 = k", 1, 0, all, 1, []int{1}},
		{"keep_factor 2 * k 2", 0, 2, all, 2, []int{1, 3, 5, 7}},
		{"keep_factor rounds up", 0, 1.5, all, 3, []int{0, 1, 3, 5, 7}},
		{"subset of candidates", 2, 0, []int{0, 2, 4, 6}, 1, []int{0, 4}},
		{"keep beyond candidates keeps all", 50, 0, []int{6, 2, 4}, 2, []int{6, 2, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			p := &Prefilter{First: fixedScorer{scores: scores}, Then: rec, Keep: tc.keep, KeepFactor: tc.factor}
			q := Query{Candidates: tc.cands, K: tc.k, RNG: seeded(1, 2)}
			got, err := p.Select(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rec.seen, tc.wantSeen) {
				t.Errorf("then saw candidates %v, want %v", rec.seen, tc.wantSeen)
			}
			if want := tc.wantSeen[len(tc.wantSeen)-tc.k:]; !slices.Equal(got, want) {
				t.Errorf("Select = %v, want then's answer %v", got, want)
			}
		})
	}
}

func TestPrefilterFromConfig(t *testing.T) {
	// Entropy alone picks pool index 3 (the uniform row) first; a prefilter
	// whose first stage ranks 3 last must make entropy choose among the others.
	m := &fakeModel{probs: probMatrix}
	s, err := New("prefilter", map[string]any{
		"first": fixedCfg(9, 8, 7, 0, 6, 5, 4),
		"then":  "entropy",
		"keep":  3,
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Select(context.Background(), Query{Model: m, Candidates: []int{0, 1, 2, 3, 4, 5, 6}, K: 2, RNG: seeded(1, 2)})
	if err != nil {
		t.Fatal(err)
	}
	// kept: 0, 1, 2 (scores 9, 8, 7); entropy among them: 1 (1.0549), 2 (1.0297).
	if !slices.Equal(got, []int{1, 2}) {
		t.Errorf("prefilter(first=fixed, then=entropy) = %v, want [1 2]", got)
	}
	if s.Name() != "prefilter" {
		t.Errorf("Name() = %q", s.Name())
	}
}

func TestPrefilterErrorsAtQueryTime(t *testing.T) {
	ctx := context.Background()
	scores := []float64{1, 2, 3, 4, 5}
	q := Query{Candidates: []int{0, 1, 2, 3, 4}, Labeled: []int{9}, K: 3, RNG: seeded(1, 2)}
	tests := []struct {
		name string
		p    *Prefilter
		q    Query
		want []string
	}{
		{"keep below k", &Prefilter{First: fixedScorer{scores: scores}, Then: &recorder{}, Keep: 2}, q, []string{"keeps 2", "k = 3", "raise keep"}},
		{"then returns a duplicate", &Prefilter{First: fixedScorer{scores: scores}, Then: &recorder{answer: func(q Query) []int { return []int{q.Candidates[0], q.Candidates[0], q.Candidates[1]} }}, Keep: 4}, q, []string{"test_recorder", "twice"}},
		{"then returns a filtered-out index", &Prefilter{First: fixedScorer{scores: scores}, Then: &recorder{answer: func(Query) []int { return []int{0, 3, 4} }}, Keep: 4}, q, []string{"pool index 0", "not among"}},
		{"then returns too few", &Prefilter{First: fixedScorer{scores: scores}, Then: &recorder{answer: func(q Query) []int { return q.Candidates[:1] }}, Keep: 4}, q, []string{"returned 1", "k = 3"}},
		{"first fails", &Prefilter{First: fixedScorer{scores: scores[:2]}, Then: &recorder{}, Keep: 4}, q, []string{"first (test_fixed_scores)", "pool index 2"}},
		{"bad query", &Prefilter{First: fixedScorer{scores: scores}, Then: &recorder{}, Keep: 4}, Query{Candidates: []int{0}, K: 2, RNG: seeded(1, 2)}, []string{"prefilter", "k = 2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.p.Select(ctx, tc.q)
			if err == nil {
				t.Fatal("Select succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestCompositeNeedsAreTheUnion(t *testing.T) {
	p := &Prefilter{
		First: fixedScorer{needs: []learner.Capability{learner.CapProbs}},
		Then:  &recorder{needs: []learner.Capability{learner.CapEmbeddings, learner.CapProbs}},
	}
	if got, want := p.Needs(), []learner.Capability{learner.CapProbs, learner.CapEmbeddings}; !slices.Equal(got, want) {
		t.Errorf("prefilter Needs = %v, want %v", got, want)
	}
	w := &Weighted{Terms: []WeightedTerm{
		{Scorer: fixedScorer{needs: []learner.Capability{learner.CapMCDropout}}, Weight: 1},
		{Scorer: fixedScorer{}, Weight: 1},
		{Scorer: fixedScorer{needs: []learner.Capability{learner.CapProbs, learner.CapMCDropout}}, Weight: 1},
	}}
	if got, want := w.Needs(), []learner.Capability{learner.CapMCDropout, learner.CapProbs}; !slices.Equal(got, want) {
		t.Errorf("weighted Needs = %v, want %v", got, want)
	}
}

func TestNormalizeKnownValues(t *testing.T) {
	c4 := []int{10, 11, 12, 13}
	inf := math.Inf(1)
	tests := []struct {
		kind   string
		scores []float64
		cands  []int
		want   []float64
	}{
		{NormRank, []float64{3, 1, 4, 2}, c4, []float64{2.0 / 3, 0, 1, 1.0 / 3}},
		{NormRank, []float64{5, 1, 5, 2}, c4, []float64{2.5 / 3, 0, 2.5 / 3, 1.0 / 3}}, // tie shares mean rank
		{NormRank, []float64{7, 7, 7, 7}, c4, []float64{0.5, 0.5, 0.5, 0.5}},
		{NormRank, []float64{-inf, 0, inf, 1}, c4, []float64{0, 1.0 / 3, 1, 2.0 / 3}},
		{NormRank, []float64{42}, []int{3}, []float64{0.5}},
		{NormMinMax, []float64{2, 4, 6, 10}, c4, []float64{0, 0.25, 0.5, 1}},
		{NormMinMax, []float64{-1, -1, -1, -1}, c4, []float64{0, 0, 0, 0}},
		{NormZScore, []float64{1, 3, 5, 7}, c4, []float64{-3 / math.Sqrt(5), -1 / math.Sqrt(5), 1 / math.Sqrt(5), 3 / math.Sqrt(5)}},
		{NormZScore, []float64{2, 2, 2, 2}, c4, []float64{0, 0, 0, 0}},
		{NormZScore, nil, nil, []float64{}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s%v", tc.kind, tc.scores), func(t *testing.T) {
			got, err := Normalize(tc.kind, tc.scores, tc.cands)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if math.Abs(got[i]-tc.want[i]) > 1e-12 {
					t.Errorf("[%d] = %.15g, want %.15g", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestNormalizeErrors(t *testing.T) {
	c := []int{10, 11, 12}
	tests := []struct {
		kind   string
		scores []float64
		want   []string
	}{
		{NormRank, []float64{1, math.NaN(), 2}, []string{"pool index 11", "NaN"}},
		{NormMinMax, []float64{1, math.Inf(1), 2}, []string{"pool index 11", "+Inf", "rank"}},
		{NormZScore, []float64{math.Inf(-1), 1, 2}, []string{"pool index 10", "-Inf"}},
		{"softmax", []float64{1, 2, 3}, []string{`"softmax"`, "rank", "minmax", "zscore"}},
		{NormRank, []float64{1, 2}, []string{"2 scores", "3 candidates"}},
	}
	for _, tc := range tests {
		_, err := Normalize(tc.kind, tc.scores, c)
		if err == nil {
			t.Errorf("Normalize(%s, %v) succeeded", tc.kind, tc.scores)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Normalize(%s, %v): error %q does not mention %q", tc.kind, tc.scores, err, w)
			}
		}
	}
}

func TestWeightedKnownRanking(t *testing.T) {
	a := []any{1, 2, 3, 4}     // rank: 0, 1/3, 2/3, 1
	b := []any{40, 30, 20, 10} // rank: 1, 2/3, 1/3, 0
	term := func(scores []any, w any) map[string]any {
		m := map[string]any{"name": "test_fixed_scores", "options": map[string]any{"scores": scores}}
		if w != nil {
			m["weight"] = w
		}
		return m
	}
	cands := []int{0, 1, 2, 3}
	tests := []struct {
		name   string
		opts   map[string]any
		scores []float64
		top    []int
	}{
		{"equal weights cancel", map[string]any{"terms": []any{term(a, nil), term(b, nil)}},
			[]float64{1, 1, 1, 1}, []int{0, 1, 2, 3}},
		{"a weighs double", map[string]any{"terms": []any{term(a, 2), term(b, 1)}},
			[]float64{1, 4.0 / 3, 5.0 / 3, 2}, []int{3, 2, 1, 0}},
		{"b weighs double", map[string]any{"terms": []any{term(a, 1.0), term(b, 2.0)}},
			[]float64{2, 5.0 / 3, 4.0 / 3, 1}, []int{0, 1, 2, 3}},
		{"negative weight subtracts", map[string]any{"terms": []any{term(a, 1), term(b, -1)}},
			[]float64{-1, -1.0 / 3, 1.0 / 3, 1}, []int{3, 2, 1, 0}},
		// minmax: a -> 0, 1/3, 2/3, 1; c = [0, 0, 10, 1] -> 0, 0, 1, 0.1
		{"minmax", map[string]any{"normalize": "minmax", "terms": []any{term(a, 1), term([]any{0, 0, 10, 1}, 1)}},
			[]float64{0, 1.0 / 3, 5.0 / 3, 1.1}, []int{2, 3, 1, 0}},
		// zscore of a: (x - 2.5) / sqrt(1.25)
		{"zscore single", map[string]any{"normalize": "zscore", "terms": []any{term(a, 3)}},
			[]float64{-4.5 / math.Sqrt(1.25), -1.5 / math.Sqrt(1.25), 1.5 / math.Sqrt(1.25), 4.5 / math.Sqrt(1.25)}, []int{3, 2, 1, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New("weighted", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			q := Query{Candidates: cands, K: 4, RNG: seeded(1, 2)}
			sc, ok := s.(Scorer)
			if !ok {
				t.Fatal("weighted is not a Scorer")
			}
			got, err := sc.Score(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if math.Abs(got[i]-tc.scores[i]) > 1e-12 {
					t.Errorf("score[%d] = %.15g, want %.15g", i, got[i], tc.scores[i])
				}
			}
			sel, err := s.Select(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sel, tc.top) {
				t.Errorf("Select = %v, want %v", sel, tc.top)
			}
		})
	}
}

func TestWeightedFeedsPrefilter(t *testing.T) {
	// weighted (a rank-sum scorer) as the first stage of a prefilter.
	s, err := New("prefilter", map[string]any{
		"first": map[string]any{"name": "weighted", "options": map[string]any{"terms": []any{
			map[string]any{"name": "test_fixed_scores", "options": map[string]any{"scores": []any{1, 2, 3, 4, 5}}, "weight": 1},
			map[string]any{"name": "test_fixed_scores", "options": map[string]any{"scores": []any{5, 1, 2, 3, 4}}, "weight": 1},
		}}},
		"then": map[string]any{"name": "test_fixed_scores", "options": map[string]any{"scores": []any{0, 0, 9, 0, 1}}},
		"keep": 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	// ranks a: 0, .25, .5, .75, 1; b: 1, 0, .25, .5, .75 -> sums 1, .25, .75, 1.25, 1.75:
	// kept {3, 4}; then picks 4 (score 1 > 0), although it prefers 2 overall.
	got, err := s.Select(context.Background(), Query{Candidates: []int{0, 1, 2, 3, 4}, K: 1, RNG: seeded(1, 2)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int{4}) {
		t.Errorf("Select = %v, want [4]", got)
	}
}

func TestWeightedScoreErrorsNameTheTerm(t *testing.T) {
	w := &Weighted{Normalize: NormMinMax, Terms: []WeightedTerm{
		{Scorer: fixedScorer{scores: []float64{1, 2}}, Weight: 1},
		{Scorer: fixedScorer{scores: []float64{1, math.Inf(1)}}, Weight: 1},
	}}
	_, err := w.Score(context.Background(), Query{Candidates: []int{0, 1}, K: 1, RNG: seeded(1, 2)})
	if err == nil || !strings.Contains(err.Error(), "terms[1]") || !strings.Contains(err.Error(), "pool index 1") {
		t.Errorf("error = %v, want it to name terms[1] and pool index 1", err)
	}
}

func TestCompositionConfigErrors(t *testing.T) {
	ent := map[string]any{"name": "entropy"}
	tests := []struct {
		name     string
		strategy string
		opts     map[string]any
		path     string
		want     string
	}{
		{"then unknown", "prefilter", map[string]any{"first": ent, "then": map[string]any{"name": "nope"}}, "options.then.name", `unknown strategy "nope"`},
		{"then missing", "prefilter", map[string]any{"first": ent}, "options.then", "missing"},
		{"first missing", "prefilter", map[string]any{"then": ent}, "options.first", "missing"},
		{"first not a scorer", "prefilter", map[string]any{"first": "random", "then": ent}, "options.first.name", "no per-sample score"},
		{"then not a mapping", "prefilter", map[string]any{"first": ent, "then": 3}, "options.then", "expected a strategy"},
		{"then without name", "prefilter", map[string]any{"first": ent, "then": map[string]any{"options": map[string]any{}}}, "options.then.name", "missing"},
		{"then misspelt key", "prefilter", map[string]any{"first": ent, "then": map[string]any{"nmae": "entropy"}}, "options.then.nmae", "known keys: name, options"},
		{"then options not a mapping", "prefilter", map[string]any{"first": ent, "then": map[string]any{"name": "entropy", "options": []any{1}}}, "options.then.options", "mapping"},
		{"nested unknown option", "prefilter", map[string]any{"first": ent, "then": map[string]any{"name": "entropy", "options": map[string]any{"temperature": 2}}}, "options.then.options.temperature", `no option "temperature"`},
		{"two levels deep", "prefilter", map[string]any{"first": ent, "then": map[string]any{"name": "prefilter", "options": map[string]any{
			"first": ent, "then": map[string]any{"name": "nope"}}}}, "options.then.options.then.name", `unknown strategy "nope"`},
		{"nested constructor error", "prefilter", map[string]any{"first": ent, "then": map[string]any{"name": "prefilter", "options": map[string]any{
			"first": ent, "then": ent, "keep": -1}}}, "options.then.options.keep", ">= 0"},
		{"keep negative", "prefilter", map[string]any{"first": ent, "then": ent, "keep": -2}, "options.keep", "-2"},
		{"keep not an integer", "prefilter", map[string]any{"first": ent, "then": ent, "keep": "ten"}, "options.keep", "integer"},
		{"keep_factor below 1", "prefilter", map[string]any{"first": ent, "then": ent, "keep_factor": 0.5}, "options.keep_factor", ">= 1"},
		{"unknown prefilter option", "prefilter", map[string]any{"first": ent, "then": ent, "beta": 10}, "options.beta", "known options: first, then, keep, keep_factor"},
		{"terms missing", "weighted", nil, "options.terms", "non-empty list"},
		{"terms empty", "weighted", map[string]any{"terms": []any{}}, "options.terms", "non-empty list"},
		{"term unknown", "weighted", map[string]any{"terms": []any{ent, map[string]any{"name": "nope"}}}, "options.terms[1].name", `unknown strategy "nope"`},
		{"term not a scorer", "weighted", map[string]any{"terms": []any{"random"}}, "options.terms[0].name", "no per-sample score"},
		{"term weight not a number", "weighted", map[string]any{"terms": []any{map[string]any{"name": "entropy", "weight": "heavy"}}}, "options.terms[0].weight", "number"},
		{"term weight NaN", "weighted", map[string]any{"terms": []any{map[string]any{"name": "entropy", "weight": math.NaN()}}}, "options.terms[0].weight", "finite"},
		{"all weights zero", "weighted", map[string]any{"terms": []any{map[string]any{"name": "entropy", "weight": 0}}}, "options.terms", "every weight is 0"},
		{"term unknown key", "weighted", map[string]any{"terms": []any{map[string]any{"name": "entropy", "wieght": 2}}}, "options.terms[0].wieght", "known keys: name, options, weight"},
		{"normalize unknown", "weighted", map[string]any{"terms": []any{ent}, "normalize": "softmax"}, "options.normalize", `"softmax"`},
		{"prefilter term weight inside prefilter", "prefilter", map[string]any{"first": map[string]any{"name": "entropy", "weight": 2}, "then": ent}, "options.first.weight", "known keys: name, options"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.strategy, tc.opts)
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %q is not a *ConfigError", err)
			}
			if ce.Path != tc.path {
				t.Errorf("path = %q, want %q (error %q)", ce.Path, tc.path, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestCheckSelection(t *testing.T) {
	q := Query{Candidates: []int{3, 5, 7, 9}, Labeled: []int{1, 2}, K: 2}
	tests := []struct {
		sel  []int
		want string
	}{
		{[]int{9, 3}, ""},
		{[]int{9}, "returned 1 indices, but k = 2"},
		{[]int{9, 3, 5}, "returned 3"},
		{[]int{5, 5}, "pool index 5 is returned twice"},
		{[]int{5, 2}, "pool index 2 (position 1) is already labeled"},
		{[]int{4, 5}, "pool index 4 (position 0) is not among this round's 4 candidates"},
	}
	for _, tc := range tests {
		err := q.CheckSelection(tc.sel)
		if tc.want == "" {
			if err != nil {
				t.Errorf("CheckSelection(%v) = %v", tc.sel, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckSelection(%v) = %v, want %q", tc.sel, err, tc.want)
		}
	}
}
