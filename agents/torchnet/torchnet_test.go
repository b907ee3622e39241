//go:build torch

package torchnet_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/agents"
	"github.com/alrl/alrl/agents/torchnet"
)

func randMat(rng *rand.Rand, r, c int) *mat.Dense {
	x := mat.NewDense(r, c, nil)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			x.Set(i, j, rng.NormFloat64())
		}
	}
	return x
}

// goPolicyLoss is the loss PolicyGrad must compute, from the pure-Go forward pass.
func goPolicyLoss(t *testing.T, net *agents.MLP, samples []agents.PLSample, l agents.PGLoss) float64 {
	total := 0.0
	for _, s := range samples {
		sc, err := agents.SampleScores(net, s, l)
		if err != nil {
			t.Fatal(err)
		}
		lp := agents.PLLogProb(sc, s.Chosen, l.Temperature)
		obj := s.Adv * lp
		if l.Algo == "ppo" {
			r := math.Exp(lp - s.OldLogP)
			obj = math.Min(r*s.Adv, math.Max(1-l.Clip, math.Min(1+l.Clip, r))*s.Adv)
		}
		if l.Entropy != 0 {
			m := math.Inf(-1)
			for _, v := range sc {
				m = math.Max(m, v/l.Temperature)
			}
			z := 0.0
			for _, v := range sc {
				z += math.Exp(v/l.Temperature - m)
			}
			h := 0.0
			for _, v := range sc {
				lp := v/l.Temperature - m - math.Log(z)
				h -= math.Exp(lp) * lp
			}
			obj += l.Entropy * h
		}
		total += obj
	}
	return -total / float64(len(samples))
}

func TestPolicyGradMatchesFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name    string
		loss    agents.PGLoss
		dropout float64
		passes  int
	}{
		{"reinforce", agents.PGLoss{Algo: "reinforce", Temperature: 1}, 0, 0},
		{"reinforce, temperature and dropout", agents.PGLoss{Algo: "reinforce", Temperature: 0.5}, 0.3, 1},
		{"ppo", agents.PGLoss{Algo: "ppo", Clip: 0.2, Temperature: 1}, 0, 0},
		{"entropy bonus", agents.PGLoss{Algo: "reinforce", Temperature: 1, Entropy: 0.1}, 0, 0},
		{"bayesian: mean of 4 passes", agents.PGLoss{Algo: "reinforce", Temperature: 1}, 0.3, 4},
		{"bayesian: 4 passes and a std bonus", agents.PGLoss{Algo: "reinforce", Temperature: 0.7, Bonus: 0.5}, 0.3, 4},
		{"bayesian ppo with entropy: 3 passes, bonus", agents.PGLoss{Algo: "ppo", Clip: 0.2, Temperature: 1, Entropy: 0.1, Bonus: 1}, 0.2, 3},
		{"bonus with one pass", agents.PGLoss{Algo: "reinforce", Temperature: 1, Bonus: 2}, 0.3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			net, err := agents.NewMLP([]int{4, 5, 3, 1}, tc.dropout, rng)
			if err != nil {
				t.Fatal(err)
			}
			var samples []agents.PLSample
			for s := 0; s < 3; s++ {
				x := randMat(rng, 6, 4)
				sm := agents.PLSample{X: x, Chosen: []int{(s + 2) % 6, 5 - s, 0 + s}, Adv: rng.NormFloat64()}
				for p := 0; p < tc.passes; p++ {
					sm.Passes = append(sm.Passes, net.Masks(6, rng))
				}
				lp, err := agents.SampleLogProb(net, sm, tc.loss)
				if err != nil {
					t.Fatal(err)
				}
				// OldLogP near the current one, so PPO's ratio sits inside and outside the clip range.
				sm.OldLogP = lp + []float64{0, 0.5, -0.5}[s]
				samples = append(samples, sm)
			}
			loss, grads, err := torchnet.Backend{}.PolicyGrad(net, samples, tc.loss)
			if err != nil {
				t.Fatal(err)
			}
			if want := goPolicyLoss(t, net, samples, tc.loss); math.Abs(loss-want) > 1e-9 {
				t.Fatalf("loss %v, the Go forward pass gives %v", loss, want)
			}
			checkGrad(t, net, grads, func() float64 { return goPolicyLoss(t, net, samples, tc.loss) })
		})
	}
}

func checkGrad(t *testing.T, net *agents.MLP, grads [][]float64, f func() float64) {
	t.Helper()
	const h = 1e-6
	for k, p := range net.Params() {
		for i := range p {
			old := p[i]
			p[i] = old + h
			up := f()
			p[i] = old - h
			down := f()
			p[i] = old
			fd := (up - down) / (2 * h)
			if math.Abs(fd-grads[k][i]) > 1e-5*math.Max(1, math.Abs(fd)) {
				t.Fatalf("param slice %d [%d]: gradient %v, finite difference %v", k, i, grads[k][i], fd)
			}
		}
	}
}

func TestRegressionGradMatchesFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, huber := range []bool{false, true} {
		net, err := agents.NewMLP([]int{3, 4, 2}, 0.25, rng)
		if err != nil {
			t.Fatal(err)
		}
		x := randMat(rng, 5, 3)
		masks := net.Masks(5, rng)
		out := []int{0, 1, 1, 0, 1}
		targets := []float64{3, -2, 0.1, 0.2, -0.3}
		goLoss := func() float64 {
			y, err := net.Forward(x, masks)
			if err != nil {
				t.Fatal(err)
			}
			l := 0.0
			for i, o := range out {
				d := y.At(i, o) - targets[i]
				if huber && math.Abs(d) > 1 {
					l += math.Abs(d) - 0.5
				} else {
					l += 0.5 * d * d * map[bool]float64{true: 1, false: 2}[huber]
				}
			}
			return l / float64(len(out))
		}
		loss, grads, err := torchnet.Backend{}.RegressionGrad(net, x, masks, out, targets, huber)
		if err != nil {
			t.Fatal(err)
		}
		if want := goLoss(); math.Abs(loss-want) > 1e-9 {
			t.Fatalf("huber %v: loss %v, want %v", huber, loss, want)
		}
		checkGrad(t, net, grads, goLoss)
	}
}

func TestBadInputsAreErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	net, _ := agents.NewMLP([]int{2, 3, 1}, 0, rng)
	b := torchnet.Backend{}
	x := randMat(rng, 3, 2)
	if _, _, err := b.PolicyGrad(net, []agents.PLSample{{X: x, Chosen: []int{7}}}, agents.PGLoss{}); err == nil {
		t.Error("chosen row out of range accepted")
	}
	if _, _, err := b.PolicyGrad(net, []agents.PLSample{{X: x, Chosen: []int{0}}}, agents.PGLoss{Algo: "a2c"}); err == nil {
		t.Error("unknown algorithm accepted")
	}
	if _, _, err := b.RegressionGrad(net, x, nil, []int{0, 1, 0}, []float64{1, 2, 3}, false); err == nil {
		t.Error("output index out of range accepted")
	}
	wide, _ := agents.NewMLP([]int{2, 2}, 0, rng)
	if _, _, err := b.PolicyGrad(wide, []agents.PLSample{{X: x, Chosen: []int{0}}}, agents.PGLoss{}); err == nil {
		t.Error("two-output policy network accepted")
	}
}
