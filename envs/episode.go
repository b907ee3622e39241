package envs

import (
	"context"
	"fmt"
	"strings"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/strategies"
)

// Episode is the global state of an episode (strategies.Episode): the
// env passes it in each query's Episode field.
type Episode = strategies.Episode

// Episode returns the observation's global state.
func (o Observation) Episode() Episode {
	ref := o.Reference
	if ref == nil {
		ref = o.Candidates
	}
	return Episode{Round: o.Round, K: o.K, Budget: o.Budget, BudgetUsed: o.BudgetUsed, InitSize: o.InitSize,
		ValAcc: o.ValAcc, ClassCounts: o.ClassCounts, Labeled: o.Labeled, LabeledY: o.LabeledY, Reference: ref}
}

// Features are the per-candidate feature matrix and the global state vector
// of one observation, as a learned policy sees them.
type Features struct {
	Names       []string   // column names of X
	X           *mat.Dense // M x F; row i describes Candidates[i]
	GlobalNames []string   // names of the Global entries
	Global      []float64  // global state (budget used, validation accuracy, class histogram, ...)
}

// Check verifies the shapes against m candidates.
func (f *Features) Check(m int) error {
	if f == nil || f.X == nil {
		return fmt.Errorf("features: none built")
	}
	r, c := f.X.Dims()
	if m == 0 && r <= 1 {
		return nil
	}
	if r != m || c != len(f.Names) {
		return fmt.Errorf("features: matrix is %dx%d for %d candidates and %d names", r, c, m, len(f.Names))
	}
	if len(f.Global) != len(f.GlobalNames) {
		return fmt.Errorf("features: %d global values for %d names", len(f.Global), len(f.GlobalNames))
	}
	return nil
}

// FeatureBuilder computes the features of an observation from the learner's
// capabilities; agents/features implements it from a list of feature names.
// The env knows no feature or strategy by name.
type FeatureBuilder interface {
	// Names returns the candidate feature names, in column order.
	Names() []string
	// Build computes the features of obs.Candidates.
	Build(ctx context.Context, obs Observation) (*Features, error)
}

// SameNames reports whether two name lists are equal, and if not says how they differ.
func SameNames(want, got []string) error {
	if strings.Join(want, "\x00") == strings.Join(got, "\x00") {
		return nil
	}
	return fmt.Errorf("feature list [%s] differs from [%s]", strings.Join(got, ", "), strings.Join(want, ", "))
}

// SetFeatures makes Reset and Step attach features built by b to every
// observation (nil turns it off).
func (e *Env) SetFeatures(b FeatureBuilder) { e.features = b }

// attach builds the observation's features when a builder is set and the episode is not over.
func (e *Env) attach(ctx context.Context, obs *Observation) error {
	if e.features == nil || e.done != NotDone || len(obs.Candidates) == 0 {
		return nil
	}
	f, err := e.features.Build(ctx, *obs)
	if err != nil {
		return fmt.Errorf("round %d: building features: %w", obs.Round, err)
	}
	obs.Features = f
	return nil
}
