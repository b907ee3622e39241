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

// DQNConfig configures the DQN agent (the `agent.dqn` section).
type DQNConfig struct {
	Hidden     []int   `yaml:"hidden" json:"hidden"`           // hidden widths of the Q network
	Gamma      float64 `yaml:"gamma" json:"gamma"`             // discount
	Replay     int     `yaml:"replay" json:"replay"`           // replay memory size (transitions)
	Batch      int     `yaml:"batch" json:"batch"`             // minibatch size
	Warmup     int     `yaml:"warmup" json:"warmup"`           // transitions stored before learning starts
	TrainEvery int     `yaml:"train_every" json:"train_every"` // environment steps per gradient step
	TargetSync int     `yaml:"target_sync" json:"target_sync"` // gradient steps between target-network copies
	EpsStart   float64 `yaml:"eps_start" json:"eps_start"`     // exploration at the start
	EpsEnd     float64 `yaml:"eps_end" json:"eps_end"`         // exploration after eps_steps
	EpsSteps   int     `yaml:"eps_steps" json:"eps_steps"`     // environment steps of the linear epsilon decay
	Huber      bool    `yaml:"huber" json:"huber"`             // Huber loss instead of squared error
}

// DefaultDQNConfig returns the documented defaults.
func DefaultDQNConfig() DQNConfig {
	return DQNConfig{Hidden: []int{64, 64}, Gamma: 0.99, Replay: 10000, Batch: 32, Warmup: 200, TrainEvery: 1,
		TargetSync: 250, EpsStart: 1, EpsEnd: 0.05, EpsSteps: 5000, Huber: true}
}

// Validate checks the section.
func (c DQNConfig) Validate() error {
	switch {
	case c.Gamma < 0 || c.Gamma > 1:
		return fmt.Errorf("agent.dqn.gamma: must be in [0, 1], got %g", c.Gamma)
	case c.Replay < 1 || c.Batch < 1 || c.Batch > c.Replay:
		return fmt.Errorf("agent.dqn: replay must be >= 1 and batch in [1, replay], got replay %d batch %d", c.Replay, c.Batch)
	case c.Warmup < c.Batch:
		return fmt.Errorf("agent.dqn.warmup: must be >= batch (%d), got %d", c.Batch, c.Warmup)
	case c.TrainEvery < 1 || c.TargetSync < 1:
		return fmt.Errorf("agent.dqn: train_every and target_sync must be >= 1")
	case c.EpsStart < 0 || c.EpsStart > 1 || c.EpsEnd < 0 || c.EpsEnd > 1 || c.EpsSteps < 0:
		return fmt.Errorf("agent.dqn: eps_start and eps_end must be in [0, 1] and eps_steps >= 0")
	}
	for _, h := range c.Hidden {
		if h < 1 {
			return fmt.Errorf("agent.dqn.hidden: widths must be >= 1, got %v", c.Hidden)
		}
	}
	return nil
}

// Q-network outputs.
const (
	actSkip  = 0
	actLabel = 1
)

// DQN is the stream-based agent of Fang, Li & Cohn (2017, "Learning how to
// actively learn"): for each arriving sample a Q network over its state
// (the sample's features, with the learner's confidence among them, and the
// global state: budget used and left, validation accuracy, class histogram)
// values labeling and skipping. It learns with experience replay, a target
// network copied every target_sync gradient steps and an epsilon-greedy
// schedule decaying linearly. PAL's state also holds the sample's raw
// content representation; here the state is the scale-free features only,
// so that the policy transfers across data sets. As a pool-based strategy
// it ranks candidates by Q(label) - Q(skip).
type DQN struct {
	cfg    DQNConfig
	common Common
	fz     featurizer
	net    *MLP
	target *MLP
	opt    *Adam

	ep       int
	rng      *rand.Rand
	replay   []transition
	next     int // ring position
	steps    int // environment steps
	grads    int // gradient steps
	pending  *transition
	lossSum  float64
	lossN    int
	greedy   bool
	episodeR float64
}

type transition struct {
	S    []float64 `json:"s"`
	A    int       `json:"a"`
	R    float64   `json:"r"`
	S2   []float64 `json:"s2"` // nil when terminal
	Done bool      `json:"done"`
}

// NewDQN builds an untrained DQN agent.
func NewDQN(c Common, cfg DQNConfig) (*DQN, error) {
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
	sizes := append(append([]int{fz.inputWidth()}, cfg.Hidden...), 2)
	net, err := NewMLP(sizes, 0, envs.RNG(c.Seed, 0, "agent-init"))
	if err != nil {
		return nil, err
	}
	d := &DQN{cfg: cfg, common: c, fz: fz, net: net, target: net.Clone(), opt: NewAdam(c.LR)}
	d.BeginEpisode(0)
	return d, nil
}

// Name returns "dqn".
func (d *DQN) Name() string { return KindDQN }

// Kind returns "dqn".
func (d *DQN) Kind() string { return KindDQN }

// SetGreedy turns exploration and learning off (evaluation).
func (d *DQN) SetGreedy(g bool) { d.greedy = g }

// BeginEpisode starts episode ep.
func (d *DQN) BeginEpisode(ep int) {
	d.ep, d.rng, d.pending, d.episodeR = ep, episodeRNG(d.common.Seed, ep, "dqn"), nil, 0
}

// Epsilon returns the exploration rate after the steps taken so far.
func (d *DQN) Epsilon() float64 {
	if d.cfg.EpsSteps == 0 || d.steps >= d.cfg.EpsSteps {
		return d.cfg.EpsEnd
	}
	f := float64(d.steps) / float64(d.cfg.EpsSteps)
	return d.cfg.EpsStart + f*(d.cfg.EpsEnd-d.cfg.EpsStart)
}

func (d *DQN) state(ctx context.Context, obs envs.Observation) (*mat.Dense, error) {
	f, err := d.fz.features(ctx, obs)
	if err != nil {
		return nil, fmt.Errorf("dqn: %w", err)
	}
	return inputs(f, len(obs.Candidates)), nil
}

// Decide labels (true) or skips the arriving sample, epsilon-greedily.
func (d *DQN) Decide(ctx context.Context, obs envs.Observation) (bool, error) {
	if len(obs.Candidates) != 1 {
		return false, fmt.Errorf("dqn: a stream observation has one candidate, got %d", len(obs.Candidates))
	}
	x, err := d.state(ctx, obs)
	if err != nil {
		return false, err
	}
	q, err := d.net.Forward(x, nil)
	if err != nil {
		return false, err
	}
	a := actSkip
	if q.At(0, actLabel) > q.At(0, actSkip) {
		a = actLabel
	}
	if !d.greedy {
		if d.rng.Float64() < d.Epsilon() {
			a = d.rng.IntN(2)
		}
		d.pending = &transition{S: append([]float64(nil), x.RawRowView(0)...), A: a}
	}
	return a == actLabel, nil
}

// Act ranks pool candidates by Q(label) - Q(skip) and takes the top k (the
// DQN used as a pool-based strategy).
func (d *DQN) Act(ctx context.Context, obs envs.Observation) ([]int, error) {
	s, err := d.Scores(ctx, obs)
	if err != nil {
		return nil, err
	}
	pos, err := GumbelTopK(s, obs.K, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("dqn: %w", err)
	}
	out := make([]int, len(pos))
	for i, p := range pos {
		out[i] = obs.Candidates[p]
	}
	return out, nil
}

// Scores returns Q(label) - Q(skip) of every candidate.
func (d *DQN) Scores(ctx context.Context, obs envs.Observation) ([]float64, error) {
	x, err := d.state(ctx, obs)
	if err != nil {
		return nil, err
	}
	q, err := d.net.Forward(x, nil)
	if err != nil {
		return nil, err
	}
	s := make([]float64, len(obs.Candidates))
	for i := range s {
		s[i] = q.At(i, actLabel) - q.At(i, actSkip)
	}
	return s, nil
}

// Observe stores the transition and takes a gradient step every train_every steps.
func (d *DQN) Observe(ctx context.Context, reward float64, next envs.Observation, done bool) error {
	if d.greedy {
		return nil
	}
	if d.pending == nil {
		return fmt.Errorf("dqn: a reward arrived before any decision")
	}
	if math.IsNaN(reward) {
		return fmt.Errorf("dqn: the reward is NaN (does the split have a validation set? set split.val)")
	}
	t := *d.pending
	d.pending = nil
	t.R, t.Done = reward, done
	d.episodeR += reward
	if !done && len(next.Candidates) == 1 {
		x, err := d.state(ctx, next)
		if err != nil {
			return err
		}
		t.S2 = append([]float64(nil), x.RawRowView(0)...)
	} else {
		t.Done = true
	}
	if len(d.replay) < d.cfg.Replay {
		d.replay = append(d.replay, t)
	} else {
		d.replay[d.next] = t
	}
	d.next = (d.next + 1) % d.cfg.Replay
	d.steps++
	if len(d.replay) < d.cfg.Warmup || d.steps%d.cfg.TrainEvery != 0 {
		return nil
	}
	return d.learn()
}

// learn takes one gradient step on a minibatch from the replay memory with
// targets r + gamma max_a' Q_target(s', a') (r at terminal states).
func (d *DQN) learn() error {
	b := d.cfg.Batch
	w := d.net.In()
	x := mat.NewDense(b, w, nil)
	x2 := mat.NewDense(b, w, nil)
	acts := make([]int, b)
	targets := make([]float64, b)
	batch := make([]transition, b)
	for i := range batch {
		batch[i] = d.replay[d.rng.IntN(len(d.replay))]
		x.SetRow(i, batch[i].S)
		if batch[i].S2 != nil {
			x2.SetRow(i, batch[i].S2)
		}
		acts[i] = batch[i].A
	}
	q2, err := d.target.Forward(x2, nil)
	if err != nil {
		return err
	}
	for i, t := range batch {
		targets[i] = t.R
		if !t.Done {
			targets[i] += d.cfg.Gamma * math.Max(q2.At(i, 0), q2.At(i, 1))
		}
	}
	l, grads, err := d.common.Backend.RegressionGrad(d.net, x, nil, acts, targets, d.cfg.Huber)
	if err != nil {
		return fmt.Errorf("dqn update: %w", err)
	}
	if err := d.opt.Step(d.net.Params(), grads); err != nil {
		return fmt.Errorf("dqn update: %w", err)
	}
	d.grads++
	d.lossSum += l
	d.lossN++
	if d.grads%d.cfg.TargetSync == 0 {
		d.target = d.net.Clone()
	}
	return nil
}

// EndEpisode returns the mean TD loss of the episode and the exploration rate.
func (d *DQN) EndEpisode(context.Context) (map[string]float64, error) {
	st := map[string]float64{"epsilon": d.Epsilon(), "replay": float64(len(d.replay)), "grad_steps": float64(d.grads)}
	if d.lossN > 0 {
		st["td_loss"] = d.lossSum / float64(d.lossN)
	}
	d.lossSum, d.lossN = 0, 0
	return st, nil
}

// Policy returns the agent's policy file.
func (d *DQN) Policy(info TrainInfo) *PolicyFile {
	cfg := d.cfg
	return &PolicyFile{Kind: KindDQN, Features: d.fz.b.Spec(), Columns: d.fz.b.Names(), Global: d.fz.b.GlobalNames(),
		NumClasses: d.common.Classes, MCSamples: d.common.MCSamples, DQN: &cfg,
		Nets: map[string]*NetFile{"q": netFile(d.net)}, Training: info}
}

type dqnCheckpoint struct {
	Net    *NetFile     `json:"net"`
	Target *NetFile     `json:"target"`
	Opt    *Adam        `json:"opt"`
	Replay []transition `json:"replay"`
	Next   int          `json:"next"`
	Steps  int          `json:"steps"`
	Grads  int          `json:"grads"`
}

// Checkpoint serialises the networks, the optimiser, the replay memory and the counters.
func (d *DQN) Checkpoint() ([]byte, error) {
	return json.Marshal(dqnCheckpoint{Net: netFile(d.net), Target: netFile(d.target), Opt: d.opt, Replay: d.replay,
		Next: d.next, Steps: d.steps, Grads: d.grads})
}

// Restore reads a checkpoint written by Checkpoint.
func (d *DQN) Restore(b []byte) error {
	var ck dqnCheckpoint
	if err := json.Unmarshal(b, &ck); err != nil {
		return fmt.Errorf("dqn checkpoint: %w", err)
	}
	if ck.Net == nil || ck.Target == nil || ck.Opt == nil {
		return fmt.Errorf("dqn checkpoint: incomplete")
	}
	net, err := ck.Net.MLP()
	if err != nil {
		return fmt.Errorf("dqn checkpoint: %w", err)
	}
	tgt, err := ck.Target.MLP()
	if err != nil {
		return fmt.Errorf("dqn checkpoint: %w", err)
	}
	if net.In() != d.net.In() {
		return fmt.Errorf("dqn checkpoint: the network takes %d inputs, the configured features give %d (was the feature list changed?)", net.In(), d.net.In())
	}
	d.net, d.target, d.opt, d.replay, d.next, d.steps, d.grads = net, tgt, ck.Opt, ck.Replay, ck.Next, ck.Steps, ck.Grads
	return nil
}

// LoadDQN builds a DQN agent from a policy file (acting greedily).
func LoadDQN(c Common, pf *PolicyFile) (*DQN, error) {
	if pf.Kind != KindDQN || pf.DQN == nil {
		return nil, fmt.Errorf("policy file holds a %s agent, not dqn", pf.Kind)
	}
	c.Features, c.MCSamples = pf.Features, pf.MCSamples
	fz, err := newFeaturizer(c)
	if err != nil {
		return nil, err
	}
	if err := pf.CheckFeatures("", nil, fz.b.Names(), fz.b.GlobalNames()); err != nil {
		return nil, err
	}
	net, err := pf.Nets["q"].MLP()
	if err != nil {
		return nil, err
	}
	d := &DQN{cfg: *pf.DQN, common: c, fz: fz, net: net, target: net.Clone(), opt: NewAdam(max(c.LR, 1e-3)), greedy: true}
	d.BeginEpisode(0)
	return d, nil
}
