package trainers

import (
	"context"
	"fmt"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/learner"
)

func init() {
	Register(Info{
		Name: "learning_loss",
		Description: "learning loss (Yoo & Kweon 2019): a loss-prediction module on intermediate feature maps, trained jointly " +
			"with the margin ranking loss; strategy learning_loss queries the highest predicted losses",
		Options: []Option{
			{Name: "taps", Default: []any{}, Doc: "layer indices whose outputs feed the module (empty = every activation layer before the output layer)"},
			{Name: "width", Default: 128, Doc: "units of each feature's dense layer (paper: 128)"},
			{Name: "margin", Default: 1.0, Doc: "margin xi of the ranking loss (paper: 1)"},
			{Name: "weight", Default: 1.0, Doc: "weight lambda of the module's loss (paper: 1)"},
			{Name: "stop_grad_fraction", Default: 0.6, Doc: "fraction of the epochs after which the module's gradient stops reaching the network (paper: 120 of 200)"},
			{Name: "early_stopping", Default: false, Doc: "stop on validation accuracy (learner.train.patience) as other trainers do; " +
				"false trains all learner.train.epochs, the paper's fixed schedule, so the gradient stop always happens"},
		},
		Needs:  []learner.Capability{learner.CapLossPrediction},
		Trains: []learner.Capability{learner.CapLossPrediction},
		New: func(o Options, _ Setup) (envs.Trainer, error) {
			r := reader{o: o}
			t := &learningLoss{opt: learner.LossModuleOptions{Taps: r.ints("taps"), Width: r.int("width"), Margin: r.float("margin"),
				Weight: r.float("weight"), StopGradFraction: r.float("stop_grad_fraction"), EarlyStopping: r.boolean("early_stopping")}}
			if r.err != nil {
				return nil, r.err
			}
			if err := t.opt.Check(); err != nil {
				return nil, err
			}
			return t, nil
		},
	})
}

// learningLoss trains the task model with Yoo & Kweon's loss-prediction
// module attached: target loss + weight * ranking loss, the module's input
// detached from the network after stop_grad_fraction of the epochs. By
// default it trains every epoch with no early stopping, as the paper does
// (200 epochs, the module detached after 120).
type learningLoss struct {
	opt learner.LossModuleOptions
}

// Name returns "learning_loss".
func (t *learningLoss) Name() string { return "learning_loss" }

// Train fits the network jointly with the loss module.
func (t *learningLoss) Train(ctx context.Context, r envs.TrainRound) (envs.TrainResult, error) {
	lp, err := need[learner.LossPredictor](r.Model, learner.CapLossPrediction, "learning_loss")
	if err != nil {
		return envs.TrainResult{}, err
	}
	st, ls, err := lp.FitWithLossModule(ctx, r.Labeled, r.Val, r.Seed, t.opt)
	if err != nil {
		return envs.TrainResult{Stats: st}, fmt.Errorf("fit with the loss module: %w", err)
	}
	return envs.TrainResult{Stats: st, Info: map[string]any{
		"target_loss":     envs.Float(ls.TargetLoss),
		"ranking_loss":    envs.Float(ls.RankingLoss),
		"stop_grad_epoch": float64(ls.StopGradEpoch),
	}}, nil
}
