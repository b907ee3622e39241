// Package bench is the strategy speed harness behind `alrl bench`: each
// learner capability and each registered strategy timed on one pool, as a
// table and a CSV.
package bench

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/strategies"
	"github.com/alrl/alrl/trainers"
)

// Config configures the strategy speed harness (`alrl bench`): one
// learner fitted briefly on a few labels, then one query per registered
// strategy and query size on a large pool.
type Config struct {
	Data       datasets.Source           // the data set (mnist, or blobs for the synthetic mode)
	DataDir    string                    // overrides where data files are read from
	Pool       int                       // pool size drawn from the training rows; 0 = all of them
	Labels     int                       // labeled samples the learner is fitted on
	Ks         []int                     // query sizes
	Samples    int                       // T, set on strategies that have a samples option
	Strategies []string                  // strategies to time; empty = every registered one
	Options    map[string]map[string]any // per-strategy options (strategy name -> option -> value)
	Learner    learner.Config            // the learner and its brief training
	Trainer    trainers.Config           // trains the learner on the labeled set (and the unlabeled pool); "" = supervised fit
	Seed       uint64                    // seeds the labeled set, the fit and the strategies
	Timeout    time.Duration             // per query; 0 = none
	// Progress, if set, receives every timing as soon as it is measured.
	Progress func(Timing)
}

// Setting names of Timing.Kind.
const (
	Capability = "capability"
	Strategy   = "strategy"
)

// Statuses of a Timing.
const (
	OK      = "ok"
	Skipped = "skipped"
	Failed  = "error"
)

// Timing is one line of the harness's report: the cost of computing
// one learner capability over the candidates, or of one strategy's query.
type Timing struct {
	Kind string // Capability or Strategy
	Name string // capability or strategy name
	K    int    // query size (strategies)
	Rows int    // samples scored (capabilities)
	T    int    // MC samples (mc_dropout)
	// Seconds is, for a capability, the time to compute it for the
	// candidates; for a strategy, the query time of a real round: its own
	// computation plus the capabilities it used from the precomputed ones.
	Seconds float64
	// OwnSeconds is the strategy's own computation, with the capabilities
	// precomputed (a capability it computed on other samples is included).
	OwnSeconds float64
	PerSecond  float64 // capabilities: samples per second
	// Ratio is Seconds over one deterministic forward pass of the same
	// candidates (the probs capability): what a strategy or capability costs
	// in units of the cheapest possible round.
	Ratio      float64
	Uses       []string // capabilities a strategy took from the precomputed ones
	PeakRSSMiB float64  // peak resident memory of the process during the measurement (NaN if unknown)
	Status     string   // ok, skipped or error
	Note       string   // why a line was skipped or failed
}

// Result is the whole report.
type Result struct {
	Data       string
	Pool       int
	Candidates int
	Labeled    int
	Learner    string
	Threads    int
	FitSeconds float64
	BaseRSSMiB float64 // resident memory after loading, fitting and precomputing
	// ForwardSeconds is one deterministic forward pass over the candidates
	// through the learner (probabilities into Go): every Ratio's unit.
	ForwardSeconds float64
	// BareRows and BareSeconds time the backend's bare batched forward of the
	// same network (inputs prebuilt, logits dropped on the device), if the
	// learner has one; BackendRatio is the learner's samples/s over the bare
	// forward's (1 = no overhead). NaN without one.
	BareRows     int
	BareSeconds  float64
	BackendRatio float64
	Timings      []Timing
}

// Default is `make bench`: the full MNIST training set (60,000) as the
// pool, the foundation's CNN fitted on 100 labels for 10 short epochs,
// k = 10 and 100, T = 20.
func Default() Config {
	l := learner.DefaultConfig()
	l.Train.Epochs = 10
	l.Train.Patience = 0
	return Config{
		Data: datasets.Source{Name: "mnist"}, Labels: 100, Ks: []int{10, 100}, Samples: 20, Learner: l,
	}
}

// Synthetic is the large-pool setting: n tabular samples of dimension
// dim in 10 Gaussian blobs, an MLP whose penultimate layer has dim units (so
// embeddings are n x dim), k = 1,000, timing core-set and BADGE beside
// entropy, the floor.
func Synthetic(n, dim int) Config {
	c := Default()
	c.Data = datasets.Source{Name: "blobs", N: n, Classes: 10, Dim: dim, Noise: 1}
	c.Learner.Model = learner.ModelSpec{Name: "mlp", Hidden: []int{dim}, Dropout: 0.5}
	c.Ks = []int{1000}
	c.Strategies = []string{"coreset", "badge", "entropy"}
	return c
}

// ParseOption parses "strategy.option=value" (value in YAML) into opts.
func ParseOption(opts map[string]map[string]any, s string) error {
	key, val, ok := strings.Cut(s, "=")
	name, opt, ok2 := strings.Cut(key, ".")
	if !ok || !ok2 || name == "" || opt == "" {
		return fmt.Errorf("--opt %q: write strategy.option=value, e.g. bald.samples=50", s)
	}
	var v any
	if err := yaml.Unmarshal([]byte(val), &v); err != nil {
		return fmt.Errorf("--opt %q: the value is not YAML: %v", s, err)
	}
	if opts[name] == nil {
		opts[name] = map[string]any{}
	}
	opts[name][opt] = v
	return nil
}

// samplesOptions are the option names through which strategies take the
// number of MC-dropout samples; the harness sets the first one a strategy has.
var samplesOptions = []string{"samples", "T", "t", "mc_samples", "n_samples"}

// benchStrategy builds a strategy with the harness's options.
func benchStrategy(cfg Config, name string) (strategies.Strategy, error) {
	info, err := strategies.Lookup(name)
	if err != nil {
		return nil, err
	}
	opts := map[string]any{}
	for k, v := range cfg.Options[name] {
		opts[k] = v
	}
	for _, o := range info.Options {
		if !slices.Contains(samplesOptions, o.Name) {
			continue
		}
		if _, set := opts[o.Name]; !set {
			if _, isInt := o.Default.(int); isInt && cfg.Samples > 0 {
				opts[o.Name] = cfg.Samples
			}
		}
		break
	}
	return strategies.New(name, opts)
}

// benchSet is one precomputed capability: its cache key and cost.
type benchSet struct {
	c    learner.Capability
	t    int
	idx  []int
	secs float64
	tag  string
}

// Run runs the harness: it loads the data, fits the learner, computes once
// every capability that the strategies declare (probabilities, MC-dropout
// samples, embeddings) for the candidates and the labeled set, then times
// one query per strategy and k on a copy of that cache. A strategy's query
// time is its own computation plus the precomputed capabilities it used,
// which is what a real round costs (where the strategy computes them itself).
// Strategies that cannot be built with their default options, or need what
// the learner lacks, are reported as skipped; a strategy that fails is
// reported as an error line and the harness goes on.
func Run(ctx context.Context, cfg Config) (Result, error) {
	var res Result
	if len(cfg.Ks) == 0 {
		return res, fmt.Errorf("bench: no query sizes; give --k, e.g. --k 10,100")
	}
	for _, k := range cfg.Ks {
		if k < 1 {
			return res, fmt.Errorf("bench: query size %d: must be >= 1", k)
		}
	}
	if cfg.Labels < 1 {
		return res, fmt.Errorf("bench: --labels must be >= 1, got %d", cfg.Labels)
	}
	names := cfg.Strategies
	if len(names) == 0 {
		names = strategies.Names()
	}
	for name := range cfg.Options {
		if !slices.Contains(names, name) {
			return res, fmt.Errorf("bench: options given for %q, which is not among the strategies timed (%s)", name, strings.Join(names, ", "))
		}
	}
	emit := func(t Timing) {
		res.Timings = append(res.Timings, t)
		if cfg.Progress != nil {
			cfg.Progress(t)
		}
	}

	data, err := datasets.Load(cfg.Data, cfg.DataDir, cfg.Seed)
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	pool := make([]int, data.TrainN)
	for i := range pool {
		pool[i] = i
	}
	rng := envs.RNG(cfg.Seed, 0, "bench/pool")
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	if cfg.Pool > 0 {
		if cfg.Pool > len(pool) {
			return res, fmt.Errorf("bench: --pool %d is larger than the %d training samples of %s", cfg.Pool, len(pool), data.Name)
		}
		pool = pool[:cfg.Pool]
	}
	if cfg.Labels >= len(pool) {
		return res, fmt.Errorf("bench: --labels %d leaves no candidates in a pool of %d", cfg.Labels, len(pool))
	}
	labeled := slices.Clone(pool[:cfg.Labels])
	cands := slices.Clone(pool[cfg.Labels:])
	slices.Sort(cands)
	res.Data, res.Pool, res.Candidates, res.Labeled = data.Name, len(pool), len(cands), len(labeled)
	res.Threads = cfg.Learner.Threads
	if res.Threads == 0 {
		res.Threads = runtime.NumCPU()
	}

	if err := cfg.Learner.Validate(data.Shape, data.NumClasses); err != nil {
		return res, err
	}
	l, err := learner.New(data.Inputs(), data.NumClasses, cfg.Learner)
	if err != nil {
		return res, err
	}
	defer l.Close()
	res.Learner = l.Describe()
	train := learner.Labeled{Idx: labeled, Y: make([]int, len(labeled))}
	for i, j := range labeled {
		train.Y[i] = data.Y[j]
	}
	t0 := time.Now()
	if err := benchFit(ctx, cfg, data, pool, cands, l, train); err != nil {
		return res, err
	}
	res.FitSeconds = time.Since(t0).Seconds()
	// The episode state of a first round whose labeled set is the bench's,
	// for strategies that read it (ALBL); each query gets its own copy.
	ep := strategies.Episode{Round: 1, InitSize: len(labeled), BudgetUsed: len(labeled),
		ValAcc: math.NaN(), ClassCounts: make([]int, data.NumClasses), Labeled: labeled, LabeledY: train.Y}
	for _, y := range train.Y {
		ep.ClassCounts[y]++
	}
	l.Reseed(cfg.Seed)
	base := learner.NewMemo(l)

	// Build every strategy first: what they need decides what is precomputed.
	type entry struct {
		name string
		s    strategies.Strategy
		skip string
	}
	var entries []entry
	needed := map[learner.Capability]bool{}
	for _, name := range names {
		if _, err := strategies.Lookup(name); err != nil {
			entries = append(entries, entry{name: name, skip: "not registered in this binary"})
			continue
		}
		s, err := benchStrategy(cfg, name)
		if err != nil {
			entries = append(entries, entry{name: name, skip: fmt.Sprintf("needs options: %v (give them with --opt %s.OPTION=VALUE)", err, name)})
			continue
		}
		e := entry{name: name, s: s}
		if n, ok := s.(strategies.Needer); ok {
			for _, c := range n.Needs() {
				if by := trainers.TrainedBy(c); by != "" && by != cfg.Trainer.Name {
					e.skip = fmt.Sprintf("needs %q, which only trainer %s trains (time it with --trainer %s)", c, by, by)
					break
				}
				if !learner.Has(l, c) {
					e.skip = fmt.Sprintf("needs %q, which learner %s cannot provide", c, l.Describe())
					break
				}
			}
			_, own := s.(interface{ ScoresInShards() }) // computes its outputs itself, shard by shard
			if e.skip == "" && !own {
				for _, c := range n.Needs() {
					needed[c] = true
				}
			}
		}
		entries = append(entries, e)
	}

	// One deterministic pass over the candidates is every ratio's unit.
	needed[learner.CapProbs] = true
	// Warm up first (libtorch creates its kernels' primitives on the first
	// call), so that no timing below carries that one-off cost.
	warm := cands[:min(len(cands), 1024)]
	if _, err := l.Probs(ctx, warm); err != nil {
		return res, fmt.Errorf("bench: warming up: %w", err)
	}
	if needed[learner.CapMCDropout] && cfg.Samples > 0 {
		if _, err := learner.NewMemo(l).MCProbs(ctx, warm, cfg.Samples); err != nil {
			return res, fmt.Errorf("bench: warming up: %w", err)
		}
	}
	var sets []benchSet
	for _, c := range []learner.Capability{learner.CapProbs, learner.CapMCDropout, learner.CapEmbeddings} {
		if !needed[c] {
			continue
		}
		t := 0
		if c == learner.CapMCDropout {
			t = cfg.Samples
			if t < 1 {
				return res, fmt.Errorf("bench: --samples must be >= 1 when a strategy needs MC dropout, got %d", t)
			}
		}
		for _, set := range []struct {
			idx []int
			tag string
		}{{cands, "candidates"}, {labeled, "labeled"}} {
			t0 := time.Now()
			var err error
			switch c {
			case learner.CapProbs:
				_, err = base.Probs(ctx, set.idx)
			case learner.CapMCDropout:
				_, err = base.MCProbs(ctx, set.idx, t)
			case learner.CapEmbeddings:
				_, err = base.Embed(ctx, set.idx)
			}
			if err != nil {
				return res, fmt.Errorf("bench: computing %s for the %s: %w", c, set.tag, err)
			}
			secs := time.Since(t0).Seconds()
			sets = append(sets, benchSet{c: c, t: t, idx: set.idx, secs: secs, tag: set.tag})
			if set.tag != "candidates" {
				continue
			}
			if c == learner.CapProbs {
				res.ForwardSeconds = secs
			}
			emit(Timing{Kind: Capability, Name: string(c), Rows: len(set.idx), T: t, Seconds: secs,
				PerSecond: float64(len(set.idx)) / secs, Ratio: secs / res.ForwardSeconds, PeakRSSMiB: math.NaN(), Status: OK})
		}
	}
	res.BackendRatio = math.NaN()
	if bf, ok := l.(bareForwarder); ok {
		rows, secs, err := bf.BareForward(ctx, cands)
		if err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		res.BareRows, res.BareSeconds = rows, secs
		res.BackendRatio = (float64(len(cands)) / res.ForwardSeconds) / (float64(rows) / secs)
		emit(Timing{Kind: Capability, Name: "bare_forward", Rows: rows, Seconds: secs, PerSecond: float64(rows) / secs,
			Ratio: secs / res.ForwardSeconds * float64(len(cands)) / float64(rows), PeakRSSMiB: math.NaN(), Status: OK,
			Note: "the backend's batched forward alone: inputs prebuilt, logits left on the device"})
	}
	runtime.GC()
	debug.FreeOSMemory()
	res.BaseRSSMiB = currentRSSMiB()

	for _, e := range entries {
		for ki, k := range cfg.Ks {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			tm := Timing{Kind: Strategy, Name: e.name, K: k, PeakRSSMiB: math.NaN(), Ratio: math.NaN()}
			if ki > 0 && e.skip == "" {
				// A fresh strategy per query: a stateful one (ALBL) would
				// otherwise take this query for the next round of the last.
				if e.s, err = benchStrategy(cfg, e.name); err != nil {
					return res, fmt.Errorf("bench: rebuilding %s: %w", e.name, err)
				}
			}
			switch {
			case e.skip != "":
				tm.Status, tm.Note = Skipped, e.skip
			case k > len(cands):
				tm.Status, tm.Note = Skipped, fmt.Sprintf("k = %d is more than the %d candidates", k, len(cands))
			default:
				benchQuery(ctx, cfg, e.s, base, sets, cands, ep, k, &tm)
			}
			emit(tm)
		}
	}
	return res, nil
}

// benchFit fits the learner on the labeled set: a plain supervised fit, or
// round 0 of cfg.Trainer with the candidates as the unlabeled pool.
func benchFit(ctx context.Context, cfg Config, data *datasets.Dataset, pool, cands []int, l learner.Learner, train learner.Labeled) error {
	if cfg.Trainer.Name == "" {
		if _, err := l.Fit(ctx, train, learner.Labeled{}, cfg.Seed); err != nil {
			return fmt.Errorf("bench: fitting the learner: %w", err)
		}
		return nil
	}
	info, err := trainers.Lookup(cfg.Trainer.Name)
	if err != nil {
		return fmt.Errorf("bench: --trainer: %w", err)
	}
	tr, err := trainers.New(cfg.Trainer, trainers.Setup{Inputs: data.Inputs(), Seed: cfg.Seed, Pool: pool,
		NumClasses: data.NumClasses, Learner: cfg.Learner})
	if err != nil {
		return fmt.Errorf("bench: --trainer: %w", err)
	}
	for _, c := range trainers.NeedsOf(info, tr) {
		if !learner.Has(l, c) {
			return fmt.Errorf("bench: trainer %s needs %q, which learner %s cannot provide; use the torch backend (--backend torch)", info.Name, c, l.Describe())
		}
	}
	memo := learner.NewMemo(l)
	if _, err := tr.Train(ctx, envs.TrainRound{Round: 0, Seed: cfg.Seed, Model: memo, Labeled: train, Unlabeled: cands}); err != nil {
		return fmt.Errorf("bench: trainer %s: %w", info.Name, err)
	}
	return nil
}

// benchQuery times one query of s and fills tm.
func benchQuery(ctx context.Context, cfg Config, s strategies.Strategy, base *learner.Memo, sets []benchSet, cands []int, ep strategies.Episode, k int, tm *Timing) {
	memo := base.Clone()
	ep.K, ep.Budget = k, ep.BudgetUsed+k
	ep.ClassCounts, ep.Labeled, ep.LabeledY = slices.Clone(ep.ClassCounts), slices.Clone(ep.Labeled), slices.Clone(ep.LabeledY)
	q := strategies.Query{Model: memo, Candidates: cands, Labeled: slices.Clone(ep.Labeled), K: k,
		RNG: envs.RNG(cfg.Seed, 1, "bench/"+tm.Name), Round: 1, Episode: &ep}
	qctx := ctx
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		qctx, cancel = context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
	}
	runtime.GC()
	debug.FreeOSMemory()
	exact := resetPeakRSS()
	t0 := time.Now()
	sel, err := s.Select(qctx, q)
	own := time.Since(t0).Seconds()
	tm.PeakRSSMiB = peakRSSMiB()
	if !exact {
		tm.Note = "peak RSS is the process's peak so far; "
	}
	switch {
	case err != nil && learner.IsCapabilityError(err):
		tm.Status, tm.Note = Skipped, err.Error()
		return
	case err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		tm.Status, tm.Note = Failed, fmt.Sprintf("no answer within --timeout %v", cfg.Timeout)
		return
	case err != nil:
		tm.Status, tm.Note = Failed, err.Error()
		return
	}
	if err := q.CheckSelection(sel); err != nil {
		tm.Status, tm.Note = Failed, "invalid selection: "+err.Error()
		return
	}
	tm.Status = OK
	tm.OwnSeconds = own
	tm.Seconds = own
	for _, set := range sets {
		if memo.Hits(set.c, set.t, set.idx) > 0 {
			tm.Seconds += set.secs
			tm.Uses = append(tm.Uses, string(set.c)+"("+set.tag+")")
		}
	}
	tm.Note = strings.TrimSuffix(tm.Note, "; ")
	if fwd := forwardSeconds(sets); fwd > 0 {
		tm.Ratio = tm.Seconds / fwd
	}
}

// forwardSeconds is the probs capability's time over the candidates.
func forwardSeconds(sets []benchSet) float64 {
	for _, set := range sets {
		if set.c == learner.CapProbs && set.tag == "candidates" {
			return set.secs
		}
	}
	return 0
}

// bareForwarder is a learner that can time its network's bare batched
// forward pass (the torch backend).
type bareForwarder interface {
	BareForward(ctx context.Context, idx []int) (rows int, seconds float64, err error)
}

// WriteTable prints the report as aligned text.
func (r Result) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "data %s: pool %d (%d candidates, %d labeled); learner %s; %d threads; fit %.1f s; RSS after precomputing %s MiB\n",
		r.Data, r.Pool, r.Candidates, r.Labeled, r.Learner, r.Threads, r.FitSeconds, fmtMiB(r.BaseRSSMiB))
	fmt.Fprintf(w, "ratio = seconds over one deterministic forward pass of the candidates (%.2f s)", r.ForwardSeconds)
	if !math.IsNaN(r.BackendRatio) {
		fmt.Fprintf(w, "; backend throughput over its bare batched forward: %.2f", r.BackendRatio)
	}
	fmt.Fprint(w, "\n\n")
	tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "capability\tsamples\tT\tseconds\tsamples/s\tratio\t")
	for _, t := range r.Timings {
		if t.Kind != Capability {
			continue
		}
		tt := "-"
		if t.T > 0 {
			tt = strconv.Itoa(t.T)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.2f\t%.0f\t%.2f\t\n", t.Name, t.Rows, tt, t.Seconds, t.PerSecond, t.Ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "strategy\tk\tquery s\tratio\town s\tpeak RSS MiB\tuses / note")
	for _, t := range r.Timings {
		if t.Kind != Strategy {
			continue
		}
		if t.Status != OK {
			fmt.Fprintf(tw, "%s\t%d\t%s\t\t\t\t%s\n", t.Name, t.K, t.Status, t.Note)
			continue
		}
		note := strings.Join(t.Uses, ", ")
		if t.Note != "" {
			note += " (" + t.Note + ")"
		}
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.2f\t%.3f\t%s\t%s\n", t.Name, t.K, t.Seconds, t.Ratio, t.OwnSeconds, fmtMiB(t.PeakRSSMiB), note)
	}
	return tw.Flush()
}

func fmtMiB(v float64) string {
	if math.IsNaN(v) {
		return "?"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// WriteCSV writes one row per timing.
func (r Result) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	f := func(v float64) string {
		if math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'g', 6, 64)
	}
	_ = cw.Write([]string{"kind", "name", "k", "samples", "T", "seconds", "ratio", "own_seconds", "per_second", "uses", "peak_rss_mib", "status", "note",
		"data", "pool", "candidates", "labeled", "learner", "threads"})
	for _, t := range r.Timings {
		rows := ""
		if t.Rows > 0 {
			rows = strconv.Itoa(t.Rows)
		}
		k := ""
		if t.K > 0 {
			k = strconv.Itoa(t.K)
		}
		_ = cw.Write([]string{t.Kind, t.Name, k, rows, strconv.Itoa(t.T), f(t.Seconds), f(t.Ratio), f(t.OwnSeconds), f(t.PerSecond),
			strings.Join(t.Uses, " "), f(t.PeakRSSMiB), t.Status, t.Note,
			r.Data, strconv.Itoa(r.Pool), strconv.Itoa(r.Candidates), strconv.Itoa(r.Labeled), r.Learner, strconv.Itoa(r.Threads)})
	}
	cw.Flush()
	return cw.Error()
}
