package nas

import (
	"errors"
	"fmt"
)

// Config is the `nas:` section of an experiment config.
type Config struct {
	// Enabled builds the Active-iNAS learner instead of learner.model.
	Enabled bool `yaml:"enabled"`
	// Search grows the architecture each round; false keeps the start
	// architecture fixed (the fixed-architecture baselines of the paper).
	Search bool `yaml:"search"`
	// Stacks and Blocks are the start architecture (the paper starts at 1 x 1).
	Stacks int `yaml:"stacks"`
	Blocks int `yaml:"blocks"`
	// Width is the channel (image) or unit (tabular) count of the stem and
	// the first stack; it doubles with every further stack.
	Width int `yaml:"width"`
	// Bounds of the search space; max_params 0 = no limit.
	MaxStacks int `yaml:"max_stacks"`
	MaxBlocks int `yaml:"max_blocks"`
	MaxParams int `yaml:"max_params"`
	// Holdout is the fraction of the labeled set held out to score the
	// candidates (they train on the rest); the search needs it > 0.
	Holdout float64 `yaml:"holdout"`
	// MaxCandidates caps the candidate trainings per round (the current
	// architecture counts as one); 0 = the whole neighbourhood (up to 3).
	MaxCandidates int `yaml:"max_candidates"`
	// BudgetSeconds stops a round's search once it has run this long: the
	// current architecture and the cheapest growth candidate are always
	// trained, a further candidate only starts within the budget; 0 = none.
	BudgetSeconds float64 `yaml:"budget_seconds"`
	// Dropout adds a dropout layer of this probability before the
	// classifier (needed by MC-dropout strategies); 0 = none.
	Dropout float64 `yaml:"dropout"`
	// StemPool is the max-pooling size that ends the image stem (1 = none).
	StemPool int `yaml:"stem_pool"`
}

// DefaultConfig returns the documented defaults (disabled).
func DefaultConfig() Config {
	return Config{
		Enabled: false, Search: true, Stacks: 1, Blocks: 1, Width: 16,
		MaxStacks: 3, MaxBlocks: 3, MaxParams: 0,
		Holdout: 0.2, MaxCandidates: 0, BudgetSeconds: 0, Dropout: 0, StemPool: 2,
	}
}

// Start returns the start architecture for inputs of the given kind.
func (c Config) Start(k Kind) Arch {
	return Arch{Kind: k, Stacks: c.Stacks, Blocks: c.Blocks, Width: c.Width}
}

// Space returns the settings every network of the search shares.
func (c Config) Space() Space { return Space{Dropout: c.Dropout, StemPool: c.StemPool} }

// Bounds returns the search bounds.
func (c Config) Bounds() Bounds {
	return Bounds{MaxStacks: c.MaxStacks, MaxBlocks: c.MaxBlocks, MaxParams: c.MaxParams}
}

// Validate checks the section's values (not the data-dependent parameter
// bound, which New checks) and names the offending key.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Width < 1 {
		bad("nas.width: must be >= 1, got %d", c.Width)
	}
	if c.Stacks < 1 || c.Blocks < 1 {
		bad("nas.stacks, nas.blocks: the start architecture needs >= 1 of each, got %d x %d", c.Stacks, c.Blocks)
	}
	if c.MaxStacks < 1 || c.MaxBlocks < 1 {
		bad("nas.max_stacks, nas.max_blocks: must be >= 1, got %d and %d", c.MaxStacks, c.MaxBlocks)
	}
	if c.MaxStacks > 30 {
		bad("nas.max_stacks: %d doubles the width too often; use at most 30", c.MaxStacks)
	}
	if c.Stacks > c.MaxStacks {
		bad("nas.stacks: the start architecture has %d stacks, more than nas.max_stacks %d", c.Stacks, c.MaxStacks)
	}
	if c.Blocks > c.MaxBlocks {
		bad("nas.blocks: the start architecture has %d blocks, more than nas.max_blocks %d", c.Blocks, c.MaxBlocks)
	}
	if c.MaxParams < 0 {
		bad("nas.max_params: must be >= 0 (0 = no limit), got %d", c.MaxParams)
	}
	if c.Holdout < 0 || c.Holdout >= 1 {
		bad("nas.holdout: must be in [0, 1) (a share of the labeled set; the search needs it > 0), got %g", c.Holdout)
	}
	if c.MaxCandidates < 0 || c.MaxCandidates == 1 {
		bad("nas.max_candidates: must be 0 (the whole neighbourhood) or >= 2 (one candidate, the current architecture, could never grow), got %d", c.MaxCandidates)
	}
	if c.BudgetSeconds < 0 {
		bad("nas.budget_seconds: must be >= 0 (0 = no limit), got %g", c.BudgetSeconds)
	}
	if c.Dropout < 0 || c.Dropout >= 1 {
		bad("nas.dropout: must be in [0, 1), got %g", c.Dropout)
	}
	if c.StemPool < 1 {
		bad("nas.stem_pool: must be >= 1 (1 = no pooling), got %d", c.StemPool)
	}
	return errors.Join(errs...)
}
