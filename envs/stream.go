package envs

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/learner"
)

// StreamExhausted ends a stream-based episode whose arrivals ran out before the budget.
const StreamExhausted EndReason = "stream_exhausted"

// StreamConfig configures the stream-based variant.
type StreamConfig struct {
	// Length is the number of arrivals per episode (0 = every unlabeled pool sample once).
	Length int `yaml:"length"`
	// Reference is the size of the random sample of the unlabeled pool that
	// density-type features compare the arriving sample with.
	Reference int `yaml:"reference"`
}

// DefaultStreamConfig returns the documented defaults.
func DefaultStreamConfig() StreamConfig { return StreamConfig{Length: 0, Reference: 100} }

// Stream is the stream-based episode (PAL, Fang, Li & Cohn 2017): unlabeled
// pool samples arrive one at a time in a seeded order and the agent labels
// or skips each, under the label budget. It shares the pool, oracle, learner
// and records of Env: the learner is refit after every al.k labels (k = 1 is
// PAL's setting) and that refit's change in validation accuracy is the
// reward of the label action that triggered it; skips and labels that do not
// trigger a refit earn 0. Only al.reward raw is supported (the reward-area
// weighting applies as in Env).
type Stream struct {
	env     *Env
	cfg     StreamConfig
	order   []int
	pos     int
	pending []int
	prevLab int
}

// NewStream builds a stream-based environment over the same pieces as New.
func NewStream(data *datasets.Dataset, split datasets.Split, l learner.Learner, cfg Config, sc StreamConfig, opts ...Option) (*Stream, error) {
	if cfg.Reward == RewardRelative {
		return nil, fmt.Errorf("al.reward: relative is pool-based only; the stream-based env uses raw")
	}
	if len(cfg.Sizes) > 0 {
		return nil, fmt.Errorf("al.sizes: is pool-based only; the stream-based env refits every al.k labels")
	}
	if sc.Length < 0 || sc.Reference < 0 {
		return nil, fmt.Errorf("stream: length and reference must be >= 0")
	}
	e, err := New(data, split, l, cfg, opts...)
	if err != nil {
		return nil, err
	}
	return &Stream{env: e, cfg: sc}, nil
}

// Env returns the underlying episode (labeled set, oracle, learner).
func (s *Stream) Env() *Env { return s.env }

// SetFeatures makes Reset and Step attach features to every observation.
func (s *Stream) SetFeatures(b FeatureBuilder) { s.env.features = b }

// Done returns why the episode ended, or NotDone.
func (s *Stream) Done() EndReason { return s.env.done }

// Reset labels and fits the initial set, draws the arrival order and returns
// the observation of the first arriving sample.
func (s *Stream) Reset(ctx context.Context, seed uint64) (Observation, Record, error) {
	_, rec, err := s.env.Reset(ctx, seed)
	if err != nil {
		return Observation{}, rec, err
	}
	e := s.env
	var unl []int
	for _, i := range e.split.Pool {
		if !e.isLabeled[i] {
			unl = append(unl, i)
		}
	}
	rng := RNG(seed, 0, "stream")
	rng.Shuffle(len(unl), func(i, j int) { unl[i], unl[j] = unl[j], unl[i] })
	if s.cfg.Length > 0 && s.cfg.Length < len(unl) {
		unl = unl[:s.cfg.Length]
	}
	s.order, s.pos, s.pending, s.prevLab = unl, 0, nil, len(e.labeled)
	if len(s.order) == 0 && e.done == NotDone {
		e.done = StreamExhausted
	}
	obs, err := s.observe(ctx)
	return obs, rec, err
}

// Arriving returns the pool index of the sample now waiting for a decision (-1 when done).
func (s *Stream) Arriving() int {
	if s.env.done != NotDone || s.pos >= len(s.order) {
		return -1
	}
	return s.order[s.pos]
}

func (s *Stream) observe(ctx context.Context) (Observation, error) {
	e := s.env
	counts := make([]int, e.data.NumClasses)
	for _, y := range e.labeledY {
		counts[y]++
	}
	obs := Observation{
		Round: e.round + 1, Labeled: append([]int(nil), e.labeled...), BudgetUsed: e.oracle.Count(),
		Budget: e.cfg.Budget, ValAcc: e.obsAcc, ClassCounts: counts, Model: e.model,
		RNG: RNG(e.seed, s.pos, "stream-agent"), InitSize: e.cfg.InitSize,
		LabeledY: append([]int(nil), e.labeledY...), Unlabeled: len(e.split.Pool) - len(e.labeled),
	}
	if i := s.Arriving(); i >= 0 {
		obs.Candidates, obs.K = []int{i}, 1
		obs.Reference = s.reference()
	}
	e.cands = obs.Candidates
	if err := e.attach(ctx, &obs); err != nil {
		return Observation{}, err
	}
	return obs, nil
}

// reference draws the random unlabeled sample for density features.
func (s *Stream) reference() []int {
	e := s.env
	n := s.cfg.Reference
	var unl []int
	for _, i := range e.split.Pool {
		if !e.isLabeled[i] {
			unl = append(unl, i)
		}
	}
	if n == 0 || n >= len(unl) {
		return unl
	}
	rng := RNG(e.seed, s.pos, "stream-reference")
	perm := rng.Perm(len(unl))[:n]
	out := make([]int, n)
	for j, p := range perm {
		out[j] = unl[p]
	}
	sort.Ints(out)
	return out
}

// Step labels (true) or skips (false) the arriving sample. It returns the
// next observation, the reward, why the episode ended (NotDone while it
// goes on), and the record of the refit when this step triggered one (nil
// otherwise). Labeling never exceeds the budget: the episode ends when it is spent.
func (s *Stream) Step(ctx context.Context, label bool) (Observation, float64, EndReason, *Record, error) {
	e := s.env
	if !e.started {
		return Observation{}, 0, NotDone, nil, fmt.Errorf("step before reset: call Reset first")
	}
	if e.done != NotDone {
		return Observation{}, 0, e.done, nil, fmt.Errorf("step after the episode ended (%s)", e.done)
	}
	if err := ctx.Err(); err != nil {
		return Observation{}, 0, NotDone, nil, err
	}
	i := s.order[s.pos]
	if label {
		if e.oracle.Count() >= e.cfg.Budget {
			return Observation{}, 0, NotDone, nil, fmt.Errorf("stream: the budget is spent") // unreachable: done is set first
		}
		if err := e.reveal([]int{i}); err != nil {
			return Observation{}, 0, NotDone, nil, err
		}
		s.pending = append(s.pending, i)
	}
	s.pos++
	exhausted := s.pos >= len(s.order)
	budgetSpent := len(e.labeled) >= e.cfg.Budget
	var rec *Record
	reward := 0.0
	if len(s.pending) > 0 && (len(s.pending) >= e.cfg.K || budgetSpent || exhausted) {
		e.round++
		r, err := e.fitAndEvaluate(ctx, s.pending)
		if err != nil {
			return Observation{}, 0, NotDone, &r, err
		}
		reward = float64(r.ValAcc) - e.valAcc
		if e.cfg.RewardArea {
			reward *= e.areaWeight(s.prevLab, len(e.labeled))
		}
		r.Reward = Float(reward)
		e.valAcc = float64(r.ValAcc)
		e.obsAcc = e.observedAcc(r)
		s.pending, s.prevLab = nil, len(e.labeled)
		rec = &r
	}
	e.updateDone()
	if e.done == NotDone && exhausted {
		e.done = StreamExhausted
	}
	if math.IsNaN(reward) && rec == nil {
		reward = 0
	}
	obs, err := s.observe(ctx)
	if err != nil {
		return Observation{}, reward, e.done, rec, err
	}
	return obs, reward, e.done, rec, nil
}
