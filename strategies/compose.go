package strategies

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/alrl/alrl/learner"
)

// Composition: strategies built from other strategies in the config, with no
// code. A nested strategy is written like a top-level one, {name, options},
// inside the options of the composite:
//
//	- name: prefilter
//	  options:
//	    first: {name: entropy}
//	    keep_factor: 10
//	    then: {name: coreset}
//
// prefilter scores every candidate with `first`, keeps the best and lets
// `then` choose among those; weighted sums normalised scores of several
// scorers and is itself a scorer, so it can feed prefilter.

// ConfigError locates a problem inside one strategy's config. Path is
// relative to the strategy's entry ({name, label, options}), for example
// "options.then.name"; the experiment config prefixes it with
// "strategies[i].".
type ConfigError struct {
	Path string
	Err  error
}

// Error returns "path: problem".
func (e *ConfigError) Error() string { return e.Path + ": " + e.Err.Error() }

// Unwrap returns the underlying problem.
func (e *ConfigError) Unwrap() error { return e.Err }

func located(path string, format string, args ...any) error {
	return &ConfigError{Path: path, Err: fmt.Errorf(format, args...)}
}

// asMap converts a decoded YAML mapping into map[string]any.
func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, x := range m {
			ks, ok := k.(string)
			if !ok {
				return nil, false
			}
			out[ks] = x
		}
		return out, true
	}
	return nil, false
}

// NewNested builds the strategy that a nested config value describes: a
// mapping {name: NAME, options: {...}} (or just the name as a string) found
// inside another strategy's options. path locates the value relative to the
// enclosing strategy (e.g. "options.then"); every error is a *ConfigError
// whose Path starts with it. Keys other than name and options are rejected
// unless listed in extra, in which case their values are returned.
func NewNested(path string, v any, extra ...string) (Strategy, map[string]any, error) {
	if v == nil {
		return nil, nil, located(path, "missing: give a strategy as {name: NAME, options: {...}}")
	}
	if name, ok := v.(string); ok {
		v = map[string]any{"name": name}
	}
	m, ok := asMap(v)
	if !ok {
		return nil, nil, located(path, "expected a strategy as {name: NAME, options: {...}}, got %v", v)
	}
	rest := map[string]any{}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != "name" && k != "options" && !slices.Contains(extra, k) {
			known := append([]string{"name", "options"}, extra...)
			return nil, nil, located(path+"."+k, "unknown key; known keys: %s", strings.Join(known, ", "))
		}
		if slices.Contains(extra, k) {
			rest[k] = m[k]
		}
	}
	name, ok := m["name"].(string)
	if !ok || name == "" {
		return nil, nil, located(path+".name", "missing or not a string: name the strategy (see `alrl list strategies`)")
	}
	if _, err := Lookup(name); err != nil {
		return nil, nil, &ConfigError{Path: path + ".name", Err: err}
	}
	var opts map[string]any
	if o, present := m["options"]; present && o != nil {
		if opts, ok = asMap(o); !ok {
			return nil, nil, located(path+".options", "expected a mapping of option names to values, got %v", o)
		}
	}
	s, err := New(name, opts)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			return nil, nil, &ConfigError{Path: path + "." + ce.Path, Err: ce.Err}
		}
		return nil, nil, &ConfigError{Path: path + ".options", Err: err}
	}
	return s, rest, nil
}

// nestedScorer is NewNested for a value that must be a Scorer.
func nestedScorer(path string, v any, extra ...string) (Scorer, map[string]any, error) {
	s, rest, err := NewNested(path, v, extra...)
	if err != nil {
		return nil, nil, err
	}
	sc, ok := s.(Scorer)
	if !ok {
		return nil, nil, located(path+".name", "strategy %s has no per-sample score, so it cannot be used here; choose a scoring strategy (e.g. entropy, margin, least_confidence)", s.Name())
	}
	return sc, rest, nil
}

// needsOf returns the capabilities a strategy declares (none when it is not a Needer).
func needsOf(s Strategy) []learner.Capability {
	if n, ok := s.(Needer); ok {
		return n.Needs()
	}
	return nil
}

// unionNeeds merges capability lists, keeping first-seen order.
func unionNeeds(lists ...[]learner.Capability) []learner.Capability {
	var out []learner.Capability
	for _, l := range lists {
		for _, c := range l {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// CheckSelection validates a strategy's answer to q: exactly q.K pool
// indices, no duplicates, none labeled, all among q.Candidates. The error
// names the first offending index.
func (q Query) CheckSelection(sel []int) error {
	if len(sel) != q.K {
		return fmt.Errorf("returned %d indices, but k = %d", len(sel), q.K)
	}
	cand := make(map[int]bool, len(q.Candidates))
	for _, c := range q.Candidates {
		cand[c] = true
	}
	labeled := make(map[int]bool, len(q.Labeled))
	for _, l := range q.Labeled {
		labeled[l] = true
	}
	pos := make(map[int]int, len(sel))
	for i, s := range sel {
		if j, dup := pos[s]; dup {
			return fmt.Errorf("pool index %d is returned twice (positions %d and %d)", s, j, i)
		}
		pos[s] = i
		if labeled[s] {
			return fmt.Errorf("pool index %d (position %d) is already labeled", s, i)
		}
		if !cand[s] {
			return fmt.Errorf("pool index %d (position %d) is not among this round's %d candidates", s, i, len(q.Candidates))
		}
	}
	return nil
}

// Prefilter scores every candidate with First, keeps the Keep best (or
// ceil(KeepFactor * k) when Keep is 0) and lets Then choose the batch among
// them: the "filter by informativeness, then diversify" pattern of Zhdanov
// (2019) and of many hybrid methods, expressed without code.
type Prefilter struct {
	First      Scorer
	Then       Strategy
	Keep       int
	KeepFactor float64
}

// Name returns "prefilter".
func (*Prefilter) Name() string { return "prefilter" }

// Needs is the union of what First and Then declare.
func (p *Prefilter) Needs() []learner.Capability {
	return unionNeeds(needsOf(p.First), needsOf(p.Then))
}

// KeepFor returns how many candidates survive the filter for query size k.
func (p *Prefilter) KeepFor(k int) int {
	if p.Keep > 0 {
		return p.Keep
	}
	return int(math.Ceil(p.KeepFactor * float64(k)))
}

// Select keeps the candidates that First scores highest and returns Then's
// choice among them. Then sees the kept candidates sorted by pool index.
func (p *Prefilter) Select(ctx context.Context, q Query) ([]int, error) {
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("prefilter: %w", err)
	}
	n := p.KeepFor(q.K)
	if n < q.K {
		return nil, fmt.Errorf("prefilter: keeps %d candidates, fewer than k = %d; raise keep (or keep_factor to at least 1)", n, q.K)
	}
	kept := q.Candidates
	if n < len(q.Candidates) {
		scores, err := p.First.Score(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("prefilter: first (%s): %w", p.First.Name(), err)
		}
		top, err := TopK(scores, q.Candidates, n)
		if err != nil {
			return nil, fmt.Errorf("prefilter: first (%s): %w", p.First.Name(), err)
		}
		sort.Ints(top)
		kept = top
	}
	inner := q
	inner.Candidates = kept
	sel, err := p.Then.Select(ctx, inner)
	if err != nil {
		return nil, fmt.Errorf("prefilter: then (%s): %w", p.Then.Name(), err)
	}
	if err := inner.CheckSelection(sel); err != nil {
		return nil, fmt.Errorf("prefilter: then (%s) %w", p.Then.Name(), err)
	}
	return sel, nil
}

// Normalisations accepted by Normalize and the weighted strategy.
const (
	NormRank   = "rank"   // mid-rank scaled to [0, 1]; robust to outliers and infinities
	NormMinMax = "minmax" // (s - min) / (max - min)
	NormZScore = "zscore" // (s - mean) / std (population std)
)

// Normalize rescales scores so that scores of different strategies can be
// added: rank gives (mid-rank - 1) / (n - 1) in [0, 1] (ties share their
// mean rank; a single score is 0.5), minmax maps the lowest score to 0 and
// the highest to 1, zscore subtracts the mean and divides by the population
// standard deviation. Constant scores give 0 under minmax and zscore. A NaN
// is an error naming the candidate's pool index, and so is an infinity
// under minmax and zscore. Higher stays better under all three.
func Normalize(kind string, scores []float64, candidates []int) ([]float64, error) {
	if len(scores) != len(candidates) {
		return nil, fmt.Errorf("normalize: %d scores for %d candidates", len(scores), len(candidates))
	}
	for i, s := range scores {
		if math.IsNaN(s) {
			return nil, fmt.Errorf("score of pool index %d is NaN", candidates[i])
		}
		if math.IsInf(s, 0) && kind != NormRank {
			return nil, fmt.Errorf("score of pool index %d is %v, which %s cannot scale; use normalize: rank", candidates[i], s, kind)
		}
	}
	n := len(scores)
	out := make([]float64, n)
	if n == 0 {
		return out, nil
	}
	switch kind {
	case NormRank:
		if n == 1 {
			out[0] = 0.5
			return out, nil
		}
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] < scores[order[b]] })
		for i := 0; i < n; {
			j := i
			for j+1 < n && scores[order[j+1]] == scores[order[i]] {
				j++
			}
			mid := float64(i+j) / 2 // 0-based mean rank of the tie group
			for r := i; r <= j; r++ {
				out[order[r]] = mid / float64(n-1)
			}
			i = j + 1
		}
	case NormMinMax:
		lo, hi := slices.Min(scores), slices.Max(scores)
		if hi > lo {
			for i, s := range scores {
				out[i] = (s - lo) / (hi - lo)
			}
		}
	case NormZScore:
		mean := 0.0
		for _, s := range scores {
			mean += s
		}
		mean /= float64(n)
		v := 0.0
		for _, s := range scores {
			v += (s - mean) * (s - mean)
		}
		std := math.Sqrt(v / float64(n))
		if std > 0 {
			for i, s := range scores {
				out[i] = (s - mean) / std
			}
		}
	default:
		return nil, fmt.Errorf("normalize: %q is not one of %s, %s, %s", kind, NormRank, NormMinMax, NormZScore)
	}
	return out, nil
}

// WeightedTerm is one scorer of a weighted sum.
type WeightedTerm struct {
	Scorer Scorer
	Weight float64
}

// Weighted scores each candidate by sum_j w_j * normalize(s_j), a weighted
// sum of several scorers' normalised scores, and selects the top k. It is a
// Scorer itself, so it can be the first stage of a prefilter.
type Weighted struct {
	Terms     []WeightedTerm
	Normalize string
}

// Name returns "weighted".
func (*Weighted) Name() string { return "weighted" }

// Needs is the union of the terms' needs.
func (w *Weighted) Needs() []learner.Capability {
	var lists [][]learner.Capability
	for _, t := range w.Terms {
		lists = append(lists, needsOf(t.Scorer))
	}
	return unionNeeds(lists...)
}

// Score returns the weighted sum of the terms' normalised scores.
func (w *Weighted) Score(ctx context.Context, q Query) ([]float64, error) {
	sum := make([]float64, len(q.Candidates))
	for j, t := range w.Terms {
		s, err := t.Scorer.Score(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("weighted: terms[%d] (%s): %w", j, t.Scorer.Name(), err)
		}
		z, err := Normalize(w.Normalize, s, q.Candidates)
		if err != nil {
			return nil, fmt.Errorf("weighted: terms[%d] (%s): %w", j, t.Scorer.Name(), err)
		}
		for i, v := range z {
			sum[i] += t.Weight * v
		}
	}
	return sum, nil
}

// Select returns the k candidates with the highest weighted score.
func (w *Weighted) Select(ctx context.Context, q Query) ([]int, error) {
	return scoreSelect(ctx, w, q)
}

func newPrefilter(o Options) (Strategy, error) {
	first, _, err := nestedScorer("options.first", o.Value("first"))
	if err != nil {
		return nil, err
	}
	then, _, err := NewNested("options.then", o.Value("then"))
	if err != nil {
		return nil, err
	}
	keep, err := o.Int("keep")
	if err != nil {
		return nil, &ConfigError{Path: "options.keep", Err: err}
	}
	factor, err := o.Float("keep_factor")
	if err != nil {
		return nil, &ConfigError{Path: "options.keep_factor", Err: err}
	}
	if keep < 0 {
		return nil, located("options.keep", "must be >= 0 (0 = use keep_factor), got %d", keep)
	}
	if keep == 0 && (factor < 1 || math.IsInf(factor, 0) || math.IsNaN(factor)) {
		return nil, located("options.keep_factor", "must be a finite number >= 1 (it keeps keep_factor * k candidates), got %v", factor)
	}
	return &Prefilter{First: first, Then: then, Keep: keep, KeepFactor: factor}, nil
}

func newWeighted(o Options) (Strategy, error) {
	norm, err := o.String("normalize")
	if err != nil {
		return nil, &ConfigError{Path: "options.normalize", Err: err}
	}
	if norm != NormRank && norm != NormMinMax && norm != NormZScore {
		return nil, located("options.normalize", "%q is not one of %s (default), %s, %s", norm, NormRank, NormMinMax, NormZScore)
	}
	raw := o.Value("terms")
	list, ok := raw.([]any)
	if !ok || len(list) == 0 {
		return nil, located("options.terms", "expected a non-empty list of {name, options, weight}, got %v", raw)
	}
	w := &Weighted{Normalize: norm}
	allZero := true
	for j, v := range list {
		path := fmt.Sprintf("options.terms[%d]", j)
		sc, rest, err := nestedScorer(path, v, "weight")
		if err != nil {
			return nil, err
		}
		weight := 1.0
		if x, present := rest["weight"]; present && x != nil {
			switch n := x.(type) {
			case int:
				weight = float64(n)
			case int64:
				weight = float64(n)
			case uint64:
				weight = float64(n)
			case float64:
				weight = n
			default:
				return nil, located(path+".weight", "expected a number, got %v", x)
			}
		}
		if math.IsNaN(weight) || math.IsInf(weight, 0) {
			return nil, located(path+".weight", "must be finite, got %v", weight)
		}
		if weight != 0 {
			allZero = false
		}
		w.Terms = append(w.Terms, WeightedTerm{Scorer: sc, Weight: weight})
	}
	if allZero {
		return nil, located("options.terms", "every weight is 0, so every candidate would score the same")
	}
	return w, nil
}

func init() {
	Register(Info{
		Name:        "prefilter",
		Description: "keep the candidates one scorer ranks highest, then let another strategy choose among them (e.g. entropy, then coreset)",
		Options: []Option{
			{Name: "first", Doc: "scoring strategy {name, options} that ranks all candidates (required)"},
			{Name: "then", Doc: "strategy {name, options} that chooses the batch among the kept candidates (required)"},
			{Name: "keep", Default: 0, Doc: "candidates kept; 0 = keep_factor * k"},
			{Name: "keep_factor", Default: 10.0, Doc: "candidates kept per acquired sample when keep is 0 (Zhdanov 2019's beta)"},
		},
		New: newPrefilter,
	})
	Register(Info{
		Name:        "weighted",
		Description: "weighted sum of several scorers' normalised scores; a scorer itself",
		Options: []Option{
			{Name: "terms", Doc: "list of scoring strategies {name, options, weight (default 1)} (required)"},
			{Name: "normalize", Default: NormRank, Doc: "per-term normalisation: rank (robust), minmax or zscore"},
		},
		New: newWeighted,
	})
}

// SelectsTopK marks Select as the top k of Score.
func (*Weighted) SelectsTopK() {}
