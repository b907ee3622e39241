package experiments

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/experiments/stats"
	"github.com/alrl/alrl/learner"
)

// Stopping criteria: each watches the model on a fixed stop set after every
// round and says at which round the run could have stopped.
const (
	// StabilizingPredictions is Bloodgood & Vijay-Shanker 2009 ("A method
	// for stopping active learning based on stabilizing predictions and the
	// need for user-adjustable stopping"): Cohen's kappa between the
	// predictions of successive models on a stop set; stop when the mean of
	// the last `window` kappas reaches `threshold` (paper: 3 and 0.99).
	StabilizingPredictions = "stabilizing_predictions"
	// MaxUncertainty is Zhu, Wang & Hovy 2008: stop when the most uncertain
	// unlabeled example's entropy falls to `threshold`.
	MaxUncertainty = "max_uncertainty"
	// OverallUncertainty is Zhu, Wang & Hovy 2008: stop when the mean entropy
	// of the unlabeled examples falls to `threshold`.
	OverallUncertainty = "overall_uncertainty"
	// ClassificationChange is Zhu, Wang & Hovy 2008/2010: stop when no
	// unlabeled example changes its predicted class between two rounds (the
	// fraction that changed is at most `threshold`, 0 by default).
	ClassificationChange = "classification_change"
)

// criterionDefaults are the thresholds (and window) used when a config leaves them at 0.
var criterionDefaults = map[string]CriterionConfig{
	StabilizingPredictions: {Threshold: 0.99, Window: 3},
	MaxUncertainty:         {Threshold: 0.1},
	OverallUncertainty:     {Threshold: 0.05},
	ClassificationChange:   {Threshold: 0},
}

// DefaultStopSet is the stop-set size used when stopping.stop_set is 0.
const DefaultStopSet = 1000

// StoppingConfig is the `stopping:` section of a run config.
type StoppingConfig struct {
	StopSet  int               `yaml:"stop_set"` // pool samples in the fixed stop set; 0 = 1000
	Stop     string            `yaml:"stop"`     // "" = only record; a criterion's name, or "any": end the run when it fires
	Criteria []CriterionConfig `yaml:"criteria"`
}

// CriterionConfig names one stopping criterion and its settings.
type CriterionConfig struct {
	Name      string  `yaml:"name"`      // stabilizing_predictions, max_uncertainty, overall_uncertainty, classification_change
	Threshold float64 `yaml:"threshold"` // 0 = the criterion's default
	Window    int     `yaml:"window"`    // stabilizing_predictions: kappas averaged; 0 = 3
}

// resolved fills defaults.
func (c CriterionConfig) resolved() CriterionConfig {
	d := criterionDefaults[c.Name]
	if c.Threshold == 0 {
		c.Threshold = d.Threshold
	}
	if c.Window == 0 {
		c.Window = d.Window
	}
	return c
}

// CriterionNames lists the stopping criteria alrl knows.
func CriterionNames() []string {
	n := make([]string, 0, len(criterionDefaults))
	for k := range criterionDefaults {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

// Validate checks names, thresholds and the stop option.
func (s StoppingConfig) Validate() error {
	if s.StopSet < 0 {
		return fmt.Errorf("stopping.stop_set: must be >= 0, got %d", s.StopSet)
	}
	seen := map[string]bool{}
	for i, c := range s.Criteria {
		if _, ok := criterionDefaults[c.Name]; !ok {
			return fmt.Errorf("stopping.criteria[%d].name: %q is not one of %s", i, c.Name, strings.Join(CriterionNames(), ", "))
		}
		if seen[c.Name] {
			return fmt.Errorf("stopping.criteria[%d]: %s appears twice", i, c.Name)
		}
		seen[c.Name] = true
		if c.Threshold < 0 || c.Threshold > 1 {
			return fmt.Errorf("stopping.criteria[%d].threshold: %g is not in [0, 1]", i, c.Threshold)
		}
		if c.Window < 0 {
			return fmt.Errorf("stopping.criteria[%d].window: must be >= 0", i)
		}
	}
	if s.Stop != "" && s.Stop != "any" && !seen[s.Stop] {
		return fmt.Errorf("stopping.stop: %q is not one of the configured criteria (or \"any\")", s.Stop)
	}
	return nil
}

// StopPoint is where a criterion fired.
type StopPoint struct {
	Round   int        `json:"round"`
	Labels  int        `json:"labels"`
	TestAcc envs.Float `json:"test_acc"`
}

// StopRound is the criteria's values after one round (NaN where undefined).
type StopRound struct {
	Round  int                   `json:"round"`
	Labels int                   `json:"labels"`
	Values map[string]envs.Float `json:"values"`
}

// stopState is what a checkpoint keeps of the criteria.
type stopState struct {
	Prev   []int                 `json:"prev"`   // last round's predictions on the stop set
	Kappas []envs.Float          `json:"kappas"` // kappa between rounds r-1 and r, for r >= 1
	Rounds []StopRound           `json:"rounds"`
	Fired  map[string]*StopPoint `json:"fired"`
}

// stopTracker evaluates the criteria after every round.
type stopTracker struct {
	cfg      StoppingConfig
	criteria []CriterionConfig
	set      []int // stop-set pool indices
	state    stopState
}

// newStopTracker draws the stop set from the pool with the run seed (so every
// strategy of one seed watches the same samples); nil when no criterion is set.
func newStopTracker(cfg StoppingConfig, pool []int, seed uint64) *stopTracker {
	if len(cfg.Criteria) == 0 {
		return nil
	}
	n := cfg.StopSet
	if n == 0 {
		n = DefaultStopSet
	}
	n = min(n, len(pool))
	perm := envs.RNG(seed, 0, "stopset").Perm(len(pool))[:n]
	set := make([]int, n)
	for i, p := range perm {
		set[i] = pool[p]
	}
	slices.Sort(set)
	t := &stopTracker{cfg: cfg, set: set, state: stopState{Fired: map[string]*StopPoint{}}}
	for _, c := range cfg.Criteria {
		t.criteria = append(t.criteria, c.resolved())
	}
	return t
}

// observe evaluates the model after the round in rec; labeled is the labeled
// set. It returns the criterion that ends the run under stopping.stop, or "".
func (t *stopTracker) observe(ctx context.Context, m learner.Learner, rec envs.Record, labeled []int) (string, error) {
	p, err := m.Probs(ctx, t.set)
	if err != nil {
		return "", fmt.Errorf("stopping criteria: %w", err)
	}
	c := m.NumClasses()
	isLab := make(map[int]bool, len(labeled))
	for _, i := range labeled {
		isLab[i] = true
	}
	pred := make([]int, len(t.set))
	var ent []float64 // normalised entropy of the still-unlabeled stop-set samples
	changed, unl := 0, 0
	for i, idx := range t.set {
		row := p.RawRowView(i)
		pred[i] = argmax(row)
		if isLab[idx] {
			continue
		}
		unl++
		h := 0.0
		for _, v := range row {
			if v > 0 {
				h -= v * math.Log(v)
			}
		}
		if c > 1 {
			h /= math.Log(float64(c))
		}
		ent = append(ent, h)
		if t.state.Prev != nil && pred[i] != t.state.Prev[i] {
			changed++
		}
	}
	vals := map[string]envs.Float{}
	fires := map[string]bool{}
	if t.state.Prev != nil {
		k, err := stats.Kappa(t.state.Prev, pred, c)
		if err != nil {
			return "", fmt.Errorf("stopping criteria: %w", err)
		}
		t.state.Kappas = append(t.state.Kappas, envs.Float(k))
	}
	for _, cr := range t.criteria {
		v := math.NaN()
		switch cr.Name {
		case StabilizingPredictions:
			if n := len(t.state.Kappas); n >= cr.Window {
				s := 0.0
				for _, k := range t.state.Kappas[n-cr.Window:] {
					s += float64(k)
				}
				v = s / float64(cr.Window)
				fires[cr.Name] = v >= cr.Threshold
			}
		case MaxUncertainty:
			if len(ent) > 0 {
				v = slices.Max(ent)
				fires[cr.Name] = v <= cr.Threshold
			}
		case OverallUncertainty:
			if len(ent) > 0 {
				s := 0.0
				for _, h := range ent {
					s += h
				}
				v = s / float64(len(ent))
				fires[cr.Name] = v <= cr.Threshold
			}
		case ClassificationChange:
			if t.state.Prev != nil && unl > 0 {
				v = float64(changed) / float64(unl)
				fires[cr.Name] = v <= cr.Threshold
			}
		}
		vals[cr.Name] = envs.Float(v)
	}
	t.state.Prev = pred
	t.state.Rounds = append(t.state.Rounds, StopRound{Round: rec.Round, Labels: rec.Labels, Values: vals})
	for _, cr := range t.criteria {
		if fires[cr.Name] && t.state.Fired[cr.Name] == nil {
			t.state.Fired[cr.Name] = &StopPoint{Round: rec.Round, Labels: rec.Labels, TestAcc: rec.TestAcc}
		}
	}
	return t.stopper(), nil
}

// stopper returns the fired criterion that ends the run under stopping.stop, or "".
func (t *stopTracker) stopper() string {
	for _, cr := range t.criteria {
		if t.state.Fired[cr.Name] != nil && (t.cfg.Stop == "any" || t.cfg.Stop == cr.Name) {
			return cr.Name
		}
	}
	return ""
}

// stops returns every configured criterion's stop point (nil = never fired).
func (t *stopTracker) stops() map[string]*StopPoint {
	out := map[string]*StopPoint{}
	for _, cr := range t.criteria {
		out[cr.Name] = t.state.Fired[cr.Name]
	}
	return out
}

func argmax(r []float64) int {
	b := 0
	for i := range r {
		if r[i] > r[b] {
			b = i
		}
	}
	return b
}
