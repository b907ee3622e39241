// Package learner defines the seam between acquisition code and models: a
// Learner fits on labeled pool indices and answers capability queries
// (class probabilities, Monte-Carlo-dropout samples, embeddings) with plain
// gonum values, so that strategies and agents never import a tensor library.
package learner

import (
	"context"
	"errors"
	"fmt"

	"gonum.org/v1/gonum/mat"
)

// Capability names one thing a learner can compute for a set of pool indices.
type Capability string

// Capabilities that strategies and agent features may ask for.
const (
	CapProbs      Capability = "probabilities"      // N x C class probabilities
	CapMCDropout  Capability = "mc_dropout"         // T samples of N x C probabilities
	CapEmbeddings Capability = "embeddings"         // N x D penultimate activations
	CapLastLayer  Capability = "last_layer_weights" // C x D weights of the output layer
	CapInputs     Capability = "inputs"             // N x D raw (flattened) inputs of pool samples
	CapInputGrads Capability = "input_gradients"    // logits and their gradients w.r.t. arbitrary inputs
	CapEnsemble   Capability = "ensemble"           // M matrices N x C, one per ensemble member
)

// CapabilityHint says how a config gets a learner with capability c.
func CapabilityHint(c Capability) string {
	switch c {
	case CapMCDropout:
		return "use a model with dropout layers (e.g. model.name: cnn, or add a dropout layer to model.layers)"
	case CapEnsemble:
		return "set learner.ensemble: M (M >= 2; Beluch et al. 2018 used 5) to train M independently initialised models"
	}
	return ""
}

// Labeled is a set of pool indices with the labels the oracle revealed for them.
type Labeled struct {
	Idx []int
	Y   []int
}

// Len returns the number of labeled samples.
func (l Labeled) Len() int { return len(l.Idx) }

// FitStats describes one call to Fit.
type FitStats struct {
	Epochs    int     `json:"epochs"`     // epochs actually run (early stopping may cut them)
	BestEpoch int     `json:"best_epoch"` // epoch whose weights were kept
	TrainLoss float64 `json:"train_loss"` // mean training loss of the last epoch
	ValAcc    float64 `json:"val_acc"`    // validation accuracy of the kept weights (NaN without a validation set)
	ValLoss   float64 `json:"val_loss"`   // validation loss of the kept weights
	// Info holds learner-specific facts about the fit (e.g. the architecture
	// a search chose); the environment copies it into the round's record.
	Info map[string]any `json:"info,omitempty"`
}

// Learner is a model that is refit every AL round and scored on pool indices.
type Learner interface {
	// Fit trains on the labeled samples; val (which may be empty) drives early
	// stopping. seed makes initialisation and data order reproducible.
	Fit(ctx context.Context, train, val Labeled, seed uint64) (FitStats, error)
	// Probs returns the N x C class probabilities of the given pool indices.
	Probs(ctx context.Context, idx []int) (*mat.Dense, error)
	// NumClasses returns C.
	NumClasses() int
	// Reseed seeds the learner's own random generators (dropout masks at
	// inference), so that scoring is reproducible after a resume.
	Reseed(seed uint64)
	// Describe returns a one-line human description (backend, model, parameters).
	Describe() string
	// Save writes the model weights to path atomically.
	Save(path string) error
	// Load reads weights written by Save.
	Load(path string) error
	// Close frees the memory the learner holds outside the Go heap.
	Close() error
}

// MCSampler is a learner that can draw Monte-Carlo-dropout samples.
type MCSampler interface {
	// MCProbs returns T matrices, each N x C, of class probabilities under
	// independent dropout masks.
	MCProbs(ctx context.Context, idx []int, T int) ([]*mat.Dense, error)
}

// Embedder is a learner that exposes its penultimate representation.
type Embedder interface {
	// Embed returns the N x D activations that feed the output layer.
	Embed(ctx context.Context, idx []int) (*mat.Dense, error)
}

// LastLayer is a learner that exposes the weights of its output layer (C x D),
// e.g. for BADGE-style gradient embeddings.
type LastLayer interface {
	LastLayerWeights() (*mat.Dense, error)
}

// CapabilityError says that a learner cannot compute a capability.
type CapabilityError struct {
	Capability Capability
	Learner    string
	Hint       string
}

func (e *CapabilityError) Error() string {
	msg := fmt.Sprintf("learner %s cannot provide %q", e.Learner, e.Capability)
	if e.Hint != "" {
		msg += ": " + e.Hint
	}
	return msg
}

// IsCapabilityError reports whether err (or one it wraps) is a CapabilityError.
func IsCapabilityError(err error) bool {
	var ce *CapabilityError
	return errors.As(err, &ce)
}

// Has reports whether l can provide capability c.
func Has(l Learner, c Capability) bool {
	if m, ok := l.(*Memo); ok {
		l = m.Learner
	}
	if r, ok := l.(capabilityReporter); ok {
		return r.HasCapability(c)
	}
	return Implements(l, c)
}

// Implements reports whether l's type has the methods of capability c (and,
// for MC dropout, a dropout layer), ignoring a HasCapability method: what a
// wrapper that answers HasCapability checks of itself.
func Implements(l Learner, c Capability) bool {
	switch c {
	case CapProbs:
		return true
	case CapMCDropout:
		s, ok := l.(MCSampler)
		if !ok {
			return false
		}
		if d, ok := s.(interface{ HasDropout() bool }); ok {
			return d.HasDropout()
		}
		return true
	case CapEmbeddings:
		_, ok := l.(Embedder)
		return ok
	case CapLastLayer:
		_, ok := l.(LastLayer)
		return ok
	case CapInputs:
		_, ok := l.(InputSource)
		return ok
	case CapInputGrads:
		_, ok := l.(InputGrader)
		return ok
	case CapEnsemble:
		_, ok := l.(Ensembler)
		return ok
	}
	return hasExtra(l, c)
}
