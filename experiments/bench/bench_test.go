package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/internal/testlearner"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/strategies"
	"github.com/alrl/alrl/trainers"
)

// benchMC needs MC samples and records the T it was built with.
type benchMC struct{ t int }

var (
	benchMu    sync.Mutex
	benchMCGot []int
)

func (benchMC) Name() string { return "test_bench_mc" }
func (benchMC) Needs() []learner.Capability {
	return []learner.Capability{learner.CapProbs, learner.CapMCDropout}
}
func (b benchMC) Select(ctx context.Context, q strategies.Query) ([]int, error) {
	if _, err := q.Model.MCProbs(ctx, q.Candidates, b.t); err != nil {
		return nil, err
	}
	if _, err := q.Model.Probs(ctx, q.Candidates); err != nil {
		return nil, err
	}
	return q.Candidates[:q.K], nil
}

// benchFunc is a strategy defined by a function.
type benchFunc struct {
	name string
	f    func(context.Context, strategies.Query) ([]int, error)
}

func (b benchFunc) Name() string { return b.name }
func (b benchFunc) Select(ctx context.Context, q strategies.Query) ([]int, error) {
	return b.f(ctx, q)
}

// needsLastLayer needs a capability the test learner lacks.
type needsLastLayer struct{ strategies.Random }

func (needsLastLayer) Name() string { return "test_needs_last_layer" }
func (needsLastLayer) Needs() []learner.Capability {
	return []learner.Capability{learner.CapLastLayer}
}

// onceStrategy fails when one value is asked twice: the bench builds a
// fresh strategy per query, so a stateful one (ALBL) sees each as a first round.
type onceStrategy struct{ used bool }

func (*onceStrategy) Name() string { return "test_bench_once" }
func (o *onceStrategy) Select(_ context.Context, q strategies.Query) ([]int, error) {
	if o.used {
		return nil, errors.New("one strategy value was queried twice")
	}
	o.used = true
	return q.Candidates[:q.K], nil
}

func init() {
	strategies.Register(strategies.Info{Name: "test_bench_once", Description: "test: stateful",
		New: func(strategies.Options) (strategies.Strategy, error) { return &onceStrategy{}, nil }})
	learner.RegisterBackend("testcentroid", "test", testlearner.Factory)
	strategies.Register(strategies.Info{Name: "test_needs_last_layer", Description: "needs last-layer weights",
		New: func(strategies.Options) (strategies.Strategy, error) { return needsLastLayer{}, nil }})
	strategies.Register(strategies.Info{Name: "test_bench_mc", Description: "test: needs MC samples",
		Options: []strategies.Option{{Name: "samples", Default: 5, Doc: "T"}},
		New: func(o strategies.Options) (strategies.Strategy, error) {
			t, err := o.Int("samples")
			benchMu.Lock()
			benchMCGot = append(benchMCGot, t)
			benchMu.Unlock()
			return benchMC{t: t}, err
		}})
	for _, b := range []benchFunc{
		{"test_bench_fail", func(context.Context, strategies.Query) ([]int, error) { return nil, errors.New("kaboom") }},
		{"test_bench_dup", func(_ context.Context, q strategies.Query) ([]int, error) {
			out := make([]int, q.K)
			for i := range out {
				out[i] = q.Candidates[0]
			}
			return out, nil
		}},
		// test_bench_episode fails unless the query carries the first
		// round's episode state of the bench's labeled set (ALBL reads it).
		{"test_bench_episode", func(_ context.Context, q strategies.Query) ([]int, error) {
			ep := q.Episode
			switch {
			case ep == nil:
				return nil, errors.New("no episode state")
			case !slices.Equal(ep.Labeled, q.Labeled) || len(ep.LabeledY) != len(ep.Labeled):
				return nil, fmt.Errorf("episode labeled %v with labels %v, query labeled %v", ep.Labeled, ep.LabeledY, q.Labeled)
			case ep.K != q.K || ep.Budget != len(q.Labeled)+q.K || ep.BudgetUsed != len(q.Labeled) || ep.Round != 1:
				return nil, fmt.Errorf("episode %+v for k %d", *ep, q.K)
			}
			n := 0
			for _, c := range ep.ClassCounts {
				n += c
			}
			if n != len(ep.Labeled) {
				return nil, fmt.Errorf("class counts %v sum to %d, want %d", ep.ClassCounts, n, len(ep.Labeled))
			}
			ep.Labeled[0] = -1 // a strategy that writes into its copy harms no later query
			return q.Candidates[:q.K], nil
		}},
		{"test_bench_slow", func(ctx context.Context, q strategies.Query) ([]int, error) {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(30 * time.Second):
				return q.Candidates[:q.K], nil
			}
		}},
	} {
		b := b
		strategies.Register(strategies.Info{Name: b.name, Description: "test",
			New: func(strategies.Options) (strategies.Strategy, error) { return b, nil }})
	}
}

func benchTestConfig() Config {
	c := Default()
	c.Data = datasets.Source{Name: "blobs", N: 200, Classes: 3, Dim: 4}
	c.Learner.Backend = "testcentroid"
	c.Learner.Model = learner.ModelSpec{Name: "mlp"}
	c.Labels = 10
	c.Pool = 150
	c.Ks = []int{2, 5, 500}
	c.Samples = 7
	c.Timeout = 300 * time.Millisecond
	c.Strategies = []string{"entropy", "random", "test_bench_mc", "test_needs_last_layer", "prefilter",
		"test_bench_fail", "test_bench_dup", "test_bench_slow", "test_bench_episode", "test_bench_once"}
	return c
}

func findTiming(r Result, kind, name string, k int) (Timing, bool) {
	for _, t := range r.Timings {
		if t.Kind == kind && t.Name == name && t.K == k {
			return t, true
		}
	}
	return Timing{}, false
}

func TestBenchHarness(t *testing.T) {
	cfg := benchTestConfig()
	var progress []string
	cfg.Progress = func(t Timing) { progress = append(progress, t.Name) }
	benchMu.Lock()
	benchMCGot = nil
	benchMu.Unlock()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Pool != 150 || res.Candidates != 140 || res.Labeled != 10 || res.Learner != "test nearest-centroid" {
		t.Errorf("result header: %+v", res)
	}
	if len(progress) != len(res.Timings) {
		t.Errorf("progress saw %d timings, result has %d", len(progress), len(res.Timings))
	}
	// Capabilities: probabilities and MC samples (T = 7) are precomputed for
	// the candidates; nothing needs embeddings.
	probs, ok := findTiming(res, Capability, string(learner.CapProbs), 0)
	if !ok || probs.Rows != 140 || !(probs.Seconds > 0) || math.Abs(probs.PerSecond-140/probs.Seconds) > 1e-6 {
		t.Errorf("probabilities line: %+v", probs)
	}
	if mc, ok := findTiming(res, Capability, string(learner.CapMCDropout), 0); !ok || mc.T != 7 || mc.Rows != 140 {
		t.Errorf("mc_dropout line: %+v, %v", mc, ok)
	}
	if _, ok := findTiming(res, Capability, string(learner.CapEmbeddings), 0); ok {
		t.Error("embeddings were precomputed although no strategy needs them")
	}
	benchMu.Lock()
	if !slices.Contains(benchMCGot, 7) {
		t.Errorf("test_bench_mc was built with samples %v, want 7 (--samples)", benchMCGot)
	}
	benchMu.Unlock()

	tests := []struct {
		name   string
		k      int
		status string
		note   string
		uses   []string
	}{
		{"entropy", 2, OK, "", []string{"probabilities(candidates)"}},
		{"entropy", 5, OK, "", []string{"probabilities(candidates)"}},
		{"random", 5, OK, "", nil},
		{"test_bench_mc", 2, OK, "", []string{"probabilities(candidates)", "mc_dropout(candidates)"}},
		{"entropy", 500, Skipped, "more than the 140 candidates", nil},
		{"test_needs_last_layer", 2, Skipped, "last_layer_weights", nil},
		{"prefilter", 2, Skipped, "needs options: options.first: missing", nil},
		{"test_bench_fail", 2, Failed, "kaboom", nil},
		{"test_bench_dup", 5, Failed, "invalid selection", nil},
		{"test_bench_slow", 2, Failed, "--timeout 300ms", nil},
		{"test_bench_episode", 2, OK, "", nil},
		{"test_bench_episode", 5, OK, "", nil},
		{"test_bench_once", 2, OK, "", nil},
		{"test_bench_once", 5, OK, "", nil},
	}
	for _, tc := range tests {
		tm, ok := findTiming(res, Strategy, tc.name, tc.k)
		if !ok {
			t.Errorf("no line for %s k=%d", tc.name, tc.k)
			continue
		}
		if tm.Status != tc.status || !strings.Contains(tm.Note, tc.note) || !slices.Equal(tm.Uses, tc.uses) {
			t.Errorf("%s k=%d: status %q note %q uses %v; want %q, %q, %v", tc.name, tc.k, tm.Status, tm.Note, tm.Uses, tc.status, tc.note, tc.uses)
		}
		if tm.Status != OK {
			continue
		}
		// Query time = own time + the precomputed capabilities it used.
		want := tm.OwnSeconds
		for _, c := range res.Timings {
			if c.Kind == Capability && slices.Contains(tm.Uses, c.Name+"(candidates)") {
				want += c.Seconds
			}
		}
		if math.Abs(tm.Seconds-want) > 1e-9 || tm.Seconds < tm.OwnSeconds {
			t.Errorf("%s k=%d: query %g s, own %g s, want query = own + used capabilities = %g", tc.name, tc.k, tm.Seconds, tm.OwnSeconds, want)
		}
		if !(tm.PeakRSSMiB > 1) {
			t.Errorf("%s k=%d: peak RSS %v MiB", tc.name, tc.k, tm.PeakRSSMiB)
		}
		// Ratio is the query time in units of one forward pass.
		if math.Abs(tm.Ratio*res.ForwardSeconds-tm.Seconds) > 1e-9 {
			t.Errorf("%s k=%d: ratio %g, want %g / %g", tc.name, tc.k, tm.Ratio, tm.Seconds, res.ForwardSeconds)
		}
	}
	if res.ForwardSeconds != probs.Seconds || probs.Ratio != 1 {
		t.Errorf("forward pass %g s, probabilities line %g s with ratio %g; want the same time and ratio 1", res.ForwardSeconds, probs.Seconds, probs.Ratio)
	}
	// The test learner has no bare forward: no backend ratio, no line.
	if !math.IsNaN(res.BackendRatio) {
		t.Errorf("backend ratio %g for a learner without a bare forward, want NaN", res.BackendRatio)
	}
	if skipped, _ := findTiming(res, Strategy, "test_bench_fail", 2); !math.IsNaN(skipped.Ratio) {
		t.Errorf("a failed query has ratio %g, want NaN", skipped.Ratio)
	}
	if n := len(res.Timings); n != 2+10*3 {
		t.Errorf("%d timings, want 2 capabilities + 10 strategies x 3 k", n)
	}

	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"pool 150 (140 candidates, 10 labeled)", "probabilities", "mc_dropout", "entropy", "skipped", "kaboom"} {
		if !strings.Contains(table.String(), w) {
			t.Errorf("table lacks %q:\n%s", w, table.String())
		}
	}
	var buf bytes.Buffer
	if err := res.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+len(res.Timings) || rows[0][0] != "kind" || rows[1][0] != Capability {
		t.Errorf("CSV has %d rows, header %v", len(rows), rows[0])
	}
}

func TestBenchConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no k", func(c *Config) { c.Ks = nil }, "no query sizes"},
		{"k zero", func(c *Config) { c.Ks = []int{0} }, "must be >= 1"},
		{"labels fill the pool", func(c *Config) { c.Labels = 150 }, "leaves no candidates"},
		{"pool too large", func(c *Config) { c.Pool = 10000 }, "larger than the 200"},
		{"options for an untimed strategy", func(c *Config) { c.Options = map[string]map[string]any{"margin": {"x": 1}} }, `"margin"`},
		{"unknown data", func(c *Config) { c.Data.Name = "cifar" }, "cifar"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := benchTestConfig()
			c.Strategies = []string{"entropy"}
			tc.edit(&c)
			_, err := Run(context.Background(), c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParseBenchOption(t *testing.T) {
	opts := map[string]map[string]any{}
	for _, s := range []string{"bald.samples=50", "prefilter.first={name: entropy}", "exec.command=[python3, p.py]"} {
		if err := ParseOption(opts, s); err != nil {
			t.Fatal(err)
		}
	}
	if opts["bald"]["samples"] != 50 {
		t.Errorf("bald.samples = %#v", opts["bald"]["samples"])
	}
	if m, ok := opts["prefilter"]["first"].(map[string]any); !ok || m["name"] != "entropy" {
		t.Errorf("prefilter.first = %#v", opts["prefilter"]["first"])
	}
	if l, ok := opts["exec"]["command"].([]any); !ok || len(l) != 2 {
		t.Errorf("exec.command = %#v", opts["exec"]["command"])
	}
	for _, bad := range []string{"samples=3", "bald=3", ".x=1", "bald.samples", "bald.samples=[1,"} {
		if err := ParseOption(opts, bad); err == nil {
			t.Errorf("ParseOption(%q) succeeded", bad)
		}
	}
}

func TestBenchWithOptionsBuildsComposite(t *testing.T) {
	c := benchTestConfig()
	c.Strategies = []string{"prefilter"}
	c.Ks = []int{3}
	c.Options = map[string]map[string]any{}
	for _, s := range []string{"prefilter.first=entropy", "prefilter.then=margin", "prefilter.keep=20"} {
		if err := ParseOption(c.Options, s); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	tm, ok := findTiming(res, Strategy, "prefilter", 3)
	if !ok || tm.Status != OK {
		t.Errorf("prefilter with options: %+v", tm)
	}
}

// benchTrainer is a trainer that trains the made-up capability
// test_trained; it counts its rounds and fits the learner.
type benchTrainer struct{ rounds *int }

func (benchTrainer) Name() string { return "test_bench_trainer" }
func (b benchTrainer) Train(ctx context.Context, r envs.TrainRound) (envs.TrainResult, error) {
	*b.rounds++
	if len(r.Unlabeled) == 0 || r.Labeled.Len() == 0 {
		return envs.TrainResult{}, fmt.Errorf("round with %d labeled and %d unlabeled", r.Labeled.Len(), len(r.Unlabeled))
	}
	st, err := r.Model.Fit(ctx, r.Labeled, r.Val, r.Seed)
	return envs.TrainResult{Stats: st}, err
}

// needsTrained needs what only test_bench_trainer trains.
type needsTrained struct{ strategies.Random }

func (needsTrained) Name() string { return "test_needs_trained" }
func (needsTrained) Needs() []learner.Capability {
	return []learner.Capability{"test_trained"}
}

var benchTrainerRounds int

func init() {
	trainers.Register(trainers.Info{Name: "test_bench_trainer", Description: "test", Trains: []learner.Capability{"test_trained"},
		New: func(trainers.Options, trainers.Setup) (envs.Trainer, error) {
			return benchTrainer{rounds: &benchTrainerRounds}, nil
		}})
	strategies.Register(strategies.Info{Name: "test_needs_trained", Description: "test: needs a trainer",
		New: func(strategies.Options) (strategies.Strategy, error) { return needsTrained{}, nil }})
}

// TestBenchTrainer: a strategy whose capability only a trainer trains is
// skipped with the flag to give; with --trainer, the learner is fitted by
// that trainer on the labeled set with the candidates as unlabeled pool.
func TestBenchTrainer(t *testing.T) {
	for _, tc := range []struct {
		trainer    string
		rounds     int
		note       string
		entropyRan bool
	}{
		{"", 0, "only trainer test_bench_trainer trains (time it with --trainer test_bench_trainer)", true},
		{"test_bench_trainer", 1, "cannot provide", true},
	} {
		cfg := benchTestConfig()
		cfg.Ks = []int{3}
		cfg.Strategies = []string{"test_needs_trained", "entropy"}
		cfg.Trainer.Name = tc.trainer
		benchTrainerRounds = 0
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if benchTrainerRounds != tc.rounds {
			t.Errorf("trainer %q: %d training rounds, want %d", tc.trainer, benchTrainerRounds, tc.rounds)
		}
		tm, _ := findTiming(res, Strategy, "test_needs_trained", 3)
		if tm.Status != Skipped || !strings.Contains(tm.Note, tc.note) {
			t.Errorf("trainer %q: %s %q, want skipped with %q", tc.trainer, tm.Status, tm.Note, tc.note)
		}
		if e, _ := findTiming(res, Strategy, "entropy", 3); (e.Status == OK) != tc.entropyRan {
			t.Errorf("trainer %q: entropy %s %q", tc.trainer, e.Status, e.Note)
		}
	}
	cfg := benchTestConfig()
	cfg.Trainer.Name = "no_such_trainer"
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "--trainer") {
		t.Errorf("unknown trainer: %v", err)
	}
}
