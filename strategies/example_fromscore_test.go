package strategies_test

import (
	"context"
	"fmt"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/strategies"
)

// probsModel answers Probs from a fixed table (a stand-in for a learner).
type probsModel struct{ p [][]float64 }

func (m probsModel) Probs(_ context.Context, idx []int) (*mat.Dense, error) {
	out := mat.NewDense(len(idx), len(m.p[0]), nil)
	for i, j := range idx {
		out.SetRow(i, m.p[j])
	}
	return out, nil
}
func (m probsModel) MCProbs(context.Context, []int, int) ([]*mat.Dense, error) { return nil, nil }
func (m probsModel) Embed(context.Context, []int) (*mat.Dense, error)          { return nil, nil }
func (m probsModel) NumClasses() int                                           { return len(m.p[0]) }

// A whole score-based strategy plugin: the ratio of the second-best to the
// best class probability, registered under "ratio_example".
func ExampleFromScore() {
	strategies.Register(strategies.FromScore("ratio_example", "second-best over best class probability",
		[]learner.Capability{learner.CapProbs},
		func(ctx context.Context, q strategies.Query) ([]float64, error) {
			p, err := q.Model.Probs(ctx, q.Candidates)
			if err != nil {
				return nil, err
			}
			s := make([]float64, len(q.Candidates))
			for i := range s {
				b1, b2 := 0.0, 0.0
				for _, v := range p.RawRowView(i) {
					if v > b1 {
						b1, b2 = v, b1
					} else if v > b2 {
						b2 = v
					}
				}
				s[i] = b2 / b1
			}
			return s, nil
		}))

	s, _ := strategies.New("ratio_example", nil)
	m := probsModel{p: [][]float64{{0.9, 0.1}, {0.55, 0.45}, {0.7, 0.3}}}
	sel, _ := s.Select(context.Background(), strategies.Query{Model: m, Candidates: []int{0, 1, 2}, K: 2, RNG: rand.New(rand.NewPCG(1, 2))})
	fmt.Println(sel)
	// Output: [1 2]
}
