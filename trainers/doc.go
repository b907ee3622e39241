// Package trainers holds how a model is fitted in every active-learning
// round, each scheme a registered plugin behind envs.Trainer:
//
//   - supervised: the learner's own fit on the labeled set (the default);
//   - ceal: Wang et al. 2017, confident unlabeled samples join training with
//     pseudo-labels;
//   - ssal: Siméoni et al. 2020, DeepCluster pre-training on the pool, then
//     supervised fine-tuning and semi-supervised training with label
//     propagation (Iscen et al. 2019);
//   - vaal: Sinha et al. 2019, a beta-VAE and a discriminator trained
//     adversarially next to the task model (strategy vaal reads them);
//   - learning_loss: Yoo & Kweon 2019, a loss-prediction module trained
//     jointly with the task model (strategy learning_loss reads it).
//
// Trainers drive the learner through capability interfaces of package
// learner (weighted fits, auxiliary heads, loss module, VAAL networks). The
// torch networks and loops behind them live here, in torch-tagged files
// (torch.go wraps every torch learner with them); the rest is pure Go. A
// trainer never sees the labels of unlabeled samples (envs.TrainRound
// carries none); the pseudo-labels it invents are returned to the
// environment, which measures them against the hidden truth for the round's
// record only.
package trainers
