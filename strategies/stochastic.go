package strategies

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/alrl/alrl/learner"
)

// Stochastic batch acquisition (Kirsch, Farquhar, Atighehchian, Jesson,
// Branchaud-Charron & Gal 2023, "Stochastic Batch Acquisition: A Simple
// Baseline for Deep Active Learning"): instead of the top-k of a score, draw
// the batch without replacement with probabilities proportional to
//
//	power:    s_i^beta           (scores must be >= 0)
//	softmax:  exp(beta * s_i)
//	softrank: r_i^-beta          (r_i = rank of s_i, 1 = highest)
//
// which breaks the redundancy of top-k batches at no extra cost. Sampling
// uses the Gumbel-top-k trick: the k largest log w_i + G_i, G_i standard
// Gumbel, are an exact sample without replacement proportional to w
// (Kool, van Hoof & Welling 2019).

// Stochastic modes.
const (
	ModePower    = "power"
	ModeSoftmax  = "softmax"
	ModeSoftrank = "softrank"
)

// StochasticBatch draws k of the candidates without replacement with
// probabilities from their scores (see the modes above) using rng. Under
// power, candidates with score 0 have weight 0: they are taken only when
// fewer than k candidates have a positive score, then uniformly at random.
func StochasticBatch(scores []float64, candidates []int, k int, mode string, beta float64, rng *rand.Rand) ([]int, error) {
	if len(scores) != len(candidates) {
		return nil, fmt.Errorf("stochastic batch: %d scores for %d candidates", len(scores), len(candidates))
	}
	if k < 0 || k > len(candidates) {
		return nil, fmt.Errorf("stochastic batch: k = %d is not in [0, %d] (the number of candidates)", k, len(candidates))
	}
	if !(beta >= 0) || math.IsInf(beta, 1) {
		return nil, fmt.Errorf("stochastic batch: beta must be a finite number >= 0, got %g", beta)
	}
	if rng == nil {
		return nil, fmt.Errorf("stochastic batch: no RNG: pass the query's seeded RNG")
	}
	for i, s := range scores {
		if math.IsNaN(s) {
			return nil, fmt.Errorf("score of pool index %d is NaN (the model's outputs are probably NaN: check the learning rate and the input data)", candidates[i])
		}
		if mode == ModePower && s < 0 {
			return nil, fmt.Errorf("score of pool index %d is %g: mode power needs scores >= 0; use mode softmax or softrank for this score", candidates[i], s)
		}
	}
	n := len(scores)
	logw := make([]float64, n)
	switch mode {
	case ModePower:
		for i, s := range scores {
			if beta == 0 {
				logw[i] = 0 // s^0 = 1, including 0^0
			} else {
				logw[i] = beta * math.Log(s) // -Inf for s = 0
			}
		}
	case ModeSoftmax:
		for i, s := range scores {
			logw[i] = beta * s
		}
	case ModeSoftrank:
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })
		for r, i := range order {
			logw[i] = -beta * math.Log(float64(r+1))
		}
	default:
		return nil, fmt.Errorf("stochastic batch: mode %q is not one of %s, %s, %s", mode, ModePower, ModeSoftmax, ModeSoftrank)
	}
	type keyed struct {
		zero bool    // weight 0: after every positive weight
		key  float64 // log w + Gumbel noise (or the noise alone when zero)
		i    int
	}
	keys := make([]keyed, n)
	for i, lw := range logw {
		g := gumbel(rng)
		if math.IsInf(lw, -1) {
			keys[i] = keyed{zero: true, key: g, i: i}
		} else {
			keys[i] = keyed{key: lw + g, i: i}
		}
	}
	sort.Slice(keys, func(a, b int) bool {
		ka, kb := keys[a], keys[b]
		if ka.zero != kb.zero {
			return !ka.zero
		}
		if ka.key != kb.key {
			return ka.key > kb.key
		}
		return ka.i < kb.i
	})
	out := make([]int, k)
	for j := range out {
		out[j] = candidates[keys[j].i]
	}
	return out, nil
}

// gumbel draws a standard Gumbel variate -log(-log U), U uniform in (0, 1).
func gumbel(rng *rand.Rand) float64 {
	u := (float64(rng.Uint64()>>11) + 0.5) / (1 << 53)
	return -math.Log(-math.Log(u))
}

// stochastic wraps a Scorer: scores from the base, batch by sampling.
type stochastic struct {
	name string
	base Scorer
	mode string
	beta float64
}

func (s stochastic) Name() string { return s.name }

// Needs returns the base strategy's capabilities.
func (s stochastic) Needs() []learner.Capability {
	if n, ok := s.base.(Needer); ok {
		return n.Needs()
	}
	return nil
}

func (s stochastic) Select(ctx context.Context, q Query) ([]int, error) {
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	scores, err := s.base.Score(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	sel, err := StochasticBatch(scores, q.Candidates, q.K, s.mode, s.beta, q.RNG)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	return sel, nil
}

// newStochastic builds the wrapper over the named base scorer.
func newStochastic(name, base string, baseOpts map[string]any, mode string, beta float64) (Strategy, error) {
	switch mode {
	case "rank":
		mode = ModeSoftrank
	case ModePower, ModeSoftmax, ModeSoftrank:
	default:
		return nil, fmt.Errorf("option mode: %q is not one of %s, %s, %s", mode, ModePower, ModeSoftmax, ModeSoftrank)
	}
	if !(beta >= 0) || math.IsInf(beta, 1) {
		return nil, fmt.Errorf("option beta: must be a finite number >= 0, got %g", beta)
	}
	if base == name || base == "stochastic" {
		return nil, fmt.Errorf("option base: %q cannot wrap itself", base)
	}
	b, err := New(base, baseOpts)
	if err != nil {
		return nil, fmt.Errorf("option base: %w", err)
	}
	sc, ok := b.(Scorer)
	if !ok {
		return nil, fmt.Errorf("option base: strategy %q has no per-sample score to sample from; use a scoring strategy such as entropy, margin, least_confidence, bald, var_ratios, mean_std or mc_entropy", base)
	}
	return stochastic{name: name, base: sc, mode: mode, beta: beta}, nil
}

func betaOption() Option {
	return Option{Name: "beta", Default: 1.0, Doc: "inverse temperature beta of the sampling weights (the paper's default 1; large = top-k)"}
}

func init() {
	Register(Info{
		Name:        "stochastic",
		Description: "stochastic batch acquisition: sample the batch from any scorer's scores raised to a power, softmax or soft rank (Kirsch et al. 2023)",
		Options: []Option{
			{Name: "base", Default: "bald", Doc: "the scoring strategy whose scores are sampled"},
			{Name: "base_options", Default: map[string]any{}, Doc: "options of the base strategy"},
			{Name: "mode", Default: ModePower, Doc: "power (s^beta, scores >= 0), softmax (exp(beta s)) or softrank (rank^-beta)"},
			betaOption(),
		},
		New: func(o Options) (Strategy, error) {
			base, err := o.String("base")
			if err != nil {
				return nil, err
			}
			mode, err := o.String("mode")
			if err != nil {
				return nil, err
			}
			beta, err := o.Float("beta")
			if err != nil {
				return nil, err
			}
			var bo map[string]any
			switch v := o.raw("base_options").(type) {
			case map[string]any:
				bo = v
			default:
				return nil, fmt.Errorf("option base_options: expected a mapping of option names to values, got %v", v)
			}
			return newStochastic("stochastic", base, bo, mode, beta)
		},
	})
	for _, mode := range []string{ModePower, ModeSoftmax, ModeSoftrank} {
		for _, base := range []string{"bald", "entropy"} {
			name := mode + "_" + base
			opts := []Option{betaOption()}
			if base == "bald" {
				opts = append(opts, mcSamplesOption())
			}
			Register(Info{
				Name:        name,
				Description: fmt.Sprintf("stochastic batch acquisition: sample the batch with weights %s of the %s score (Kirsch et al. 2023)", modeWeights(mode), map[string]string{"bald": "BALD", "entropy": "entropy"}[base]),
				Options:     opts,
				New: func(o Options) (Strategy, error) {
					beta, err := o.Float("beta")
					if err != nil {
						return nil, err
					}
					bo := map[string]any{}
					for _, opt := range opts {
						if v, ok := o.values[opt.Name]; ok && opt.Name != "beta" {
							bo[opt.Name] = v
						}
					}
					return newStochastic(name, base, bo, mode, beta)
				},
			})
		}
	}
}

func modeWeights(mode string) string {
	switch mode {
	case ModePower:
		return "score^beta"
	case ModeSoftmax:
		return "exp(beta * score)"
	}
	return "rank^-beta"
}
