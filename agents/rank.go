package agents

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/agents/features"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/strategies"
)

// KindImitation is the policy-file kind of the imitation-learned ranker.
const KindImitation = "imitation"

// RankBase lists the built-in candidate features the ranker reads; it adds
// cover_dist itself, recomputed after every pick of a batch.
var RankBase = []string{"max_prob", "margin", "entropy", "bald", "pred_class_share", "density"}

// RankColumns are the ranker's per-candidate feature names: RankBase and
// cover_dist, each as it is and minus its mean over the candidate list.
func RankColumns() []string {
	base := append(append([]string(nil), RankBase...), "cover_dist")
	out := append([]string(nil), base...)
	for _, b := range base {
		out = append(out, b+"-list_mean")
	}
	return out
}

// RankGlobal names the ranker's global state; every entry is independent of
// the class count, so that one policy applies to any task.
var RankGlobal = []string{"budget_used", "log_labels", "mean_confidence", "label_balance", "log_classes"}

// RankConfig is the acting part of the imitation agent (agent.imitation).
type RankConfig struct {
	Hidden         []int   `yaml:"hidden" json:"hidden"`                       // ranking network's hidden widths [64, 64]
	Preselect      int     `yaml:"preselect" json:"preselect"`                 // candidates ranked per round [50]
	UncertainShare float64 `yaml:"uncertain_share" json:"uncertain_share"`     // share of the pre-selection taken by uncertainty, the rest at random [0.5]
	PreselectBy    string  `yaml:"preselect_by" json:"preselect_by,omitempty"` // the uncertainty that pre-selects: entropy or margin (smallest gap) ["" = entropy]
	MCSamples      int     `yaml:"mc_samples" json:"mc_samples"`               // MC samples of the bald feature [10]
}

// DefaultRankConfig returns the documented defaults.
func DefaultRankConfig() RankConfig {
	return RankConfig{Hidden: []int{64, 64}, Preselect: 50, UncertainShare: 0.5, MCSamples: 10}
}

// Validate checks the settings.
func (c RankConfig) Validate() error {
	switch {
	case c.Preselect < 2:
		return fmt.Errorf("agent.imitation.preselect: must be >= 2, got %d", c.Preselect)
	case c.UncertainShare < 0 || c.UncertainShare > 1:
		return fmt.Errorf("agent.imitation.uncertain_share: must be in [0, 1], got %g", c.UncertainShare)
	case c.MCSamples < 2:
		return fmt.Errorf("agent.imitation.mc_samples: must be >= 2, got %d", c.MCSamples)
	case c.PreselectBy != "" && c.PreselectBy != "entropy" && c.PreselectBy != "margin":
		return fmt.Errorf("agent.imitation.preselect_by: %q is not one of entropy, margin", c.PreselectBy)
	}
	for _, h := range c.Hidden {
		if h < 1 {
			return fmt.Errorf("agent.imitation.hidden: widths must be >= 1, got %v", c.Hidden)
		}
	}
	return nil
}

// Ranker scores a pre-selected candidate list with a network over
// class-agnostic features and builds batches greedily, recomputing each
// candidate's distance to the labeled set and the picks so far after every
// pick (so that a batch is not k near-duplicates). The network is
// permutation-equivariant: each candidate's score depends on its own
// features, their offset from the list's mean, and the global state.
type Ranker struct {
	cfg      RankConfig
	net      *MLP
	builders map[int]*features.Builder
	// randomScores is the ablation that keeps the pre-selection and replaces
	// the network's scores by uniform random ones.
	randomScores bool
}

// NewRanker returns a ranker with a freshly initialised network.
func NewRanker(cfg RankConfig, rng *rand.Rand) (*Ranker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sizes := append(append([]int{len(RankColumns()) + len(RankGlobal)}, cfg.Hidden...), 1)
	net, err := NewMLP(sizes, 0, rng)
	if err != nil {
		return nil, err
	}
	return &Ranker{cfg: cfg, net: net, builders: map[int]*features.Builder{}}, nil
}

// Config returns the ranker's settings.
func (r *Ranker) Config() RankConfig { return r.cfg }

// Net returns the ranking network.
func (r *Ranker) Net() *MLP { return r.net }

func (r *Ranker) builder(c int) (*features.Builder, error) {
	if b := r.builders[c]; b != nil {
		return b, nil
	}
	b, err := features.New(RankBase, c, features.Options{MCSamples: r.cfg.MCSamples})
	if err != nil {
		return nil, err
	}
	r.builders[c] = b
	return b, nil
}

// Preselect returns the list the ranker ranks: the UncertainShare of
// Preselect that are most uncertain (highest predictive entropy, or
// smallest margin with PreselectBy margin), then the rest drawn at random
// from the other candidates (all of them when there are fewer).
func (r *Ranker) Preselect(ctx context.Context, model strategies.Model, cands []int, rng *rand.Rand) ([]int, error) {
	m := r.cfg.Preselect
	if len(cands) <= m {
		return append([]int(nil), cands...), nil
	}
	nu := int(math.Round(r.cfg.UncertainShare * float64(m)))
	out := make([]int, 0, m)
	taken := make([]bool, len(cands))
	if nu > 0 {
		p, err := model.Probs(ctx, cands)
		if err != nil {
			return nil, fmt.Errorf("imitation: pre-selection: %w", err)
		}
		h := make([]float64, len(cands))
		for i := range cands {
			row := p.RawRowView(i)
			if r.cfg.PreselectBy == "margin" {
				b1, b2 := math.Inf(-1), math.Inf(-1)
				for _, v := range row {
					if v > b1 {
						b1, b2 = v, b1
					} else if v > b2 {
						b2 = v
					}
				}
				h[i] = -(b1 - b2) // the smaller the gap, the more uncertain
			} else {
				for _, v := range row {
					if v > 0 {
						h[i] -= v * math.Log(v)
					}
				}
			}
			if math.IsNaN(h[i]) {
				return nil, fmt.Errorf("imitation: pre-selection: the uncertainty of pool index %d is NaN (the model's outputs are NaN)", cands[i])
			}
		}
		order := make([]int, len(cands))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return h[order[a]] > h[order[b]] })
		for _, i := range order[:nu] {
			out, taken[i] = append(out, cands[i]), true
		}
	}
	rest := make([]int, 0, len(cands)-len(out))
	for i, c := range cands {
		if !taken[i] {
			rest = append(rest, c)
		}
	}
	for _, j := range rng.Perm(len(rest))[:m-len(out)] {
		out = append(out, rest[j])
	}
	return out, nil
}

// RankState is one round's candidate list with the features that do not
// change within the round.
type RankState struct {
	Cands  []int      // pool indices of the list
	base   *mat.Dense // len(Cands) x len(RankBase)
	z      [][]float64
	dLab   []float64 // distance to the nearest labeled sample
	scale  float64   // mean of dLab (or of the pairwise distances without labels)
	global []float64
}

// NewState computes the list's features from the model and the episode.
func (r *Ranker) NewState(ctx context.Context, model strategies.Model, cands []int, ep envs.Episode, rng *rand.Rand) (*RankState, error) {
	if len(cands) == 0 {
		return nil, fmt.Errorf("imitation: empty candidate list")
	}
	c := model.NumClasses()
	b, err := r.builder(c)
	if err != nil {
		return nil, err
	}
	f, err := b.Compute(ctx, features.Input{Model: model, Candidates: cands, Episode: ep, RNG: rng})
	if err != nil {
		return nil, fmt.Errorf("imitation: %w", err)
	}
	if err := f.Check(len(cands)); err != nil {
		return nil, fmt.Errorf("imitation: %w", err)
	}
	st := &RankState{Cands: append([]int(nil), cands...), base: f.X}
	ze, err := model.Embed(ctx, cands)
	if err != nil {
		return nil, fmt.Errorf("imitation: cover_dist: %w", err)
	}
	st.z = make([][]float64, len(cands))
	for i := range cands {
		st.z[i] = ze.RawRowView(i)
	}
	st.dLab = make([]float64, len(cands))
	for i := range st.dLab {
		st.dLab[i] = math.Inf(1)
	}
	if len(ep.Labeled) > 0 {
		zl, err := model.Embed(ctx, ep.Labeled)
		if err != nil {
			return nil, fmt.Errorf("imitation: cover_dist: %w", err)
		}
		nl, _ := zl.Dims()
		for i := range cands {
			for j := 0; j < nl; j++ {
				st.dLab[i] = math.Min(st.dLab[i], math.Sqrt(sqDist(st.z[i], zl.RawRowView(j))))
			}
		}
		for _, d := range st.dLab {
			st.scale += d
		}
		st.scale /= float64(len(cands))
	} else {
		n := 0
		for i := range cands {
			for j := i + 1; j < len(cands); j++ {
				st.scale += math.Sqrt(sqDist(st.z[i], st.z[j]))
				n++
			}
		}
		if n > 0 {
			st.scale /= float64(n)
		}
	}
	if !(st.scale > 1e-12) || math.IsInf(st.scale, 0) {
		st.scale = 1
	}
	st.global = rankGlobal(f.Global, ep, c)
	return st, nil
}

// rankGlobal derives the class-agnostic global state from the features'
// global vector (budget_used, budget_left, val_acc, mean_confidence, class_hist...).
func rankGlobal(g []float64, ep envs.Episode, c int) []float64 {
	conf := 0.0
	if len(g) > 3 {
		conf = g[3]
	}
	used := 0.0
	if len(g) > 0 {
		used = g[0]
	}
	total := 0
	for _, n := range ep.ClassCounts {
		total += n
	}
	balance := 1.0
	if total > 0 && c > 1 {
		h := 0.0
		for _, n := range ep.ClassCounts {
			if n > 0 {
				p := float64(n) / float64(total)
				h -= p * math.Log(p)
			}
		}
		balance = h / math.Log(float64(c))
	}
	return []float64{used, math.Log1p(float64(len(ep.Labeled))) / math.Log(1000), conf, balance, math.Log(float64(max(c, 2))) / math.Log(10)}
}

func sqDist(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		d := v - b[i]
		s += d * d
	}
	return s
}

// Inputs returns the network inputs of the remaining positions of the list
// after picked (positions in st.Cands): one row per remaining candidate.
func (st *RankState) Inputs(remaining, picked []int) *mat.Dense {
	nb := len(RankBase)
	w := nb + 1
	rows := make([][]float64, len(remaining))
	mean := make([]float64, w)
	for r, i := range remaining {
		f := make([]float64, w)
		copy(f, st.base.RawRowView(i))
		d := st.dLab[i]
		for _, p := range picked {
			d = math.Min(d, math.Sqrt(sqDist(st.z[i], st.z[p])))
		}
		if math.IsInf(d, 1) {
			d = 2 * st.scale // nothing labeled or picked yet: "far"
		}
		f[nb] = math.Min(d/st.scale, 5)
		for j, v := range f {
			mean[j] += v / float64(len(remaining))
		}
		rows[r] = f
	}
	in := 2*w + len(st.global)
	x := mat.NewDense(max(len(remaining), 1), in, nil)
	for r, f := range rows {
		row := x.RawRowView(r)
		copy(row, f)
		for j, v := range f {
			row[w+j] = v - mean[j]
		}
		copy(row[2*w:], st.global)
	}
	return x
}

// Scores returns the network's score of each remaining position.
func (r *Ranker) Scores(st *RankState, remaining, picked []int) ([]float64, *mat.Dense, error) {
	x := st.Inputs(remaining, picked)
	out, err := r.net.Forward(x, nil)
	if err != nil {
		return nil, nil, err
	}
	s := mat.Col(nil, 0, out)[:len(remaining)]
	for i, v := range s {
		if math.IsNaN(v) {
			return nil, nil, fmt.Errorf("imitation: the score of pool index %d is NaN (the network diverged: lower agent.lr)", st.Cands[remaining[i]])
		}
	}
	return s, x, nil
}

// PickFunc chooses one of the remaining positions at a step of the greedy
// batch (the trainer's hook for the expert and for DAgger's mixing); it
// returns an index into remaining.
type PickFunc func(step int, remaining, picked []int, scores []float64, x *mat.Dense) (int, error)

// Greedy builds a batch of k from st: at each step the remaining candidates
// are rescored with cover_dist recomputed, and pick (nil = the top score)
// chooses one. It returns pool indices in selection order.
func (r *Ranker) Greedy(st *RankState, k int, pick PickFunc) ([]int, error) {
	if k < 0 || k > len(st.Cands) {
		return nil, fmt.Errorf("imitation: batch of %d from %d candidates", k, len(st.Cands))
	}
	remaining := make([]int, len(st.Cands))
	for i := range remaining {
		remaining[i] = i
	}
	var picked []int
	for step := 0; step < k; step++ {
		s, x, err := r.Scores(st, remaining, picked)
		if err != nil {
			return nil, err
		}
		j := argmaxF(s)
		if pick != nil {
			if j, err = pick(step, remaining, picked, s, x); err != nil {
				return nil, err
			}
			if j < 0 || j >= len(remaining) {
				return nil, fmt.Errorf("imitation: pick %d of %d remaining", j, len(remaining))
			}
		}
		picked = append(picked, remaining[j])
		remaining = append(remaining[:j:j], remaining[j+1:]...)
	}
	out := make([]int, len(picked))
	for i, p := range picked {
		out[i] = st.Cands[p]
	}
	return out, nil
}

func argmaxF(s []float64) int {
	b := 0
	for i, v := range s {
		if v > s[b] {
			b = i
		}
	}
	return b
}

// Select pre-selects, scores and greedily builds the batch of q.K.
func (r *Ranker) Select(ctx context.Context, q strategies.Query, ep envs.Episode) ([]int, error) {
	if q.K > len(q.Candidates) {
		return nil, fmt.Errorf("imitation: k = %d is larger than the %d candidates", q.K, len(q.Candidates))
	}
	list, err := r.Preselect(ctx, q.Model, q.Candidates, q.RNG)
	if err != nil {
		return nil, err
	}
	if q.K > len(list) {
		return nil, fmt.Errorf("imitation: k = %d is larger than agent.imitation.preselect (%d); retrain with a larger pre-selection", q.K, len(list))
	}
	st, err := r.NewState(ctx, q.Model, list, ep, q.RNG)
	if err != nil {
		return nil, err
	}
	var pick PickFunc
	if r.randomScores {
		pick = func(_ int, remaining, _ []int, _ []float64, _ *mat.Dense) (int, error) {
			return q.RNG.IntN(len(remaining)), nil
		}
	}
	return r.Greedy(st, q.K, pick)
}

// ListNetLoss is the listwise loss of one list (Cao et al. 2007, top-one
// ListNet): the cross-entropy -sum_i q_i log softmax(s)_i between the target
// distribution q and the softmax of the scores, and its gradient
// softmax(s) - q with respect to the scores.
func ListNetLoss(scores, target []float64) (float64, []float64) {
	m := math.Inf(-1)
	for _, s := range scores {
		m = math.Max(m, s)
	}
	z := 0.0
	for _, s := range scores {
		z += math.Exp(s - m)
	}
	lz := m + math.Log(z)
	loss := 0.0
	grad := make([]float64, len(scores))
	for i, s := range scores {
		loss -= target[i] * (s - lz)
		grad[i] = math.Exp(s-lz) - target[i]
	}
	return loss, grad
}

// ExpertTarget turns the expert's gains into the listwise target: the
// softmax of the gains in units of their standard deviation over the list,
// divided by tau (scale-free, so tasks whose losses differ in scale weigh
// the same); equal gains give the uniform distribution.
func ExpertTarget(gains []float64, tau float64) []float64 {
	n := float64(len(gains))
	mean, sd := 0.0, 0.0
	for _, g := range gains {
		mean += g / n
	}
	for _, g := range gains {
		sd += (g - mean) * (g - mean) / n
	}
	sd = math.Sqrt(sd)
	out := make([]float64, len(gains))
	if !(sd > 1e-12) {
		for i := range out {
			out[i] = 1 / n
		}
		return out
	}
	mx := math.Inf(-1)
	for _, g := range gains {
		mx = math.Max(mx, g)
	}
	z := 0.0
	for i, g := range gains {
		out[i] = math.Exp((g - mx) / (sd * tau))
		z += out[i]
	}
	for i := range out {
		out[i] /= z
	}
	return out
}
