package agents

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/strategies"
)

// EXP4P is the EXP4.P contextual bandit of Beygelzimer et al. (2011), as
// ALBL uses it: N experts give advice (a distribution over K actions), the
// learner plays p = (1 - K pmin) x (weighted mean advice) + pmin, and after a
// reward r for the played action j it updates every expert's weight with
// exp(pmin/2 (yhat_i + vhat_i sqrt(ln(N/delta)/(K T)))), where
// yhat_i = xi_ij r / p_j and vhat_i = sum_j' xi_ij' / p_j'. Weights are
// kept as logarithms.
type EXP4P struct {
	LogW  []float64
	Delta float64
}

// NewEXP4P starts n experts with equal weights.
func NewEXP4P(n int, delta float64) *EXP4P {
	return &EXP4P{LogW: make([]float64, n), Delta: delta}
}

// Probs returns the normalised expert weights.
func (b *EXP4P) Probs() []float64 {
	m := math.Inf(-1)
	for _, l := range b.LogW {
		m = math.Max(m, l)
	}
	w := make([]float64, len(b.LogW))
	s := 0.0
	for i, l := range b.LogW {
		w[i] = math.Exp(l - m)
		s += w[i]
	}
	for i := range w {
		w[i] /= s
	}
	return w
}

// Distribution mixes the advice (N x K rows, each summing to 1) into the play distribution.
func (b *EXP4P) Distribution(advice [][]float64, pmin float64) ([]float64, error) {
	if len(advice) != len(b.LogW) {
		return nil, fmt.Errorf("exp4.p: %d advice vectors for %d experts", len(advice), len(b.LogW))
	}
	k := len(advice[0])
	if pmin < 0 || float64(k)*pmin > 1 {
		return nil, fmt.Errorf("exp4.p: pmin %g is outside [0, 1/K] for K = %d", pmin, k)
	}
	w := b.Probs()
	p := make([]float64, k)
	for i, a := range advice {
		if len(a) != k {
			return nil, fmt.Errorf("exp4.p: expert %d advises on %d actions, not %d", i, len(a), k)
		}
		for j, v := range a {
			p[j] += w[i] * v
		}
	}
	for j := range p {
		p[j] = (1-float64(k)*pmin)*p[j] + pmin
	}
	return p, nil
}

// Update applies the reward r of action j played with distribution p.
func (b *EXP4P) Update(advice [][]float64, p []float64, j int, r, pmin float64, T int) {
	n, k := float64(len(b.LogW)), float64(len(p))
	conf := math.Sqrt(math.Log(n/b.Delta) / (k * float64(max(T, 1))))
	for i, a := range advice {
		y := a[j] * r / p[j]
		v := 0.0
		for jj, x := range a {
			v += x / p[jj]
		}
		b.LogW[i] += pmin / 2 * (y + v*conf)
	}
}

// BanditConfig configures ALBL (the `agent.bandit` section and the albl strategy's options).
type BanditConfig struct {
	Arms  []string `yaml:"arms" json:"arms"`   // registered strategies the bandit chooses among
	Delta float64  `yaml:"delta" json:"delta"` // EXP4.P confidence parameter
	PMin  float64  `yaml:"pmin" json:"pmin"`   // minimum play probability; 0 = sqrt(ln N / (K T)), capped at 1/(2K)
}

// DefaultBanditConfig returns the documented defaults.
func DefaultBanditConfig() BanditConfig {
	return BanditConfig{Arms: []string{"random", "least_confidence", "margin", "entropy"}, Delta: 0.1}
}

// Validate checks the arms exist.
func (c BanditConfig) Validate() error {
	if len(c.Arms) < 2 {
		return fmt.Errorf("agent.bandit.arms: list at least two strategies, got %v", c.Arms)
	}
	seen := map[string]bool{}
	for i, a := range c.Arms {
		if seen[a] {
			return fmt.Errorf("agent.bandit.arms[%d]: %q is listed twice", i, a)
		}
		seen[a] = true
		if a == "albl" || a == "policy" {
			return fmt.Errorf("agent.bandit.arms[%d]: %q cannot be an arm", i, a)
		}
		if _, err := strategies.New(a, nil); err != nil {
			return fmt.Errorf("agent.bandit.arms[%d]: %w", i, err)
		}
	}
	if c.Delta <= 0 || c.Delta >= 1 {
		return fmt.Errorf("agent.bandit.delta: must be in (0, 1), got %g", c.Delta)
	}
	if c.PMin < 0 {
		return fmt.Errorf("agent.bandit.pmin: must be >= 0, got %g", c.PMin)
	}
	return nil
}

// ALBL is Active Learning By Learning (Hsu & Lin 2015): EXP4.P whose
// experts are base strategies, rewarded with the importance-weighted
// accuracy of the current model on the samples ALBL itself queried:
// IW-ACC = 1/(K T) sum_tau W_tau [f(x_tau) = y_tau], W_tau = 1/p_tau. The
// paper queries one sample at a time; for batches of k this draws k
// samples without replacement from the EXP4.P distribution, gives each the
// importance weight 1/p of its draw probability, and applies one EXP4.P
// update per drawn sample with the reward measured after the batch's refit.
// An expert's advice is uniform over the k samples its strategy would
// select. K is the number of candidates offered per round (the whole
// unlabeled pool when al.candidates is 0) and T the number of queries in
// the episode (budget minus the initial set).
type ALBL struct {
	cfg   BanditConfig
	arms  []strategies.Strategy
	exp   *EXP4P
	prior []float64

	queried []int
	weight  []float64
	pending *alblPending
	// Rewards logs every IW-ACC reward (for tests and logs).
	Rewards []float64
}

type alblPending struct {
	advice [][]float64
	p      []float64
	draws  []int
	pmin   float64
	T      int
}

// NewALBL builds ALBL over the configured arms.
func NewALBL(cfg BanditConfig) (*ALBL, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &ALBL{cfg: cfg, exp: NewEXP4P(len(cfg.Arms), cfg.Delta)}
	for _, name := range cfg.Arms {
		s, err := strategies.New(name, nil)
		if err != nil {
			return nil, err
		}
		a.arms = append(a.arms, s)
	}
	return a, nil
}

// SetPrior starts the experts from learned log-weights (a trained bandit policy).
func (a *ALBL) SetPrior(logw []float64) error {
	if len(logw) != len(a.arms) {
		return fmt.Errorf("albl: %d prior weights for %d arms", len(logw), len(a.arms))
	}
	a.prior = append([]float64(nil), logw...)
	copy(a.exp.LogW, logw)
	return nil
}

// Name returns "albl".
func (a *ALBL) Name() string { return "albl" }

// Weights returns the arms' normalised weights.
func (a *ALBL) Weights() map[string]float64 {
	out := map[string]float64{}
	for i, w := range a.exp.Probs() {
		out[a.cfg.Arms[i]] = w
	}
	return out
}

// Needs returns the union of the arms' capabilities.
func (a *ALBL) Needs() []learner.Capability {
	seen := map[learner.Capability]bool{}
	var out []learner.Capability
	for _, s := range a.arms {
		if n, ok := s.(strategies.Needer); ok {
			for _, c := range n.Needs() {
				if !seen[c] {
					seen[c] = true
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// reset forgets the episode (the experts' weights go back to the prior).
func (a *ALBL) reset() {
	a.queried, a.weight, a.pending, a.Rewards = nil, nil, nil, nil
	a.exp.LogW = make([]float64, len(a.arms))
	copy(a.exp.LogW, a.prior)
}

// reward computes IW-ACC with the refit model and applies the pending update.
func (a *ALBL) reward(ctx context.Context, model strategies.Model, ep envs.Episode) error {
	if a.pending == nil {
		return nil
	}
	pd := a.pending
	a.pending = nil
	labels := make(map[int]int, len(ep.Labeled))
	for i, idx := range ep.Labeled {
		if i < len(ep.LabeledY) {
			labels[idx] = ep.LabeledY[i]
		}
	}
	p, err := model.Probs(ctx, a.queried)
	if err != nil {
		return fmt.Errorf("albl reward: %w", err)
	}
	sum := 0.0
	for i, idx := range a.queried {
		y, ok := labels[idx]
		if !ok {
			return fmt.Errorf("albl reward: the label of queried pool index %d is not in the episode state", idx)
		}
		if argmaxRow(p.RawRowView(i)) == y {
			sum += a.weight[i]
		}
	}
	k := len(pd.p)
	r := sum / (float64(k) * float64(max(pd.T, 1)))
	a.Rewards = append(a.Rewards, r)
	for _, j := range pd.draws {
		a.exp.Update(pd.advice, pd.p, j, r, pd.pmin, pd.T)
	}
	return nil
}

func argmaxRow(r []float64) int {
	b := 0
	for i, v := range r {
		if v > r[b] {
			b = i
		}
	}
	return b
}

// Select rewards the previous round's draws (the model has been refit on
// their labels), then draws q.K candidates. It needs the episode state in
// ctx (envs.WithEpisode; agents.Heuristic passes it).
func (a *ALBL) Select(ctx context.Context, q strategies.Query) ([]int, error) {
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("albl: %w", err)
	}
	ep, ok := envs.EpisodeFrom(ctx)
	if !ok {
		return nil, fmt.Errorf("albl: the query carries no episode state (labels of the queried samples); run it through alrl's runner or agents.Heuristic")
	}
	if len(a.queried) > 0 && len(ep.Labeled) < len(a.queried) {
		a.reset() // a new episode with the same strategy value
	}
	if err := a.reward(ctx, q.Model, ep); err != nil {
		return nil, err
	}
	return a.draw(ctx, q, ep)
}

func (a *ALBL) draw(ctx context.Context, q strategies.Query, ep envs.Episode) ([]int, error) {
	k := len(q.Candidates)
	pos := make(map[int]int, k)
	for i, c := range q.Candidates {
		pos[c] = i
	}
	advice := make([][]float64, len(a.arms))
	for i, s := range a.arms {
		sel, err := s.Select(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("albl: arm %s: %w", a.cfg.Arms[i], err)
		}
		advice[i] = make([]float64, k)
		for _, c := range sel {
			j, ok := pos[c]
			if !ok {
				return nil, fmt.Errorf("albl: arm %s chose %d, which is not a candidate", a.cfg.Arms[i], c)
			}
			advice[i][j] += 1 / float64(len(sel))
		}
	}
	T := ep.Budget - ep.InitSize
	if T < 1 {
		T = q.K
	}
	pmin := a.cfg.PMin
	if pmin == 0 {
		pmin = math.Sqrt(math.Log(float64(len(a.arms))) / (float64(k) * float64(T)))
	}
	pmin = math.Min(pmin, 1/(2*float64(k)))
	p, err := a.exp.Distribution(advice, pmin)
	if err != nil {
		return nil, fmt.Errorf("albl: %w", err)
	}
	draws := sampleWithout(p, q.K, q.RNG)
	out := make([]int, len(draws))
	for i, j := range draws {
		out[i] = q.Candidates[j]
		a.queried = append(a.queried, out[i])
		a.weight = append(a.weight, 1/p[j])
	}
	a.pending = &alblPending{advice: advice, p: p, draws: draws, pmin: pmin, T: T}
	return out, nil
}

// sampleWithout draws k positions without replacement, each draw
// proportional to p over the positions not yet drawn.
func sampleWithout(p []float64, k int, rng *rand.Rand) []int {
	left := append([]float64(nil), p...)
	out := make([]int, 0, k)
	for len(out) < k {
		s := 0.0
		for _, v := range left {
			s += v
		}
		u := rng.Float64() * s
		j := len(left) - 1
		for i, v := range left {
			if u < v {
				j = i
				break
			}
			u -= v
		}
		for tries := 0; left[j] == 0 && tries < len(left); tries++ { // rounding onto a drawn position
			j = (j + 1) % len(left)
		}
		out = append(out, j)
		left[j] = 0
	}
	return out
}

func init() {
	def := DefaultBanditConfig()
	strategies.Register(strategies.Info{
		Name:        "albl",
		Description: "Active Learning By Learning (Hsu & Lin 2015): EXP4.P bandit over strategies, importance-weighted accuracy reward",
		Options: []strategies.Option{
			{Name: "arms", Default: strings.Join(def.Arms, ","), Doc: "comma-separated registered strategies the bandit chooses among"},
			{Name: "delta", Default: def.Delta, Doc: "EXP4.P confidence parameter"},
			{Name: "pmin", Default: 0.0, Doc: "minimum play probability; 0 = sqrt(ln N / (K T)), capped at 1/(2K)"},
		},
		New: func(o strategies.Options) (strategies.Strategy, error) {
			arms, err := o.String("arms")
			if err != nil {
				return nil, err
			}
			d, err := o.Float("delta")
			if err != nil {
				return nil, err
			}
			pm, err := o.Float("pmin")
			if err != nil {
				return nil, err
			}
			var list []string
			for _, a := range strings.Split(arms, ",") {
				if a = strings.TrimSpace(a); a != "" {
					list = append(list, a)
				}
			}
			return NewALBL(BanditConfig{Arms: list, Delta: d, PMin: pm})
		},
	})
}

// Bandit trains ALBL over episodes: the experts' log-weights carry over from
// one episode to the next (normalised at each episode's end), so the saved
// policy is a prior over the arms learned on the source data set; within an
// episode ALBL learns online exactly as on its own.
type Bandit struct {
	albl *ALBL
	seed uint64
	ep   int
	rng  *rand.Rand
}

// NewBandit builds the bandit trainer.
func NewBandit(seed uint64, cfg BanditConfig) (*Bandit, error) {
	a, err := NewALBL(cfg)
	if err != nil {
		return nil, err
	}
	a.prior = make([]float64, len(a.arms))
	b := &Bandit{albl: a, seed: seed}
	b.BeginEpisode(0)
	return b, nil
}

// Name returns "bandit".
func (b *Bandit) Name() string { return KindBandit }

// Kind returns "bandit".
func (b *Bandit) Kind() string { return KindBandit }

// ALBL returns the underlying bandit.
func (b *Bandit) ALBL() *ALBL { return b.albl }

// BeginEpisode starts episode ep from the weights learned so far.
func (b *Bandit) BeginEpisode(ep int) {
	b.ep, b.rng = ep, episodeRNG(b.seed, ep, "bandit")
	b.albl.reset()
}

// Act draws obs.K candidates.
func (b *Bandit) Act(ctx context.Context, obs envs.Observation) ([]int, error) {
	ep := obs.Episode()
	q := strategies.Query{Model: obs.Model, Candidates: obs.Candidates, Labeled: obs.Labeled, K: obs.K, RNG: obs.RNG}
	ctx = envs.WithEpisode(ctx, ep)
	if err := b.albl.reward(ctx, q.Model, ep); err != nil {
		return nil, err
	}
	return b.albl.draw(ctx, q, ep)
}

// Observe applies the IW-ACC reward of the last draws when the episode ends
// (otherwise the next Act does, with the same refit model); the env's own
// reward is not used: ALBL's reward is its importance-weighted accuracy.
func (b *Bandit) Observe(ctx context.Context, _ float64, next envs.Observation, done bool) error {
	if !done || next.Model == nil {
		return nil
	}
	return b.albl.reward(ctx, next.Model, next.Episode())
}

// EndEpisode normalises the log-weights (the maximum becomes 0) and keeps them as the prior.
func (b *Bandit) EndEpisode(context.Context) (map[string]float64, error) {
	m := math.Inf(-1)
	for _, l := range b.albl.exp.LogW {
		m = math.Max(m, l)
	}
	for i := range b.albl.exp.LogW {
		b.albl.exp.LogW[i] -= m
	}
	b.albl.prior = append([]float64(nil), b.albl.exp.LogW...)
	st := map[string]float64{}
	for name, w := range b.albl.Weights() {
		st["w_"+name] = w
	}
	if n := len(b.albl.Rewards); n > 0 {
		st["iw_acc"] = b.albl.Rewards[n-1]
	}
	return st, nil
}

// Policy returns the bandit's policy file (arms and learned log-weights).
func (b *Bandit) Policy(info TrainInfo) *PolicyFile {
	cfg := b.albl.cfg
	return &PolicyFile{Kind: KindBandit, Bandit: &cfg, LogWeights: append([]float64(nil), b.albl.prior...), Training: info}
}

// Checkpoint serialises the learned log-weights.
func (b *Bandit) Checkpoint() ([]byte, error) { return json.Marshal(b.albl.prior) }

// Restore reads a checkpoint written by Checkpoint.
func (b *Bandit) Restore(data []byte) error {
	var w []float64
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("bandit checkpoint: %w", err)
	}
	if err := b.albl.SetPrior(w); err != nil {
		return fmt.Errorf("bandit checkpoint: %w", err)
	}
	return nil
}
