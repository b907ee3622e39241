package strategies

import (
	"context"
	"fmt"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

// ensemble scores disagreement between the members of a deep ensemble
// (Beluch, Genewein, Nürnberger & Köhler 2018, "The power of ensembles for
// active learning in image classification"): the members play the role of
// the MC-dropout samples in entropy of the mean, variation ratios or BALD.
// The members are trained by the learner (learner.ensemble: M), each from
// its own random initialisation.
type ensemble struct {
	score   string
	members int // 0 = any
	f       func([]*mat.Dense) ([]float64, error)
}

func (ensemble) Name() string { return "ensemble" }

func (ensemble) Needs() []learner.Capability {
	return []learner.Capability{learner.CapEnsemble}
}

func (e ensemble) Score(ctx context.Context, q Query) ([]float64, error) {
	ps, err := memberProbsOf(ctx, q.Model, q.Candidates)
	if err != nil {
		return nil, err
	}
	if e.members > 0 && len(ps) != e.members {
		return nil, fmt.Errorf("option members is %d but the learner's ensemble has %d members; set learner.ensemble: %d or members: %d", e.members, len(ps), e.members, len(ps))
	}
	n, _, err := CheckMCSamples(ps)
	if err != nil {
		return nil, err
	}
	if n != len(q.Candidates) {
		return nil, fmt.Errorf("the ensemble returned probabilities for %d rows, %d candidates were asked for", n, len(q.Candidates))
	}
	return e.f(ps)
}

func (e ensemble) Select(ctx context.Context, q Query) ([]int, error) {
	return scoreSelect(ctx, e, q)
}

func init() {
	Register(Info{
		Name:        "ensemble",
		Description: "disagreement of a deep ensemble (learner.ensemble: M): entropy of the mean, variation ratios or BALD over members (Beluch et al. 2018)",
		Options: []Option{
			{Name: "score", Default: "var_ratios", Doc: "entropy (of the members' mean), var_ratios (1 - mode frequency of the members' predictions) or bald (mutual information between label and member), the three compared by Beluch et al."},
			{Name: "members", Default: 0, Doc: "expected ensemble size, checked against learner.ensemble (0 = whatever learner.ensemble says; Beluch et al. used 5)"},
		},
		New: func(o Options) (Strategy, error) {
			score, err := o.String("score")
			if err != nil {
				return nil, err
			}
			m, err := o.Int("members")
			if err != nil {
				return nil, err
			}
			if m < 0 || m == 1 {
				return nil, fmt.Errorf("option members: must be 0 (use learner.ensemble) or >= 2, got %d", m)
			}
			e := ensemble{score: score, members: m}
			switch score {
			case "entropy":
				e.f = MCEntropy
			case "var_ratios":
				e.f = VarRatios
			case "bald":
				e.f = BALD
			default:
				return nil, fmt.Errorf("option score: %q is not one of entropy, var_ratios, bald", score)
			}
			return e, nil
		},
	})
}

// SelectsTopK marks Select as the top k of Score.
func (ensemble) SelectsTopK() {}
