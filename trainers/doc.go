// Package trainers will hold the training schemes that use the unlabeled
// pool (SSAL, VAAL, CEAL pseudo-labels, learning loss). The plain supervised
// scheme, from scratch or warm-started each round, is configured through
// learner.TrainConfig and run by the learner backend.
package trainers
