package nas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"time"

	"go.uber.org/zap"
	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/internal/atomicfile"
	"github.com/alrl/alrl/learner"
)

// holdoutStream is the fixed second word of the PCG state that draws the
// holdout split, so that it depends on the fit seed only.
const holdoutStream = 0x1a5e_a4c4_0000_0006

// Options are the run-time settings of a Learner that are not configuration.
type Options struct {
	// Factory builds the learner of one architecture; nil = learner.New
	// (the backend named in the learner config).
	Factory learner.Factory
	// Log receives one line per candidate training and one per search; nil = none.
	Log *zap.Logger
}

// Candidate is the outcome of one candidate training in a search.
type Candidate struct {
	Arch    Arch    `json:"arch"`
	Params  int     `json:"params"`
	Score   float64 `json:"score"`   // accuracy on the held-out part of the labeled set (or the validation split)
	Loss    float64 `json:"loss"`    // mean negative log-likelihood there
	Seconds float64 `json:"seconds"` // wall time of the training and scoring
}

// Search is what one round's architecture search did.
type Search struct {
	From       Arch        `json:"from"`
	To         Arch        `json:"to"`
	Candidates []Candidate `json:"candidates"` // trained, in order
	Skipped    []string    `json:"skipped"`    // neighbours not trained, and why
	Scored     string      `json:"scored"`     // "holdout" or "validation"
	Train      int         `json:"train"`      // labeled samples the candidates trained on
	Held       int         `json:"held"`       // samples they were scored on
	Seconds    float64     `json:"seconds"`    // wall time of all candidate trainings
}

// Learner is Active-iNAS (Geifman & El-Yaniv 2019) as a learner.Learner:
// every Fit (one per active-learning round) first runs one step of the
// incremental architecture search, then trains the winner on all labeled
// samples. Every capability call is answered by the current architecture's
// learner.
type Learner struct {
	in      datasets.Inputs
	c       int
	lcfg    learner.Config
	cfg     Config
	opt     Options
	kind    Kind
	arch    Arch
	cur     learner.Learner
	seed    uint64
	history []Search
	// The search's winner, built by PrepareRound and switched to at the
	// round's first training call; last is the round's search.
	next     learner.Learner
	nextArch Arch
	last     Search
	prepared *roundKey
}

// Check validates both configs against a data set's input shape and class
// count without building anything: the start architecture must resolve and
// fit the bounds, and the learner config (its backend included) must hold
// for the networks of the search space, which all use the same layer types.
func Check(shape []int, numClasses int, lcfg learner.Config, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	kind, err := KindFor(shape)
	if err != nil {
		return fmt.Errorf("nas.enabled: %w", err)
	}
	start := cfg.Start(kind)
	r, err := start.Resolve(shape, numClasses, cfg.Space())
	if err != nil {
		return err
	}
	if ok, why := cfg.Bounds().Allows(start, r.Params()); !ok {
		return fmt.Errorf("nas: the start architecture %s is outside the bounds (%s); raise nas.max_params or start smaller", start, why)
	}
	lc := lcfg
	lc.Model = start.Spec(cfg.Space())
	if err := lc.Validate(shape, numClasses); err != nil {
		return fmt.Errorf("nas (Active-iNAS networks): %w", err)
	}
	return nil
}

// New builds the Active-iNAS learner over the inputs of a data set, after
// Check.
func New(in datasets.Inputs, numClasses int, lcfg learner.Config, cfg Config, opt Options) (*Learner, error) {
	if err := Check(in.Shape(), numClasses, lcfg, cfg); err != nil {
		return nil, err
	}
	kind, _ := KindFor(in.Shape())
	if opt.Factory == nil {
		opt.Factory = learner.New
	}
	if opt.Log == nil {
		opt.Log = zap.NewNop()
	}
	l := &Learner{in: in, c: numClasses, lcfg: lcfg, cfg: cfg, opt: opt, kind: kind, arch: cfg.Start(kind)}
	var err error
	if l.cur, err = l.build(l.arch); err != nil {
		return nil, err
	}
	return l, nil
}

// Arch returns the current architecture.
func (l *Learner) Arch() Arch { return l.arch }

// History returns the searches of every Fit so far (not restored by Load).
func (l *Learner) History() []Search { return append([]Search(nil), l.history...) }

// Params returns the number of trainable parameters of an architecture on
// this learner's data.
func (l *Learner) Params(a Arch) (int, error) {
	r, err := a.Resolve(l.in.Shape(), l.c, l.cfg.Space())
	if err != nil {
		return 0, err
	}
	return r.Params(), nil
}

func (l *Learner) build(a Arch) (learner.Learner, error) {
	lc := l.lcfg
	lc.Model = a.Spec(l.cfg.Space())
	m, err := l.opt.Factory(l.in, l.c, lc)
	if err != nil {
		return nil, fmt.Errorf("nas: building %s: %w", a, err)
	}
	return m, nil
}

// split divides the labeled set into a part to train candidates on and a
// held-out part to score them, drawn from seed. The held-out part takes
// classes in turn (each class's samples in random order, classes in random
// order), so that it covers the classes as evenly as the labels allow.
func split(train learner.Labeled, frac float64, seed uint64) (fit, held learner.Labeled) {
	return learner.StratifiedSplit(train, frac, rand.New(rand.NewPCG(seed, holdoutStream)))
}

// score returns the accuracy and mean negative log-likelihood of m on set.
func score(ctx context.Context, m learner.Learner, set learner.Labeled) (acc, nll float64, err error) {
	p, err := m.Probs(ctx, set.Idx)
	if err != nil {
		return 0, 0, err
	}
	correct := 0
	for i, y := range set.Y {
		row := p.RawRowView(i)
		best := 0
		for c := range row {
			if row[c] > row[best] {
				best = c
			}
		}
		if best == y {
			correct++
		}
		nll -= math.Log(math.Max(row[y], 1e-12))
	}
	return float64(correct) / float64(set.Len()), nll / float64(set.Len()), nil
}

// search runs one iNAS step from the current architecture and returns the
// winner: the candidate with the best held-out accuracy, ties going to the
// earlier (smaller) candidate, so the current architecture is kept unless a
// bigger one is strictly better.
func (l *Learner) search(ctx context.Context, train, val learner.Labeled, seed uint64) (Search, error) {
	s := Search{From: l.arch, To: l.arch}
	if !l.cfg.Search {
		return s, nil
	}
	cands, err := Candidates(l.arch, l.cfg.Bounds(), l.Params)
	if err != nil {
		return s, err
	}
	for _, n := range l.arch.Neighbourhood()[1:] {
		if !contains(cands, n) {
			p, _ := l.Params(n)
			_, why := l.cfg.Bounds().Allows(n, p)
			s.Skipped = append(s.Skipped, fmt.Sprintf("%s: %s", n, why))
		}
	}
	if len(cands) < 2 {
		return s, nil // at the bounds: nothing to compare
	}
	if l.cfg.MaxCandidates > 0 && len(cands) > l.cfg.MaxCandidates {
		for _, n := range cands[l.cfg.MaxCandidates:] {
			s.Skipped = append(s.Skipped, fmt.Sprintf("%s: nas.max_candidates %d", n, l.cfg.MaxCandidates))
		}
		cands = cands[:l.cfg.MaxCandidates]
	}
	// Candidates are scored on a held-out share of the labeled set only
	// (never on labels outside the budget).
	if l.cfg.Holdout <= 0 {
		return s, fmt.Errorf("nas.holdout: 0 leaves no labeled samples to score the candidates on; set nas.holdout (e.g. 0.2)")
	}
	if train.Len() < 2 {
		s.Skipped = append(s.Skipped, fmt.Sprintf("all: %d labeled sample cannot be split for scoring", train.Len()))
		return s, nil
	}
	fit, held := split(train, l.cfg.Holdout, seed)
	s.Scored = "holdout"
	s.Train, s.Held = fit.Len(), held.Len()
	start := time.Now()
	best := -1
	for i, a := range cands {
		if err := ctx.Err(); err != nil {
			return s, err
		}
		if i >= 2 && l.cfg.BudgetSeconds > 0 && time.Since(start).Seconds() >= l.cfg.BudgetSeconds {
			for _, n := range cands[i:] {
				s.Skipped = append(s.Skipped, fmt.Sprintf("%s: nas.budget_seconds %g spent", n, l.cfg.BudgetSeconds))
			}
			break
		}
		c, err := l.trainCandidate(ctx, a, fit, held, val, seed)
		if err != nil {
			return s, err
		}
		s.Candidates = append(s.Candidates, c)
		l.opt.Log.Info("nas candidate", zap.String("arch", a.String()), zap.Int("params", c.Params),
			zap.Float64("score", c.Score), zap.Float64("loss", c.Loss), zap.Float64("seconds", c.Seconds),
			zap.Int("train", fit.Len()), zap.Int("scored_on", held.Len()))
		if best < 0 || c.Score > s.Candidates[best].Score {
			best = len(s.Candidates) - 1
		}
	}
	s.Seconds = time.Since(start).Seconds()
	s.To = s.Candidates[best].Arch
	return s, nil
}

func contains(as []Arch, a Arch) bool {
	for _, b := range as {
		if b == a {
			return true
		}
	}
	return false
}

// trainCandidate trains architecture a on fit (early stopping on val, as
// the final training does) and scores it on held. Every candidate gets the
// same seed: the same data order and initialisation stream.
func (l *Learner) trainCandidate(ctx context.Context, a Arch, fit, held, val learner.Labeled, seed uint64) (Candidate, error) {
	t0 := time.Now()
	c := Candidate{Arch: a}
	var err error
	if c.Params, err = l.Params(a); err != nil {
		return c, err
	}
	m, err := l.build(a)
	if err != nil {
		return c, err
	}
	defer m.Close()
	if _, err := m.Fit(ctx, fit, val, seed); err != nil {
		return c, fmt.Errorf("nas: training candidate %s: %w", a, err)
	}
	if c.Score, c.Loss, err = score(ctx, m, held); err != nil {
		return c, fmt.Errorf("nas: scoring candidate %s: %w", a, err)
	}
	c.Seconds = time.Since(t0).Seconds()
	return c, nil
}

// roundKey identifies the labeled set and seed a search was prepared for.
type roundKey struct {
	n    int
	seed uint64
}

// PrepareRound runs one step of the architecture search on the labeled set
// and builds the winner, which replaces the current network at the round's
// first training call (Fit, FitWeighted, FitWithLossModule, Initialize,
// FitAuxHead, LoadBackbone, FitVAAL); until then predictions come from the
// last trained network (CEAL's pseudo-labels, for one). Capacity never
// shrinks.
func (l *Learner) PrepareRound(ctx context.Context, train, val learner.Labeled, seed uint64) error {
	if train.Len() == 0 {
		return fmt.Errorf("nas: no labeled samples to search on")
	}
	s, err := l.search(ctx, train, val, seed)
	if err != nil {
		return err
	}
	l.dropNext()
	if s.To != l.arch {
		m, err := l.build(s.To)
		if err != nil {
			return err
		}
		m.Reseed(l.seed)
		l.next, l.nextArch = m, s.To
	}
	l.history = append(l.history, s)
	l.last = s
	l.prepared = &roundKey{train.Len(), seed}
	return nil
}

// dropNext frees a prepared network that was never switched to.
func (l *Learner) dropNext() {
	if l.next != nil {
		_ = l.next.Close()
		l.next = nil
	}
}

// begin starts a training call: the prepared architecture (if any) becomes
// the current one; it returns the time the call started.
func (l *Learner) begin() time.Time {
	if l.next != nil {
		_ = l.cur.Close()
		l.cur, l.arch, l.next = l.next, l.nextArch, nil
	}
	l.prepared = nil
	return time.Now()
}

// Fit runs one step of the architecture search on the labeled set (unless
// PrepareRound already did for this labeled set and seed), moves to the
// winner, and trains it on all labeled samples. The returned stats are the
// final training's, with Info holding the architecture and the search's
// candidates and cost.
func (l *Learner) Fit(ctx context.Context, train, val learner.Labeled, seed uint64) (learner.FitStats, error) {
	if train.Len() == 0 {
		return learner.FitStats{}, fmt.Errorf("fit: no labeled samples")
	}
	if l.prepared == nil || *l.prepared != (roundKey{train.Len(), seed}) {
		if err := l.PrepareRound(ctx, train, val, seed); err != nil {
			return learner.FitStats{}, err
		}
	}
	t0 := l.begin()
	st, err := l.cur.Fit(ctx, train, val, seed)
	if err != nil {
		return st, err
	}
	return l.withInfo(st, t0), nil
}

// withInfo adds the architecture and the last search to a training call's
// stats (a trainer's record shows the stats it returns).
func (l *Learner) withInfo(st learner.FitStats, t0 time.Time) learner.FitStats {
	s := l.last
	params, _ := l.Params(l.arch)
	info := map[string]any{
		"arch": l.arch.String(), "stacks": l.arch.Stacks, "blocks": l.arch.Blocks, "width": l.arch.Width,
		"params": params, "nas_trainings": len(s.Candidates), "nas_search_seconds": s.Seconds,
		"nas_final_seconds": time.Since(t0).Seconds(),
	}
	if len(s.Candidates) > 0 {
		// Plain maps, so the JSON line reads the same after a checkpoint round trip.
		cs := make([]any, len(s.Candidates))
		for i, c := range s.Candidates {
			cs[i] = map[string]any{"arch": c.Arch.String(), "params": c.Params, "score": c.Score,
				"loss": c.Loss, "seconds": c.Seconds}
		}
		info["nas_candidates"] = cs
		info["nas_scored_on"] = s.Scored
	}
	if len(s.Skipped) > 0 {
		sk := make([]any, len(s.Skipped))
		for i, v := range s.Skipped {
			sk[i] = v
		}
		info["nas_skipped"] = sk
	}
	for k, v := range st.Info {
		if _, ok := info[k]; !ok {
			info[k] = v
		}
	}
	st.Info = info
	l.opt.Log.Info("nas search", zap.String("from", s.From.String()), zap.String("arch", l.arch.String()),
		zap.Int("params", params), zap.Int("candidate_trainings", len(s.Candidates)),
		zap.Float64("search_seconds", s.Seconds), zap.Strings("skipped", s.Skipped))
	return st
}

// ModelSpec returns the layer list of the network the next training call
// trains (the prepared architecture, else the current one).
func (l *Learner) ModelSpec() learner.ModelSpec {
	a := l.arch
	if l.next != nil {
		a = l.nextArch
	}
	return a.Spec(l.cfg.Space())
}

// HasCapability answers learner.Has: the capabilities this learner has
// methods for and the current network's backend provides (every architecture
// of the search uses the same backend). Raw inputs do not depend on the
// network, so they are always there.
func (l *Learner) HasCapability(c learner.Capability) bool {
	if c == learner.CapInputs {
		return true
	}
	return learner.Implements(l, c) && learner.Has(l.cur, c)
}

// training starts a training call that needs capability c: it checks that
// the round's network (the prepared one, else the current one) has it as T,
// switches to that network (begin) and returns it with the start time.
func training[T any](l *Learner, c learner.Capability) (T, time.Time, error) {
	net := l.cur
	if l.next != nil {
		net = l.next
	}
	t, ok := net.(T)
	if !ok {
		var zero T
		return zero, time.Time{}, &learner.CapabilityError{Capability: c, Learner: l.Describe()}
	}
	return t, l.begin(), nil
}

// FitWeighted trains the round's architecture on weighted samples (CEAL's
// and SSAL's pseudo-labels); the search ran in PrepareRound on the labeled
// set only.
func (l *Learner) FitWeighted(ctx context.Context, train learner.Weighted, val learner.Labeled, seed uint64, opt learner.FitOptions) (learner.FitStats, error) {
	m, t0, err := training[learner.WeightedFitter](l, learner.CapWeightedFit)
	if err != nil {
		return learner.FitStats{}, err
	}
	st, err := m.FitWeighted(ctx, train, val, seed, opt)
	if err != nil {
		return st, err
	}
	return l.withInfo(st, t0), nil
}

// Initialize gives the round's architecture fresh seeded weights (SSAL's
// pre-training starts there).
func (l *Learner) Initialize(seed uint64) error {
	m, _, err := training[learner.Initializer](l, learner.CapInitialize)
	if err != nil {
		return err
	}
	return m.Initialize(seed)
}

// FitAuxHead trains the round's architecture's body under a temporary head.
func (l *Learner) FitAuxHead(ctx context.Context, train learner.Weighted, outputs int, seed uint64, opt learner.FitOptions) (learner.FitStats, error) {
	m, _, err := training[learner.AuxHeadFitter](l, learner.CapAuxHead)
	if err != nil {
		return learner.FitStats{}, err
	}
	return m.FitAuxHead(ctx, train, outputs, seed, opt)
}

// LoadBackbone loads pre-trained body weights into the round's architecture.
func (l *Learner) LoadBackbone(path string, seed uint64) error {
	m, _, err := training[learner.BackboneLoader](l, learner.CapLoadBackbone)
	if err != nil {
		return err
	}
	return m.LoadBackbone(path, seed)
}

// FitWithLossModule trains the round's architecture with the loss-prediction
// module of Yoo & Kweon (2019) on its taps.
func (l *Learner) FitWithLossModule(ctx context.Context, train, val learner.Labeled, seed uint64, opt learner.LossModuleOptions) (learner.FitStats, learner.LossModuleStats, error) {
	if train.Len() == 0 {
		return learner.FitStats{}, learner.LossModuleStats{}, fmt.Errorf("fit: no labeled samples")
	}
	m, t0, err := training[learner.LossPredictor](l, learner.CapLossPrediction)
	if err != nil {
		return learner.FitStats{}, learner.LossModuleStats{}, err
	}
	st, ls, err := m.FitWithLossModule(ctx, train, val, seed, opt)
	if err != nil {
		return st, ls, err
	}
	return l.withInfo(st, t0), ls, nil
}

// PredictedLoss returns the current network's predicted losses.
func (l *Learner) PredictedLoss(ctx context.Context, idx []int) ([]float64, error) {
	p, ok := l.cur.(learner.LossPredictor)
	if !ok {
		return nil, &learner.CapabilityError{Capability: learner.CapLossPrediction, Learner: l.Describe()}
	}
	return p.PredictedLoss(ctx, idx)
}

// FitVAAL trains VAAL's VAE and discriminator beside the round's network
// (they do not depend on the architecture and start afresh every round).
func (l *Learner) FitVAAL(ctx context.Context, labeled, unlabeled []int, seed uint64, opt learner.VAALOptions) (learner.VAALStats, error) {
	m, _, err := training[learner.VAALModel](l, learner.CapVAAL)
	if err != nil {
		return learner.VAALStats{}, err
	}
	return m.FitVAAL(ctx, labeled, unlabeled, seed, opt)
}

// LabeledProb returns VAAL's discriminator probabilities.
func (l *Learner) LabeledProb(ctx context.Context, idx []int) ([]float64, error) {
	v, ok := l.cur.(learner.VAALModel)
	if !ok {
		return nil, &learner.CapabilityError{Capability: learner.CapVAAL, Learner: l.Describe()}
	}
	return v.LabeledProb(ctx, idx)
}

// Probs returns the current network's class probabilities.
func (l *Learner) Probs(ctx context.Context, idx []int) (*mat.Dense, error) {
	return l.cur.Probs(ctx, idx)
}

// MCProbs returns the current network's MC-dropout samples, or a
// CapabilityError when its backend cannot draw them.
func (l *Learner) MCProbs(ctx context.Context, idx []int, T int) ([]*mat.Dense, error) {
	s, ok := l.cur.(learner.MCSampler)
	if !ok {
		return nil, &learner.CapabilityError{Capability: learner.CapMCDropout, Learner: l.Describe()}
	}
	return s.MCProbs(ctx, idx, T)
}

// HasDropout reports whether MC-dropout sampling is meaningful (nas.dropout > 0
// and a backend that samples).
func (l *Learner) HasDropout() bool { return learner.Has(l.cur, learner.CapMCDropout) }

// Embed returns the current network's penultimate activations.
func (l *Learner) Embed(ctx context.Context, idx []int) (*mat.Dense, error) {
	e, ok := l.cur.(learner.Embedder)
	if !ok {
		return nil, &learner.CapabilityError{Capability: learner.CapEmbeddings, Learner: l.Describe()}
	}
	return e.Embed(ctx, idx)
}

// LastLayerWeights returns the current network's output-layer weights.
func (l *Learner) LastLayerWeights() (*mat.Dense, error) {
	w, ok := l.cur.(learner.LastLayer)
	if !ok {
		return nil, &learner.CapabilityError{Capability: learner.CapLastLayer, Learner: l.Describe()}
	}
	return w.LastLayerWeights()
}

// Inputs returns the raw flattened inputs of pool samples (they do not
// depend on the architecture).
func (l *Learner) Inputs(ctx context.Context, idx []int) (*mat.Dense, error) {
	if s, ok := l.cur.(learner.InputSource); ok {
		return s.Inputs(ctx, idx)
	}
	return learner.DatasetInputs(l.in).Inputs(ctx, idx)
}

// InputGrads returns the current network's logits at x and their gradients
// with respect to x, or a CapabilityError when its backend cannot.
func (l *Learner) InputGrads(ctx context.Context, x *mat.Dense) (*mat.Dense, []*mat.Dense, error) {
	g, ok := l.cur.(learner.InputGrader)
	if !ok {
		return nil, nil, &learner.CapabilityError{Capability: learner.CapInputGrads, Learner: l.Describe(),
			Hint: "use a learner backend that differentiates its inputs (torch)"}
	}
	return g.InputGrads(ctx, x)
}

// NumClasses returns C.
func (l *Learner) NumClasses() int { return l.c }

// Reseed seeds the current network's random generators (and the ones it
// is replaced by).
func (l *Learner) Reseed(seed uint64) {
	l.seed = seed
	l.cur.Reseed(seed)
	if l.next != nil {
		l.next.Reseed(seed)
	}
}

// Describe names the search and the current network.
func (l *Learner) Describe() string {
	mode := "Active-iNAS"
	if !l.cfg.Search {
		mode = "fixed iNAS architecture"
	}
	return fmt.Sprintf("%s %s %s: %s", mode, l.kind, l.arch, l.cur.Describe())
}

// archFile is the side file that Save writes beside the weights.
type archFile struct {
	Version int  `json:"version"`
	Arch    Arch `json:"arch"`
}

// ArchPath returns the side file that holds the architecture of the
// weights saved at path.
func ArchPath(path string) string { return path + ".nas.json" }

// Save writes the current architecture to ArchPath(path), then the current
// network's weights to path, each atomically.
func (l *Learner) Save(path string) error {
	b, err := json.Marshal(archFile{Version: 1, Arch: l.arch})
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(ArchPath(path), append(b, '\n')); err != nil {
		return fmt.Errorf("nas: saving the architecture: %w", err)
	}
	return l.cur.Save(path)
}

// Load restores the architecture saved beside path, then its weights; a
// prepared search is dropped.
func (l *Learner) Load(path string) error {
	l.dropNext()
	l.prepared = nil
	b, err := os.ReadFile(ArchPath(path))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("nas: %s has no architecture file %s; it was not saved by an Active-iNAS learner (was nas.enabled changed?)", path, ArchPath(path))
	}
	if err != nil {
		return fmt.Errorf("nas: %w", err)
	}
	var f archFile
	if err := json.Unmarshal(b, &f); err != nil || f.Version != 1 {
		return fmt.Errorf("nas: architecture file %s is corrupt (%v); delete the run's checkpoint folder and rerun without --resume", ArchPath(path), err)
	}
	if f.Arch.Kind != l.kind || f.Arch.Width != l.cfg.Width {
		return fmt.Errorf("nas: the saved architecture %s (%s) does not fit this config (%s inputs, nas.width %d)", f.Arch, f.Arch.Kind, l.kind, l.cfg.Width)
	}
	if f.Arch != l.arch {
		m, err := l.build(f.Arch)
		if err != nil {
			return err
		}
		if err := m.Load(path); err != nil {
			_ = m.Close()
			return err
		}
		_ = l.cur.Close()
		l.cur, l.arch = m, f.Arch
		l.cur.Reseed(l.seed)
		return nil
	}
	return l.cur.Load(path)
}

// Close frees the current network (and a prepared one).
func (l *Learner) Close() error {
	l.dropNext()
	return l.cur.Close()
}
