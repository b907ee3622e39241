package shard

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/internal/testlearner"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/strategies"
)

// model is a fitted nearest-centroid learner on 300 blobs, with the first
// 12 points labeled.
func model(t *testing.T) (*learner.Memo, []int, []int) {
	t.Helper()
	d, err := datasets.Blobs(300, 3, 4, 2.5, 1)
	if err != nil {
		t.Fatal(err)
	}
	l := testlearner.New(d.Inputs(), 3)
	labeled := make([]int, 12)
	var y []int
	for i := range labeled {
		labeled[i] = i
		y = append(y, d.Y[i])
	}
	if _, err := l.Fit(context.Background(), learner.Labeled{Idx: labeled, Y: y}, learner.Labeled{}, 1); err != nil {
		t.Fatal(err)
	}
	var cands []int
	for i := 12; i < 300; i++ {
		cands = append(cands, i)
	}
	return learner.NewMemo(l), labeled, cands
}

func sharded(t *testing.T, opts map[string]any) strategies.Strategy {
	t.Helper()
	s, err := strategies.New("sharded", opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTopKScorersMergeExactly(t *testing.T) {
	m, labeled, cands := model(t)
	ctx := context.Background()
	for _, name := range []string{"entropy", "margin", "least_confidence"} {
		for _, shards := range []int{1, 3, 7, 400} {
			local, err := strategies.New(name, nil)
			if err != nil {
				t.Fatal(err)
			}
			want, err := local.Select(ctx, strategies.Query{Model: m, Candidates: cands, Labeled: labeled, K: 10, RNG: rand.New(rand.NewPCG(1, 2))})
			if err != nil {
				t.Fatal(err)
			}
			s := sharded(t, map[string]any{"of": name, "shards": shards})
			got, err := s.Select(ctx, strategies.Query{Model: m, Candidates: cands, Labeled: labeled, K: 10, RNG: rand.New(rand.NewPCG(1, 2))})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s in %d shards chose %v, local scoring %v", name, shards, got, want)
			}
		}
	}
}

func TestGreedyStrategiesOverTheShardsPicks(t *testing.T) {
	m, labeled, cands := model(t)
	ctx := context.Background()
	q := func() strategies.Query {
		return strategies.Query{Model: m, Candidates: cands, Labeled: labeled, K: 8, RNG: rand.New(rand.NewPCG(3, 4))}
	}
	// keep as large as a shard: the union is every candidate, so the final
	// greedy is the local one.
	local, err := strategies.New("coreset", nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := local.Select(ctx, q())
	if err != nil {
		t.Fatal(err)
	}
	got, err := sharded(t, map[string]any{"of": "coreset", "shards": 3, "keep": 96}).Select(ctx, q())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("core-set with every candidate kept chose %v, local %v", got, want)
	}
	// A small keep: still k distinct unlabeled candidates.
	for _, name := range []string{"coreset", "badge"} {
		s := sharded(t, map[string]any{"of": map[string]any{"name": name}, "shards": 5, "keep": 8})
		sel, err := s.Select(ctx, q())
		if err != nil {
			t.Fatal(err)
		}
		if err := q().CheckSelection(sel); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestBoundsCoverTheCandidatesOnce(t *testing.T) {
	for _, n := range []int{0, 1, 5, 17, 100} {
		for _, shards := range []int{1, 2, 3, 8, 20} {
			s := &Spec{Candidates: make([]int, n), Shards: shards}
			next := 0
			for i := 0; i < shards; i++ {
				lo, hi := s.Bounds(i)
				if lo != next || hi < lo || hi-lo > n/shards+1 {
					t.Fatalf("n=%d shards=%d: shard %d is [%d, %d) after %d", n, shards, i, lo, hi, next)
				}
				next = hi
			}
			if next != n {
				t.Fatalf("n=%d shards=%d: shards end at %d", n, shards, next)
			}
		}
	}
}

func TestBadOptionsAndResults(t *testing.T) {
	cases := []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{}, "options.of: missing"},
		{map[string]any{"of": "entropy", "shards": 0}, "option shards"},
		{map[string]any{"of": "entropy", "executor": "cloud"}, "not one of inprocess, local, slurm"},
		{map[string]any{"of": "entropy", "executor": "slurm", "slurm": map[string]any{"cpu": 2}}, "cpu"},
		{map[string]any{"of": "entropy", "command": "alrl"}, "option command"},
	}
	for _, c := range cases {
		_, err := strategies.New("sharded", c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("options %v: error %v, want one containing %q", c.opts, err, c.want)
		}
	}
	dir := t.TempDir()
	if err := WriteResult(dir, &Result{Nonce: "a", Scores: []float64{1, math.NaN()}}); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("a NaN score was written: %v", err)
	}
	if err := WriteResult(dir, &Result{Nonce: "a", Scores: []float64{1, 2}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadResult(dir, "b"); err == nil || !strings.Contains(err.Error(), "another attempt") {
		t.Errorf("a result of another attempt was accepted: %v", err)
	}
	if r, err := ReadResult(dir, "a"); err != nil || !slices.Equal(r.Scores, []float64{1, 2}) {
		t.Errorf("round trip: %+v %v", r, err)
	}
	if err := os.WriteFile(filepath.Join(dir, ResultFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadResult(dir, "a"); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("a corrupt result was accepted: %v", err)
	}
	// Executors other than inprocess need the run folder.
	m, labeled, cands := model(t)
	s := sharded(t, map[string]any{"of": "entropy", "executor": "local"})
	_, err := s.Select(context.Background(), strategies.Query{Model: m, Candidates: cands, Labeled: labeled, K: 3, RNG: rand.New(rand.NewPCG(1, 1))})
	if err == nil || !strings.Contains(err.Error(), "needs a run folder") {
		t.Errorf("local executor without a run folder: %v", err)
	}
}

func TestWorkReadsItsSpec(t *testing.T) {
	round := t.TempDir()
	m, labeled, cands := model(t)
	spec := &Spec{Nonce: "n1", Of: map[string]any{"name": "entropy"}, Candidates: cands, Labeled: labeled, K: 5, TopK: true, Shards: 4}
	if err := WriteSpec(round, spec); err != nil {
		t.Fatal(err)
	}
	dir := ShardDir(round, 2)
	s, i, err := ReadSpec(dir)
	if err != nil || i != 2 || s.Nonce != "n1" {
		t.Fatalf("ReadSpec = %+v, %d, %v", s, i, err)
	}
	r, err := Work(context.Background(), s, i, m)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := s.Bounds(2)
	p, err := m.Probs(context.Background(), cands[lo:hi])
	if err != nil {
		t.Fatal(err)
	}
	want := strategies.Entropy(p)
	if !slices.Equal(r.Scores, want) {
		t.Errorf("shard 2's scores are not the entropies of its slice")
	}
	if _, _, err := ReadSpec(filepath.Join(round, "shard-009")); err == nil {
		t.Error("shard 9 of 4 was accepted")
	}
}
