// Package strategies holds acquisition functions. Each strategy is one file
// that reads like its paper's equation over plain matrices; it asks the model
// only for the capabilities it needs (class probabilities, Monte-Carlo-dropout
// samples, embeddings) and never imports a tensor library. Strategies join
// the registry from their package's init, the way database/sql drivers do.
package strategies

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

// Model is what a strategy may ask of the current learner. *learner.Memo
// implements it, caching each capability for the round; a learner lacking a
// capability answers with a *learner.CapabilityError.
type Model interface {
	Probs(ctx context.Context, idx []int) (*mat.Dense, error)
	MCProbs(ctx context.Context, idx []int, T int) ([]*mat.Dense, error)
	Embed(ctx context.Context, idx []int) (*mat.Dense, error)
	NumClasses() int
}

// Query is one acquisition request.
type Query struct {
	Model      Model
	Candidates []int      // unlabeled pool indices the strategy may choose from
	Labeled    []int      // pool indices labeled so far
	K          int        // how many to choose
	RNG        *rand.Rand // the run's randomness for this round
	Round      int        // acquisition round (1 for the first query); 0 when the caller does not say
	// Episode is the episode's global state when the loop (an RL
	// environment, alrl's runner) asks; nil when the caller does not say.
	// Strategies that need more than the model (a learned policy, ALBL)
	// read it from here.
	Episode *Episode
}

// Episode is the global state of an episode that an agent (or a strategy
// that needs more than the model, such as a learned policy) may see: budget,
// round, validation accuracy, and the labels it has paid for.
type Episode struct {
	Round      int     // acquisition round about to happen
	K          int     // labels the next action acquires
	Budget     int     // total label budget
	BudgetUsed int     // labels revealed so far
	InitSize   int     // labels of the initial set
	ValAcc     float64 // current validation accuracy (NaN without a validation set)
	// ClassCounts is the labeled class histogram.
	ClassCounts []int
	// Labeled and LabeledY are the labeled pool indices (acquisition order) and their revealed labels.
	Labeled  []int
	LabeledY []int
	// Reference holds unlabeled pool indices that density-type features
	// compare a candidate with: the candidates themselves in the pool-based
	// env, a random sample of the unlabeled pool in the stream-based env.
	Reference []int
}

// Strategy chooses K of the candidates.
type Strategy interface {
	Name() string
	Select(ctx context.Context, q Query) ([]int, error)
}

// Scorer is a strategy that ranks candidates by a per-sample informativeness
// score (higher = acquired first); agents use such scores as features.
type Scorer interface {
	Strategy
	Score(ctx context.Context, q Query) ([]float64, error)
}

// TopKScorer is a Scorer whose Select is exactly TopK of its Score, so
// that scores computed on parts of the candidate list (the shards of a
// sharded pool scoring) merge into the selection of the whole list.
type TopKScorer interface {
	Scorer
	SelectsTopK()
}

// Needer is implemented by strategies that declare the capabilities they use,
// so a learner without them is rejected when the run is configured.
type Needer interface {
	Needs() []learner.Capability
}

// Check validates a query before a strategy runs.
func (q Query) Check() error {
	if q.K < 1 {
		return fmt.Errorf("query size k must be >= 1, got %d", q.K)
	}
	if q.K > len(q.Candidates) {
		return fmt.Errorf("query size k = %d is larger than the %d unlabeled candidates; lower al.k or al.budget, or raise al.candidates", q.K, len(q.Candidates))
	}
	if q.RNG == nil {
		return fmt.Errorf("query has no RNG: the caller must pass the run's seeded RNG")
	}
	return nil
}

// TopK returns the candidates with the k highest scores, best first; ties
// keep candidate order. A NaN score is an error naming the candidate.
func TopK(scores []float64, candidates []int, k int) ([]int, error) {
	if len(scores) != len(candidates) {
		return nil, fmt.Errorf("top-k: %d scores for %d candidates", len(scores), len(candidates))
	}
	if k > len(candidates) {
		return nil, fmt.Errorf("top-k: k = %d is larger than the %d candidates", k, len(candidates))
	}
	if k < 0 {
		return nil, fmt.Errorf("top-k: k = %d is negative", k)
	}
	for i, s := range scores {
		if math.IsNaN(s) {
			return nil, fmt.Errorf("score of pool index %d is NaN (the model's outputs are probably NaN: check the learning rate and the input data)", candidates[i])
		}
	}
	out := make([]int, k)
	if k == 0 {
		return out, nil
	}
	// Rank order: higher score first, then earlier position; a total order,
	// so an unstable sort or a heap gives the same answer as a stable sort.
	before := func(a, b int) bool {
		return scores[a] > scores[b] || (scores[a] == scores[b] && a < b)
	}
	cmp := func(a, b int) int {
		if before(a, b) {
			return -1
		}
		if before(b, a) {
			return 1
		}
		return 0
	}
	var order []int
	if k <= len(scores)/8 {
		order = topKHeap(len(scores), k, before)
	} else {
		order = make([]int, len(scores))
		for i := range order {
			order[i] = i
		}
	}
	slices.SortFunc(order, cmp)
	for i := 0; i < k; i++ {
		out[i] = candidates[order[i]]
	}
	return out, nil
}

// topKHeap returns the k positions of [0, n) that rank first under before,
// in no particular order, in O(n log k): a heap whose root is the worst kept.
func topKHeap(n, k int, before func(a, b int) bool) []int {
	h := make([]int, 0, k)
	down := func(i int) {
		for {
			w, l, r := i, 2*i+1, 2*i+2
			if l < len(h) && before(h[w], h[l]) {
				w = l
			}
			if r < len(h) && before(h[w], h[r]) {
				w = r
			}
			if w == i {
				return
			}
			h[i], h[w] = h[w], h[i]
			i = w
		}
	}
	for i := 0; i < n; i++ {
		if len(h) < k {
			h = append(h, i)
			for j := len(h) - 1; j > 0; {
				p := (j - 1) / 2
				if !before(h[p], h[j]) {
					break
				}
				h[p], h[j] = h[j], h[p]
				j = p
			}
		} else if before(i, h[0]) {
			h[0] = i
			down(0)
		}
	}
	return h
}

// scoreSelect is the Select of every Scorer: top-k of Score.
func scoreSelect(ctx context.Context, s Scorer, q Query) ([]int, error) {
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name(), err)
	}
	scores, err := s.Score(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name(), err)
	}
	sel, err := TopK(scores, q.Candidates, q.K)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name(), err)
	}
	return sel, nil
}
