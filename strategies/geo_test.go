package strategies

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

// geoModel is a fake model over points: pool index r has embedding and input
// x[r]. Its logits are affine, W x + b (C x D weights), so its class
// probabilities, input gradients and DeepFool distances are known exactly;
// probs, when set, overrides the softmax.
type geoModel struct {
	x     [][]float64
	W     [][]float64
	b     []float64
	probs [][]float64
	grads int // InputGrads calls
}

func (m *geoModel) rows(idx []int, src [][]float64) (*mat.Dense, error) {
	if len(idx) == 0 {
		return &mat.Dense{}, nil
	}
	out := mat.NewDense(len(idx), len(src[0]), nil)
	for i, j := range idx {
		if j < 0 || j >= len(src) {
			return nil, fmt.Errorf("geo: index %d out of range", j)
		}
		out.SetRow(i, src[j])
	}
	return out, nil
}

func (m *geoModel) logits(x []float64) []float64 {
	out := make([]float64, len(m.W))
	for c := range m.W {
		out[c] = floats.Dot(m.W[c], x) + m.b[c]
	}
	return out
}

func (m *geoModel) Probs(_ context.Context, idx []int) (*mat.Dense, error) {
	if m.probs != nil {
		return m.rows(idx, m.probs)
	}
	p := make([][]float64, len(m.x))
	for i, x := range m.x {
		l := m.logits(x)
		mx := floats.Max(l)
		z := 0.0
		for c := range l {
			l[c] = math.Exp(l[c] - mx)
			z += l[c]
		}
		floats.Scale(1/z, l)
		p[i] = l
	}
	return m.rows(idx, p)
}

func (m *geoModel) MCProbs(context.Context, []int, int) ([]*mat.Dense, error) {
	return nil, &learner.CapabilityError{Capability: learner.CapMCDropout, Learner: "geo"}
}

func (m *geoModel) Embed(_ context.Context, idx []int) (*mat.Dense, error) { return m.rows(idx, m.x) }

func (m *geoModel) Inputs(_ context.Context, idx []int) (*mat.Dense, error) { return m.rows(idx, m.x) }

func (m *geoModel) InputGrads(_ context.Context, x *mat.Dense) (*mat.Dense, []*mat.Dense, error) {
	m.grads++
	n, d := x.Dims()
	c := len(m.W)
	logits := mat.NewDense(n, c, nil)
	grads := make([]*mat.Dense, c)
	for k := range grads {
		grads[k] = mat.NewDense(n, d, nil)
	}
	for i := 0; i < n; i++ {
		logits.SetRow(i, m.logits(x.RawRowView(i)))
		for k := range grads {
			grads[k].SetRow(i, m.W[k])
		}
	}
	return logits, grads, nil
}

func (m *geoModel) NumClasses() int {
	if m.probs != nil {
		return len(m.probs[0])
	}
	return len(m.W)
}

// noExtras hides the optional capabilities of a geoModel.
type noExtras struct{ m *geoModel }

func (n noExtras) Probs(ctx context.Context, idx []int) (*mat.Dense, error) {
	return n.m.Probs(ctx, idx)
}
func (n noExtras) MCProbs(ctx context.Context, idx []int, t int) ([]*mat.Dense, error) {
	return n.m.MCProbs(ctx, idx, t)
}
func (n noExtras) Embed(ctx context.Context, idx []int) (*mat.Dense, error) {
	return n.m.Embed(ctx, idx)
}
func (n noExtras) NumClasses() int { return n.m.NumClasses() }

// blobs returns n points per centre, Gaussian with std sd around each centre,
// in centre order, and a linear 2-class model that is uncertain everywhere.
func blobs(rng *rand.Rand, centres [][]float64, n int, sd float64) *geoModel {
	m := &geoModel{}
	d := len(centres[0])
	for _, c := range centres {
		for i := 0; i < n; i++ {
			p := make([]float64, d)
			for j := range p {
				p[j] = c[j] + sd*rng.NormFloat64()
			}
			m.x = append(m.x, p)
		}
	}
	m.W = [][]float64{make([]float64, d), make([]float64, d)}
	m.W[1][0] = 0.01
	m.b = []float64{0, 0}
	return m
}

func seq(lo, hi int) []int {
	out := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

// checkSelection asserts the invariants every strategy must keep.
func checkSelection(got []int, q Query) error {
	if len(got) != q.K {
		return fmt.Errorf("selected %d, want k = %d", len(got), q.K)
	}
	cands := map[int]bool{}
	for _, c := range q.Candidates {
		cands[c] = true
	}
	seen := map[int]bool{}
	for _, i := range got {
		if seen[i] {
			return fmt.Errorf("pool index %d selected twice in %v", i, got)
		}
		seen[i] = true
		if slices.Contains(q.Labeled, i) {
			return fmt.Errorf("labeled pool index %d selected", i)
		}
		if !cands[i] {
			return fmt.Errorf("pool index %d is not a candidate", i)
		}
	}
	return nil
}
