package envs_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/internal/testlearner"
)

type mapAnnotator map[int]int

func (m mapAnnotator) Answer(i int) (int, bool) { y, ok := m[i]; return y, ok }

// TestAnnotatorPausesAndSuppliesLabels: with an annotator, Reset and Step
// stop with the queried indices until every one has an answer, apply
// nothing meanwhile, and then use the annotator's labels, not the data set's.
func TestAnnotatorPausesAndSuppliesLabels(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 3)
	ann := mapAnnotator{}
	l := testlearner.New(f.data.Inputs(), f.data.NumClasses)
	e, err := envs.New(f.data, f.split, l, envs.Config{InitSize: 6, InitMode: "random", K: 3, Budget: 12}, envs.WithAnnotator(ann))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = e.Reset(ctx, 1)
	var wait *envs.AwaitingLabelsError
	if !errors.As(err, &wait) || wait.Round != 0 || len(wait.Indices) != 6 || wait.Missing != 6 {
		t.Fatalf("Reset without answers: %v", err)
	}
	// Answer all but one: still waiting, for that one.
	for _, i := range wait.Indices[:5] {
		ann[i] = (f.data.Y[i] + 1) % f.data.NumClasses // deliberately not the data set's label
	}
	if _, _, err = e.Reset(ctx, 1); !errors.As(err, &wait) || wait.Missing != 1 {
		t.Fatalf("Reset with 5 of 6 answers: %v", err)
	}
	ann[wait.Indices[5]] = (f.data.Y[wait.Indices[5]] + 1) % f.data.NumClasses
	obs, _, err := e.Reset(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	ep := obs.Episode()
	for j, i := range ep.Labeled {
		if ep.LabeledY[j] != ann[i] {
			t.Fatalf("pool index %d labeled %d, the annotator said %d", i, ep.LabeledY[j], ann[i])
		}
	}
	action := obs.Candidates[:3]
	if _, _, _, _, err = e.Step(ctx, action); !errors.As(err, &wait) || wait.Round != 1 || !slices.Equal(wait.Indices, action) {
		t.Fatalf("Step without answers: %v", err)
	}
	if e.Round() != 0 || len(e.Labeled()) != 6 {
		t.Fatalf("a waiting step changed the episode: round %d, %d labels", e.Round(), len(e.Labeled()))
	}
	for _, i := range action {
		ann[i] = f.data.Y[i]
	}
	if _, _, _, _, err = e.Step(ctx, action); err != nil {
		t.Fatal(err)
	}
	if e.Round() != 1 || len(e.Labeled()) != 9 {
		t.Fatalf("after the answers: round %d, %d labels", e.Round(), len(e.Labeled()))
	}
	// A human oracle cannot serve a balanced initial set or relative rewards.
	for _, cfg := range []envs.Config{{InitSize: 6, InitMode: "balanced", K: 3, Budget: 12}, {InitSize: 6, InitMode: "random", K: 3, Budget: 12, Reward: envs.RewardRelative}} {
		if _, err := envs.New(f.data, f.split, l, cfg, envs.WithAnnotator(ann)); err == nil {
			t.Errorf("config %+v accepted with an annotator", cfg)
		}
	}
}
