package strategies

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

// Bayesian acquisition from T Monte-Carlo-dropout samples (Gal, Islam &
// Ghahramani 2017, "Deep Bayesian Active Learning with Image Data"). Each
// function takes T matrices, each N x C, holding p(y | x_i, w_t) for one
// dropout mask w_t, and returns one score per row (higher = more informative),
// so that agents can use the scores as features.

// CheckMCSamples validates T Monte-Carlo samples (T >= 1 matrices of equal
// shape N x C) and returns N and C.
func CheckMCSamples(samples []*mat.Dense) (n, c int, err error) {
	if len(samples) == 0 {
		return 0, 0, fmt.Errorf("no Monte-Carlo samples (T = 0)")
	}
	for t, s := range samples {
		if s == nil {
			return 0, 0, fmt.Errorf("Monte-Carlo sample %d is nil", t)
		}
		r, k := s.Dims()
		if t == 0 {
			n, c = r, k
			continue
		}
		if r != n || k != c {
			return 0, 0, fmt.Errorf("Monte-Carlo sample %d is %dx%d, sample 0 is %dx%d: every sample must cover the same rows and classes", t, r, k, n, c)
		}
	}
	return n, c, nil
}

// BALD scores each row by the mutual information between its label and the
// model parameters, I[y; w] = H[mean_t p_t] - mean_t H[p_t] (nats), estimated
// from the T samples. Tiny negative values from rounding are clamped to 0;
// NaN inputs give NaN.
func BALD(samples []*mat.Dense) ([]float64, error) {
	n, c, err := CheckMCSamples(samples)
	if err != nil {
		return nil, fmt.Errorf("bald: %w", err)
	}
	T := float64(len(samples))
	out := make([]float64, n)
	mean := make([]float64, c)
	for i := 0; i < n; i++ {
		clear(mean)
		condH := 0.0
		for _, s := range samples {
			row := s.RawRowView(i)
			condH += entropyFast(row)
			for k, v := range row {
				mean[k] += v
			}
		}
		for k := range mean {
			mean[k] /= T
		}
		out[i] = max(entropyFast(mean)-condH/T, 0)
	}
	return out, nil
}

// MCEntropy scores each row by the entropy of the MC-averaged predictive
// distribution, H[mean_t p_t] (max entropy in Gal et al. 2017).
func MCEntropy(samples []*mat.Dense) ([]float64, error) {
	n, c, err := CheckMCSamples(samples)
	if err != nil {
		return nil, fmt.Errorf("mc_entropy: %w", err)
	}
	T := float64(len(samples))
	out := make([]float64, n)
	mean := make([]float64, c)
	for i := 0; i < n; i++ {
		clear(mean)
		for _, s := range samples {
			for k, v := range s.RawRowView(i) {
				mean[k] += v
			}
		}
		for k := range mean {
			mean[k] /= T
		}
		out[i] = entropyFast(mean)
	}
	return out, nil
}

// VarRatios scores each row by the variation ratio 1 - f_m / T, where f_m is
// the number of samples whose predicted class (argmax) is the mode of the T
// predictions. Ties for the mode do not matter (every mode has the same
// count); a tie for the argmax within one sample goes to the lowest class
// index, as numpy's argmax does in the paper's code.
func VarRatios(samples []*mat.Dense) ([]float64, error) {
	n, c, err := CheckMCSamples(samples)
	if err != nil {
		return nil, fmt.Errorf("var_ratios: %w", err)
	}
	T := len(samples)
	out := make([]float64, n)
	counts := make([]int, c)
	for i := 0; i < n; i++ {
		clear(counts)
		nan := false
		for _, s := range samples {
			row := s.RawRowView(i)
			best := 0
			for k, v := range row {
				if math.IsNaN(v) {
					nan = true
				}
				if v > row[best] {
					best = k
				}
			}
			counts[best]++
		}
		if nan {
			out[i] = math.NaN()
			continue
		}
		fm := 0
		for _, k := range counts {
			fm = max(fm, k)
		}
		out[i] = 1 - float64(fm)/float64(T)
	}
	return out, nil
}

// MeanSTD scores each row by the mean over classes of the standard deviation
// of p(y = c | x, w) across the T samples, (1/C) sum_c sqrt(E[p_c^2] -
// E[p_c]^2) (Kampffmeyer et al. 2016, as compared in Gal et al. 2017). The
// moments are population moments (divided by T).
func MeanSTD(samples []*mat.Dense) ([]float64, error) {
	n, c, err := CheckMCSamples(samples)
	if err != nil {
		return nil, fmt.Errorf("mean_std: %w", err)
	}
	T := float64(len(samples))
	out := make([]float64, n)
	m1 := make([]float64, c)
	m2 := make([]float64, c)
	for i := 0; i < n; i++ {
		clear(m1)
		clear(m2)
		for _, s := range samples {
			for k, v := range s.RawRowView(i) {
				m1[k] += v
				m2[k] += v * v
			}
		}
		sd := 0.0
		for k := range m1 {
			mu := m1[k] / T
			sd += math.Sqrt(max(m2[k]/T-mu*mu, 0))
		}
		out[i] = sd / float64(c)
	}
	return out, nil
}

// defaultMCSamples is T for the MC-dropout strategies: Gal et al. (2017) used
// T = 20 dropout samples; BatchBALD (Kirsch et al. 2019) scored with 100.
const defaultMCSamples = 20

func mcSamplesOption() Option {
	return Option{Name: "samples", Default: defaultMCSamples,
		Doc: "T, the number of MC-dropout samples (Gal et al. 2017 used 20, BatchBALD 100)"}
}

// mcSamples reads and checks the `samples` option.
func mcSamples(o Options) (int, error) {
	T, err := o.Int("samples")
	if err != nil {
		return 0, err
	}
	if T < 2 {
		return 0, fmt.Errorf("option samples: T must be >= 2 (with one MC-dropout sample every disagreement score is 0), got %d", T)
	}
	return T, nil
}

// mcScorer is a strategy scored from T MC-dropout samples.
type mcScorer struct {
	name  string
	T     int
	score func([]*mat.Dense) ([]float64, error)
}

func (s mcScorer) Name() string { return s.name }

func (s mcScorer) Needs() []learner.Capability {
	return []learner.Capability{learner.CapMCDropout}
}

// mcSamplesOf asks the model for T samples of the candidates and checks them.
func mcSamplesOf(ctx context.Context, m Model, idx []int, T int) ([]*mat.Dense, error) {
	samples, err := m.MCProbs(ctx, idx, T)
	if err != nil {
		return nil, err
	}
	if len(samples) != T {
		return nil, fmt.Errorf("the learner returned %d MC-dropout samples, %d were asked for", len(samples), T)
	}
	n, _, err := CheckMCSamples(samples)
	if err != nil {
		return nil, err
	}
	if n != len(idx) {
		return nil, fmt.Errorf("the learner returned MC-dropout samples for %d rows, %d candidates were asked for", n, len(idx))
	}
	return samples, nil
}

func (s mcScorer) Score(ctx context.Context, q Query) ([]float64, error) {
	samples, err := mcSamplesOf(ctx, q.Model, q.Candidates, s.T)
	if err != nil {
		return nil, err
	}
	return s.score(samples)
}

func (s mcScorer) Select(ctx context.Context, q Query) ([]int, error) {
	return scoreSelect(ctx, s, q)
}

func init() {
	for _, d := range []struct {
		name, desc string
		f          func([]*mat.Dense) ([]float64, error)
	}{
		{"bald", "BALD: mutual information between label and weights from T MC-dropout samples (Houlsby et al. 2011; Gal et al. 2017)", BALD},
		{"var_ratios", "variation ratios 1 - mode frequency of the T MC-dropout predictions (Freeman 1965; Gal et al. 2017)", VarRatios},
		{"mean_std", "mean over classes of the std of p(y|x,w) across T MC-dropout samples (Kampffmeyer et al. 2016; Gal et al. 2017)", MeanSTD},
		{"mc_entropy", "entropy of the mean of T MC-dropout predictive distributions (max entropy in Gal et al. 2017)", MCEntropy},
	} {
		Register(Info{
			Name: d.name, Description: d.desc, Options: []Option{mcSamplesOption()},
			New: func(o Options) (Strategy, error) {
				T, err := mcSamples(o)
				if err != nil {
					return nil, err
				}
				return mcScorer{name: d.name, T: T, score: d.f}, nil
			},
		})
	}
}

// SelectsTopK marks Select as the top k of Score.
func (mcScorer) SelectsTopK() {}
