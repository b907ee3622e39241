// Package shard scores a round's pool in parts, on several processes or as a
// Slurm job array, for pools beyond one machine. The driver (the strategy
// "sharded", wrapping any other strategy) saves the round's weights and a
// spec next to the run; each worker (`alrl score-shard`) rebuilds the run's
// learner, loads the weights, scores its contiguous slice of the candidates
// and writes its result atomically; the driver merges and selects.
//
// A strategy whose selection is the top k of a per-candidate score (entropy,
// margin, BALD, ...: strategies.TopKScorer) merges exactly: the selection
// equals local scoring's. Any other strategy (core-set, BADGE, BatchBALD)
// runs as a distributed greedy in the manner of GreeDi (Mirzasoleiman et
// al. 2013): each shard lets the strategy pick `keep` of its slice, and the
// driver runs the strategy once more over the union of the picks, which is
// close to, but not the same as, the strategy over the whole pool.
package shard

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/alrl/alrl/internal/atomicfile"
)

// SpecFile is the name of the round's spec in the round folder.
const SpecFile = "spec.json"

// ResultFile is the name of a shard's result in its folder.
const ResultFile = "result.json"

// Spec is what a worker needs to score its shard: the round folder holds it
// as spec.json, each shard's folder (shard-NNN) is its worker's --dir.
type Spec struct {
	Nonce      string         `json:"nonce"`   // this attempt's identity; results of another are ignored
	RunDir     string         `json:"run_dir"` // the run whose config.yaml rebuilds the learner
	Weights    string         `json:"weights"` // the round's weights file
	Of         map[string]any `json:"of"`      // the wrapped strategy, {name, options}
	Candidates []int          `json:"candidates"`
	Labeled    []int          `json:"labeled"`
	K          int            `json:"k"`
	Keep       int            `json:"keep"` // picks per shard of a strategy that is not a top-k scorer
	TopK       bool           `json:"top_k"`
	Round      int            `json:"round"`
	MCSeed     uint64         `json:"mc_seed"` // every shard reseeds the learner with it: the same dropout masks
	Seed       uint64         `json:"seed"`    // shard i's strategy randomness derives from (Seed, i)
	Shards     int            `json:"shards"`
}

// Result is one shard's answer: the scores of its slice (top-k scorers) or
// the pool indices it picked.
type Result struct {
	Nonce  string    `json:"nonce"`
	Shard  int       `json:"shard"`
	Scores []float64 `json:"scores,omitempty"`
	Picks  []int     `json:"picks,omitempty"`
}

// Bounds returns the half-open range of candidate positions of shard i:
// contiguous slices whose sizes differ by at most one.
func (s *Spec) Bounds(i int) (lo, hi int) {
	n := len(s.Candidates)
	return i * n / s.Shards, (i + 1) * n / s.Shards
}

// ShardDir is the folder of shard i inside the round folder.
func ShardDir(round string, i int) string { return filepath.Join(round, fmt.Sprintf("shard-%03d", i)) }

// WriteSpec writes spec.json into the round folder atomically.
func WriteSpec(round string, s *Spec) error {
	return atomicfile.WriteJSON(filepath.Join(round, SpecFile), s)
}

// ReadSpec reads the spec of the round folder that holds shard folder dir,
// and returns it with the shard's index.
func ReadSpec(dir string) (*Spec, int, error) {
	var idx int
	if _, err := fmt.Sscanf(filepath.Base(dir), "shard-%d", &idx); err != nil {
		return nil, 0, fmt.Errorf("shard folder %s: its name is not shard-NNN", dir)
	}
	path := filepath.Join(filepath.Dir(dir), SpecFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("shard spec: %w", err)
	}
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, 0, fmt.Errorf("shard spec %s is corrupt: %w", path, err)
	}
	if s.Shards < 1 || idx < 0 || idx >= s.Shards {
		return nil, 0, fmt.Errorf("shard spec %s: shard %d of %d does not exist", path, idx, s.Shards)
	}
	return &s, idx, nil
}

// WriteResult writes shard r's result into its folder atomically. NaN
// scores are refused: JSON has no NaN, and a NaN score is the model's fault.
func WriteResult(dir string, r *Result) error {
	for i, v := range r.Scores {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("shard %d: score %d is %v (the model's outputs are probably NaN: check the learning rate and the input data)", r.Shard, i, v)
		}
	}
	return atomicfile.WriteJSON(filepath.Join(dir, ResultFile), r)
}

// ReadResult reads the result in shard folder dir and checks that it
// answers the spec with this nonce (a result of an earlier attempt is not).
func ReadResult(dir, nonce string) (*Result, error) {
	b, err := os.ReadFile(filepath.Join(dir, ResultFile))
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("shard result %s is corrupt: %w", filepath.Join(dir, ResultFile), err)
	}
	if r.Nonce != nonce {
		return nil, fmt.Errorf("shard result %s belongs to another attempt (nonce %q, want %q)", filepath.Join(dir, ResultFile), r.Nonce, nonce)
	}
	return &r, nil
}
