package envs_test

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/internal/testlearner"
	"github.com/alrl/alrl/learner"
)

// recordingLearner remembers what every Fit was given to fit and to stop on.
type recordingLearner struct {
	*testlearner.Learner
	fit, stop []learner.Labeled
}

func (r *recordingLearner) Fit(ctx context.Context, train, val learner.Labeled, seed uint64) (learner.FitStats, error) {
	r.fit = append(r.fit, train)
	r.stop = append(r.stop, val)
	return r.Learner.Fit(ctx, train, val, seed)
}

// TestFitSetsFollowTheProtocol: where the labels a fit sees come from under
// each protocol. Free validation (a paper's): the fit stops on the split's
// validation set. Reward only (training episodes): the validation set never
// reaches a fit or an observation, but measures the reward. Holdout: a
// stratified share of the labeled set, drawn afresh each round, is what the
// fit stops on; the fit gets the rest, and the two together are exactly the
// labels bought.
func TestFitSetsFollowTheProtocol(t *testing.T) {
	f := newFixture(t, 5)
	valSet := map[int]bool{}
	for _, i := range f.split.Val {
		valSet[i] = true
	}
	tests := []struct {
		name      string
		opts      []envs.Option
		stopIsVal bool // fits stop on the validation split
		holdout   bool // fits stop on a share of the labeled set
		obsAcc    bool // observations carry a held-out accuracy
	}{
		{"free validation", nil, true, false, true},
		{"reward only", []envs.Option{envs.WithValidationForRewardOnly()}, false, false, false},
		{"reward only with holdout", []envs.Option{envs.WithValidationForRewardOnly(), envs.WithHoldout(0.25)}, false, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rl := &recordingLearner{Learner: testlearner.New(f.data.Inputs(), f.data.NumClasses)}
			e, err := envs.New(f.data, f.split, rl, cfg(6, 4, 22), tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			obs, rec, err := e.Reset(ctx, 3)
			if err != nil {
				t.Fatal(err)
			}
			recs := []envs.Record{rec}
			for e.Done() == envs.NotDone {
				if got := !math.IsNaN(obs.ValAcc); got != tc.obsAcc {
					t.Fatalf("round %d: observation carries a held-out accuracy %v (%g), want %v", obs.Round, got, obs.ValAcc, tc.obsAcc)
				}
				obs, _, _, rec, err = e.Step(ctx, obs.Candidates[:obs.K])
				if err != nil {
					t.Fatal(err)
				}
				recs = append(recs, rec)
			}
			if len(rl.fit) != len(recs) {
				t.Fatalf("%d fits for %d rounds", len(rl.fit), len(recs))
			}
			var held [][]int
			for r, rec := range recs {
				fit, stop := rl.fit[r], rl.stop[r]
				for _, i := range fit.Idx {
					if valSet[i] {
						t.Fatalf("round %d: the fit trained on validation index %d", r, i)
					}
				}
				switch {
				case tc.stopIsVal:
					if !slices.Equal(stop.Idx, f.split.Val) || fit.Len() != rec.Labels {
						t.Fatalf("round %d: stopped on %d samples, fit %d of %d labels; want the validation split and every label", r, stop.Len(), fit.Len(), rec.Labels)
					}
				case tc.holdout:
					if fit.Len()+stop.Len() != rec.Labels || stop.Len() != int(math.Round(0.25*float64(rec.Labels))) {
						t.Fatalf("round %d: fit %d + held %d of %d labels", r, fit.Len(), stop.Len(), rec.Labels)
					}
					all := append(slices.Clone(fit.Idx), stop.Idx...)
					slices.Sort(all)
					lab := slices.Clone(e.Labeled()[:rec.Labels])
					slices.Sort(lab)
					if !slices.Equal(all, lab) {
						t.Fatalf("round %d: fit and holdout %v are not the labeled set %v", r, all, lab)
					}
					classes := map[int]bool{}
					for _, y := range stop.Y {
						classes[y] = true
					}
					if stop.Len() >= numClasses && len(classes) < numClasses {
						t.Errorf("round %d: a holdout of %d covers %d classes; stratified, it covers all %d", r, stop.Len(), len(classes), numClasses)
					}
					if rec.HoldoutAcc == nil {
						t.Errorf("round %d: no holdout accuracy recorded", r)
					}
					held = append(held, stop.Idx)
				default:
					if stop.Len() != 0 || fit.Len() != rec.Labels {
						t.Fatalf("round %d: stopped on %d samples, fit %d of %d labels; want nothing and every label", r, stop.Len(), fit.Len(), rec.Labels)
					}
				}
				if math.IsNaN(float64(rec.ValAcc)) {
					t.Errorf("round %d: no validation accuracy for the reward", r)
				}
			}
			if tc.holdout && slices.Equal(held[len(held)-2], held[len(held)-1][:len(held[len(held)-2])]) && slices.Equal(held[0], held[1][:len(held[0])]) {
				t.Errorf("the holdout is not redrawn between rounds: %v", held)
			}
		})
	}
}
