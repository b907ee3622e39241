// Package envs is the active-learning episode as a reinforcement-learning
// environment: Reset starts an episode from an initial labeled set, Step
// takes the indices an agent chose, asks the oracle for their labels, refits
// the learner and returns the next observation and a reward. Every
// acquisition rule, fixed or learned, is a policy acting in this loop.
package envs

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/learner"
)

// Float is a float64 that encodes NaN and infinities as JSON null.
type Float float64

// MarshalJSON writes null for NaN and infinities.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}

// UnmarshalJSON reads null as NaN.
func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Float(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Float(v)
	return nil
}

// Record is what one round leaves in the results: one JSON line.
type Record struct {
	Round    int   `json:"round"`
	Labels   int   `json:"labels"`
	TestAcc  Float `json:"test_acc"`
	TestLoss Float `json:"test_loss"`
	ValAcc   Float `json:"val_acc"`
	// HoldoutAcc is the accuracy on the round's held-out share of the labeled
	// set (learner.train.holdout), omitted without one.
	HoldoutAcc   *Float  `json:"holdout_acc,omitempty"`
	Reward       Float   `json:"reward"`
	TrainSeconds float64 `json:"train_seconds"`
	EvalSeconds  float64 `json:"eval_seconds"`
	QuerySeconds float64 `json:"query_seconds"`
	Epochs       int     `json:"epochs"`
	Chosen       []int   `json:"chosen"`
	// RandomGain is, with al.reward relative, the validation-accuracy change
	// that a random batch from the same candidates would have brought.
	RandomGain *Float `json:"random_gain,omitempty"`
	// Info holds what the learner or trainer reported about this round's fit
	// (learner.FitStats.Info, e.g. the architecture Active-iNAS chose) and
	// what the round's trainer did (pseudo-labels used and their accuracy,
	// auxiliary losses); omitted when empty.
	Info map[string]any `json:"info,omitempty"`
}

// EndReason says why an episode ended.
type EndReason string

// Reasons an episode ends.
const (
	NotDone       EndReason = ""
	BudgetSpent   EndReason = "budget_spent"
	RoundsDone    EndReason = "rounds_done"
	PoolExhausted EndReason = "pool_exhausted"
)

// Observation is what an agent sees before it acts.
type Observation struct {
	Round       int           // acquisition round about to happen (1 for the first query)
	K           int           // exactly how many indices the next action must hold
	Candidates  []int         // unlabeled pool indices offered this step (sorted)
	Labeled     []int         // labeled pool indices, in acquisition order
	Unlabeled   int           // size of the whole unlabeled pool
	BudgetUsed  int           // labels revealed so far
	Budget      int           // total label budget
	ValAcc      float64       // held-out accuracy the policy may see: the free validation split's (split.val_counts: false), else the labeled holdout's, else NaN
	ClassCounts []int         // labeled class histogram
	Model       *learner.Memo // the fitted learner, with per-round capability cache
	RNG         *rand.Rand    // the agent's randomness for this step
	InitSize    int           // labels of the initial set
	LabeledY    []int         // labels of Labeled, as the oracle revealed them
	Reference   []int         // unlabeled indices density features compare with (nil = Candidates)
	Features    *Features     // candidate features, when the env has a FeatureBuilder (see SetFeatures)
}

// Env is one active-learning episode over a data set split.
type Env struct {
	cfg    Config
	data   *datasets.Dataset
	split  datasets.Split
	model  *learner.Memo
	oracle *Oracle
	annot  Annotator // labels from a person instead of the data set (nil = the data set)

	seed      uint64
	round     int
	labeled   []int
	labeledY  []int
	isLabeled map[int]bool
	valAcc    float64 // accuracy on the validation split (rewards), NaN without one
	obsAcc    float64 // held-out accuracy the observation shows (see Observation.ValAcc)
	cands     []int
	done      EndReason
	started   bool
	features  FeatureBuilder
	trainer   Trainer // nil = the learner's own supervised Fit

	initMode string          // the init_mode initSel serves
	initSel  InitialSelector // cold-start selector for initMode, or nil

	holdout       float64 // share of the labeled set held out to stop early on (no free validation)
	valRewardOnly bool    // the validation split rewards a training episode only; fits never see it
}

// InitialSelector chooses the initial labeled set from the pool's raw inputs
// without looking at any label (a cold start, e.g. TypiClust). envs knows no
// selector by name: the runner supplies one with WithInitialSelector for the
// al.init_mode values beyond random and balanced.
type InitialSelector interface {
	SelectInitial(ctx context.Context, in learner.InputSource, pool []int, n int, rng *rand.Rand) ([]int, error)
}

// Option configures an Env at construction.
type Option func(*Env)

// WithInitialSelector makes al.init_mode = mode draw the initial labeled set
// with sel.
func WithInitialSelector(mode string, sel InitialSelector) Option {
	return func(e *Env) { e.initMode, e.initSel = mode, sel }
}

// WithHoldout makes every fit hold out frac of the labeled set, stratified
// by class and drawn afresh each round from the run seed, as the set it
// stops early on (learner.train.holdout). It has no effect while the split's
// validation set is free for fitting.
func WithHoldout(frac float64) Option {
	return func(e *Env) { e.holdout = frac }
}

// WithAnnotator takes labels from a (the data set's labels are then never
// read for the pool); a query it has not answered yet makes Reset or Step
// return *AwaitingLabelsError with nothing applied.
func WithAnnotator(a Annotator) Option { return func(e *Env) { e.annot = a } }

// WithValidationForRewardOnly keeps the split's validation set out of every
// fit (no early stopping on it) and out of the observations: it only
// measures the rewards of a training episode, a simulation in which
// held-out labels may shape the agent's learning but never its inputs.
func WithValidationForRewardOnly() Option {
	return func(e *Env) { e.valRewardOnly = true }
}

// New builds an environment; it validates the config and the split.
func New(data *datasets.Dataset, split datasets.Split, l learner.Learner, cfg Config, opts ...Option) (*Env, error) {
	var o Env
	for _, opt := range opts {
		opt(&o)
	}
	var cold []string
	if o.initSel != nil {
		cold = append(cold, o.initMode)
	}
	if o.holdout < 0 || o.holdout > 0.5 {
		return nil, fmt.Errorf("learner.train.holdout: must be in [0, 0.5], got %g", o.holdout)
	}
	if err := cfg.Validate(len(split.Pool), data.NumClasses, cold...); err != nil {
		return nil, err
	}
	if len(split.Test) == 0 {
		return nil, fmt.Errorf("split: the test split is empty; set split.test")
	}
	if o.annot != nil {
		if err := cfg.CheckAnnotated(); err != nil {
			return nil, err
		}
	} else if n := countUnlabeled(data, split.Pool); n > 0 {
		return nil, fmt.Errorf("data: the pool holds %d rows without a label in the data file; only a person can label them: add oracle: {name: file} (or give every row a label)", n)
	}
	m, ok := l.(*learner.Memo)
	if !ok {
		m = learner.NewMemo(l)
	}
	return &Env{cfg: cfg, data: data, split: split, model: m, oracle: NewOracle(data.Y, split.Pool),
		initMode: o.initMode, initSel: o.initSel, holdout: o.holdout, valRewardOnly: o.valRewardOnly, annot: o.annot}, nil
}

// countUnlabeled counts the rows of idx that the data file leaves unlabeled.
func countUnlabeled(data *datasets.Dataset, idx []int) int {
	n := 0
	for _, i := range idx {
		if data.Y[i] == datasets.Unlabeled {
			n++
		}
	}
	return n
}

// Oracle returns the episode's oracle (for its query count).
func (e *Env) Oracle() *Oracle { return e.oracle }

// Learner returns the environment's learner.
func (e *Env) Learner() *learner.Memo { return e.model }

// Done returns why the episode ended, or NotDone.
func (e *Env) Done() EndReason { return e.done }

// Round returns the number of acquisition rounds completed.
func (e *Env) Round() int { return e.round }

// Labeled returns the labeled pool indices in acquisition order.
func (e *Env) Labeled() []int { return append([]int(nil), e.labeled...) }

// RNG returns the seeded random stream for (round, purpose); the same run seed
// always gives the same streams, so a resumed run draws what an uninterrupted one would.
func RNG(seed uint64, round int, purpose string) *rand.Rand {
	h := uint64(14695981039346656037)
	for _, c := range []byte(purpose) {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return rand.New(rand.NewPCG(seed, h^uint64(round)*0x9E3779B97F4A7C15))
}

// Reset starts an episode: it draws the initial labeled set, has the oracle
// label it, fits the learner and evaluates. It returns the first observation
// and the record of round 0.
func (e *Env) Reset(ctx context.Context, seed uint64) (Observation, Record, error) {
	e.seed = seed
	e.round = 0
	e.labeled, e.labeledY = nil, nil
	e.isLabeled = map[int]bool{}
	e.oracle = NewOracle(e.data.Y, e.split.Pool)
	e.done = NotDone
	e.started = true
	init, err := e.initialSet(ctx, RNG(seed, 0, "init"))
	if err != nil {
		return Observation{}, Record{}, err
	}
	if err := e.answered(0, init); err != nil {
		e.started = false
		return Observation{}, Record{}, err
	}
	if err := e.reveal(init); err != nil {
		return Observation{}, Record{}, err
	}
	rec, err := e.fitAndEvaluate(ctx, init)
	if err != nil {
		return Observation{}, Record{}, err
	}
	e.valAcc = float64(rec.ValAcc)
	e.obsAcc = e.observedAcc(rec)
	rec.Reward = Float(math.NaN())
	e.updateDone()
	obs := e.observe()
	if err := e.attach(ctx, &obs); err != nil {
		return Observation{}, rec, err
	}
	return obs, rec, nil
}

func (e *Env) initialSet(ctx context.Context, rng *rand.Rand) ([]int, error) {
	if e.initSel != nil && e.cfg.InitMode == e.initMode {
		return e.coldStart(ctx, rng)
	}
	pool := append([]int(nil), e.split.Pool...)
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	n := e.cfg.InitSize
	if e.cfg.InitMode == "random" {
		return pool[:n], nil
	}
	// Class-balanced: round-robin over classes in a shuffled pool order. This
	// peeks at true labels, as DBAL and BatchBALD do in simulation.
	byClass := make([][]int, e.data.NumClasses)
	for _, i := range pool {
		c := e.data.Y[i]
		byClass[c] = append(byClass[c], i)
	}
	var out []int
	for len(out) < n {
		progressed := false
		for c := range byClass {
			if len(out) == n {
				break
			}
			if len(byClass[c]) > 0 {
				out = append(out, byClass[c][0])
				byClass[c] = byClass[c][1:]
				progressed = true
			}
		}
		if !progressed {
			return nil, fmt.Errorf("al.init_size: the pool has only %d samples", len(out))
		}
	}
	return out, nil
}

// coldStart asks the initial-set selector for init_size pool indices and
// checks its answer.
func (e *Env) coldStart(ctx context.Context, rng *rand.Rand) ([]int, error) {
	n := e.cfg.InitSize
	sel, err := e.initSel.SelectInitial(ctx, learner.DatasetInputs(e.data.Inputs()), append([]int(nil), e.split.Pool...), n, rng)
	if err != nil {
		return nil, fmt.Errorf("al.init_mode %s: %w", e.initMode, err)
	}
	if len(sel) != n {
		return nil, fmt.Errorf("al.init_mode %s: the selector returned %d indices, al.init_size is %d", e.initMode, len(sel), n)
	}
	seen := make(map[int]bool, n)
	for _, i := range sel {
		if seen[i] || !e.oracle.InPool(i) {
			return nil, fmt.Errorf("al.init_mode %s: the selector returned pool index %d twice or from outside the pool", e.initMode, i)
		}
		seen[i] = true
	}
	return sel, nil
}

// answered returns *AwaitingLabelsError when the annotator lacks an answer
// for some of idx (round's query); without an annotator it returns nil.
func (e *Env) answered(round int, idx []int) error {
	if e.annot == nil {
		return nil
	}
	missing := 0
	for _, i := range idx {
		if _, ok := e.annot.Answer(i); !ok {
			missing++
		}
	}
	if missing > 0 {
		return &AwaitingLabelsError{Round: round, Indices: append([]int(nil), idx...), Missing: missing}
	}
	return nil
}

func (e *Env) reveal(idx []int) error {
	for _, i := range idx {
		y, err := e.oracle.Label(i)
		if err != nil {
			return err
		}
		if e.annot == nil && y == datasets.Unlabeled {
			return fmt.Errorf("oracle: pool index %d has no label in the data file; only a person can label it (oracle: {name: file})", i)
		}
		if e.annot != nil {
			a, ok := e.annot.Answer(i)
			if !ok {
				return fmt.Errorf("oracle: pool index %d has no answer (call answered first)", i)
			}
			if a < 0 || a >= e.data.NumClasses {
				return fmt.Errorf("oracle: the answer for pool index %d is class %d, outside [0, %d)", i, a, e.data.NumClasses)
			}
			y = a
		}
		e.labeled = append(e.labeled, i)
		e.labeledY = append(e.labeledY, y)
		e.isLabeled[i] = true
	}
	return nil
}

// fitAndEvaluate refits the learner on the labeled set and evaluates it on the test split.
func (e *Env) fitAndEvaluate(ctx context.Context, chosen []int) (Record, error) {
	rec := Record{Round: e.round, Labels: len(e.labeled), Chosen: append([]int(nil), chosen...)}
	train := learner.Labeled{Idx: append([]int(nil), e.labeled...), Y: append([]int(nil), e.labeledY...)}
	fit, stop := e.fitSets(train, e.round)
	t0 := time.Now()
	st, info, err := e.train(ctx, fit, stop, RNG(e.seed, e.round, "fit").Uint64())
	if err != nil {
		return rec, fmt.Errorf("round %d: fitting the learner on %d labels: %w", e.round, len(e.labeled), err)
	}
	rec.TrainSeconds = time.Since(t0).Seconds()
	rec.Epochs = st.Epochs
	// The learner's report (e.g. Active-iNAS's architecture) and the
	// trainer's (pseudo-labels, auxiliary losses) share the record's info.
	rec.Info = info
	for k, v := range st.Info {
		if rec.Info == nil {
			rec.Info = map[string]any{}
		}
		rec.Info[k] = v
	}
	if err := e.heldOutAccuracy(ctx, st, stop, &rec); err != nil {
		return rec, fmt.Errorf("round %d: %w", e.round, err)
	}
	t1 := time.Now()
	acc, loss, err := Evaluate(ctx, e.model, e.split.Test, gather(e.data.Y, e.split.Test))
	if err != nil {
		return rec, fmt.Errorf("round %d: evaluating on the test split: %w", e.round, err)
	}
	rec.EvalSeconds = time.Since(t1).Seconds()
	rec.TestAcc, rec.TestLoss = Float(acc), Float(loss)
	return rec, nil
}

// valFree reports whether the fits may use the validation split (a paper's
// protocol with free validation labels, or a test's bare environment).
func (e *Env) valFree() bool { return len(e.split.Val) > 0 && !e.valRewardOnly }

// fitSets splits the labeled set of a round into what the learner fits and
// what it stops early on: the free validation split, else a stratified
// holdout of the labeled set (WithHoldout), else nothing (a fixed schedule).
func (e *Env) fitSets(train learner.Labeled, round int) (fit, stop learner.Labeled) {
	switch {
	case e.valFree():
		return train, learner.Labeled{Idx: e.split.Val, Y: gather(e.data.Y, e.split.Val)}
	case e.holdout > 0:
		return learner.StratifiedSplit(train, e.holdout, RNG(e.seed, round, "holdout"))
	}
	return train, learner.Labeled{}
}

// heldOutAccuracy fills the record's validation accuracy (the split's, for
// rewards) and holdout accuracy after a fit that stopped on stop.
func (e *Env) heldOutAccuracy(ctx context.Context, st learner.FitStats, stop learner.Labeled, rec *Record) error {
	rec.ValAcc = Float(math.NaN())
	switch {
	case e.valFree():
		rec.ValAcc = Float(st.ValAcc)
	case len(e.split.Val) > 0:
		acc, _, err := Evaluate(ctx, e.model, e.split.Val, gather(e.data.Y, e.split.Val))
		if err != nil {
			return fmt.Errorf("evaluating on the validation split: %w", err)
		}
		rec.ValAcc = Float(acc)
	}
	if stop.Len() > 0 && !e.valFree() {
		acc, _, err := Evaluate(ctx, e.model, stop.Idx, stop.Y)
		if err != nil {
			return fmt.Errorf("evaluating on the labeled holdout: %w", err)
		}
		h := Float(acc)
		rec.HoldoutAcc = &h
	}
	return nil
}

// observedAcc is the held-out accuracy an observation may carry after the
// round of rec (see Observation.ValAcc).
func (e *Env) observedAcc(rec Record) float64 {
	switch {
	case e.valFree():
		return float64(rec.ValAcc)
	case rec.HoldoutAcc != nil:
		return float64(*rec.HoldoutAcc)
	}
	return math.NaN()
}

// Evaluate returns accuracy and mean negative log-likelihood of l on (idx, y).
func Evaluate(ctx context.Context, l learner.Learner, idx, y []int) (acc, nll float64, err error) {
	if len(idx) == 0 {
		return math.NaN(), math.NaN(), nil
	}
	p, err := l.Probs(ctx, idx)
	if err != nil {
		return 0, 0, err
	}
	correct := 0
	for i := range idx {
		row := p.RawRowView(i)
		best := 0
		for c, v := range row {
			if v > row[best] {
				best = c
			}
		}
		if best == y[i] {
			correct++
		}
		nll -= math.Log(math.Max(row[y[i]], 1e-12))
	}
	return float64(correct) / float64(len(idx)), nll / float64(len(idx)), nil
}

func gather(y []int, idx []int) []int {
	out := make([]int, len(idx))
	for i, j := range idx {
		out[i] = y[j]
	}
	return out
}

func (e *Env) updateDone() {
	switch {
	case len(e.labeled) >= e.cfg.Budget:
		e.done = BudgetSpent
	case e.cfg.Rounds > 0 && e.round >= e.cfg.Rounds:
		e.done = RoundsDone
	case len(e.labeled) >= len(e.split.Pool):
		e.done = PoolExhausted
	default:
		e.done = NotDone
	}
}

// nextK is min(this round's step (k or al.sizes), remaining budget,
// unlabeled pool).
func (e *Env) nextK() int {
	k := e.cfg.StepSize(e.round+1, len(e.labeled))
	if r := e.cfg.Budget - len(e.labeled); r < k {
		k = r
	}
	if u := len(e.split.Pool) - len(e.labeled); u < k {
		k = u
	}
	return k
}

func (e *Env) observe() Observation {
	unl := make([]int, 0, len(e.split.Pool)-len(e.labeled))
	for _, i := range e.split.Pool {
		if !e.isLabeled[i] {
			unl = append(unl, i)
		}
	}
	cands := unl
	if n := e.cfg.Candidates; n > 0 && n < len(unl) {
		rng := RNG(e.seed, e.round+1, "candidates")
		perm := rng.Perm(len(unl))[:n]
		cands = make([]int, n)
		for i, p := range perm {
			cands[i] = unl[p]
		}
		sort.Ints(cands)
	}
	e.cands = cands
	counts := make([]int, e.data.NumClasses)
	for _, y := range e.labeledY {
		counts[y]++
	}
	e.model.Reseed(RNG(e.seed, e.round+1, "learner").Uint64())
	k := 0
	if e.done == NotDone {
		k = e.nextK()
	}
	return Observation{
		Round: e.round + 1, K: k, Candidates: cands, Labeled: append([]int(nil), e.labeled...),
		Unlabeled: len(unl), BudgetUsed: e.oracle.Count(), Budget: e.cfg.Budget, ValAcc: e.obsAcc,
		ClassCounts: counts, Model: e.model, RNG: RNG(e.seed, e.round+1, "agent"),
		InitSize: e.cfg.InitSize, LabeledY: append([]int(nil), e.labeledY...),
	}
}

// CheckAction validates a chosen batch against the current observation.
func (e *Env) CheckAction(action []int) error {
	k := e.nextK()
	if len(action) != k {
		return fmt.Errorf("action has %d indices, the step needs exactly %d (min of k and the remaining budget)", len(action), k)
	}
	offered := make(map[int]bool, len(e.cands))
	for _, i := range e.cands {
		offered[i] = true
	}
	seen := map[int]bool{}
	for pos, i := range action {
		switch {
		case seen[i]:
			return fmt.Errorf("action[%d]: pool index %d is chosen twice", pos, i)
		case e.isLabeled[i]:
			return fmt.Errorf("action[%d]: pool index %d is already labeled", pos, i)
		case !offered[i]:
			if !e.oracle.InPool(i) {
				return fmt.Errorf("action[%d]: index %d is not in the pool (it may be a validation or test sample)", pos, i)
			}
			return fmt.Errorf("action[%d]: pool index %d was not among this step's candidates", pos, i)
		}
		seen[i] = true
	}
	return nil
}

// Step labels the chosen pool indices, refits and evaluates. The reward is the
// change in validation accuracy. A bad action is rejected with an error that
// names the index, and the episode is left unchanged.
func (e *Env) Step(ctx context.Context, action []int) (Observation, float64, EndReason, Record, error) {
	if !e.started {
		return Observation{}, 0, NotDone, Record{}, fmt.Errorf("step before reset: call Reset first")
	}
	if e.done != NotDone {
		return Observation{}, 0, e.done, Record{}, fmt.Errorf("step after the episode ended (%s)", e.done)
	}
	if err := e.CheckAction(action); err != nil {
		return Observation{}, 0, NotDone, Record{}, fmt.Errorf("round %d: %w", e.round+1, err)
	}
	if err := ctx.Err(); err != nil {
		return Observation{}, 0, NotDone, Record{}, err
	}
	if err := e.answered(e.round+1, action); err != nil {
		return Observation{}, 0, NotDone, Record{}, err
	}
	randomGain, err := e.counterfactualGain(ctx, len(action))
	if err != nil {
		return Observation{}, 0, NotDone, Record{}, fmt.Errorf("round %d: %w", e.round+1, err)
	}
	prevLabels := len(e.labeled)
	e.round++
	if err := e.reveal(action); err != nil {
		return Observation{}, 0, NotDone, Record{}, err
	}
	rec, err := e.fitAndEvaluate(ctx, action)
	if err != nil {
		return Observation{}, 0, NotDone, rec, err
	}
	reward := e.reward(float64(rec.ValAcc)-e.valAcc, randomGain, prevLabels, &rec)
	rec.Reward = Float(reward)
	e.valAcc = float64(rec.ValAcc)
	e.obsAcc = e.observedAcc(rec)
	e.updateDone()
	obs := e.observe()
	if err := e.attach(ctx, &obs); err != nil {
		return Observation{}, reward, e.done, rec, err
	}
	return obs, reward, e.done, rec, nil
}

// State is what a checkpoint stores of an episode (the learner's weights are saved beside it).
type State struct {
	Seed     uint64 `json:"seed"`
	Round    int    `json:"round"`
	Labeled  []int  `json:"labeled"`
	Labels   []int  `json:"labels"`
	ValAcc   Float  `json:"val_acc"`
	Revealed int    `json:"revealed"`
	// ObsAcc is the held-out accuracy the next observation shows; nil in
	// checkpoints written before it existed (then ValAcc, as they showed).
	ObsAcc *Float `json:"obs_acc,omitempty"`
}

// State snapshots the episode.
func (e *Env) State() State {
	obs := Float(e.obsAcc)
	return State{Seed: e.seed, Round: e.round, Labeled: append([]int(nil), e.labeled...),
		Labels: append([]int(nil), e.labeledY...), ValAcc: Float(e.valAcc), Revealed: e.oracle.Count(), ObsAcc: &obs}
}

// Restore puts the episode back into a saved state; the caller loads the
// learner's weights. It returns the observation for the next step.
func (e *Env) Restore(s State) (Observation, error) {
	if len(s.Labeled) != len(s.Labels) {
		return Observation{}, fmt.Errorf("checkpoint: %d labeled indices but %d labels", len(s.Labeled), len(s.Labels))
	}
	// Rebuild into locals first, so a bad state leaves the episode untouched.
	oracle := NewOracle(e.data.Y, e.split.Pool)
	isLabeled := make(map[int]bool, len(s.Labeled))
	for _, idx := range s.Labeled {
		if err := oracle.restore(idx); err != nil {
			return Observation{}, fmt.Errorf("checkpoint: %w", err)
		}
		isLabeled[idx] = true
	}
	e.seed, e.round, e.started = s.Seed, s.Round, true
	e.oracle, e.isLabeled = oracle, isLabeled
	e.labeled = append([]int(nil), s.Labeled...)
	e.labeledY = append([]int(nil), s.Labels...)
	e.valAcc = float64(s.ValAcc)
	e.obsAcc = e.valAcc
	if s.ObsAcc != nil {
		e.obsAcc = float64(*s.ObsAcc)
	}
	e.model.Reset()
	e.updateDone()
	return e.observe(), nil
}
