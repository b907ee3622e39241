package agents

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/agents/features"
	"github.com/alrl/alrl/envs"
)

// Expert is the look-ahead expert of a training episode: the held-out gain
// of adding each candidate with its true label to the labeled set plus
// extra (the batch picked so far, also with true labels).
type Expert interface {
	Gains(ctx context.Context, labeled, extra, cands []int) ([]float64, error)
}

// RankSample is one state the expert annotated: the ranking network's
// inputs of the remaining candidates and the expert's target distribution
// over them (ExpertTarget of the gains).
type RankSample struct {
	X      *mat.Dense
	Target []float64
}

// ListwiseBackend computes the listwise loss: the mean over samples of
// ListNetLoss(network scores of s.X, s.Target), and its gradient with
// respect to MLP.Params().
type ListwiseBackend interface {
	ListwiseGrad(net *MLP, samples []RankSample) (float64, [][]float64, error)
}

// ImitationConfig is the imitation agent (agent.imitation): the ranker's
// settings and DAgger's.
type ImitationConfig struct {
	RankConfig  `yaml:",inline"`
	ExpertIters int `yaml:"expert_iters" json:"expert_iters"` // L-BFGS iterations of each look-ahead refit [20]
	ExpertEval  int `yaml:"expert_eval" json:"expert_eval"`   // held-out rows of the source split the expert measures on [500]
	// ExpertMetric is what the expert's gain measures: acc (held-out
	// accuracy, ALIL's choice) or nll (held-out loss). The label-free
	// expectation of the loss gain favours confident candidates, which is
	// worse than random sampling as a policy; that of the accuracy gain is not.
	ExpertMetric string  `yaml:"expert_metric" json:"expert_metric"` // [acc]
	Annotate     int     `yaml:"annotate" json:"annotate"`           // steps of each policy-driven batch the expert annotates [2]
	Temperature  float64 `yaml:"temperature" json:"temperature"`     // target softmax temperature, in standard deviations of the list's gains [0.5]
	Beta         float64 `yaml:"beta" json:"beta"`                   // DAgger: probability that the expert drives a round in episode 0 [1]
	BetaDecay    float64 `yaml:"beta_decay" json:"beta_decay"`       // DAgger: beta is multiplied by this every episode [0.9]
	Steps        int     `yaml:"steps" json:"steps"`                 // gradient steps on the aggregated data after each episode [100]
	Batch        int     `yaml:"batch" json:"batch"`                 // annotated lists per gradient step [16]
	MaxLists     int     `yaml:"max_lists" json:"max_lists"`         // aggregated lists kept (a uniform reservoir beyond) [5000]
}

// DefaultImitationConfig returns the documented defaults.
func DefaultImitationConfig() ImitationConfig {
	return ImitationConfig{RankConfig: DefaultRankConfig(), ExpertIters: 20, ExpertEval: 500, ExpertMetric: "acc", Annotate: 2, Temperature: 0.5,
		Beta: 1, BetaDecay: 0.9, Steps: 100, Batch: 16, MaxLists: 5000}
}

// Validate checks the settings.
func (c ImitationConfig) Validate() error {
	if err := c.RankConfig.Validate(); err != nil {
		return err
	}
	switch {
	case c.ExpertIters < 1:
		return fmt.Errorf("agent.imitation.expert_iters: must be >= 1, got %d", c.ExpertIters)
	case c.ExpertEval < 1:
		return fmt.Errorf("agent.imitation.expert_eval: must be >= 1, got %d", c.ExpertEval)
	case c.ExpertMetric != "acc" && c.ExpertMetric != "nll":
		return fmt.Errorf("agent.imitation.expert_metric: %q is not one of acc, nll", c.ExpertMetric)
	case c.Annotate < 1:
		return fmt.Errorf("agent.imitation.annotate: must be >= 1, got %d", c.Annotate)
	case !(c.Temperature > 0):
		return fmt.Errorf("agent.imitation.temperature: must be > 0, got %g", c.Temperature)
	case c.Beta < 0 || c.Beta > 1:
		return fmt.Errorf("agent.imitation.beta: must be in [0, 1], got %g", c.Beta)
	case c.BetaDecay < 0 || c.BetaDecay > 1:
		return fmt.Errorf("agent.imitation.beta_decay: must be in [0, 1], got %g", c.BetaDecay)
	case c.Steps < 0:
		return fmt.Errorf("agent.imitation.steps: must be >= 0, got %d", c.Steps)
	case c.Batch < 1:
		return fmt.Errorf("agent.imitation.batch: must be >= 1, got %d", c.Batch)
	case c.MaxLists < 1:
		return fmt.Errorf("agent.imitation.max_lists: must be >= 1, got %d", c.MaxLists)
	}
	return nil
}

// Imitation trains the ranker by DAgger (Ross, Gordon & Bagnell 2011) on
// a look-ahead expert, as ALIL (Liu et al. 2018) and ImitAL (Gonsior et
// al. 2021) do: in each round the expert drives the batch with probability
// beta (decayed per episode), else the policy does; the expert annotates
// the states either visits, the annotations join one aggregated data set,
// and after each episode the network takes gradient steps of the listwise
// loss on it. The expert must be set (SetExpert) before every episode.
type Imitation struct {
	cfg    ImitationConfig
	seed   uint64
	rank   *Ranker
	be     ListwiseBackend
	opt    *Adam
	data   []RankSample
	seen   int // annotated lists offered to the reservoir
	expert Expert
	ep     int
	rng    *rand.Rand
	// statistics of the current episode
	annotated, agree, expertRounds, rounds int
}

// NewImitation returns an untrained imitation agent.
func NewImitation(c Common, cfg ImitationConfig) (*Imitation, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !(c.LR > 0) {
		return nil, fmt.Errorf("agent.lr: must be > 0, got %g", c.LR)
	}
	lb, ok := c.Backend.(ListwiseBackend)
	if !ok {
		return nil, fmt.Errorf("agent imitation: the network backend has no listwise loss; build with `make build` (the torch backend)")
	}
	r, err := NewRanker(cfg.RankConfig, envs.RNG(c.Seed, 0, "agent-init"))
	if err != nil {
		return nil, err
	}
	a := &Imitation{cfg: cfg, seed: c.Seed, rank: r, be: lb, opt: NewAdam(c.LR)}
	a.BeginEpisode(0)
	return a, nil
}

// Name returns "imitation".
func (a *Imitation) Name() string { return KindImitation }

// Kind returns "imitation".
func (a *Imitation) Kind() string { return KindImitation }

// Ranker returns the policy being trained.
func (a *Imitation) Ranker() *Ranker { return a.rank }

// SetExpert sets the look-ahead expert of the next episode.
func (a *Imitation) SetExpert(e Expert) { a.expert = e }

// Lists returns the number of annotated lists aggregated so far.
func (a *Imitation) Lists() int { return len(a.data) }

// BeginEpisode derives the episode's randomness from the seed and ep.
func (a *Imitation) BeginEpisode(ep int) {
	a.ep = ep
	a.rng = envs.RNG(a.seed, ep, "imitation")
	a.annotated, a.agree, a.expertRounds, a.rounds = 0, 0, 0, 0
}

func (a *Imitation) beta() float64 { return a.cfg.Beta * math.Pow(a.cfg.BetaDecay, float64(a.ep)) }

// Act pre-selects the round's list and builds the batch greedily, the
// expert or the policy choosing each pick, while the expert annotates.
func (a *Imitation) Act(ctx context.Context, obs envs.Observation) ([]int, error) {
	if a.expert == nil {
		return nil, fmt.Errorf("imitation: training needs a look-ahead expert (SetExpert)")
	}
	list, err := a.rank.Preselect(ctx, obs.Model, obs.Candidates, a.rng)
	if err != nil {
		return nil, err
	}
	k := min(obs.K, len(list))
	st, err := a.rank.NewState(ctx, obs.Model, list, obs.Episode(), a.rng)
	if err != nil {
		return nil, err
	}
	expertDrives := a.rng.Float64() < a.beta()
	annotate := map[int]bool{0: true}
	if expertDrives {
		for j := 0; j < k; j++ {
			annotate[j] = true
		}
		a.expertRounds++
	} else if k > 1 {
		for _, j := range a.rng.Perm(k - 1)[:min(a.cfg.Annotate-1, k-1)] {
			annotate[j+1] = true
		}
	}
	a.rounds++
	labeled := obs.Episode().Labeled
	pick := func(step int, remaining, picked []int, scores []float64, x *mat.Dense) (int, error) {
		top := argmaxF(scores)
		if !annotate[step] {
			return top, nil
		}
		pool := func(pos []int) []int {
			out := make([]int, len(pos))
			for i, p := range pos {
				out[i] = st.Cands[p]
			}
			return out
		}
		gains, err := a.expert.Gains(ctx, labeled, pool(picked), pool(remaining))
		if err != nil {
			return 0, fmt.Errorf("imitation: expert: %w", err)
		}
		a.add(x, len(remaining), ExpertTarget(gains, a.cfg.Temperature))
		best := argmaxF(gains)
		a.annotated++
		if best == top {
			a.agree++
		}
		if expertDrives {
			return best, nil
		}
		return top, nil
	}
	return a.rank.Greedy(st, k, pick)
}

// add stores an annotated list (rounded to float32, so that checkpoints
// hold it exactly), keeping a uniform reservoir of MaxLists.
func (a *Imitation) add(x *mat.Dense, n int, target []float64) {
	_, c := x.Dims()
	xs := mat.NewDense(n, c, nil)
	for i := 0; i < n; i++ {
		for j, v := range x.RawRowView(i) {
			xs.Set(i, j, float64(float32(v)))
		}
	}
	t := make([]float64, n)
	for i, v := range target[:n] {
		t[i] = float64(float32(v))
	}
	s := RankSample{X: xs, Target: t}
	a.seen++
	if len(a.data) < a.cfg.MaxLists {
		a.data = append(a.data, s)
		return
	}
	if j := a.rng.IntN(a.seen); j < a.cfg.MaxLists {
		a.data[j] = s
	}
}

// Observe ignores the reward: the expert, not the return, teaches the ranker.
func (a *Imitation) Observe(context.Context, float64, envs.Observation, bool) error { return nil }

// EndEpisode takes cfg.Steps gradient steps of the listwise loss on
// minibatches drawn from the aggregated data.
func (a *Imitation) EndEpisode(context.Context) (map[string]float64, error) {
	st := map[string]float64{"lists": float64(len(a.data)), "beta": a.beta(), "expert_rounds": float64(a.expertRounds), "rounds": float64(a.rounds)}
	if a.annotated > 0 {
		st["agreement"] = float64(a.agree) / float64(a.annotated)
	}
	if len(a.data) == 0 || a.cfg.Steps == 0 {
		return st, nil
	}
	rng := envs.RNG(a.seed, a.ep, "imitation-update")
	total := 0.0
	batch := make([]RankSample, a.cfg.Batch)
	for s := 0; s < a.cfg.Steps; s++ {
		for i := range batch {
			batch[i] = a.data[rng.IntN(len(a.data))]
		}
		l, g, err := a.be.ListwiseGrad(a.rank.net, batch)
		if err != nil {
			return nil, fmt.Errorf("imitation: %w", err)
		}
		if err := a.opt.Step(a.rank.net.Params(), g); err != nil {
			return nil, fmt.Errorf("imitation: %w", err)
		}
		total += l
	}
	st["loss"] = total / float64(a.cfg.Steps)
	return st, nil
}

// Policy returns the ranker's policy file.
func (a *Imitation) Policy(info TrainInfo) *PolicyFile {
	cfg := a.cfg
	return &PolicyFile{Kind: KindImitation, Features: append([]string(nil), RankBase...), Columns: RankColumns(), Global: append([]string(nil), RankGlobal...),
		MCSamples: cfg.MCSamples, Imitation: &cfg, Nets: map[string]*NetFile{"policy": netFile(a.rank.net)}, Training: info}
}

type imitationCheckpoint struct {
	Net  *NetFile `json:"net"`
	Opt  *Adam    `json:"adam"`
	Seen int      `json:"seen"`
	Rows []int    `json:"rows"` // candidates per list
	Cols int      `json:"cols"`
	X    []byte   `json:"x"`      // float32 little-endian, lists concatenated
	T    []byte   `json:"target"` // float32 little-endian
}

// Checkpoint serialises the network, Adam and the aggregated data.
func (a *Imitation) Checkpoint() ([]byte, error) {
	ck := imitationCheckpoint{Net: netFile(a.rank.net), Opt: a.opt, Seen: a.seen, Cols: a.rank.net.In()}
	put := func(dst []byte, v float64) []byte {
		return binary.LittleEndian.AppendUint32(dst, math.Float32bits(float32(v)))
	}
	for _, s := range a.data {
		n, _ := s.X.Dims()
		ck.Rows = append(ck.Rows, n)
		for i := 0; i < n; i++ {
			for _, v := range s.X.RawRowView(i) {
				ck.X = put(ck.X, v)
			}
		}
		for _, v := range s.Target {
			ck.T = put(ck.T, v)
		}
	}
	return json.Marshal(ck)
}

// Restore reads a checkpoint written by Checkpoint.
func (a *Imitation) Restore(b []byte) error {
	var ck imitationCheckpoint
	if err := json.Unmarshal(b, &ck); err != nil {
		return fmt.Errorf("imitation checkpoint: %w", err)
	}
	if ck.Net == nil || ck.Opt == nil {
		return fmt.Errorf("imitation checkpoint: network or optimiser missing")
	}
	net, err := ck.Net.MLP()
	if err != nil {
		return fmt.Errorf("imitation checkpoint: %w", err)
	}
	if net.In() != a.rank.net.In() || ck.Cols != net.In() {
		return fmt.Errorf("imitation checkpoint: the network takes %d inputs, this agent %d", net.In(), a.rank.net.In())
	}
	total := 0
	for _, n := range ck.Rows {
		total += n
	}
	if len(ck.X) != 4*total*ck.Cols || len(ck.T) != 4*total {
		return fmt.Errorf("imitation checkpoint: the aggregated data is truncated")
	}
	get := func(src []byte, i int) float64 {
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:])))
	}
	data := make([]RankSample, len(ck.Rows))
	xi, ti := 0, 0
	for k, n := range ck.Rows {
		x := mat.NewDense(n, ck.Cols, nil)
		for i := 0; i < n; i++ {
			for j := 0; j < ck.Cols; j++ {
				x.Set(i, j, get(ck.X, xi))
				xi++
			}
		}
		t := make([]float64, n)
		for i := range t {
			t[i] = get(ck.T, ti)
			ti++
		}
		data[k] = RankSample{X: x, Target: t}
	}
	a.rank.net, a.opt, a.seen, a.data = net, ck.Opt, ck.Seen, data
	return nil
}

// LoadRanker rebuilds the ranker of an imitation policy file.
func LoadRanker(pf *PolicyFile) (*Ranker, error) {
	if pf.Imitation == nil {
		return nil, fmt.Errorf("the imitation settings are missing")
	}
	cfg := pf.Imitation.RankConfig
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := pf.Nets["policy"]
	if n == nil {
		return nil, fmt.Errorf("the policy network is missing")
	}
	net, err := n.MLP()
	if err != nil {
		return nil, err
	}
	want := len(RankColumns()) + len(RankGlobal)
	if net.In() != want || net.Out() != 1 {
		return nil, fmt.Errorf("the ranking network takes %d inputs and gives %d outputs; this alrl's ranker needs %d and 1 (retrain it)", net.In(), net.Out(), want)
	}
	return &Ranker{cfg: cfg, net: net, builders: map[int]*features.Builder{}}, nil
}
