package strategies

import (
	"context"
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

// DeepFoolDistance is the strategy deepfool: the selection rule of DeepFool
// active learning (DFAL, Ducoffe & Precioso 2018, "Adversarial active
// learning for deep networks: a margin based approach") without the rest of
// DFAL. The distance of a sample to the decision boundary is approximated by
// the norm of the perturbation DeepFool (Moosavi-Dezfooli, Fawzi & Frossard
// 2016) needs to change the predicted class, and the candidates closest to
// the boundary are acquired first. DFAL also adds each queried sample's
// adversarial example, with the queried label, to the training set; that
// training scheme is not done here, which is why the strategy is not called
// dfal (that name only reports the rename).
//
// DeepFool runs on the network in evaluation mode (dropout off) over all
// classes, with the paper's overshoot 0.02; inputs are not clipped to a
// valid range. The score is minus the norm of the accumulated perturbation
// r_tot before the overshoot factor, so on an affine classifier it is the
// exact distance to the nearest decision boundary (plus DeepFool's 1e-4
// step). A candidate whose class has not changed after max_iter iterations
// ranks after all others (score -Inf), as in Gissin & Shalev-Shwartz's
// implementation.
type DeepFoolDistance struct {
	maxIter   int
	overshoot float64
	batch     int
}

// deepFoolOptions are the options of deepfool.
var deepFoolOptions = []Option{
	{Name: "max_iter", Default: 50, Doc: "maximum DeepFool iterations per candidate (DeepFool's default)"},
	{Name: "overshoot", Default: 0.02, Doc: "DeepFool's overshoot"},
	{Name: "batch", Default: 256, Doc: "candidates attacked together (bounds memory: batch x classes x input size gradients)"},
}

// ErrDFALRenamed is what building the strategy dfal returns: it was renamed
// deepfool because it implements DFAL's selection only.
var ErrDFALRenamed = errors.New("strategy dfal was renamed deepfool: it is DFAL's selection (smallest DeepFool perturbation norm) without the paper's adversarial-example training; write name: deepfool")

func init() {
	Register(Info{
		Name:        "deepfool",
		Description: "smallest DeepFool perturbation norm first, i.e. DFAL's selection without its adversarial-example training (Ducoffe & Precioso 2018)",
		Options:     deepFoolOptions,
		New: func(o Options) (Strategy, error) {
			it, err := o.Int("max_iter")
			if err != nil {
				return nil, err
			}
			os, err := o.Float("overshoot")
			if err != nil {
				return nil, err
			}
			b, err := o.Int("batch")
			if err != nil {
				return nil, err
			}
			if it < 1 || b < 1 || os < 0 {
				return nil, fmt.Errorf("options max_iter and batch must be >= 1 and overshoot >= 0, got %d, %d, %g", it, b, os)
			}
			return DeepFoolDistance{maxIter: it, overshoot: os, batch: b}, nil
		},
	})
	// The old name fails at config validation with the rename, located at
	// the strategy's name.
	Register(Info{
		Name:        "dfal",
		Description: "renamed deepfool (DFAL's selection without its adversarial-example training); this name only reports the rename",
		Options:     renamedOptions(deepFoolOptions),
		New: func(Options) (Strategy, error) {
			return nil, &ConfigError{Path: "name", Err: ErrDFALRenamed}
		},
	})
}

// renamedOptions lists the options of a renamed strategy under its old name,
// so that an old config with options gets the rename error and not an
// unknown-option one.
func renamedOptions(opts []Option) []Option {
	out := make([]Option, len(opts))
	for i, o := range opts {
		out[i] = Option{Name: o.Name, Default: o.Default, Doc: "an option of deepfool; under dfal it only leads to the rename error"}
	}
	return out
}

// Name returns "deepfool".
func (DeepFoolDistance) Name() string { return "deepfool" }

// Needs declares raw inputs and input gradients.
func (DeepFoolDistance) Needs() []learner.Capability {
	return []learner.Capability{learner.CapInputs, learner.CapInputGrads}
}

// Select returns the k candidates with the smallest DeepFool distance.
func (s DeepFoolDistance) Select(ctx context.Context, q Query) ([]int, error) {
	return scoreSelect(ctx, s, q)
}

// Score is minus the DeepFool distance of each candidate (-Inf when DeepFool
// did not change its class within max_iter iterations).
func (s DeepFoolDistance) Score(ctx context.Context, q Query) ([]float64, error) {
	gm, ok := q.Model.(GradModel)
	if !ok {
		return nil, &learner.CapabilityError{Capability: learner.CapInputGrads, Learner: describe(q.Model)}
	}
	out := make([]float64, len(q.Candidates))
	for lo := 0; lo < len(q.Candidates); lo += s.batch {
		hi := min(lo+s.batch, len(q.Candidates))
		x, err := inputsOf(ctx, q.Model, q.Candidates[lo:hi])
		if err != nil {
			return nil, err
		}
		dist, flipped, err := DeepFool(ctx, gm, x, s.maxIter, s.overshoot)
		if err != nil {
			return nil, err
		}
		for i := range dist {
			out[lo+i] = -dist[i]
			if !flipped[i] {
				out[lo+i] = math.Inf(-1)
			}
		}
	}
	return out, nil
}

// DeepFool runs multi-class DeepFool on every row of x (n x D) at once and
// returns, per row, the norm of the accumulated minimal perturbation r_tot
// (without the overshoot factor) and whether the predicted class changed
// within maxIter iterations. Each iteration linearises the network at the
// current point x + (1+overshoot) r_tot and steps onto the nearest linearised
// boundary between the original class and another one:
//
//	l = argmin_{k != k0} |f_k - f_k0| / ||w_k||,  w_k = grad f_k - grad f_k0
//	r_tot += (|f_l - f_k0| / ||w_l|| + 1e-4) w_l / ||w_l||
//
// A row whose gradients cannot separate the classes (all w_k = 0) stops
// unflipped.
func DeepFool(ctx context.Context, g GradModel, x *mat.Dense, maxIter int, overshoot float64) ([]float64, []bool, error) {
	n, d := x.Dims()
	if x.IsEmpty() {
		return nil, nil, nil
	}
	logits, grads, err := g.InputGrads(ctx, x)
	if err != nil {
		return nil, nil, fmt.Errorf("deepfool: %w", err)
	}
	if err := checkGrads(logits, grads, n, d); err != nil {
		return nil, nil, err
	}
	_, c := logits.Dims()
	k0 := make([]int, n)
	for i := range k0 {
		k0[i] = argmaxRow(logits.RawRowView(i))
	}
	rtot := mat.NewDense(n, d, nil)
	dist := make([]float64, n)
	flipped := make([]bool, n)
	active := make([]int, n) // rows still being attacked; row j of logits/grads belongs to active[j]
	for i := range active {
		active[i] = i
	}
	w := make([]float64, d)
	for it := 0; it < maxIter && len(active) > 0; it++ {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		next := active[:0:0]
		for j, i := range active {
			lg := logits.RawRowView(j)
			g0 := grads[k0[i]].RawRowView(j)
			best, bestK, bestNorm := inf, -1, 0.0
			for k := 0; k < c; k++ {
				if k == k0[i] {
					continue
				}
				floats.SubTo(w, grads[k].RawRowView(j), g0)
				nw := floats.Norm(w, 2)
				if nw == 0 {
					continue
				}
				if v := math.Abs(lg[k]-lg[k0[i]]) / nw; v < best {
					best, bestK, bestNorm = v, k, nw
				}
			}
			if bestK < 0 {
				continue // cannot move: stays unflipped
			}
			floats.SubTo(w, grads[bestK].RawRowView(j), g0)
			floats.AddScaled(rtot.RawRowView(i), (best+1e-4)/bestNorm, w)
			next = append(next, i)
		}
		active = next
		if len(active) == 0 {
			break
		}
		xp := mat.NewDense(len(active), d, nil)
		for j, i := range active {
			row := xp.RawRowView(j)
			copy(row, x.RawRowView(i))
			floats.AddScaled(row, 1+overshoot, rtot.RawRowView(i))
		}
		if logits, grads, err = g.InputGrads(ctx, xp); err != nil {
			return nil, nil, fmt.Errorf("deepfool: %w", err)
		}
		if err := checkGrads(logits, grads, len(active), d); err != nil {
			return nil, nil, err
		}
		// Rows whose class changed are done; the others keep their row of
		// logits and gradients for the next iteration.
		still := active[:0:0]
		var keep []int
		for j, i := range active {
			if argmaxRow(logits.RawRowView(j)) != k0[i] {
				flipped[i] = true
				continue
			}
			still = append(still, i)
			keep = append(keep, j)
		}
		if len(still) < len(active) && len(still) > 0 {
			logits = subRows(logits, keep)
			for k := range grads {
				grads[k] = subRows(grads[k], keep)
			}
		}
		active = still
	}
	for i := 0; i < n; i++ {
		dist[i] = floats.Norm(rtot.RawRowView(i), 2)
	}
	return dist, flipped, nil
}

// checkGrads validates the shapes and values InputGrads returned.
func checkGrads(logits *mat.Dense, grads []*mat.Dense, n, d int) error {
	r, c := logits.Dims()
	if r != n || c < 2 {
		return fmt.Errorf("deepfool: the model returned %d x %d logits for %d inputs (need at least 2 classes)", r, c, n)
	}
	if len(grads) != c {
		return fmt.Errorf("deepfool: the model returned gradients for %d classes, logits for %d", len(grads), c)
	}
	for k, gk := range grads {
		if gr, gc := gk.Dims(); gr != n || gc != d {
			return fmt.Errorf("deepfool: gradient of class %d is %d x %d, want %d x %d", k, gr, gc, n, d)
		}
	}
	for _, v := range logits.RawMatrix().Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("deepfool: the model's logits are not finite (%g); check the learning rate and the inputs", v)
		}
	}
	return nil
}

func argmaxRow(r []float64) int {
	b := 0
	for i := range r {
		if r[i] > r[b] {
			b = i
		}
	}
	return b
}

// subRows copies the listed rows of m into a new matrix.
func subRows(m *mat.Dense, rows []int) *mat.Dense {
	_, c := m.Dims()
	out := mat.NewDense(len(rows), c, nil)
	for j, r := range rows {
		copy(out.RawRowView(j), m.RawRowView(r))
	}
	return out
}

// SelectsTopK marks Select as the top k of Score.
func (DeepFoolDistance) SelectsTopK() {}
