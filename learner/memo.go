package learner

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"sync"

	"gonum.org/v1/gonum/mat"
)

// Memo wraps a Learner and remembers capability results until Reset, so that
// one round computes class probabilities, MC samples and embeddings once and
// shares them between the strategy and any agent features. It is safe for
// concurrent use.
type Memo struct {
	Learner
	mu    sync.Mutex
	cache map[memoKey]any
	hits  map[memoKey]int
	// Calls counts underlying computations per capability (for tests and logs).
	Calls  map[Capability]int
	seed   uint64
	seeded bool
}

type memoKey struct {
	cap  Capability
	t    int
	n    int
	hash uint64
}

// NewMemo wraps l.
func NewMemo(l Learner) *Memo {
	return &Memo{Learner: l, cache: map[memoKey]any{}, hits: map[memoKey]int{}, Calls: map[Capability]int{}}
}

// Clone returns a Memo over the same learner that starts with the same
// cached results (shared, not copied: cached matrices are read-only) and its
// own hit and call counts; what the clone computes later stays in the clone.
func (m *Memo) Clone() *Memo {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := NewMemo(m.Learner)
	for k, v := range m.cache {
		c.cache[k] = v
	}
	return c
}

// Reset forgets every cached result; call it after the learner is refit.
func (m *Memo) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cache = map[memoKey]any{}
	m.hits = map[memoKey]int{}
}

// Hits returns how often the cached result of capability c (with T samples,
// 0 unless c is CapMCDropout) for exactly these indices was served from the
// cache since it was computed; the speed harness uses it to see which
// precomputed results a strategy used.
func (m *Memo) Hits(c Capability, T int, idx []int) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hits[key(c, T, idx)]
}

func key(c Capability, t int, idx []int) memoKey {
	h := fnv.New64a()
	var b [8]byte
	for _, i := range idx {
		binary.LittleEndian.PutUint64(b[:], uint64(i))
		h.Write(b[:])
	}
	return memoKey{cap: c, t: t, n: len(idx), hash: h.Sum64()}
}

func (m *Memo) get(k memoKey) (any, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.cache[k]
	if ok {
		m.hits[k]++
	}
	return v, ok
}

func (m *Memo) put(k memoKey, v any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cache[k] = v
	m.Calls[k.cap]++
}

// Fit refits the underlying learner and clears the cache.
func (m *Memo) Fit(ctx context.Context, train, val Labeled, seed uint64) (FitStats, error) {
	m.Reset()
	return m.Learner.Fit(ctx, train, val, seed)
}

// Reseed reseeds the underlying learner and remembers the seed.
func (m *Memo) Reseed(seed uint64) {
	m.mu.Lock()
	m.seed, m.seeded = seed, true
	m.mu.Unlock()
	m.Learner.Reseed(seed)
}

// LastSeed returns the seed of the last Reseed, and false before the first:
// a worker that reseeds its copy of the model with it draws the same
// dropout masks (sharded pool scoring).
func (m *Memo) LastSeed() (uint64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seed, m.seeded
}

// Load loads weights into the underlying learner and clears the cache.
func (m *Memo) Load(path string) error {
	m.Reset()
	return m.Learner.Load(path)
}

// Probs returns (possibly cached) class probabilities.
func (m *Memo) Probs(ctx context.Context, idx []int) (*mat.Dense, error) {
	k := key(CapProbs, 0, idx)
	if v, ok := m.get(k); ok {
		return v.(*mat.Dense), nil
	}
	p, err := m.Learner.Probs(ctx, idx)
	if err != nil {
		return nil, err
	}
	m.put(k, p)
	return p, nil
}

// MCProbs returns (possibly cached) Monte-Carlo-dropout samples, or a
// CapabilityError when the learner has no dropout.
func (m *Memo) MCProbs(ctx context.Context, idx []int, T int) ([]*mat.Dense, error) {
	if T < 1 {
		return nil, fmt.Errorf("mc_dropout: number of samples T must be >= 1, got %d", T)
	}
	if !Has(m.Learner, CapMCDropout) {
		return nil, &CapabilityError{Capability: CapMCDropout, Learner: m.Learner.Describe(), Hint: CapabilityHint(CapMCDropout)}
	}
	k := key(CapMCDropout, T, idx)
	if v, ok := m.get(k); ok {
		return v.([]*mat.Dense), nil
	}
	s, err := m.Learner.(MCSampler).MCProbs(ctx, idx, T)
	if err != nil {
		return nil, err
	}
	m.put(k, s)
	return s, nil
}

// MemberProbs returns (possibly cached) class probabilities of each ensemble
// member, or a CapabilityError when the learner is not an ensemble.
func (m *Memo) MemberProbs(ctx context.Context, idx []int) ([]*mat.Dense, error) {
	e, ok := m.Learner.(Ensembler)
	if !ok {
		return nil, &CapabilityError{Capability: CapEnsemble, Learner: m.Learner.Describe(), Hint: CapabilityHint(CapEnsemble)}
	}
	k := key(CapEnsemble, 0, idx)
	if v, ok := m.get(k); ok {
		return v.([]*mat.Dense), nil
	}
	p, err := e.MemberProbs(ctx, idx)
	if err != nil {
		return nil, err
	}
	m.put(k, p)
	return p, nil
}

// Embed returns (possibly cached) embeddings, or a CapabilityError.
func (m *Memo) Embed(ctx context.Context, idx []int) (*mat.Dense, error) {
	e, ok := m.Learner.(Embedder)
	if !ok {
		return nil, &CapabilityError{Capability: CapEmbeddings, Learner: m.Learner.Describe()}
	}
	k := key(CapEmbeddings, 0, idx)
	if v, ok := m.get(k); ok {
		return v.(*mat.Dense), nil
	}
	z, err := e.Embed(ctx, idx)
	if err != nil {
		return nil, err
	}
	m.put(k, z)
	return z, nil
}

// LastLayerWeights returns the output layer's weights, or a CapabilityError.
func (m *Memo) LastLayerWeights() (*mat.Dense, error) {
	l, ok := m.Learner.(LastLayer)
	if !ok {
		return nil, &CapabilityError{Capability: CapLastLayer, Learner: m.Learner.Describe()}
	}
	return l.LastLayerWeights()
}

// Inputs returns the raw flattened inputs of pool samples, or a
// CapabilityError. They are not cached: gathering them is cheap and a pool's
// inputs can be large.
func (m *Memo) Inputs(ctx context.Context, idx []int) (*mat.Dense, error) {
	s, ok := m.Learner.(InputSource)
	if !ok {
		return nil, &CapabilityError{Capability: CapInputs, Learner: m.Learner.Describe()}
	}
	return s.Inputs(ctx, idx)
}

// InputGrads returns the logits at x and their gradients with respect to x,
// or a CapabilityError. Nothing is cached: x is usually a perturbed input.
func (m *Memo) InputGrads(ctx context.Context, x *mat.Dense) (*mat.Dense, []*mat.Dense, error) {
	g, ok := m.Learner.(InputGrader)
	if !ok {
		return nil, nil, &CapabilityError{Capability: CapInputGrads, Learner: m.Learner.Describe(),
			Hint: "use a learner backend that differentiates its inputs (torch)"}
	}
	m.mu.Lock()
	m.Calls[CapInputGrads]++
	m.mu.Unlock()
	return g.InputGrads(ctx, x)
}
