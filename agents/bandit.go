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
// round with estimated reward vector rhat (rhat_j = r / p_j for the played
// action j, 0 elsewhere, in the single-draw case) it updates every expert's
// weight with exp(pmin/2 (yhat_i + vhat_i sqrt(ln(N/delta)/(K T)))), where
// yhat_i = xi_i . rhat and vhat_i = sum_j xi_ij / p_j. Weights are kept as
// logarithms.
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
	if pmin < 0 || float64(k)*pmin > 1+1e-12 {
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
		p[j] = math.Max(0, 1-float64(k)*pmin)*p[j] + pmin
	}
	return p, nil
}

// Update applies the reward r of the single action j played with distribution p.
func (b *EXP4P) Update(advice [][]float64, p []float64, j int, r, pmin float64, T int) {
	rhat := make([]float64, len(p))
	rhat[j] = r / p[j]
	b.UpdateEstimate(advice, p, rhat, pmin, T)
}

// UpdateEstimate applies one round's estimated reward vector rhat (one
// entry per action, an unbiased estimate of the round's rewards) for play
// distribution p; T is the number of rounds.
func (b *EXP4P) UpdateEstimate(advice [][]float64, p, rhat []float64, pmin float64, T int) {
	n, k := float64(len(b.LogW)), float64(len(p))
	conf := math.Sqrt(math.Log(n/b.Delta) / (k * float64(max(T, 1))))
	for i, a := range advice {
		y, v := 0.0, 0.0
		for jj, x := range a {
			if x != 0 {
				y += x * rhat[jj]
				v += x / p[jj]
			}
		}
		b.LogW[i] += pmin / 2 * (y + v*conf)
	}
}

// BanditConfig configures ALBL (the `agent.bandit` section and the albl strategy's options).
type BanditConfig struct {
	Arms  []string `yaml:"arms" json:"arms"`   // registered strategies the bandit chooses among
	Delta float64  `yaml:"delta" json:"delta"` // EXP4.P confidence parameter
	PMin  float64  `yaml:"pmin" json:"pmin"`   // minimum probability of each arm, at most 1/N; 0 = sqrt(ln N / (N T)), N arms, T rounds
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
	if c.PMin < 0 || c.PMin*float64(len(c.Arms)) > 1 {
		return fmt.Errorf("agent.bandit.pmin: must be in [0, 1/N] = [0, %g] for the %d arms, got %g", 1/float64(len(c.Arms)), len(c.Arms), c.PMin)
	}
	return nil
}

// ALBL is Active Learning By Learning (Hsu & Lin 2015) as in libact (the
// reference implementation from Lin's group): EXP4.P whose N actions are
// the arms (base strategies; expert i's advice is arm i, so yhat_i = rhat_i
// and vhat_i = 1/p_i), with arm probabilities p = (1 - N pmin) w + pmin,
// pmin = sqrt(ln N / (N T)) by default. A sample is queried from the mixture
// q_j = sum_i p_i psi_ij of the arms' advice psi_i (uniform over the k
// samples strategy i would select), and the bandit is rewarded with the
// importance-weighted accuracy of the refit model on the samples ALBL itself
// queried: IW-ACC = 1/(K T) sum_tau W_tau [f(x_tau) = y_tau].
//
// Batches: one acquisition round is one bandit round (T counts rounds,
// ceil((budget - init) / k)). The k samples are drawn by systematic PPS
// sampling with exact inclusion probabilities pi_j = min(1, c q_j),
// sum_j pi_j = k (see inclusionProbs); each queried sample's IW-ACC weight
// is W = 1/pi_j, so a round's weighted sum is a Horvitz-Thompson estimate
// of the candidates' correct count, as one draw weighted 1/q_j is in the
// paper. The round's single EXP4.P update uses
// rhat_i = r sum_{j in batch} psi_ij / pi_j, which is unbiased for
// sum_j psi_ij r_j since P(j in batch) = pi_j. With k = 1, pi = q and all
// of this is the paper's single-draw algorithm. K is the number of
// candidates offered per round (the whole unlabeled pool when
// al.candidates is 0).
type ALBL struct {
	cfg   BanditConfig
	arms  []strategies.Strategy
	exp   *EXP4P
	eye   [][]float64 // the experts' advice over the arms: the identity
	prior []float64

	queried []int
	weight  []float64
	rounds  int // T: bandit rounds in this episode, fixed by its first draw
	pending *alblPending
	// Rewards logs every IW-ACC reward, one per round (for tests and logs).
	Rewards []float64
}

type alblPending struct {
	psi   [][]float64 // N x K: each arm's advice over the candidates
	p     []float64   // N: the arm distribution played
	pi    []float64   // K: inclusion probabilities of the batch sampler
	batch []int       // positions (into the candidates) queried
	pmin  float64
	T     int // rounds
}

// NewALBL builds ALBL over the configured arms.
func NewALBL(cfg BanditConfig) (*ALBL, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := len(cfg.Arms)
	a := &ALBL{cfg: cfg, exp: NewEXP4P(n, cfg.Delta), eye: make([][]float64, n)}
	for i, name := range cfg.Arms {
		s, err := strategies.New(name, nil)
		if err != nil {
			return nil, err
		}
		a.arms = append(a.arms, s)
		a.eye[i] = make([]float64, n)
		a.eye[i][i] = 1
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
	a.queried, a.weight, a.pending, a.Rewards, a.rounds = nil, nil, nil, nil, 0
	a.exp.LogW = make([]float64, len(a.arms))
	copy(a.exp.LogW, a.prior)
}

// reward computes IW-ACC with the refit model and applies the pending
// round's single EXP4.P update.
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
	K := len(pd.pi)
	r := sum / (float64(K) * float64(max(pd.T, 1)))
	a.Rewards = append(a.Rewards, r)
	a.exp.UpdateEstimate(a.eye, pd.p, alblRewardEstimate(pd.psi, pd.pi, pd.batch, r), pd.pmin, pd.T)
	return nil
}

// alblRewardEstimate is the round's estimated reward of each arm,
// rhat_i = r sum_{j in batch} psi_ij / pi_j: the Horvitz-Thompson estimate
// of sum_j psi_ij r_j (arm i's advice-weighted reward) with every sample's
// reward r_j taken as the round's IW-ACC r; it is unbiased because
// P(j in batch) = pi_j, and with k = 1 it is the paper's r psi_ij / q_j.
func alblRewardEstimate(psi [][]float64, pi []float64, batch []int, r float64) []float64 {
	rhat := make([]float64, len(psi))
	for i, a := range psi {
		for _, j := range batch {
			rhat[i] += r * a[j] / pi[j]
		}
	}
	return rhat
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
// q.Episode (agents.Heuristic and alrl's runner pass it).
func (a *ALBL) Select(ctx context.Context, q strategies.Query) ([]int, error) {
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("albl: %w", err)
	}
	if q.Episode == nil {
		return nil, fmt.Errorf("albl: the query carries no episode state (labels of the queried samples); run it through alrl's runner or agents.Heuristic")
	}
	ep := *q.Episode
	if len(a.queried) > 0 && len(ep.Labeled) < len(a.queried) {
		a.reset() // a new episode with the same strategy value
	}
	if err := a.reward(ctx, q.Model, ep); err != nil {
		return nil, err
	}
	return a.draw(ctx, q, ep)
}

// alblPMin is the default pmin, sqrt(ln N / (N T)) for N arms and T rounds.
func alblPMin(n, rounds int) float64 {
	pmin := math.Sqrt(math.Log(float64(n)) / (float64(n) * float64(max(rounds, 1))))
	// EXP4.P needs N pmin <= 1, which libact (the reference implementation of Hsu & Lin 2015) leaves unchecked for the default, so when T < N ln N it is clamped to 1/N (uniform over the arms).
	return math.Min(pmin, 1/float64(n))
}

func (a *ALBL) draw(ctx context.Context, q strategies.Query, ep envs.Episode) ([]int, error) {
	K, k := len(q.Candidates), q.K
	pos := make(map[int]int, K)
	for i, c := range q.Candidates {
		pos[c] = i
	}
	psi := make([][]float64, len(a.arms))
	for i, s := range a.arms {
		sel, err := s.Select(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("albl: arm %s: %w", a.cfg.Arms[i], err)
		}
		if len(sel) == 0 {
			return nil, fmt.Errorf("albl: arm %s chose no candidate", a.cfg.Arms[i])
		}
		psi[i] = make([]float64, K)
		for _, c := range sel {
			j, ok := pos[c]
			if !ok {
				return nil, fmt.Errorf("albl: arm %s chose %d, which is not a candidate", a.cfg.Arms[i], c)
			}
			psi[i][j] += 1 / float64(len(sel))
		}
	}
	if a.rounds == 0 {
		T := ep.Budget - ep.InitSize // queries in the episode
		if T < 1 {
			T = k
		}
		a.rounds = (T + k - 1) / k
	}
	pmin := a.cfg.PMin
	if pmin == 0 {
		pmin = alblPMin(len(a.arms), a.rounds)
	}
	p, err := a.exp.Distribution(a.eye, pmin)
	if err != nil {
		return nil, fmt.Errorf("albl: %w", err)
	}
	mix := make([]float64, K)
	for i, adv := range psi {
		for j, v := range adv {
			mix[j] += p[i] * v
		}
	}
	pi := inclusionProbs(mix, k)
	batch := samplePPS(pi, k, q.RNG)
	out := make([]int, len(batch))
	for i, j := range batch {
		out[i] = q.Candidates[j]
		a.queried = append(a.queried, out[i])
		a.weight = append(a.weight, 1/pi[j])
	}
	a.pending = &alblPending{psi: psi, p: p, pi: pi, batch: batch, pmin: pmin, T: a.rounds}
	return out, nil
}

// inclusionProbs returns the inclusion probabilities of a size-k sample
// proportional to q: pi_j = min(1, c q_j) with c such that sum_j pi_j = k
// (the items c q_j would push past 1 are capped at 1 and c is recomputed on
// the rest until none is). If fewer than k items have q_j > 0, those are
// included surely and the remaining mass is spread evenly over the others.
func inclusionProbs(q []float64, k int) []float64 {
	n := len(q)
	pi := make([]float64, n)
	capped := make([]bool, n)
	ncap := 0
	for {
		s := 0.0
		for j, v := range q {
			if !capped[j] && v > 0 {
				s += v
			}
		}
		left := float64(k - ncap)
		if s <= 0 || left <= 0 {
			break
		}
		c := left / s
		again := false
		for j, v := range q {
			if !capped[j] && v > 0 && c*v >= 1 {
				capped[j], again = true, true
				ncap++
			}
		}
		if !again {
			for j, v := range q {
				if capped[j] {
					pi[j] = 1
				} else if v > 0 {
					pi[j] = c * v
				}
			}
			return pi
		}
	}
	for j := range q {
		if capped[j] {
			pi[j] = 1
		}
	}
	if rest, left := n-ncap, k-ncap; left > 0 && rest > 0 {
		for j := range q {
			if !capped[j] {
				pi[j] = float64(left) / float64(rest)
			}
		}
	}
	return pi
}

// samplePPS draws k distinct positions with P(j drawn) = pi_j exactly
// (pi from inclusionProbs, each in [0, 1], summing to k) by systematic
// sampling: the positions are put in a random order, laid end to end as
// intervals of length pi_j on [0, k), and the positions whose intervals
// hold u, u+1, ..., u+k-1 for one uniform u in [0, 1) are drawn. An interval
// is at most 1 long, so it holds at most one of the points.
func samplePPS(pi []float64, k int, rng *rand.Rand) []int {
	order := rng.Perm(len(pi))
	last := -1 // the last position with pi > 0 closes the line exactly at k
	for l, j := range order {
		if pi[j] > 0 {
			last = l
		}
	}
	u := rng.Float64()
	out := make([]int, 0, k)
	taken := make(map[int]bool, k)
	next, cum := u, 0.0
	for l, j := range order {
		if pi[j] <= 0 {
			continue
		}
		cum += pi[j]
		if l == last {
			cum = float64(k)
		}
		if len(out) < k && next < cum {
			out = append(out, j)
			taken[j] = true
			next++
		}
	}
	// Rounding can leave a point unassigned (never in exact arithmetic): fill
	// with the most probable positions not drawn.
	for len(out) < k {
		b := -1
		for j, v := range pi {
			if !taken[j] && v > 0 && (b < 0 || v > pi[b]) {
				b = j
			}
		}
		if b < 0 {
			break
		}
		out = append(out, b)
		taken[b] = true
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
			{Name: "pmin", Default: 0.0, Doc: "minimum probability of each arm, at most 1/N; 0 = sqrt(ln N / (N T)) (Hsu & Lin 2015), N arms, T rounds = (budget - init) / k, clamped to 1/N"},
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
	q := strategies.Query{Model: obs.Model, Candidates: obs.Candidates, Labeled: obs.Labeled, K: obs.K, RNG: obs.RNG, Episode: &ep}
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
