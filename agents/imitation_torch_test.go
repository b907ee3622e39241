//go:build torch

package agents_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/agents"
)

// goListwise is the mean ListNet loss of the network's scores, in Go.
func goListwise(net *agents.MLP, samples []agents.RankSample) float64 {
	total := 0.0
	for _, s := range samples {
		out, err := net.Forward(s.X, nil)
		if err != nil {
			panic(err)
		}
		l, _ := agents.ListNetLoss(mat.Col(nil, 0, out), s.Target)
		total += l
	}
	return total / float64(len(samples))
}

// TestListwiseGradMatchesFiniteDifferences checks the torch backend's
// listwise loss against the Go reference and its gradient against central
// differences of it, on a tiny network and two lists of different lengths.
func TestListwiseGradMatchesFiniteDifferences(t *testing.T) {
	be, err := agents.NewBackend("torch")
	if err != nil {
		t.Fatal(err)
	}
	lb, ok := be.(agents.ListwiseBackend)
	if !ok {
		t.Fatal("the torch backend has no listwise loss")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	net, err := agents.NewMLP([]int{3, 4, 1}, 0, rng)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(m int) agents.RankSample {
		x := mat.NewDense(m, 3, nil)
		for i := 0; i < m; i++ {
			for j := 0; j < 3; j++ {
				x.Set(i, j, rng.NormFloat64())
			}
		}
		return agents.RankSample{X: x, Target: agents.ExpertTarget(mat.Col(nil, 0, x), 0.5)}
	}
	samples := []agents.RankSample{mk(5), mk(3)}
	loss, grads, err := lb.ListwiseGrad(net, samples)
	if err != nil {
		t.Fatal(err)
	}
	if want := goListwise(net, samples); math.Abs(loss-want) > 1e-10 {
		t.Fatalf("torch loss %v, Go %v", loss, want)
	}
	params := net.Params()
	for k, p := range params {
		for i := range p {
			old := p[i]
			p[i] = old + 1e-6
			hi := goListwise(net, samples)
			p[i] = old - 1e-6
			lo := goListwise(net, samples)
			p[i] = old
			if fd := (hi - lo) / 2e-6; math.Abs(fd-grads[k][i]) > 1e-6 {
				t.Errorf("param slice %d entry %d: gradient %v, finite difference %v", k, i, grads[k][i], fd)
			}
		}
	}
	if _, _, err := lb.ListwiseGrad(net, []agents.RankSample{{X: mat.NewDense(2, 3, nil), Target: []float64{1}}}); err == nil {
		t.Fatal("a list with fewer targets than rows was accepted")
	}
}
