package experiments

import (
	"fmt"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/trainers"
)

// newRoundTrainer builds a run's trainer and checks that the learner has the
// capabilities it needs.
func newRoundTrainer(tc trainers.Config, data *datasets.Dataset, split datasets.Split, seed uint64, lc learner.Config, l learner.Learner) (envs.Trainer, error) {
	info, err := trainers.Lookup(tc.Name)
	if err != nil {
		return nil, fmt.Errorf("trainer: %w", err)
	}
	tr, err := trainers.New(tc, trainers.Setup{Inputs: data.Inputs(), Seed: seed, Pool: split.Pool,
		NumClasses: data.NumClasses, Learner: lc})
	if err != nil {
		return nil, fmt.Errorf("trainer: %w", err)
	}
	for _, c := range trainers.NeedsOf(info, tr) {
		if !learner.Has(l, c) {
			return nil, fmt.Errorf("trainer %s needs %q, which learner %s cannot provide; use the torch backend (learner.backend: torch)", info.Name, c, l.Describe())
		}
	}
	return tr, nil
}
