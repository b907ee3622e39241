// Package features builds what a learned acquisition policy sees: one
// feature vector per candidate, computed from the learner's capabilities
// (class probabilities, MC samples, embeddings) and from any registered
// strategy's score, plus a global state vector. The feature list is
// configured by name; it is pure Go and knows no tensor library.
package features

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/strategies"
)

// StrategyPrefix makes a registered Scorer's score a feature: "strategy:entropy".
const StrategyPrefix = "strategy:"

// Built-in candidate features. Every one is scale-free, so that a policy
// trained on one data set can be applied to another.
var builtins = []struct {
	name, doc string
	needs     learner.Capability
}{
	{"max_prob", "largest class probability (the learner's confidence)", learner.CapProbs},
	{"margin", "gap between the two largest class probabilities", learner.CapProbs},
	{"entropy", "predictive entropy divided by ln C", learner.CapProbs},
	{"bald", "BALD mutual information from MC samples, divided by ln C", learner.CapMCDropout},
	{"pred_class", "one-hot predicted class (C columns)", learner.CapProbs},
	{"pred_class_share", "share of the labeled set that has the candidate's predicted class", learner.CapProbs},
	{"knn_dist", "distance to the nearest labeled sample in embedding space, over the mean of that distance on the reference set", learner.CapEmbeddings},
	{"density", "mean cosine similarity to the reference set in embedding space (information density)", learner.CapEmbeddings},
}

// GlobalNames lists the global state entries for c classes.
func GlobalNames(c int) []string {
	out := []string{"budget_used", "budget_left", "val_acc", "mean_confidence"}
	for k := 0; k < c; k++ {
		out = append(out, fmt.Sprintf("class_hist[%d]", k))
	}
	return out
}

// Available lists the feature names that can be configured now: the
// built-ins and strategy:<name> for every registered Scorer.
func Available() []string {
	var out []string
	for _, b := range builtins {
		out = append(out, b.name)
	}
	for _, n := range strategies.Names() {
		s, err := strategies.New(n, nil)
		if err != nil {
			continue
		}
		if _, ok := s.(strategies.Scorer); ok {
			out = append(out, StrategyPrefix+n)
		}
	}
	return out
}

// Doc returns a one-line description of a configured feature name.
func Doc(name string) string {
	for _, b := range builtins {
		if b.name == name {
			return b.doc
		}
	}
	if s, ok := strings.CutPrefix(name, StrategyPrefix); ok {
		return "percentile rank of strategy " + s + "'s score among the reference set"
	}
	return ""
}

// MaxReference bounds the reference set that density, knn_dist's scale and
// the strategy percentiles compare with; a larger one is subsampled.
const MaxReference = 256

// Options tune the features.
type Options struct {
	MCSamples int // MC samples for bald [10]
}

// Builder computes the configured features; it implements envs.FeatureBuilder.
type Builder struct {
	spec    []string // configured names
	names   []string // expanded column names
	c       int
	opts    Options
	scorers map[string]strategies.Scorer
	needs   []learner.Capability
}

// New validates the configured feature names for a c-class problem. An
// unknown name, or a strategy that has no per-sample score, is an error
// that lists what is available.
func New(spec []string, c int, opts Options) (*Builder, error) {
	if len(spec) == 0 {
		return nil, fmt.Errorf("features: the list is empty; choose from %s", strings.Join(Available(), ", "))
	}
	if c < 1 {
		return nil, fmt.Errorf("features: %d classes", c)
	}
	if opts.MCSamples == 0 {
		opts.MCSamples = 10
	}
	if opts.MCSamples < 2 {
		return nil, fmt.Errorf("features: mc_samples must be >= 2, got %d", opts.MCSamples)
	}
	b := &Builder{spec: append([]string(nil), spec...), c: c, opts: opts, scorers: map[string]strategies.Scorer{}}
	seen := map[string]bool{}
	need := map[learner.Capability]bool{}
	for i, name := range spec {
		if seen[name] {
			return nil, fmt.Errorf("features[%d]: %q is listed twice", i, name)
		}
		seen[name] = true
		if sname, ok := strings.CutPrefix(name, StrategyPrefix); ok {
			s, err := strategies.New(sname, nil)
			if err != nil {
				return nil, fmt.Errorf("features[%d]: %q: %w", i, name, err)
			}
			sc, ok := s.(strategies.Scorer)
			if !ok {
				return nil, fmt.Errorf("features[%d]: strategy %s has no per-sample score (it is not a Scorer), so it cannot be a feature; available: %s", i, sname, strings.Join(Available(), ", "))
			}
			b.scorers[name] = sc
			if n, ok := s.(strategies.Needer); ok {
				for _, c := range n.Needs() {
					need[c] = true
				}
			}
			b.names = append(b.names, name)
			continue
		}
		found := false
		for _, bi := range builtins {
			if bi.name == name {
				found, need[bi.needs] = true, true
			}
		}
		if !found {
			return nil, fmt.Errorf("features[%d]: unknown feature %q; available: %s (strategy:<name> for any registered scoring strategy)", i, name, strings.Join(Available(), ", "))
		}
		if name == "pred_class" {
			for k := 0; k < c; k++ {
				b.names = append(b.names, fmt.Sprintf("pred_class[%d]", k))
			}
		} else {
			b.names = append(b.names, name)
		}
	}
	for cp := range need {
		b.needs = append(b.needs, cp)
	}
	sort.Slice(b.needs, func(i, j int) bool { return b.needs[i] < b.needs[j] })
	return b, nil
}

// Spec returns the configured names (before pred_class is expanded).
func (b *Builder) Spec() []string { return append([]string(nil), b.spec...) }

// Names returns the column names of the feature matrix.
func (b *Builder) Names() []string { return append([]string(nil), b.names...) }

// GlobalNames returns the names of the global state entries.
func (b *Builder) GlobalNames() []string { return GlobalNames(b.c) }

// NumClasses returns the class count the builder was made for.
func (b *Builder) NumClasses() int { return b.c }

// Needs returns the learner capabilities the features use.
func (b *Builder) Needs() []learner.Capability { return append([]learner.Capability(nil), b.needs...) }

// Input is what features are computed from: the model, the candidates and
// the episode state (whose Reference set anchors density and percentiles).
type Input struct {
	Model      strategies.Model
	Candidates []int
	Episode    envs.Episode
	RNG        *rand.Rand
}

// Build computes the features of an observation (envs.FeatureBuilder).
func (b *Builder) Build(ctx context.Context, obs envs.Observation) (*envs.Features, error) {
	if obs.Model == nil {
		return nil, fmt.Errorf("features: the observation has no model")
	}
	return b.Compute(ctx, Input{Model: obs.Model, Candidates: obs.Candidates, Episode: obs.Episode(), RNG: obs.RNG})
}

// Compute builds the feature matrix and the global state for in.
func (b *Builder) Compute(ctx context.Context, in Input) (*envs.Features, error) {
	if n := in.Model.NumClasses(); n != b.c {
		return nil, fmt.Errorf("features: built for %d classes but the learner has %d", b.c, n)
	}
	m := len(in.Candidates)
	ref := in.Episode.Reference
	if len(ref) == 0 {
		ref = in.Candidates
	}
	if len(ref) > MaxReference {
		// A seeded subsample bounds the quadratic cost of density and the
		// percentile ranks when the candidates are the whole pool.
		rng := in.RNG
		if rng == nil {
			rng = rand.New(rand.NewPCG(uint64(len(ref)), 0x5eed))
		}
		perm := rng.Perm(len(ref))[:MaxReference]
		sort.Ints(perm)
		sub := make([]int, len(perm))
		for i, p := range perm {
			sub[i] = ref[p]
		}
		ref = sub
	}
	// Rows: the candidates, then reference rows that are not candidates.
	rows := append([]int(nil), in.Candidates...)
	pos := map[int]int{}
	for i, c := range in.Candidates {
		pos[c] = i
	}
	refPos := make([]int, len(ref))
	for i, r := range ref {
		p, ok := pos[r]
		if !ok {
			p = len(rows)
			pos[r] = p
			rows = append(rows, r)
		}
		refPos[i] = p
	}
	x := mat.NewDense(max(m, 1), len(b.names), nil)
	f := &envs.Features{Names: b.Names(), X: x, GlobalNames: b.GlobalNames()}
	var probs *mat.Dense
	getProbs := func() (*mat.Dense, error) {
		if probs != nil {
			return probs, nil
		}
		p, err := in.Model.Probs(ctx, rows)
		if err != nil {
			return nil, fmt.Errorf("features: %w", err)
		}
		if r, c := p.Dims(); r != len(rows) || c != b.c {
			return nil, fmt.Errorf("features: the learner returned %dx%d probabilities for %d rows and %d classes", r, c, len(rows), b.c)
		}
		probs = p
		return p, nil
	}
	var emb *mat.Dense
	getEmb := func() (*mat.Dense, error) {
		if emb == nil {
			var err error
			if emb, err = in.Model.Embed(ctx, rows); err != nil {
				return nil, fmt.Errorf("features: %w", err)
			}
		}
		return emb, nil
	}
	lnC := math.Log(float64(max(b.c, 2)))
	col := 0
	for _, name := range b.spec {
		var vals [][]float64 // per column, m values
		var err error
		switch name {
		case "max_prob", "margin", "entropy", "pred_class", "pred_class_share":
			var p *mat.Dense
			if p, err = getProbs(); err != nil {
				return nil, err
			}
			vals = probFeature(name, p, m, b.c, lnC, in.Episode.ClassCounts)
		case "bald":
			var s []*mat.Dense
			if s, err = in.Model.MCProbs(ctx, in.Candidates, b.opts.MCSamples); err != nil {
				return nil, fmt.Errorf("features: bald: %w", err)
			}
			vals = [][]float64{bald(s, m, lnC)}
		case "knn_dist":
			var z, zl *mat.Dense
			if z, err = getEmb(); err != nil {
				return nil, err
			}
			if len(in.Episode.Labeled) > 0 {
				if zl, err = in.Model.Embed(ctx, in.Episode.Labeled); err != nil {
					return nil, fmt.Errorf("features: knn_dist: %w", err)
				}
			}
			vals = [][]float64{knnDist(z, zl, m, refPos)}
		case "density":
			var z *mat.Dense
			if z, err = getEmb(); err != nil {
				return nil, err
			}
			vals = [][]float64{density(z, m, refPos)}
		default:
			sc := b.scorers[name]
			rng := in.RNG
			if rng == nil {
				rng = rand.New(rand.NewPCG(1, 2))
			}
			q := strategies.Query{Model: in.Model, Candidates: rows, Labeled: in.Episode.Labeled, K: 1, RNG: rng}
			var s []float64
			if s, err = sc.Score(ctx, q); err != nil {
				return nil, fmt.Errorf("features: %s: %w", name, err)
			}
			if len(s) != len(rows) {
				return nil, fmt.Errorf("features: %s returned %d scores for %d samples", name, len(s), len(rows))
			}
			vals = [][]float64{percentile(s, m, refPos)}
		}
		for _, v := range vals {
			for i := 0; i < m; i++ {
				if math.IsNaN(v[i]) {
					return nil, fmt.Errorf("features: %s of pool index %d is NaN (the model's outputs are probably NaN)", f.Names[col], in.Candidates[i])
				}
				x.Set(i, col, v[i])
			}
			col++
		}
	}
	g, err := b.global(in, refPos, getProbs)
	if err != nil {
		return nil, err
	}
	f.Global = g
	return f, nil
}

func (b *Builder) global(in Input, refPos []int, getProbs func() (*mat.Dense, error)) ([]float64, error) {
	ep := in.Episode
	g := make([]float64, 0, 4+b.c)
	used, left := 0.0, 1.0
	if ep.Budget > 0 {
		used = float64(ep.BudgetUsed) / float64(ep.Budget)
		left = 1 - used
	}
	val := ep.ValAcc
	if math.IsNaN(val) {
		val = 0
	}
	conf := 0.0
	if len(refPos) > 0 {
		p, err := getProbs()
		if err != nil {
			return nil, err
		}
		for _, r := range refPos {
			conf += maxOf(p.RawRowView(r))
		}
		conf /= float64(len(refPos))
	}
	g = append(g, used, left, val, conf)
	total := 0
	for _, n := range ep.ClassCounts {
		total += n
	}
	if len(ep.ClassCounts) != 0 && len(ep.ClassCounts) != b.c {
		return nil, fmt.Errorf("features: the class histogram has %d classes, the builder %d", len(ep.ClassCounts), b.c)
	}
	for k := 0; k < b.c; k++ {
		v := 0.0
		if total > 0 && k < len(ep.ClassCounts) {
			v = float64(ep.ClassCounts[k]) / float64(total)
		}
		g = append(g, v)
	}
	return g, nil
}

func maxOf(row []float64) float64 {
	m := math.Inf(-1)
	for _, v := range row {
		if math.IsNaN(v) {
			return math.NaN()
		}
		m = math.Max(m, v)
	}
	return m
}

func argmax(row []float64) int {
	b := 0
	for i, v := range row {
		if v > row[b] {
			b = i
		}
	}
	return b
}

// probFeature computes the probability-based features of the first m rows.
func probFeature(name string, p *mat.Dense, m, c int, lnC float64, counts []int) [][]float64 {
	switch name {
	case "pred_class":
		out := make([][]float64, c)
		for k := range out {
			out[k] = make([]float64, m)
		}
		for i := 0; i < m; i++ {
			row := p.RawRowView(i)
			if math.IsNaN(maxOf(row)) {
				for k := range out {
					out[k][i] = math.NaN()
				}
				continue
			}
			out[argmax(row)][i] = 1
		}
		return out
	}
	v := make([]float64, m)
	total := 0
	for _, n := range counts {
		total += n
	}
	for i := 0; i < m; i++ {
		row := p.RawRowView(i)
		switch name {
		case "max_prob":
			v[i] = maxOf(row)
		case "margin":
			b1, b2 := math.Inf(-1), 0.0
			for _, x := range row {
				if x > b1 {
					b1, b2 = x, b1
				} else if x > b2 {
					b2 = x
				}
			}
			if math.IsInf(b1, -1) {
				b1 = 0
			}
			v[i] = b1 - b2
			if math.IsNaN(maxOf(row)) {
				v[i] = math.NaN()
			}
		case "entropy":
			v[i] = entropy(row) / lnC
		case "pred_class_share":
			if math.IsNaN(maxOf(row)) {
				v[i] = math.NaN()
			} else if total > 0 && argmax(row) < len(counts) {
				v[i] = float64(counts[argmax(row)]) / float64(total)
			}
		}
	}
	return [][]float64{v}
}

func entropy(row []float64) float64 {
	h := 0.0
	for _, x := range row {
		if x > 0 {
			h -= x * math.Log(x)
		} else if math.IsNaN(x) {
			return math.NaN()
		}
	}
	return h
}

// bald is the mutual information between the prediction and the model
// parameters (Houlsby et al. 2011; Gal et al. 2017): the entropy of the mean
// MC prediction minus the mean entropy of the MC predictions.
func bald(s []*mat.Dense, m int, lnC float64) []float64 {
	out := make([]float64, m)
	if len(s) == 0 {
		return out
	}
	_, c := s[0].Dims()
	mean := make([]float64, c)
	for i := 0; i < m; i++ {
		for k := range mean {
			mean[k] = 0
		}
		eh := 0.0
		for _, st := range s {
			row := st.RawRowView(i)
			for k, v := range row {
				mean[k] += v / float64(len(s))
			}
			eh += entropy(row) / float64(len(s))
		}
		out[i] = math.Max(0, entropy(mean)-eh) / lnC
	}
	return out
}

func sqDist(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		d := a[i] - b[i]
		s += d * d
	}
	return s
}

// knnDist is each candidate's Euclidean distance to its nearest labeled
// sample, divided by the mean of the same distance over the reference set.
func knnDist(z, zl *mat.Dense, m int, refPos []int) []float64 {
	out := make([]float64, m)
	if zl == nil {
		return out
	}
	nl, _ := zl.Dims()
	nearest := func(row []float64) float64 {
		best := math.Inf(1)
		for j := 0; j < nl; j++ {
			best = math.Min(best, sqDist(row, zl.RawRowView(j)))
		}
		return math.Sqrt(best)
	}
	cache := map[int]float64{}
	get := func(p int) float64 {
		if v, ok := cache[p]; ok {
			return v
		}
		v := nearest(z.RawRowView(p))
		cache[p] = v
		return v
	}
	scale := 0.0
	for _, p := range refPos {
		scale += get(p)
	}
	if len(refPos) > 0 {
		scale /= float64(len(refPos))
	}
	if scale <= 0 {
		scale = 1
	}
	for i := 0; i < m; i++ {
		out[i] = get(i) / scale
	}
	return out
}

// density is each candidate's mean cosine similarity to the reference set
// (excluding itself), the information density of Settles & Craven (2008) with beta = 1.
func density(z *mat.Dense, m int, refPos []int) []float64 {
	out := make([]float64, m)
	norm := func(p int) float64 {
		r := z.RawRowView(p)
		s := 0.0
		for _, v := range r {
			s += v * v
		}
		return math.Sqrt(s)
	}
	norms := map[int]float64{}
	for _, p := range refPos {
		norms[p] = norm(p)
	}
	for i := 0; i < m; i++ {
		a := z.RawRowView(i)
		na := norm(i)
		s, n := 0.0, 0
		for _, p := range refPos {
			if p == i {
				continue
			}
			if na > 0 && norms[p] > 0 {
				b := z.RawRowView(p)
				d := 0.0
				for k := range a {
					d += a[k] * b[k]
				}
				s += d / (na * norms[p])
			}
			n++
		}
		if n > 0 {
			out[i] = s / float64(n)
		}
	}
	return out
}

// percentile is each candidate's score rank among the reference scores, in
// [0, 1] (the share of reference samples scoring lower, ties counting half).
func percentile(s []float64, m int, refPos []int) []float64 {
	out := make([]float64, m)
	for i := 0; i < m; i++ {
		lo, eq := 0, 0
		for _, p := range refPos {
			switch {
			case math.IsNaN(s[p]) || math.IsNaN(s[i]):
				out[i] = math.NaN()
			case s[p] < s[i]:
				lo++
			case s[p] == s[i]:
				eq++
			}
		}
		if len(refPos) > 0 && !math.IsNaN(out[i]) {
			out[i] = (float64(lo) + 0.5*float64(eq)) / float64(len(refPos))
		}
	}
	return out
}
