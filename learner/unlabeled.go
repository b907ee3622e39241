package learner

import (
	"context"
	"fmt"
	"math"
)

// Capabilities that the trainers using the unlabeled pool need (package
// trainers) or train (and that strategies such as vaal and learning_loss read).
const (
	CapWeightedFit    Capability = "weighted_fit"     // fit on samples with per-sample and per-class weights
	CapAuxHead        Capability = "aux_head_fit"     // train the body under a temporary output layer (DeepCluster)
	CapLossPrediction Capability = "predicted_loss"   // loss-prediction module (Yoo & Kweon 2019)
	CapVAAL           Capability = "vaal_scores"      // VAAL discriminator's probability of "labeled"
	CapInitialize     Capability = "initialize"       // fresh seeded weights without fitting
	CapLoadBackbone   Capability = "backbone_weights" // load all layers but the output layer from a file
)

// Weighted is a training set whose samples carry weights; the labels of
// pseudo-labeled samples are the trainer's guesses, never the hidden truth.
type Weighted struct {
	Idx []int
	Y   []int
	W   []float64 // per-sample loss weights; nil means 1 for every sample
}

// Len returns the number of samples.
func (w Weighted) Len() int { return len(w.Idx) }

// WeightOf returns the weight of sample i (1 when W is nil).
func (w Weighted) WeightOf(i int) float64 {
	if w.W == nil {
		return 1
	}
	return w.W[i]
}

// FromLabeled returns a Weighted set with weight 1 for every sample.
func FromLabeled(l Labeled) Weighted {
	return Weighted{Idx: append([]int(nil), l.Idx...), Y: append([]int(nil), l.Y...)}
}

// Append returns w followed by the samples of o (weights filled with 1 where
// one side has none).
func (w Weighted) Append(o Weighted) Weighted {
	out := Weighted{Idx: append(append([]int(nil), w.Idx...), o.Idx...), Y: append(append([]int(nil), w.Y...), o.Y...)}
	if w.W != nil || o.W != nil {
		out.W = make([]float64, 0, out.Len())
		for i := range w.Idx {
			out.W = append(out.W, w.WeightOf(i))
		}
		for i := range o.Idx {
			out.W = append(out.W, o.WeightOf(i))
		}
	}
	return out
}

// Check validates lengths, labels in [0, classes) and finite non-negative weights.
func (w Weighted) Check(classes int) error {
	if len(w.Y) != len(w.Idx) {
		return fmt.Errorf("weighted training set: %d labels for %d indices", len(w.Y), len(w.Idx))
	}
	if w.W != nil && len(w.W) != len(w.Idx) {
		return fmt.Errorf("weighted training set: %d weights for %d indices", len(w.W), len(w.Idx))
	}
	for i, y := range w.Y {
		if y < 0 || y >= classes {
			return fmt.Errorf("weighted training set: label %d of pool index %d is outside [0, %d)", y, w.Idx[i], classes)
		}
		if v := w.WeightOf(i); v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("weighted training set: weight %g of pool index %d is not a finite non-negative number", v, w.Idx[i])
		}
	}
	return nil
}

// Init says where a fit starts from.
type Init int

// Starting points of a fit.
const (
	InitConfig  Init = iota // as learner.train.warm_start says (fresh weights unless warm_start)
	InitScratch             // fresh seeded weights
	InitCurrent             // continue from the current weights (fresh ones when there are none)
)

// FitOptions tune one weighted fit; zero values mean the learner's config.
type FitOptions struct {
	Init         Init
	Epochs       int       // 0 = learner.train.epochs
	LR           float64   // 0 = learner.train.lr
	ClassWeights []float64 // multiply each sample's loss by the weight of its (pseudo-)label; nil = 1
	NoEarlyStop  bool      // ignore learner.train.patience (train exactly Epochs epochs)
}

// Check validates the options against the class count.
func (o FitOptions) Check(classes int) error {
	if o.Epochs < 0 || o.LR < 0 {
		return fmt.Errorf("fit options: epochs and lr must be >= 0")
	}
	if o.ClassWeights != nil && len(o.ClassWeights) != classes {
		return fmt.Errorf("fit options: %d class weights for %d classes", len(o.ClassWeights), classes)
	}
	for c, v := range o.ClassWeights {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("fit options: class weight %g of class %d is not a finite non-negative number", v, c)
		}
	}
	return nil
}

// WeightedFitter fits on samples with per-sample weights and optional
// per-class weights: the loss is the batch mean of w_i * classW[y_i] * CE_i.
// With all weights 1 it is the plain supervised fit.
type WeightedFitter interface {
	FitWeighted(ctx context.Context, train Weighted, val Labeled, seed uint64, opt FitOptions) (FitStats, error)
}

// Initializer gives a learner fresh seeded weights without training, so that
// its (random) representation can be read, e.g. before DeepCluster's first
// clustering.
type Initializer interface {
	Initialize(seed uint64) error
}

// AuxHeadFitter trains the network's body under a temporary output layer of
// `outputs` units that is freshly initialised on every call, on pseudo-classes
// such as DeepCluster's cluster assignments (Caron et al. 2018). The
// classifier's own output layer is left untouched.
type AuxHeadFitter interface {
	FitAuxHead(ctx context.Context, train Weighted, outputs int, seed uint64, opt FitOptions) (FitStats, error)
}

// BackboneLoader loads every layer but the output layer from a weights file
// written by Save, and initialises the output layer afresh from seed.
type BackboneLoader interface {
	LoadBackbone(path string, seed uint64) error
}

// LossModuleOptions configure the loss-prediction module of Yoo & Kweon
// (2019, "Learning loss for active learning").
type LossModuleOptions struct {
	Taps             []int   // layer indices whose outputs feed the module; empty = every activation layer before the output
	Width            int     // units of each tap's dense layer (paper: 128)
	Margin           float64 // margin of the ranking loss (paper: 1)
	Weight           float64 // weight lambda of the module's loss (paper: 1)
	StopGradFraction float64 // after this fraction of the epochs the module's gradient no longer reaches the body (paper: 120/200)
	EarlyStopping    bool    // stop on validation accuracy (learner.train.patience); false trains all epochs, the paper's fixed schedule
}

// Check validates the options.
func (o LossModuleOptions) Check() error {
	switch {
	case o.Width < 1:
		return fmt.Errorf("loss module: width must be >= 1, got %d", o.Width)
	case o.Margin < 0 || o.Weight < 0:
		return fmt.Errorf("loss module: margin and weight must be >= 0")
	case o.StopGradFraction < 0 || o.StopGradFraction > 1:
		return fmt.Errorf("loss module: stop_grad_fraction must be in [0, 1], got %g", o.StopGradFraction)
	}
	return nil
}

// LossModuleStats describe a fit with the loss-prediction module.
type LossModuleStats struct {
	TargetLoss    float64 // mean cross-entropy of the last epoch
	RankingLoss   float64 // mean ranking loss of the last epoch
	StopGradEpoch int     // first epoch whose module gradient did not reach the body
}

// LossPredictor trains a loss-prediction module jointly with the network and
// predicts each sample's loss.
type LossPredictor interface {
	FitWithLossModule(ctx context.Context, train, val Labeled, seed uint64, opt LossModuleOptions) (FitStats, LossModuleStats, error)
	PredictedLoss(ctx context.Context, idx []int) ([]float64, error)
}

// VAALOptions configure VAAL's beta-VAE and discriminator (Sinha, Ebrahimi &
// Darrell 2019); the defaults of package trainers are the paper's.
type VAALOptions struct {
	Latent         int     // latent dimension (paper: 32)
	Channels       []int   // encoder widths: conv channels for images, dense units for flat inputs (paper: 128, 256, 512, 1024)
	DiscWidth      int     // discriminator hidden units (paper: 512, four hidden layers)
	Beta           float64 // KL weight (paper: 1)
	AdversaryParam float64 // lambda2, weight of the VAE's adversarial loss (paper: 1)
	LR             float64 // Adam learning rate of both networks (paper: 5e-4)
	BatchSize      int     // paper: 128
	Iterations     int     // training iterations (paper: pool size * 100 epochs / batch size)
	VAESteps       int     // VAE steps per iteration (paper: 2)
	AdvSteps       int     // discriminator steps per iteration (paper: 1)
}

// Check validates the options.
func (o VAALOptions) Check() error {
	switch {
	case o.Latent < 1:
		return fmt.Errorf("vaal: latent must be >= 1, got %d", o.Latent)
	case len(o.Channels) == 0:
		return fmt.Errorf("vaal: channels must list at least one width")
	case o.DiscWidth < 1:
		return fmt.Errorf("vaal: disc_width must be >= 1")
	case o.Beta < 0 || o.AdversaryParam < 0:
		return fmt.Errorf("vaal: beta and adversary_param must be >= 0")
	case o.LR <= 0:
		return fmt.Errorf("vaal: lr must be > 0")
	case o.BatchSize < 1 || o.Iterations < 1 || o.VAESteps < 1 || o.AdvSteps < 1:
		return fmt.Errorf("vaal: batch_size, iterations, vae_steps and adv_steps must be >= 1")
	}
	for i, c := range o.Channels {
		if c < 1 {
			return fmt.Errorf("vaal: channels[%d] must be >= 1, got %d", i, c)
		}
	}
	return nil
}

// VAALStats describe one VAAL training.
type VAALStats struct {
	Iterations    int     // iterations run
	ReconError    float64 // mean squared reconstruction error of the last iterations (labeled and unlabeled batches)
	FirstRecon    float64 // the same over the first iterations, to show that it fell
	KL            float64 // mean KL term of the last iterations (summed over the batch, as the paper's code does)
	VAELoss       float64 // mean total VAE loss of the last iterations
	DiscLoss      float64 // mean discriminator loss of the last iterations
	LabeledProb   float64 // mean discriminator probability "labeled" on labeled samples at the end
	UnlabeledProb float64 // the same on unlabeled samples
}

// VAALModel trains VAAL's VAE and discriminator on labeled and unlabeled pool
// indices and scores samples by the discriminator's probability that they are
// labeled.
type VAALModel interface {
	FitVAAL(ctx context.Context, labeled, unlabeled []int, seed uint64, opt VAALOptions) (VAALStats, error)
	LabeledProb(ctx context.Context, idx []int) ([]float64, error)
}

// hasExtra answers Has for the capabilities of this file.
func hasExtra(l Learner, c Capability) bool {
	var ok bool
	switch c {
	case CapWeightedFit:
		_, ok = l.(WeightedFitter)
	case CapAuxHead:
		_, ok = l.(AuxHeadFitter)
	case CapLossPrediction:
		_, ok = l.(LossPredictor)
	case CapVAAL:
		_, ok = l.(VAALModel)
	case CapInitialize:
		_, ok = l.(Initializer)
	case CapLoadBackbone:
		_, ok = l.(BackboneLoader)
	}
	return ok
}

// Unwrap returns the learner inside a Memo (or l itself).
func Unwrap(l Learner) Learner {
	if m, ok := l.(*Memo); ok {
		return m.Learner
	}
	return l
}

// RoundPreparer is a learner with work to do once per active-learning round
// on the labeled set, before the round's training: Active-iNAS's
// architecture search. The environment calls it before a trainer's Train, so
// that trainers that never call Fit (CEAL's weighted fits, learning loss)
// get it too; the learner's own Fit runs it when it was not called for the
// same labeled set and seed. Predictions keep coming from the last trained
// network until the round's first training call.
type RoundPreparer interface {
	PrepareRound(ctx context.Context, train, val Labeled, seed uint64) error
}

// ModelSpecer reports the network a learner trains next, for learners whose
// network is not learner.model (Active-iNAS); caches of trained weights
// (SSAL's pre-training) key on it.
type ModelSpecer interface {
	ModelSpec() ModelSpec
}
