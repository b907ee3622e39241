package datasets

import (
	"fmt"
	"math"
	"math/rand/v2"
)

const taskStream = 0x7a5c_5eed_0000_0003

// TaskSpec describes a synthetic classification task of the kind learned
// acquisition policies train on (ImitAL, Gonsior et al. 2021, trains only on
// such tasks): Gaussian clusters in the informative dimensions, pure noise
// in the others, imbalanced classes and flipped labels.
type TaskSpec struct {
	N           int     `yaml:"n" json:"n"`                     // samples
	Classes     int     `yaml:"classes" json:"classes"`         // classes
	Dim         int     `yaml:"dim" json:"dim"`                 // dimensions in all
	Informative int     `yaml:"informative" json:"informative"` // dimensions that carry the clusters (<= Dim)
	Clusters    int     `yaml:"clusters" json:"clusters"`       // clusters per class
	Spread      float64 `yaml:"spread" json:"spread"`           // cluster standard deviation (centres are standard normal)
	Imbalance   float64 `yaml:"imbalance" json:"imbalance"`     // ratio of the largest to the smallest class prior (>= 1)
	LabelNoise  float64 `yaml:"label_noise" json:"label_noise"` // share of samples given a uniformly random label
}

// Validate checks the spec.
func (s TaskSpec) Validate() error {
	switch {
	case s.N < 2*s.Classes:
		return fmt.Errorf("task: n = %d is below two samples per class (%d classes)", s.N, s.Classes)
	case s.Classes < 2:
		return fmt.Errorf("task: classes must be >= 2, got %d", s.Classes)
	case s.Dim < 1 || s.Informative < 1 || s.Informative > s.Dim:
		return fmt.Errorf("task: need 1 <= informative (%d) <= dim (%d)", s.Informative, s.Dim)
	case s.Clusters < 1:
		return fmt.Errorf("task: clusters must be >= 1, got %d", s.Clusters)
	case !(s.Spread > 0):
		return fmt.Errorf("task: spread must be > 0, got %g", s.Spread)
	case !(s.Imbalance >= 1):
		return fmt.Errorf("task: imbalance must be >= 1, got %g", s.Imbalance)
	case s.LabelNoise < 0 || s.LabelNoise >= 1:
		return fmt.Errorf("task: label_noise must be in [0, 1), got %g", s.LabelNoise)
	}
	return nil
}

// Task generates the task of s, deterministically per seed. Class priors
// fall geometrically from the first class to the last by s.Imbalance; every
// class keeps at least two samples.
func Task(s TaskSpec, seed uint64) (*Dataset, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, taskStream))
	centres := make([][]float64, s.Classes*s.Clusters)
	for i := range centres {
		centres[i] = make([]float64, s.Informative)
		for j := range centres[i] {
			centres[i][j] = rng.NormFloat64()
		}
	}
	prior := make([]float64, s.Classes)
	total := 0.0
	for c := range prior {
		prior[c] = math.Pow(s.Imbalance, -float64(c)/float64(s.Classes-1))
		total += prior[c]
	}
	d := &Dataset{Name: fmt.Sprintf("task-c%d-d%d-s%016x", s.Classes, s.Dim, seed), Shape: []int{s.Dim}, NumClasses: s.Classes}
	d.X = make([]float32, 0, s.N*s.Dim)
	for i := 0; i < s.N; i++ {
		var c int
		if i < 2*s.Classes {
			c = i % s.Classes // two samples of every class first
		} else {
			u := rng.Float64() * total
			for c = 0; c < s.Classes-1 && u >= prior[c]; c++ {
				u -= prior[c]
			}
		}
		m := centres[c*s.Clusters+rng.IntN(s.Clusters)]
		for j := 0; j < s.Dim; j++ {
			v := rng.NormFloat64()
			if j < s.Informative {
				v = m[j] + s.Spread*v
			}
			d.X = append(d.X, float32(v))
		}
		y, flip := c, rng.IntN(s.Classes) // drawn always, so that the noise level changes nothing else
		if rng.Float64() < s.LabelNoise {
			y = flip
		}
		d.Y = append(d.Y, y)
	}
	d.TrainN = s.N
	StandardizeColumns(d.X, s.N, s.Dim)
	return d, d.Validate()
}

// TaskRanges draws TaskSpecs: integers uniformly in [lo, hi], spread and
// imbalance log-uniformly, label noise uniformly.
type TaskRanges struct {
	N           int        `yaml:"n" json:"n"`
	Classes     [2]int     `yaml:"classes" json:"classes"`
	Dim         [2]int     `yaml:"dim" json:"dim"`
	Informative [2]float64 `yaml:"informative" json:"informative"` // share of dim
	Clusters    [2]int     `yaml:"clusters" json:"clusters"`
	Spread      [2]float64 `yaml:"spread" json:"spread"`
	Imbalance   [2]float64 `yaml:"imbalance" json:"imbalance"`
	LabelNoise  [2]float64 `yaml:"label_noise" json:"label_noise"`
}

// DefaultTaskRanges returns the documented ranges.
func DefaultTaskRanges() TaskRanges {
	return TaskRanges{N: 3000, Classes: [2]int{2, 10}, Dim: [2]int{2, 40}, Informative: [2]float64{0.3, 1}, Clusters: [2]int{1, 3},
		Spread: [2]float64{0.3, 1.5}, Imbalance: [2]float64{1, 10}, LabelNoise: [2]float64{0, 0.1}}
}

// Validate checks that every range is ordered and every draw is a valid spec.
func (r TaskRanges) Validate() error {
	ok := r.Classes[0] >= 2 && r.Classes[0] <= r.Classes[1] && r.Dim[0] >= 1 && r.Dim[0] <= r.Dim[1] &&
		r.Informative[0] > 0 && r.Informative[0] <= r.Informative[1] && r.Informative[1] <= 1 &&
		r.Clusters[0] >= 1 && r.Clusters[0] <= r.Clusters[1] && r.Spread[0] > 0 && r.Spread[0] <= r.Spread[1] &&
		r.Imbalance[0] >= 1 && r.Imbalance[0] <= r.Imbalance[1] && r.LabelNoise[0] >= 0 && r.LabelNoise[0] <= r.LabelNoise[1] && r.LabelNoise[1] < 1
	if !ok {
		return fmt.Errorf("task ranges: each must be [lo, hi] with lo <= hi: classes >= 2, dim >= 1, informative in (0, 1], clusters >= 1, spread > 0, imbalance >= 1, label_noise in [0, 1); got %+v", r)
	}
	if r.N < 2*r.Classes[1] {
		return fmt.Errorf("task ranges: n = %d is below two samples per class", r.N)
	}
	return nil
}

// Draw returns a spec drawn from the ranges.
func (r TaskRanges) Draw(rng *rand.Rand) TaskSpec {
	in := func(a [2]int) int { return a[0] + rng.IntN(a[1]-a[0]+1) }
	logU := func(a [2]float64) float64 {
		return math.Exp(math.Log(a[0]) + rng.Float64()*(math.Log(a[1])-math.Log(a[0])))
	}
	s := TaskSpec{N: r.N, Classes: in(r.Classes), Dim: in(r.Dim), Clusters: in(r.Clusters), Spread: logU(r.Spread), Imbalance: logU(r.Imbalance),
		LabelNoise: r.LabelNoise[0] + rng.Float64()*(r.LabelNoise[1]-r.LabelNoise[0])}
	share := r.Informative[0] + rng.Float64()*(r.Informative[1]-r.Informative[0])
	s.Informative = max(1, min(s.Dim, int(math.Round(share*float64(s.Dim)))))
	return s
}
