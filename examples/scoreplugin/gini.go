// Package scoreplugin is the smallest strategy plugin: Gini impurity of the
// class probabilities, registered with strategies.FromProbs; a blank import
// of this package adds "gini" to alrl.
package scoreplugin

import "github.com/alrl/alrl/strategies"

func init() {
	strategies.Register(strategies.FromProbs("gini", "Gini impurity 1 - sum p^2 (example plugin)", func(p []float64) float64 {
		s := 1.0
		for _, v := range p {
			s -= v * v
		}
		return s
	}))
}
