// Package testlearner is a tiny pure-Go learner for fast tests of the loop:
// a nearest-centroid classifier whose class probabilities are a softmax over
// negative squared distances to the class means. It is deterministic and
// implements every capability (MC samples add seeded noise).
package testlearner

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/learner"
)

// Learner is a nearest-centroid classifier.
type Learner struct {
	In        datasets.Inputs
	C         int
	Centroids [][]float64
	Fits      int
	// SeenLabels records every (index, label) the learner was trained on.
	SeenLabels map[int]int
	// FitNoise, when > 0, adds Gaussian noise of this standard deviation,
	// drawn from the fit seed, to every centroid coordinate, so that learners
	// fitted with different seeds differ (ensemble members).
	FitNoise float64
	seed     uint64
}

// New returns an unfitted learner.
func New(in datasets.Inputs, c int) *Learner {
	return &Learner{In: in, C: c, SeenLabels: map[int]int{}}
}

// Factory adapts New to learner.Factory.
func Factory(in datasets.Inputs, c int, _ learner.Config) (learner.Learner, error) {
	return New(in, c), nil
}

// Fit computes the class means of the labeled samples.
func (l *Learner) Fit(_ context.Context, train, val learner.Labeled, seed uint64) (learner.FitStats, error) {
	d := l.In.Dim()
	l.Centroids = make([][]float64, l.C)
	counts := make([]int, l.C)
	x, err := l.In.Gather(train.Idx, nil)
	if err != nil {
		return learner.FitStats{}, err
	}
	for c := range l.Centroids {
		l.Centroids[c] = make([]float64, d)
	}
	for i, y := range train.Y {
		l.SeenLabels[train.Idx[i]] = y
		counts[y]++
		for j := 0; j < d; j++ {
			l.Centroids[y][j] += float64(x[i*d+j])
		}
	}
	for c := range l.Centroids {
		for j := range l.Centroids[c] {
			if counts[c] > 0 {
				l.Centroids[c][j] /= float64(counts[c])
			} else {
				l.Centroids[c][j] = math.Inf(1)
			}
		}
	}
	if l.FitNoise > 0 {
		rng := rand.New(rand.NewPCG(seed, 2))
		for c := range l.Centroids {
			for j := range l.Centroids[c] {
				l.Centroids[c][j] += l.FitNoise * rng.NormFloat64()
			}
		}
	}
	l.Fits++
	st := learner.FitStats{Epochs: 1, BestEpoch: 1, ValAcc: math.NaN()}
	if val.Len() > 0 {
		p, err := l.Probs(context.Background(), val.Idx)
		if err != nil {
			return st, err
		}
		ok := 0
		for i, y := range val.Y {
			if argmax(p.RawRowView(i)) == y {
				ok++
			}
		}
		st.ValAcc = float64(ok) / float64(val.Len())
	}
	return st, nil
}

func argmax(r []float64) int {
	b := 0
	for i := range r {
		if r[i] > r[b] {
			b = i
		}
	}
	return b
}

// Probs is a softmax over negative squared distances to the centroids.
func (l *Learner) Probs(_ context.Context, idx []int) (*mat.Dense, error) {
	return l.probs(idx, nil)
}

func (l *Learner) probs(idx []int, rng *rand.Rand) (*mat.Dense, error) {
	if l.Centroids == nil {
		return nil, fmt.Errorf("testlearner: not fitted")
	}
	d := l.In.Dim()
	x, err := l.In.Gather(idx, nil)
	if err != nil {
		return nil, err
	}
	out := mat.NewDense(max(len(idx), 1), l.C, nil)
	for i := range idx {
		row := out.RawRowView(i)
		m := math.Inf(-1)
		for c := 0; c < l.C; c++ {
			s := 0.0
			for j := 0; j < d; j++ {
				v := float64(x[i*d+j]) - l.Centroids[c][j]
				s += v * v
			}
			row[c] = -s
			if rng != nil {
				row[c] += rng.NormFloat64()
			}
			if row[c] > m {
				m = row[c]
			}
		}
		z := 0.0
		for c := range row {
			row[c] = math.Exp(row[c] - m)
			z += row[c]
		}
		for c := range row {
			row[c] /= z
		}
	}
	return out, nil
}

// MCProbs adds seeded Gaussian noise to the logits, T times.
func (l *Learner) MCProbs(_ context.Context, idx []int, T int) ([]*mat.Dense, error) {
	rng := rand.New(rand.NewPCG(l.seed, 1))
	out := make([]*mat.Dense, T)
	for t := range out {
		p, err := l.probs(idx, rng)
		if err != nil {
			return nil, err
		}
		out[t] = p
	}
	return out, nil
}

// Embed returns the raw inputs.
func (l *Learner) Embed(_ context.Context, idx []int) (*mat.Dense, error) {
	x, err := l.In.Gather(idx, nil)
	if err != nil {
		return nil, err
	}
	d := l.In.Dim()
	out := mat.NewDense(max(len(idx), 1), d, nil)
	for i := range idx {
		for j := 0; j < d; j++ {
			out.Set(i, j, float64(x[i*d+j]))
		}
	}
	return out, nil
}

// NumClasses returns C.
func (l *Learner) NumClasses() int { return l.C }

// Reseed sets the MC noise seed.
func (l *Learner) Reseed(seed uint64) { l.seed = seed }

// Describe names the learner.
func (l *Learner) Describe() string { return "test nearest-centroid" }

// Save writes the centroids as JSON.
func (l *Learner) Save(path string) error {
	b, err := json.Marshal(l.Centroids)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// Load reads centroids written by Save.
func (l *Learner) Load(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, &l.Centroids)
}

// Close does nothing.
func (l *Learner) Close() error { return nil }

// Inputs returns the raw inputs (learner.CapInputs).
func (l *Learner) Inputs(ctx context.Context, idx []int) (*mat.Dense, error) {
	return learner.DatasetInputs(l.In).Inputs(ctx, idx)
}

// InputGrads returns the logits -||x - mu_c||^2 and their input gradients
// -2 (x - mu_c) (learner.CapInputGrads).
func (l *Learner) InputGrads(_ context.Context, x *mat.Dense) (*mat.Dense, []*mat.Dense, error) {
	if l.Centroids == nil {
		return nil, nil, fmt.Errorf("testlearner: not fitted")
	}
	n, d := x.Dims()
	if d != l.In.Dim() {
		return nil, nil, fmt.Errorf("testlearner: inputs of width %d, want %d", d, l.In.Dim())
	}
	logits := mat.NewDense(n, l.C, nil)
	grads := make([]*mat.Dense, l.C)
	for c := range grads {
		grads[c] = mat.NewDense(n, d, nil)
	}
	for i := 0; i < n; i++ {
		row := x.RawRowView(i)
		for c := 0; c < l.C; c++ {
			s := 0.0
			g := grads[c].RawRowView(i)
			for j, v := range row {
				diff := v - l.Centroids[c][j]
				s += diff * diff
				g[j] = -2 * diff
			}
			logits.Set(i, c, -s)
		}
	}
	return logits, grads, nil
}
