package trainers

import (
	"context"

	"github.com/alrl/alrl/envs"
)

func init() {
	Register(Info{
		Name:        "supervised",
		Description: "the learner's own fit on the labeled set, from scratch or warm-started (learner.train.warm_start); the default",
		New:         func(Options, Setup) (envs.Trainer, error) { return supervised{}, nil },
	})
}

type supervised struct{}

// Name returns "supervised".
func (supervised) Name() string { return "supervised" }

// Train runs the learner's own fit.
func (supervised) Train(ctx context.Context, r envs.TrainRound) (envs.TrainResult, error) {
	st, err := r.Model.Fit(ctx, r.Labeled, r.Val, r.Seed)
	return envs.TrainResult{Stats: st}, err
}
