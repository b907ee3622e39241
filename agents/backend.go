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
// network inputs, the positions the agent chose in selection order, and the
// advantage that weights their log-probability.
type PLSample struct {
	X       *mat.Dense  // M x in: one row per candidate (its features, then the global state)
	Chosen  []int       // chosen rows, in selection order
	Masks   [][]float64 // dropout masks of the training pass (nil = none)
	Adv     float64     // advantage of the step
	OldLogP float64     // PPO: log-probability before the update
}

// PGLoss selects the policy-gradient objective.
type PGLoss struct {
	Algo        string  // reinforce | ppo
	Clip        float64 // PPO clipping epsilon
	Temperature float64 // scores are divided by it before the softmax
	Entropy     float64 // weight of an entropy bonus on the first draw's distribution (0 = none)
}

// Backend computes the agents' losses and their gradients with respect to
// MLP.Params(). Only gradients cross this seam: weights and optimiser state
// stay in Go. The torch backend (agents/torchnet, build tag torch) registers
// itself; without it, learning agents cannot be trained.
type Backend interface {
	Name() string
	// PolicyGrad returns L = -(1/S) sum_s obj_s over the samples, where
	// obj_s = A_s log pi(chosen_s) for REINFORCE and
	// min(rho A_s, clip(rho, 1-eps, 1+eps) A_s), rho = exp(log pi - OldLogP), for PPO,
	// minus the entropy bonus; and dL/dparams.
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
