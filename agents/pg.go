package agents

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/envs"
)

// PGConfig configures the policy-gradient agent (the `agent.pg` section).
type PGConfig struct {
	Hidden        []int   `yaml:"hidden" json:"hidden"`                 // hidden widths of the policy and baseline networks
	Algo          string  `yaml:"algo" json:"algo"`                     // reinforce | ppo
	Gamma         float64 `yaml:"gamma" json:"gamma"`                   // discount of the return
	BatchEpisodes int     `yaml:"batch_episodes" json:"batch_episodes"` // episodes per update
	Temperature   float64 `yaml:"temperature" json:"temperature"`       // scores / temperature are the Plackett-Luce logits
	Entropy       float64 `yaml:"entropy" json:"entropy"`               // entropy bonus weight
	Dropout       float64 `yaml:"dropout" json:"dropout"`               // > 0: MC-dropout (Bayesian) policy network
	MCSamples     int     `yaml:"mc_samples" json:"mc_samples"`         // forward passes of the Bayesian policy when acting
	Bonus         float64 `yaml:"bonus" json:"bonus"`                   // Bayesian policy: acting score = mean + bonus * std over the passes
	PPOEpochs     int     `yaml:"ppo_epochs" json:"ppo_epochs"`         // PPO: gradient steps per update
	Clip          float64 `yaml:"clip" json:"clip"`                     // PPO: ratio clipping
	NormalizeAdv  bool    `yaml:"normalize_advantage" json:"normalize_advantage"`
}

// DefaultPGConfig returns the documented defaults.
func DefaultPGConfig() PGConfig {
	return PGConfig{Hidden: []int{64, 64}, Algo: "reinforce", Gamma: 1, BatchEpisodes: 4, Temperature: 1,
		MCSamples: 10, PPOEpochs: 4, Clip: 0.2, NormalizeAdv: true}
}

// Validate checks the section.
func (c PGConfig) Validate() error {
	switch {
	case c.Algo != "reinforce" && c.Algo != "ppo":
		return fmt.Errorf("agent.pg.algo: %q is not one of reinforce, ppo", c.Algo)
	case c.Gamma < 0 || c.Gamma > 1:
		return fmt.Errorf("agent.pg.gamma: must be in [0, 1], got %g", c.Gamma)
	case c.BatchEpisodes < 1:
		return fmt.Errorf("agent.pg.batch_episodes: must be >= 1, got %d", c.BatchEpisodes)
	case c.Temperature <= 0:
		return fmt.Errorf("agent.pg.temperature: must be > 0, got %g", c.Temperature)
	case c.Dropout < 0 || c.Dropout >= 1:
		return fmt.Errorf("agent.pg.dropout: must be in [0, 1), got %g", c.Dropout)
	case c.Dropout > 0 && c.MCSamples < 1:
		return fmt.Errorf("agent.pg.mc_samples: must be >= 1, got %d", c.MCSamples)
	case c.PPOEpochs < 1 || c.Clip <= 0:
		return fmt.Errorf("agent.pg.ppo_epochs must be >= 1 and agent.pg.clip > 0")
	}
	for _, h := range c.Hidden {
		if h < 1 {
			return fmt.Errorf("agent.pg.hidden: widths must be >= 1, got %v", c.Hidden)
		}
	}
	return nil
}

// PG is the policy-gradient agent in the style of RAL (Haussmann et al.
// 2019) and DRAL (Liu et al. 2019): one network with shared weights scores
// every candidate from its features with the global state appended; the
// batch is drawn without replacement from the Plackett-Luce distribution of
// the scores (Gumbel-top-k), and the network is trained with REINFORCE
// against a learned baseline (a value network on the mean candidate features
// and the global state), or with PPO's clipped objective. With dropout > 0
// the policy is an MC-dropout network (RAL's Bayesian policy): acting
// averages mc_samples passes and may add bonus x their standard deviation,
// the policy's own uncertainty. Training is on-policy: each step keeps the
// dropout masks of the passes it acted with (as the seed they were drawn
// from), and the update differentiates log pi(action) of exactly the
// distribution the action was sampled from, the Plackett-Luce distribution
// of mean + bonus x std over those same passes (SampleLogProb). PPO's ratio
// uses the same stored passes for the old and the new policy; the old
// log-probability is the one recorded when acting. A step's gradient costs
// mc_samples forward and backward passes.
type PG struct {
	cfg      PGConfig
	common   Common
	fz       featurizer
	net      *MLP
	baseline *MLP
	opt      *Adam
	bopt     *Adam
	greedy   bool

	ep      int
	rng     *rand.Rand
	traj    []pgStep
	batch   []pgStep
	batchEp int
	updates int
}

type pgStep struct {
	X      *mat.Dense
	Chosen []int
	Seed   uint64      // seed of the acting passes' dropout masks (maskRNG), when Passes > 0
	Passes int         // dropout passes the agent acted with (0 = the deterministic pass)
	Legacy [][]float64 // a checkpoint from before Seed: its one stored dropout pass
	LogP   float64     // log pi(Chosen) under the distribution the agent sampled from
	V      []float64   // baseline input
	Reward float64
	Return float64
}

// pgMaskStream is the PCG stream of the acting passes' dropout masks.
const pgMaskStream = 0x6d61736b73 // "masks"

// maskRNG returns the generator of the dropout masks of one acting step;
// the same seed gives the same masks again in the update.
func maskRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, pgMaskStream)) }

// actingMasks draws the dropout masks of passes MC passes over m rows (nil
// without dropout or passes < 1: one deterministic pass).
func actingMasks(net *MLP, m, passes int, rng *rand.Rand) [][][]float64 {
	if net.Dropout == 0 || passes < 1 {
		return nil
	}
	out := make([][][]float64, passes)
	for t := range out {
		out[t] = net.Masks(m, rng)
	}
	return out
}

// stepPasses returns the dropout masks step s acted with.
func (p *PG) stepPasses(s pgStep) [][][]float64 {
	switch {
	case s.Passes > 0:
		r, _ := s.X.Dims()
		return actingMasks(p.net, r, s.Passes, maskRNG(s.Seed))
	case s.Legacy != nil:
		return [][][]float64{s.Legacy}
	}
	return nil
}

// maskEntries is the number of dropout-mask entries of step s.
func (p *PG) maskEntries(s pgStep) int {
	n := s.Passes
	if n == 0 && s.Legacy != nil {
		n = 1
	}
	r, _ := s.X.Dims()
	h := 0
	for _, w := range p.net.Sizes[1 : len(p.net.Sizes)-1] {
		h += w
	}
	return n * r * h
}

// pgMaskBudget bounds the dropout-mask entries (float64s) handed to one
// PolicyGrad call; a batch with more is split into chunks whose losses and
// gradients are combined as one call over the whole batch would give them.
var pgMaskBudget = 1 << 22

// NewPG builds an untrained policy-gradient agent.
func NewPG(c Common, cfg PGConfig) (*PG, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := c.check(true); err != nil {
		return nil, err
	}
	fz, err := newFeaturizer(c)
	if err != nil {
		return nil, fmt.Errorf("agent.features: %w", err)
	}
	rng := envs.RNG(c.Seed, 0, "agent-init")
	in := fz.inputWidth()
	sizes := append(append([]int{in}, cfg.Hidden...), 1)
	net, err := NewMLP(sizes, cfg.Dropout, rng)
	if err != nil {
		return nil, err
	}
	base, err := NewMLP(sizes, 0, rng)
	if err != nil {
		return nil, err
	}
	p := &PG{cfg: cfg, common: c, fz: fz, net: net, baseline: base, opt: NewAdam(c.LR), bopt: NewAdam(c.LR)}
	p.BeginEpisode(0)
	return p, nil
}

// Name returns "pg".
func (p *PG) Name() string { return KindPG }

// Kind returns "pg".
func (p *PG) Kind() string { return KindPG }

// SetGreedy makes Act take the top k scores instead of sampling (evaluation).
func (p *PG) SetGreedy(g bool) { p.greedy = g }

// BeginEpisode starts episode ep.
func (p *PG) BeginEpisode(ep int) {
	p.ep = ep
	p.rng = episodeRNG(p.common.Seed, ep, "pg")
	p.traj = nil
}

// scores returns the acting scores of every row of x: one deterministic
// pass, or for the Bayesian policy the mean (+ bonus x std) of MC passes
// whose masks it draws from rng.
func scores(net *MLP, x *mat.Dense, passes int, bonus float64, rng *rand.Rand) ([]float64, error) {
	m, _ := x.Dims()
	return passScores(net, x, actingMasks(net, m, passes, rng), bonus)
}

// Act scores the candidates and draws obs.K of them (Gumbel-top-k), or
// takes the top k when greedy.
func (p *PG) Act(ctx context.Context, obs envs.Observation) ([]int, error) {
	m := len(obs.Candidates)
	if obs.K < 1 || obs.K > m {
		return nil, fmt.Errorf("pg: %d candidates for k = %d", m, obs.K)
	}
	f, err := p.fz.features(ctx, obs)
	if err != nil {
		return nil, fmt.Errorf("pg: %w", err)
	}
	x := inputs(f, m)
	// The Bayesian policy's passes draw their masks from a seed of their
	// own, so that the update can redraw exactly these masks.
	var seed uint64
	var passes [][][]float64
	if p.net.Dropout > 0 && p.cfg.MCSamples > 0 {
		seed = p.rng.Uint64()
		passes = actingMasks(p.net, m, p.cfg.MCSamples, maskRNG(seed))
	}
	s, err := passScores(p.net, x, passes, p.cfg.Bonus)
	if err != nil {
		return nil, fmt.Errorf("pg: %w", err)
	}
	tau := p.cfg.Temperature
	if p.greedy {
		tau = 0
	}
	pos, err := GumbelTopK(s, obs.K, tau, p.rng)
	if err != nil {
		return nil, fmt.Errorf("pg: %w", err)
	}
	out := make([]int, len(pos))
	for i, j := range pos {
		out[i] = obs.Candidates[j]
	}
	if !p.greedy {
		p.traj = append(p.traj, pgStep{X: x, Chosen: pos, Seed: seed, Passes: len(passes),
			LogP: PLLogProb(s, pos, tau), V: summary(f, m)})
	}
	return out, nil
}

// Observe records the reward of the last action.
func (p *PG) Observe(_ context.Context, reward float64, _ envs.Observation, _ bool) error {
	if len(p.traj) == 0 {
		return fmt.Errorf("pg: a reward arrived before any action")
	}
	if math.IsNaN(reward) {
		return fmt.Errorf("pg: the reward is NaN (does the split have a validation set? set split.val)")
	}
	p.traj[len(p.traj)-1].Reward = reward
	return nil
}

// EndEpisode computes the returns of the episode and, every batch_episodes
// episodes, updates the policy and the baseline.
func (p *PG) EndEpisode(_ context.Context) (map[string]float64, error) {
	g := 0.0
	for i := len(p.traj) - 1; i >= 0; i-- {
		g = p.traj[i].Reward + p.cfg.Gamma*g
		p.traj[i].Return = g
	}
	p.batch = append(p.batch, p.traj...)
	p.traj = nil
	p.batchEp++
	if p.batchEp < p.cfg.BatchEpisodes || len(p.batch) == 0 {
		return nil, nil
	}
	stats, err := p.update()
	p.batch, p.batchEp = nil, 0
	return stats, err
}

func (p *PG) update() (map[string]float64, error) {
	n := len(p.batch)
	vx := mat.NewDense(n, p.baseline.In(), nil)
	returns := make([]float64, n)
	for i, s := range p.batch {
		vx.SetRow(i, s.V)
		returns[i] = s.Return
	}
	v, err := p.baseline.Forward(vx, nil)
	if err != nil {
		return nil, err
	}
	adv := make([]float64, n)
	for i := range adv {
		adv[i] = returns[i] - v.At(i, 0)
	}
	if p.cfg.NormalizeAdv && n > 1 {
		m, sd := meanStd(adv)
		for i := range adv {
			adv[i] = (adv[i] - m) / (sd + 1e-8)
		}
	}
	// Every sample carries the dropout passes it acted with, and PPO's old
	// log-probability is the one of the distribution it was drawn from.
	samples := make([]PLSample, n)
	for i, s := range p.batch {
		samples[i] = PLSample{X: s.X, Chosen: s.Chosen, Adv: adv[i], OldLogP: s.LogP}
	}
	loss := p.loss()
	chunks := p.chunks()
	if len(chunks) == 1 {
		for i, s := range p.batch {
			samples[i].Passes = p.stepPasses(s)
		}
	}
	steps := 1
	if p.cfg.Algo == "ppo" {
		steps = p.cfg.PPOEpochs
	}
	var pl, vl float64
	for s := 0; s < steps; s++ {
		l, grads, err := p.policyGrad(samples, chunks, loss)
		if err != nil {
			return nil, fmt.Errorf("pg update: %w", err)
		}
		if err := p.opt.Step(p.net.Params(), grads); err != nil {
			return nil, fmt.Errorf("pg update: %w", err)
		}
		pl = l
		out := make([]int, n)
		l, grads, err = p.common.Backend.RegressionGrad(p.baseline, vx, nil, out, returns, false)
		if err != nil {
			return nil, fmt.Errorf("pg baseline update: %w", err)
		}
		if err := p.bopt.Step(p.baseline.Params(), grads); err != nil {
			return nil, fmt.Errorf("pg baseline update: %w", err)
		}
		vl = l
	}
	p.updates++
	return map[string]float64{"policy_loss": pl, "baseline_loss": vl, "updates": float64(p.updates)}, nil
}

// loss is the policy-gradient objective of the configuration.
func (p *PG) loss() PGLoss {
	return PGLoss{Algo: p.cfg.Algo, Clip: p.cfg.Clip, Temperature: p.cfg.Temperature, Entropy: p.cfg.Entropy, Bonus: p.cfg.Bonus}
}

// chunks splits the batch into consecutive ranges of at most pgMaskBudget
// dropout-mask entries (one range without dropout).
func (p *PG) chunks() [][2]int {
	var out [][2]int
	start, size := 0, 0
	for i, s := range p.batch {
		e := p.maskEntries(s)
		if i > start && size+e > pgMaskBudget {
			out = append(out, [2]int{start, i})
			start, size = i, 0
		}
		size += e
	}
	return append(out, [2]int{start, len(p.batch)})
}

// policyGrad is the backend's PolicyGrad over all samples. With one chunk
// the samples already hold their passes; otherwise each chunk's passes are
// redrawn from their seeds for its call and dropped after it, and the
// chunks' mean losses and gradients are weighted by their sizes.
func (p *PG) policyGrad(samples []PLSample, chunks [][2]int, loss PGLoss) (float64, [][]float64, error) {
	if len(chunks) == 1 {
		return p.common.Backend.PolicyGrad(p.net, samples, loss)
	}
	var total float64
	var grads [][]float64
	for _, c := range chunks {
		part := samples[c[0]:c[1]]
		for i := range part {
			part[i].Passes = p.stepPasses(p.batch[c[0]+i])
		}
		l, g, err := p.common.Backend.PolicyGrad(p.net, part, loss)
		for i := range part {
			part[i].Passes = nil
		}
		if err != nil {
			return 0, nil, err
		}
		w := float64(len(part)) / float64(len(samples))
		total += w * l
		if grads == nil {
			grads = make([][]float64, len(g))
			for k := range g {
				grads[k] = make([]float64, len(g[k]))
			}
		}
		if len(g) != len(grads) {
			return 0, nil, fmt.Errorf("policy gradient: %d parameter slices, then %d", len(grads), len(g))
		}
		for k := range g {
			if len(g[k]) != len(grads[k]) {
				return 0, nil, fmt.Errorf("policy gradient: slice %d has %d entries, then %d", k, len(grads[k]), len(g[k]))
			}
			for i, v := range g[k] {
				grads[k][i] += w * v
			}
		}
	}
	return total, grads, nil
}

// Policy returns the agent's policy file.
func (p *PG) Policy(info TrainInfo) *PolicyFile {
	cfg := p.cfg
	return &PolicyFile{Kind: KindPG, Features: p.fz.b.Spec(), Columns: p.fz.b.Names(), Global: p.fz.b.GlobalNames(),
		NumClasses: p.common.Classes, MCSamples: p.common.MCSamples, PG: &cfg,
		Nets: map[string]*NetFile{"policy": netFile(p.net), "baseline": netFile(p.baseline)}, Training: info}
}

type pgCheckpoint struct {
	Net      *NetFile `json:"net"`
	Baseline *NetFile `json:"baseline"`
	Opt      *Adam    `json:"opt"`
	BOpt     *Adam    `json:"bopt"`
	Batch    []pgJSON `json:"batch"`
	BatchEp  int      `json:"batch_episodes"`
	Updates  int      `json:"updates"`
}

type pgJSON struct {
	Rows     int         `json:"rows"`
	X        []float64   `json:"x"`
	Chosen   []int       `json:"chosen"`
	MaskSeed uint64      `json:"mask_seed,omitempty"` // seed of the acting passes' dropout masks
	Passes   int         `json:"passes,omitempty"`    // acting passes (0 = deterministic)
	LogP     *float64    `json:"logp,omitempty"`      // log pi(chosen) when acting
	Masks    [][]float64 `json:"masks,omitempty"`     // checkpoints before mask_seed: one dropout pass
	V        []float64   `json:"v"`
	Return   float64     `json:"return"`
}

// Checkpoint serialises the networks, optimiser states and the pending batch.
func (p *PG) Checkpoint() ([]byte, error) {
	ck := pgCheckpoint{Net: netFile(p.net), Baseline: netFile(p.baseline), Opt: p.opt, BOpt: p.bopt, BatchEp: p.batchEp, Updates: p.updates}
	for _, s := range p.batch {
		r, c := s.X.Dims()
		x := make([]float64, 0, r*c)
		for i := 0; i < r; i++ {
			x = append(x, s.X.RawRowView(i)...)
		}
		lp := s.LogP
		ck.Batch = append(ck.Batch, pgJSON{Rows: r, X: x, Chosen: s.Chosen, MaskSeed: s.Seed, Passes: s.Passes, LogP: &lp,
			Masks: s.Legacy, V: s.V, Return: s.Return})
	}
	return json.Marshal(ck)
}

// Restore reads a checkpoint written by Checkpoint.
func (p *PG) Restore(b []byte) error {
	var ck pgCheckpoint
	if err := json.Unmarshal(b, &ck); err != nil {
		return fmt.Errorf("pg checkpoint: %w", err)
	}
	if ck.Net == nil || ck.Baseline == nil || ck.Opt == nil || ck.BOpt == nil {
		return fmt.Errorf("pg checkpoint: incomplete")
	}
	net, err := ck.Net.MLP()
	if err != nil {
		return fmt.Errorf("pg checkpoint: %w", err)
	}
	base, err := ck.Baseline.MLP()
	if err != nil {
		return fmt.Errorf("pg checkpoint: %w", err)
	}
	if net.In() != p.net.In() || base.In() != p.baseline.In() {
		return fmt.Errorf("pg checkpoint: the networks take %d inputs, the configured features give %d (was the feature list changed?)", net.In(), p.net.In())
	}
	p.net, p.baseline, p.opt, p.bopt, p.batchEp, p.updates = net, base, ck.Opt, ck.BOpt, ck.BatchEp, ck.Updates
	p.batch = nil
	for _, s := range ck.Batch {
		if s.Rows < 1 || len(s.X)%s.Rows != 0 {
			return fmt.Errorf("pg checkpoint: bad batch entry")
		}
		st := pgStep{X: mat.NewDense(s.Rows, len(s.X)/s.Rows, s.X), Chosen: s.Chosen, Seed: s.MaskSeed, Passes: s.Passes,
			Legacy: s.Masks, V: s.V, Return: s.Return}
		if s.Passes < 0 || s.Passes > 0 && (net.Dropout == 0 || s.Masks != nil) || len(s.Chosen) == 0 || len(s.Chosen) > s.Rows {
			return fmt.Errorf("pg checkpoint: bad batch entry")
		}
		for _, c := range s.Chosen {
			if c < 0 || c >= s.Rows {
				return fmt.Errorf("pg checkpoint: bad batch entry")
			}
		}
		if s.LogP != nil {
			st.LogP = *s.LogP
		} else {
			// A checkpoint from before the acting log-probability was
			// recorded: the weights are still those the batch acted with;
			// its one stored dropout pass stands for the acting passes.
			lp, err := SampleLogProb(net, PLSample{X: st.X, Chosen: st.Chosen, Passes: p.stepPasses(st)}, p.loss())
			if err != nil {
				return fmt.Errorf("pg checkpoint: %w", err)
			}
			st.LogP = lp
		}
		p.batch = append(p.batch, st)
	}
	return nil
}

// LoadPG builds a PG agent from a policy file (for acting, or to continue training).
func LoadPG(c Common, pf *PolicyFile) (*PG, error) {
	if pf.Kind != KindPG || pf.PG == nil {
		return nil, fmt.Errorf("policy file holds a %s agent, not pg", pf.Kind)
	}
	c.Features, c.MCSamples = pf.Features, pf.MCSamples
	fz, err := newFeaturizer(c)
	if err != nil {
		return nil, err
	}
	if err := pf.CheckFeatures("", nil, fz.b.Names(), fz.b.GlobalNames()); err != nil {
		return nil, err
	}
	net, err := pf.Nets["policy"].MLP()
	if err != nil {
		return nil, err
	}
	p := &PG{cfg: *pf.PG, common: c, fz: fz, net: net, opt: NewAdam(max(c.LR, 1e-3)), bopt: NewAdam(max(c.LR, 1e-3))}
	if b := pf.Nets["baseline"]; b != nil {
		if p.baseline, err = b.MLP(); err != nil {
			return nil, err
		}
	}
	p.BeginEpisode(0)
	return p, nil
}
