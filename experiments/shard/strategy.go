package shard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/alrl/alrl/experiments/sweep"
	"github.com/alrl/alrl/internal/strictyaml"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/strategies"
)

func init() {
	strategies.Register(strategies.Info{
		Name:        "sharded",
		Description: "score the round's pool in shards on worker processes or a Slurm job array, then merge (top-k scorers exactly; others as a distributed greedy)",
		Options: []strategies.Option{
			{Name: "of", Default: nil, Doc: "the strategy whose scoring is sharded, {name, options}"},
			{Name: "shards", Default: 4, Doc: "number of shards (worker tasks) per round"},
			{Name: "executor", Default: "inprocess", Doc: "inprocess (the shards one after another in the run's process), local (worker processes) or slurm (a job array)"},
			{Name: "parallel", Default: 0, Doc: "local: worker processes at once (0 = shards)"},
			{Name: "threads", Default: 1, Doc: "local and slurm: libtorch threads per worker"},
			{Name: "keep", Default: 0, Doc: "picks per shard of a strategy that is not a top-k scorer (0 = 10 k)"},
			{Name: "command", Default: nil, Doc: "worker command, a list (default: this alrl binary's score-shard)"},
			{Name: "slurm", Default: nil, Doc: "slurm: the job options, as in a sweep's slurm section (partition, cpus, mem, time, options, poll)"},
		},
		New: newSharded,
	})
}

// Sharded wraps a strategy so that each round's scoring runs in shards.
type Sharded struct {
	Of       strategies.Strategy
	of       map[string]any
	Shards   int
	Executor Executor
	Keep     int
	runDir   string
}

func newSharded(o strategies.Options) (strategies.Strategy, error) {
	inner, _, err := strategies.NewNested("options.of", o.Value("of"))
	if err != nil {
		return nil, err
	}
	of, err := normalize(o.Value("of"))
	if err != nil {
		return nil, err
	}
	s := &Sharded{Of: inner, of: of}
	if s.Shards, err = o.Int("shards"); err != nil || s.Shards < 1 {
		return nil, fmt.Errorf("option shards: want an integer >= 1, got %v", o.Value("shards"))
	}
	if s.Keep, err = o.Int("keep"); err != nil || s.Keep < 0 {
		return nil, fmt.Errorf("option keep: want an integer >= 0, got %v", o.Value("keep"))
	}
	threads, err := o.Int("threads")
	if err != nil || threads < 1 {
		return nil, fmt.Errorf("option threads: want an integer >= 1, got %v", o.Value("threads"))
	}
	cmd, err := stringList(o.Value("command"))
	if err != nil {
		return nil, fmt.Errorf("option command: %w", err)
	}
	kind, err := o.String("executor")
	if err != nil {
		return nil, err
	}
	switch kind {
	case "inprocess":
		s.Executor = InProcess{}
	case "local":
		par, err := o.Int("parallel")
		if err != nil || par < 0 {
			return nil, fmt.Errorf("option parallel: want an integer >= 0, got %v", o.Value("parallel"))
		}
		s.Executor = &Local{Command: cmd, Parallel: par, Threads: threads}
	case "slurm":
		sc, err := slurmConfig(o.Value("slurm"))
		if err != nil {
			return nil, err
		}
		s.Executor = &Slurm{Config: sc, Command: cmd}
	default:
		return nil, fmt.Errorf("option executor: %q is not one of inprocess, local, slurm", kind)
	}
	return s, nil
}

// normalize turns the nested strategy config into a JSON-friendly mapping.
func normalize(v any) (map[string]any, error) {
	if name, ok := v.(string); ok {
		return map[string]any{"name": name}, nil
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("option of: %w", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("option of: %w", err)
	}
	return m, nil
}

func stringList(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want a list of strings, got %v", v)
	}
	out := make([]string, len(list))
	for i, x := range list {
		if out[i], ok = x.(string); !ok {
			return nil, fmt.Errorf("item %d is %v, not a string", i, x)
		}
	}
	return out, nil
}

// slurmConfig decodes the slurm option strictly over the sweep defaults.
func slurmConfig(v any) (sweep.SlurmConfig, error) {
	c := sweep.DefaultSlurm()
	if v == nil {
		return c, nil
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		return c, fmt.Errorf("option slurm: %w", err)
	}
	doc, err := strictyaml.Parse("options.slurm", b)
	if err != nil {
		return c, fmt.Errorf("option slurm: %w", err)
	}
	if err := strictyaml.Decode(doc, &c); err != nil {
		return c, fmt.Errorf("option slurm: %w", err)
	}
	return c, nil
}

// ScoresInShards marks a strategy that computes the model's outputs itself,
// shard by shard, so that a harness must not precompute them for the whole pool.
func (*Sharded) ScoresInShards() {}

// Name returns "sharded".
func (*Sharded) Name() string { return "sharded" }

// Needs is what the wrapped strategy declares.
func (s *Sharded) Needs() []learner.Capability {
	if n, ok := s.Of.(strategies.Needer); ok {
		return n.Needs()
	}
	return nil
}

// UseRunDir keeps the rounds' shard folders in the run folder, where the
// workers find the run's config.yaml.
func (s *Sharded) UseRunDir(dir string) {
	s.runDir = dir
	if u, ok := s.Of.(strategies.RunDirUser); ok {
		u.UseRunDir(dir)
	}
}

// Select scores the candidates in shards and merges: the top k of the
// merged scores for a top-k scorer, else the wrapped strategy's choice among
// the union of each shard's picks.
func (s *Sharded) Select(ctx context.Context, q strategies.Query) ([]int, error) {
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("sharded: %w", err)
	}
	_, topK := s.Of.(strategies.TopKScorer)
	keep := s.Keep
	if keep == 0 {
		keep = 10 * q.K
	}
	spec := &Spec{Of: s.of, Candidates: q.Candidates, Labeled: q.Labeled, K: q.K, Keep: keep, TopK: topK,
		Round: q.Round, Seed: q.RNG.Uint64(), Shards: s.Shards}
	// The workers draw the dropout masks that the model would draw here: the
	// seed the loop gave it this round, else a fresh one set on it too.
	seeded := false
	if ls, ok := q.Model.(interface{ LastSeed() (uint64, bool) }); ok {
		spec.MCSeed, seeded = ls.LastSeed()
	}
	if !seeded {
		spec.MCSeed = q.RNG.Uint64()
	}
	nonce := make([]byte, 8)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	spec.Nonce = hex.EncodeToString(nonce)
	results, err := s.run(ctx, spec, q.Model)
	if err != nil {
		return nil, fmt.Errorf("sharded %s: %w", s.Of.Name(), err)
	}
	if topK {
		var scores []float64
		for _, r := range results {
			scores = append(scores, r.Scores...)
		}
		sel, err := strategies.TopK(scores, q.Candidates, q.K)
		if err != nil {
			return nil, fmt.Errorf("sharded %s: %w", s.Of.Name(), err)
		}
		return sel, nil
	}
	// The union in candidate order, and the strategy once more over it.
	picked := map[int]bool{}
	for _, r := range results {
		for _, p := range r.Picks {
			picked[p] = true
		}
	}
	var union []int
	for _, c := range q.Candidates {
		if picked[c] {
			union = append(union, c)
		}
	}
	if r, ok := q.Model.(reseeder); ok {
		r.Reseed(spec.MCSeed)
	}
	final := q
	final.Candidates = union
	sel, err := s.Of.Select(ctx, final)
	if err != nil {
		return nil, fmt.Errorf("sharded %s: over the shards' %d picks: %w", s.Of.Name(), len(union), err)
	}
	return sel, nil
}

// run writes the round folder and runs the shards with the executor.
func (s *Sharded) run(ctx context.Context, spec *Spec, model strategies.Model) ([]*Result, error) {
	if _, ok := s.Executor.(InProcess); ok {
		return s.Executor.Execute(ctx, spec, "", model)
	}
	if s.runDir == "" {
		return nil, fmt.Errorf("executor %s needs a run folder, which alrl train and alrl sweep give; use executor: inprocess elsewhere", s.Executor.Name())
	}
	abs, err := filepath.Abs(s.runDir)
	if err != nil {
		return nil, err
	}
	round := filepath.Join(abs, "shards", fmt.Sprintf("round-%03d", spec.Round))
	// A folder left by an interrupted attempt holds nothing this one can use.
	if err := os.RemoveAll(round); err != nil {
		return nil, err
	}
	for i := 0; i < spec.Shards; i++ {
		if err := os.MkdirAll(ShardDir(round, i), 0o755); err != nil {
			return nil, err
		}
	}
	saver, ok := model.(interface{ Save(string) error })
	if !ok {
		return nil, fmt.Errorf("the model (%T) cannot save its weights for the workers", model)
	}
	spec.RunDir, spec.Weights = abs, filepath.Join(round, "weights")
	if err := saver.Save(spec.Weights); err != nil {
		return nil, fmt.Errorf("saving the round's weights: %w", err)
	}
	if err := WriteSpec(round, spec); err != nil {
		return nil, err
	}
	results, err := s.Executor.Execute(ctx, spec, round, model)
	if err != nil {
		return nil, fmt.Errorf("%w (the shard folders are kept in %s)", err, round)
	}
	return results, os.RemoveAll(round)
}
