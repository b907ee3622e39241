package agents

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"

	"gonum.org/v1/gonum/mat"
)

// PLSample is one step of a Plackett-Luce (ranking) policy: the candidates'
// network inputs, the positions the agent chose in selection order, the
// dropout masks of the passes it acted with, and the advantage that weights
// their log-probability.
type PLSample struct {
	X      *mat.Dense // M x in: one row per candidate (its features, then the global state)
	Chosen []int      // chosen rows, in selection order
	// Passes holds the dropout masks (as MLP.Masks draws them) of every
	// forward pass the agent scored the candidates with when it acted; the
	// policy's scores are the mean of the network's outputs over these
	// passes, plus PGLoss.Bonus x their standard deviation (SampleScores).
	// Nil means one deterministic pass (a network without dropout).
	Passes  [][][]float64
	Adv     float64 // advantage of the step
	OldLogP float64 // PPO: log-probability of Chosen under the policy that acted (same Passes)
}

// PGLoss selects the policy-gradient objective.
type PGLoss struct {
	Algo        string  // reinforce | ppo
	Clip        float64 // PPO clipping epsilon
	Temperature float64 // scores are divided by it before the softmax
	Entropy     float64 // weight of an entropy bonus on the first draw's distribution (0 = none)
	Bonus       float64 // Bayesian policy: score = mean + Bonus x std of the outputs over a sample's Passes
}

// SampleScores returns the policy's score of every candidate of s: the
// output of one deterministic pass when s.Passes is nil, else the mean over
// the passes (under s.Passes' masks) plus loss.Bonus x their population
// standard deviation. These are exactly the scores PG acted with, so the
// Plackett-Luce distribution of SampleScores / Temperature is the one its
// action was drawn from; backends must differentiate the log-probability of
// that distribution (SampleLogProb).
func SampleScores(net *MLP, s PLSample, loss PGLoss) ([]float64, error) {
	return passScores(net, s.X, s.Passes, loss.Bonus)
}

// SampleLogProb returns log pi(s.Chosen) under the Plackett-Luce
// distribution with logits SampleScores / Temperature (Temperature <= 0
// counts as 1): the quantity PolicyGrad differentiates.
func SampleLogProb(net *MLP, s PLSample, loss PGLoss) (float64, error) {
	sc, err := SampleScores(net, s, loss)
	if err != nil {
		return 0, err
	}
	tau := loss.Temperature
	if tau <= 0 {
		tau = 1
	}
	return PLLogProb(sc, s.Chosen, tau), nil
}

// passScores is the scores of the rows of x under the given dropout passes
// (nil = one deterministic pass; a nil pass is an unmasked one): the mean of the passes' outputs, plus
// bonus x their population standard deviation (two-pass formula, so that
// one pass, or identical passes, give exactly 0).
func passScores(net *MLP, x *mat.Dense, passes [][][]float64, bonus float64) ([]float64, error) {
	if len(passes) == 0 {
		out, err := net.Forward(x, nil)
		if err != nil {
			return nil, err
		}
		return mat.Col(nil, 0, out), nil
	}
	m, _ := x.Dims()
	outs := make([][]float64, len(passes))
	for t, mk := range passes {
		out, err := net.Forward(x, mk)
		if err != nil {
			return nil, err
		}
		outs[t] = mat.Col(nil, 0, out)
	}
	T := float64(len(passes))
	s := make([]float64, m)
	for i := range s {
		sum := 0.0
		for _, o := range outs {
			sum += o[i]
		}
		mean := sum / T
		s[i] = mean
		if bonus != 0 {
			v := 0.0
			for _, o := range outs {
				d := o[i] - mean
				v += d * d
			}
			s[i] += bonus * math.Sqrt(v/T)
		}
	}
	return s, nil
}

// Backend computes the agents' losses and their gradients with respect to
// MLP.Params(). Only gradients cross this seam: weights and optimiser state
// stay in Go. The torch backend (agents/torchnet, build tag torch) registers
// itself; without it, learning agents cannot be trained.
type Backend interface {
	Name() string
	// PolicyGrad returns L = -(1/S) sum_s obj_s over the samples, where
	// log pi(chosen_s) is SampleLogProb (the scores under the sample's own
	// stored dropout passes, the ones the agent acted with),
	// obj_s = A_s log pi(chosen_s) for REINFORCE and
	// min(rho A_s, clip(rho, 1-eps, 1+eps) A_s), rho = exp(log pi - OldLogP), for PPO,
	// minus the entropy bonus (on the softmax of SampleScores / Temperature);
	// and dL/dparams.
	PolicyGrad(net *MLP, samples []PLSample, loss PGLoss) (float64, [][]float64, error)
	// RegressionGrad returns the mean over rows of the squared error (or the
	// Huber loss with delta 1) between output out[i] of row i and targets[i],
	// and its gradient.
	RegressionGrad(net *MLP, x *mat.Dense, masks [][]float64, out []int, targets []float64, huber bool) (float64, [][]float64, error)
	// Close frees what the backend holds outside the Go heap.
	Close() error
}

var (
	backendMu sync.Mutex
	backends  = map[string]func() (Backend, error){}
)

// RegisterBackend makes a network backend available; backends call it from
// init in files compiled under their build tag.
func RegisterBackend(name string, f func() (Backend, error)) {
	backendMu.Lock()
	defer backendMu.Unlock()
	backends[name] = f
}

// NewBackend returns the named backend ("" = torch if compiled in, else the only one).
func NewBackend(name string) (Backend, error) {
	backendMu.Lock()
	defer backendMu.Unlock()
	if name == "" {
		name = "torch"
		if _, ok := backends[name]; !ok && len(backends) == 1 {
			for n := range backends {
				name = n
			}
		}
	}
	f, ok := backends[name]
	if !ok {
		var names []string
		for n := range backends {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) == 0 {
			return nil, fmt.Errorf("agents: no network backend is compiled into this binary, so a learning agent cannot be trained; build with `make build` (go build -tags torch: libtorch through gotch)")
		}
		return nil, fmt.Errorf("agents: network backend %q is not compiled in (available: %s)", name, strings.Join(names, ", "))
	}
	return f()
}

// PLLogProb is the log-probability of drawing chosen (in order) without
// replacement from the Plackett-Luce distribution with logits scores/tau:
// sum_j [s_{c_j} - logsumexp over the candidates not yet drawn].
func PLLogProb(scores []float64, chosen []int, tau float64) float64 {
	left := make([]bool, len(scores))
	for i := range left {
		left[i] = true
	}
	lp := 0.0
	for _, c := range chosen {
		m := math.Inf(-1)
		for i, s := range scores {
			if left[i] {
				m = math.Max(m, s/tau)
			}
		}
		z := 0.0
		for i, s := range scores {
			if left[i] {
				z += math.Exp(s/tau - m)
			}
		}
		lp += scores[c]/tau - m - math.Log(z)
		left[c] = false
	}
	return lp
}

// GumbelTopK draws k positions without replacement from the Plackett-Luce
// distribution with logits scores/tau, in selection order: the k largest of
// scores/tau + Gumbel noise (Kool, van Hoof & Welling 2019). tau <= 0 gives
// the deterministic top k.
func GumbelTopK(scores []float64, k int, tau float64, rng *rand.Rand) ([]int, error) {
	if k < 0 || k > len(scores) {
		return nil, fmt.Errorf("top-k: k = %d for %d candidates", k, len(scores))
	}
	keys := make([]float64, len(scores))
	for i, s := range scores {
		if math.IsNaN(s) {
			return nil, fmt.Errorf("policy score of candidate %d is NaN (the network diverged: lower the learning rate)", i)
		}
		if tau <= 0 {
			keys[i] = s
			continue
		}
		u := rng.Float64()
		for u == 0 {
			u = rng.Float64()
		}
		keys[i] = s/tau - math.Log(-math.Log(u))
	}
	order := make([]int, len(scores))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return keys[order[a]] > keys[order[b]] })
	return order[:k], nil
}
