package agents

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// MLP is the agents' network: dense layers with ReLU between them and
// optional (inverted) dropout after every hidden layer. Its weights live in
// Go memory; acting runs this pure-Go forward pass, and the gradients for
// training come from a Backend (libtorch through gotch). Keeping the weights
// and the Adam state here makes policy files and training checkpoints exact.
type MLP struct {
	Sizes   []int       // [in, hidden..., out]
	Dropout float64     // dropout probability after each hidden layer (0 = none)
	W       [][]float64 // layer l: Sizes[l+1] x Sizes[l], row-major (PyTorch's Linear layout)
	B       [][]float64 // layer l: Sizes[l+1]
}

// NewMLP initialises a network as PyTorch's Linear does: weights and biases
// uniform in +-1/sqrt(fan_in).
func NewMLP(sizes []int, dropout float64, rng *rand.Rand) (*MLP, error) {
	if len(sizes) < 2 {
		return nil, fmt.Errorf("network: needs an input and an output size, got %v", sizes)
	}
	for _, s := range sizes {
		if s < 1 {
			return nil, fmt.Errorf("network: layer sizes must be >= 1, got %v", sizes)
		}
	}
	if dropout < 0 || dropout >= 1 {
		return nil, fmt.Errorf("network: dropout must be in [0, 1), got %g", dropout)
	}
	m := &MLP{Sizes: append([]int(nil), sizes...), Dropout: dropout}
	for l := 0; l+1 < len(sizes); l++ {
		bound := 1 / math.Sqrt(float64(sizes[l]))
		w := make([]float64, sizes[l+1]*sizes[l])
		b := make([]float64, sizes[l+1])
		for i := range w {
			w[i] = (2*rng.Float64() - 1) * bound
		}
		for i := range b {
			b[i] = (2*rng.Float64() - 1) * bound
		}
		m.W, m.B = append(m.W, w), append(m.B, b)
	}
	return m, nil
}

// Layers returns the number of dense layers.
func (m *MLP) Layers() int { return len(m.W) }

// In returns the input width.
func (m *MLP) In() int { return m.Sizes[0] }

// Out returns the output width.
func (m *MLP) Out() int { return m.Sizes[len(m.Sizes)-1] }

// Clone returns a deep copy.
func (m *MLP) Clone() *MLP {
	c := &MLP{Sizes: append([]int(nil), m.Sizes...), Dropout: m.Dropout}
	for l := range m.W {
		c.W = append(c.W, append([]float64(nil), m.W[l]...))
		c.B = append(c.B, append([]float64(nil), m.B[l]...))
	}
	return c
}

// Params returns the parameter slices in a fixed order (W0, B0, W1, B1, ...);
// they alias the network's memory.
func (m *MLP) Params() [][]float64 {
	var out [][]float64
	for l := range m.W {
		out = append(out, m.W[l], m.B[l])
	}
	return out
}

// Check verifies the shapes of the parameters.
func (m *MLP) Check() error {
	if len(m.Sizes) < 2 || len(m.W) != len(m.Sizes)-1 || len(m.B) != len(m.W) {
		return fmt.Errorf("network: %d weight and %d bias layers for sizes %v", len(m.W), len(m.B), m.Sizes)
	}
	for l := range m.W {
		if len(m.W[l]) != m.Sizes[l]*m.Sizes[l+1] || len(m.B[l]) != m.Sizes[l+1] {
			return fmt.Errorf("network: layer %d has %d weights and %d biases for %d -> %d", l, len(m.W[l]), len(m.B[l]), m.Sizes[l], m.Sizes[l+1])
		}
	}
	return nil
}

// Masks draws inverted-dropout masks for n rows: one n x h slice per hidden
// layer, each entry 0 or 1/(1-p). Without dropout it returns nil.
func (m *MLP) Masks(n int, rng *rand.Rand) [][]float64 {
	if m.Dropout == 0 {
		return nil
	}
	keep := 1 / (1 - m.Dropout)
	var out [][]float64
	for l := 1; l+1 < len(m.Sizes); l++ {
		mk := make([]float64, n*m.Sizes[l])
		for i := range mk {
			if rng.Float64() >= m.Dropout {
				mk[i] = keep
			}
		}
		out = append(out, mk)
	}
	return out
}

// Forward returns the n x out outputs for the n x in rows of x; masks (from
// Masks, or nil for the deterministic pass) scale the hidden activations.
func (m *MLP) Forward(x *mat.Dense, masks [][]float64) (*mat.Dense, error) {
	n, in := x.Dims()
	if in != m.In() {
		return nil, fmt.Errorf("network: input has %d columns, the network takes %d", in, m.In())
	}
	if masks != nil && len(masks) != len(m.Sizes)-2 {
		return nil, fmt.Errorf("network: %d dropout masks for %d hidden layers", len(masks), len(m.Sizes)-2)
	}
	cur := make([]float64, n*in)
	for i := 0; i < n; i++ {
		copy(cur[i*in:(i+1)*in], x.RawRowView(i))
	}
	for l := range m.W {
		a, b := m.Sizes[l], m.Sizes[l+1]
		next := make([]float64, n*b)
		w := m.W[l]
		for i := 0; i < n; i++ {
			xi := cur[i*a : (i+1)*a]
			for o := 0; o < b; o++ {
				wo := w[o*a : (o+1)*a]
				s := m.B[l][o]
				for j, v := range xi {
					s += wo[j] * v
				}
				next[i*b+o] = s
			}
		}
		if l+1 < len(m.W) {
			for k := range next {
				if next[k] < 0 {
					next[k] = 0
				}
			}
			if masks != nil {
				mk := masks[l]
				if len(mk) != len(next) {
					return nil, fmt.Errorf("network: dropout mask %d has %d entries for %d activations", l, len(mk), len(next))
				}
				for k := range next {
					next[k] *= mk[k]
				}
			}
		}
		cur = next
	}
	return mat.NewDense(n, m.Out(), cur), nil
}

// Adam is the Adam optimiser (Kingma & Ba 2015) over a network's parameter
// slices, with its moments in Go memory so that a checkpoint restores them.
type Adam struct {
	LR    float64     `json:"lr"`
	Beta1 float64     `json:"beta1"`
	Beta2 float64     `json:"beta2"`
	Eps   float64     `json:"eps"`
	T     int         `json:"t"`
	M     [][]float64 `json:"m"`
	V     [][]float64 `json:"v"`
}

// NewAdam returns Adam with PyTorch's defaults (0.9, 0.999, 1e-8).
func NewAdam(lr float64) *Adam { return &Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

// Step applies one update of params by grads (same layout as MLP.Params).
func (a *Adam) Step(params, grads [][]float64) error {
	if len(params) != len(grads) {
		return fmt.Errorf("adam: %d parameter slices, %d gradients", len(params), len(grads))
	}
	if a.M == nil {
		for _, p := range params {
			a.M = append(a.M, make([]float64, len(p)))
			a.V = append(a.V, make([]float64, len(p)))
		}
	}
	if len(a.M) != len(params) {
		return fmt.Errorf("adam: state for %d slices, %d given", len(a.M), len(params))
	}
	a.T++
	c1 := 1 - math.Pow(a.Beta1, float64(a.T))
	c2 := 1 - math.Pow(a.Beta2, float64(a.T))
	for k, p := range params {
		g, m, v := grads[k], a.M[k], a.V[k]
		if len(g) != len(p) || len(m) != len(p) {
			return fmt.Errorf("adam: slice %d has %d parameters, %d gradients, %d moments", k, len(p), len(g), len(m))
		}
		for i := range p {
			if math.IsNaN(g[i]) || math.IsInf(g[i], 0) {
				return fmt.Errorf("adam: gradient %d of slice %d is %v; lower the learning rate", i, k, g[i])
			}
			m[i] = a.Beta1*m[i] + (1-a.Beta1)*g[i]
			v[i] = a.Beta2*v[i] + (1-a.Beta2)*g[i]*g[i]
			p[i] -= a.LR * (m[i] / c1) / (math.Sqrt(v[i]/c2) + a.Eps)
		}
	}
	return nil
}
