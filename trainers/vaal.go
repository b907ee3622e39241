package trainers

import (
	"context"
	"fmt"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/learner"
)

func init() {
	Register(Info{
		Name: "vaal",
		Description: "VAAL (Sinha, Ebrahimi & Darrell 2019): a beta-VAE over labeled and unlabeled samples and a discriminator on its " +
			"latent space, trained adversarially; the task model trains as usual; strategy vaal queries what looks least labeled",
		Options: []Option{
			{Name: "latent", Default: 32, Doc: "latent dimension (paper: 32)"},
			{Name: "channels", Default: []any{128, 256, 512, 1024}, Doc: "encoder conv channels (images) or dense units (flat inputs) (paper: 128, 256, 512, 1024)"},
			{Name: "disc_width", Default: 512, Doc: "discriminator hidden units, four hidden layers (paper: 512)"},
			{Name: "beta", Default: 1.0, Doc: "KL weight of the beta-VAE (paper: 1)"},
			{Name: "adversary_param", Default: 1.0, Doc: "weight of the VAE's adversarial loss, lambda2 (paper: 1)"},
			{Name: "lr", Default: 5e-4, Doc: "Adam learning rate of the VAE and the discriminator (paper: 5e-4)"},
			{Name: "batch_size", Default: 128, Doc: "labeled and unlabeled batch size (paper: 128)"},
			{Name: "epochs", Default: 100, Doc: "iterations = pool size x epochs / batch size (paper: 100)"},
			{Name: "iterations", Default: 0, Doc: "training iterations per round; overrides epochs when > 0"},
			{Name: "vae_steps", Default: 2, Doc: "VAE steps per iteration (paper: 2)"},
			{Name: "adv_steps", Default: 1, Doc: "discriminator steps per iteration (paper: 1)"},
		},
		Needs:  []learner.Capability{learner.CapVAAL},
		Trains: []learner.Capability{learner.CapVAAL},
		New: func(o Options, s Setup) (envs.Trainer, error) {
			r := reader{o: o}
			t := &vaal{opt: learner.VAALOptions{Latent: r.int("latent"), Channels: r.ints("channels"), DiscWidth: r.int("disc_width"),
				Beta: r.float("beta"), AdversaryParam: r.float("adversary_param"), LR: r.float("lr"), BatchSize: r.int("batch_size"),
				VAESteps: r.int("vae_steps"), AdvSteps: r.int("adv_steps")}, epochs: r.int("epochs"), iterations: r.int("iterations")}
			if r.err != nil {
				return nil, r.err
			}
			if t.epochs < 1 || t.iterations < 0 {
				return nil, fmt.Errorf("option epochs must be >= 1 and iterations >= 0")
			}
			t.opt.Iterations = t.iterations
			if t.opt.Iterations == 0 {
				t.opt.Iterations = max(1, len(s.Pool)*t.epochs/max(t.opt.BatchSize, 1))
			}
			if err := t.opt.Check(); err != nil {
				return nil, err
			}
			return t, nil
		},
	})
}

// vaal trains the task model with the learner's supervised fit, then VAAL's
// VAE and discriminator from scratch on the labeled and unlabeled pool (the
// paper's code re-initialises all networks every round). The paper trains
// the task model in the same loop as the VAE; it is independent of them, so
// training it separately changes nothing but the interleaving.
type vaal struct {
	opt        learner.VAALOptions
	epochs     int
	iterations int
}

// Name returns "vaal".
func (t *vaal) Name() string { return "vaal" }

// Train fits the task model, then VAAL's networks.
func (t *vaal) Train(ctx context.Context, r envs.TrainRound) (envs.TrainResult, error) {
	vm, err := need[learner.VAALModel](r.Model, learner.CapVAAL, "vaal")
	if err != nil {
		return envs.TrainResult{}, err
	}
	st, err := r.Model.Fit(ctx, r.Labeled, r.Val, r.Seed)
	if err != nil {
		return envs.TrainResult{Stats: st}, err
	}
	vs, err := vm.FitVAAL(ctx, r.Labeled.Idx, r.Unlabeled, envs.RNG(r.Seed, r.Round, "vaal").Uint64(), t.opt)
	if err != nil {
		return envs.TrainResult{Stats: st}, fmt.Errorf("VAAL networks: %w", err)
	}
	return envs.TrainResult{Stats: st, Info: map[string]any{
		"vae_iterations":   float64(vs.Iterations),
		"vae_recon_first":  envs.Float(vs.FirstRecon),
		"vae_recon":        envs.Float(vs.ReconError),
		"vae_kl":           envs.Float(vs.KL),
		"vae_loss":         envs.Float(vs.VAELoss),
		"disc_loss":        envs.Float(vs.DiscLoss),
		"disc_labeled_p":   envs.Float(vs.LabeledProb),
		"disc_unlabeled_p": envs.Float(vs.UnlabeledProb),
	}}, nil
}
