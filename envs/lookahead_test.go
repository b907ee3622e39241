package envs_test

import (
	"context"
	"math"
	"testing"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/learner"
)

// TestLookaheadEqualsBruteForce checks the expert's gains on a tiny task
// against fitting a fresh head on the labeled set plus each candidate.
func TestLookaheadEqualsBruteForce(t *testing.T) {
	ctx := context.Background()
	f := hardFixture(t, 5)
	labeled := f.split.Pool[:12]
	train := learner.Labeled{Idx: labeled, Y: gatherLabels(f, labeled)}
	eval := learner.Labeled{Idx: f.split.Val, Y: gatherLabels(f, f.split.Val)}
	cands := f.split.Pool[12:20]
	candY := gatherLabels(f, cands)

	h := fastHead(t, f)
	if _, err := h.Fit(ctx, train, learner.Labeled{}, 0); err != nil {
		t.Fatal(err)
	}
	la, err := h.Lookahead(ctx, train, cands, candY, eval, 500)
	if err != nil {
		t.Fatal(err)
	}
	gains := la.Gains()
	baseAcc, baseNLL, err := envs.Evaluate(ctx, h, eval.Idx, eval.Y)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(baseNLL-la.BaseNLL) > 1e-4 || baseAcc != la.BaseAcc {
		t.Fatalf("base: lookahead %g / %g, head %g / %g", la.BaseNLL, la.BaseAcc, baseNLL, baseAcc)
	}
	distinct := map[float64]bool{}
	for i, c := range cands {
		fresh := fastHead(t, f)
		tr := learner.Labeled{Idx: append(append([]int(nil), labeled...), c), Y: append(append([]int(nil), train.Y...), candY[i])}
		if _, err := fresh.Fit(ctx, tr, learner.Labeled{}, 0); err != nil {
			t.Fatal(err)
		}
		acc, nll, err := envs.Evaluate(ctx, fresh, eval.Idx, eval.Y)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(nll-la.NLL[i]) > 1e-4 || math.Abs(acc-la.Acc[i]) > 1e-9 {
			t.Errorf("candidate %d: lookahead loss %g acc %g, brute force %g %g", c, la.NLL[i], la.Acc[i], nll, acc)
		}
		if math.Abs(gains[i]-(baseNLL-nll)) > 2e-4 {
			t.Errorf("candidate %d: gain %g, brute force %g", c, gains[i], baseNLL-nll)
		}
		distinct[math.Round(gains[i]*1e4)] = true
	}
	if len(distinct) < 3 {
		t.Fatalf("gains barely differ (%v): the test cannot tell candidates apart", gains)
	}
	// The head is unchanged by the look-ahead.
	_, again, err := envs.Evaluate(ctx, h, eval.Idx, eval.Y)
	if err != nil || again != baseNLL {
		t.Fatalf("the look-ahead changed the head: %g then %g (%v)", baseNLL, again, err)
	}
}

func TestLookaheadRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	f := hardFixture(t, 6)
	h := fastHead(t, f)
	train := learner.Labeled{Idx: f.split.Pool[:6], Y: gatherLabels(f, f.split.Pool[:6])}
	eval := learner.Labeled{Idx: f.split.Val, Y: gatherLabels(f, f.split.Val)}
	if _, err := h.Lookahead(ctx, train, f.split.Pool[6:8], []int{0, 1}, eval, 10); err == nil {
		t.Fatal("an unfitted head was accepted")
	}
	if _, err := h.Fit(ctx, train, learner.Labeled{}, 0); err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"label count": func() error { _, err := h.Lookahead(ctx, train, f.split.Pool[6:8], []int{0}, eval, 10); return err },
		"empty eval": func() error {
			_, err := h.Lookahead(ctx, train, f.split.Pool[6:8], []int{0, 1}, learner.Labeled{}, 10)
			return err
		},
		"bad label":  func() error { _, err := h.Lookahead(ctx, train, f.split.Pool[6:8], []int{0, 99}, eval, 10); return err },
		"iterations": func() error { _, err := h.Lookahead(ctx, train, f.split.Pool[6:8], []int{0, 1}, eval, 0); return err },
	} {
		if call() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func gatherLabels(f fixture, idx []int) []int {
	y := make([]int, len(idx))
	for i, j := range idx {
		y[i] = f.data.Y[j]
	}
	return y
}

// TestLookaheadExpertMetrics: the expert's acc gains are the accuracy
// changes of the look-ahead, its nll gains the loss drops.
func TestLookaheadExpertMetrics(t *testing.T) {
	ctx := context.Background()
	f := hardFixture(t, 8)
	h := fastHead(t, f)
	lab := f.split.Pool[:10]
	train := learner.Labeled{Idx: lab, Y: gatherLabels(f, lab)}
	if _, err := h.Fit(ctx, train, learner.Labeled{}, 0); err != nil {
		t.Fatal(err)
	}
	eval := learner.Labeled{Idx: f.split.Val, Y: gatherLabels(f, f.split.Val)}
	cands := f.split.Pool[10:16]
	la, err := h.Lookahead(ctx, train, cands, gatherLabels(f, cands), eval, 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"acc", "nll", "bogus"} {
		ex := &envs.LookaheadExpert{Head: h, Labels: f.data.Y, Eval: eval, Iters: 50, Metric: m}
		g, err := ex.Gains(ctx, lab, nil, cands)
		if m == "bogus" {
			if err == nil {
				t.Fatal("an unknown metric was accepted")
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := range g {
			want := la.Acc[i] - la.BaseAcc
			if m == "nll" {
				want = la.BaseNLL - la.NLL[i]
			}
			if math.Abs(g[i]-want) > 1e-12 {
				t.Errorf("%s gain %d = %g, want %g", m, i, g[i], want)
			}
		}
		if ex.Refits != len(cands)+1 {
			t.Errorf("%s: %d refits counted, want %d", m, ex.Refits, len(cands)+1)
		}
	}
}
