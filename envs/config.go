package envs

import (
	"fmt"
	"slices"
	"strings"
)

// Config is the `al:` section of an experiment config.
type Config struct {
	InitSize   int    `yaml:"init_size"`  // n0, the initial labeled set
	InitMode   string `yaml:"init_mode"`  // random | balanced (balanced uses true labels: simulation only) | a cold-start selector the runner supplies (typiclust)
	K          int    `yaml:"k"`          // labels acquired per round
	Budget     int    `yaml:"budget"`     // total labels, initial set included
	Rounds     int    `yaml:"rounds"`     // maximum acquisition rounds; 0 = until the budget is spent
	Candidates int    `yaml:"candidates"` // random subset of the unlabeled pool offered each round; 0 = all of it
	// Sizes, when set, are the labeled-set sizes to reach after rounds 1, 2,
	// ... (strictly increasing, above init_size, at most budget); rounds past
	// the list add k labels each. It lets a run report accuracy at the sizes
	// papers use (e.g. 100, 300 and 1,000 labels) without refitting between.
	Sizes []int `yaml:"sizes,omitempty"`
	// Reward is raw (change in validation accuracy) or relative (minus the
	// change a random batch would have brought); "" means raw. See reward.go.
	Reward string `yaml:"reward,omitempty"`
	// RewardArea weights each reward by the share of the learning-curve area
	// it affects, so an episode's rewards sum to its validation AULC minus the
	// initial accuracy.
	RewardArea bool `yaml:"reward_area,omitempty"`
	// InitOptions are the options of the cold-start strategy that init_mode
	// names; the runner builds the selector from them (envs never reads them).
	InitOptions map[string]any `yaml:"init_options"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{InitSize: 20, InitMode: "balanced", K: 10, Budget: 300}
}

// Validate checks the config against the pool size. init_mode must be random,
// balanced, or one of coldStart: the names of the label-free initial-set
// selectors the caller can supply (see WithInitialSelector).
func (c Config) Validate(poolSize, numClasses int, coldStart ...string) error {
	switch {
	case c.InitMode != "random" && c.InitMode != "balanced" && (c.InitMode == "" || !slices.Contains(coldStart, c.InitMode)):
		return fmt.Errorf("al.init_mode: %q is not one of %s", c.InitMode, strings.Join(append([]string{"random", "balanced"}, coldStart...), ", "))
	case c.InitSize < 1:
		return fmt.Errorf("al.init_size: must be >= 1, got %d", c.InitSize)
	case c.K < 1:
		return fmt.Errorf("al.k: must be >= 1, got %d", c.K)
	case c.Budget < c.InitSize:
		return fmt.Errorf("al.budget: %d labels is less than al.init_size %d", c.Budget, c.InitSize)
	case c.K > c.Budget:
		return fmt.Errorf("al.k: %d is more than the whole budget (al.budget %d); lower al.k", c.K, c.Budget)
	case c.Budget > c.InitSize && c.K > c.Budget-c.InitSize && len(c.Sizes) == 0:
		return fmt.Errorf("al.k: %d is more than the %d labels al.budget %d leaves after al.init_size %d; lower al.k or raise al.budget", c.K, c.Budget-c.InitSize, c.Budget, c.InitSize)
	case c.Budget > poolSize:
		return fmt.Errorf("al.budget: %d labels is more than the pool holds (%d); lower al.budget or raise split.pool", c.Budget, poolSize)
	case c.Rounds < 0 || c.Candidates < 0:
		return fmt.Errorf("al.rounds and al.candidates must be >= 0")
	case c.Candidates > 0 && c.Candidates < c.K:
		return fmt.Errorf("al.candidates: %d is smaller than al.k %d", c.Candidates, c.K)
	case c.Reward != "" && c.Reward != RewardRaw && c.Reward != RewardRelative:
		return fmt.Errorf("al.reward: %q is not one of %s, %s", c.Reward, RewardRaw, RewardRelative)
	case c.Candidates > 0 && len(c.Sizes) > 0 && c.Candidates < c.maxStep():
		return fmt.Errorf("al.candidates: %d is smaller than the largest step of al.sizes (%d)", c.Candidates, c.maxStep())
	case c.InitMode == "balanced" && c.InitSize < numClasses:
		return fmt.Errorf("al.init_size: %d is smaller than the %d classes, so init_mode balanced cannot cover each class; raise it or use init_mode random", c.InitSize, numClasses)
	}
	prev := c.InitSize
	for i, n := range c.Sizes {
		switch {
		case n <= prev && i == 0:
			return fmt.Errorf("al.sizes: the first size %d must be larger than al.init_size %d", n, prev)
		case n <= prev:
			return fmt.Errorf("al.sizes: sizes must increase, got %d after %d", n, prev)
		case n > c.Budget:
			return fmt.Errorf("al.sizes: %d is more than al.budget %d; raise al.budget or drop the size", n, c.Budget)
		}
		prev = n
	}
	return nil
}

// maxStep is the largest number of labels one round of al.sizes adds.
func (c Config) maxStep() int {
	m, prev := 0, c.InitSize
	for _, n := range c.Sizes {
		m, prev = max(m, n-prev), n
	}
	return m
}

// StepSize is the number of labels round r (1-based) adds when the labeled
// set holds have labels: the next entry of al.sizes, or k past the list. The
// budget and pool limits are applied by the caller.
func (c Config) StepSize(r, have int) int {
	if r >= 1 && r <= len(c.Sizes) {
		return c.Sizes[r-1] - have
	}
	return c.K
}

// TotalRounds is the number of rounds of a run that spends the whole budget
// (round 0, the initial set, included), ignoring the pool size and stopping
// criteria: an upper bound for progress reports.
func (c Config) TotalRounds() int {
	n, r := c.InitSize, 0
	for n < c.Budget && (c.Rounds == 0 || r < c.Rounds) {
		step := c.StepSize(r+1, n)
		if step < 1 {
			break
		}
		n += min(step, c.Budget-n)
		r++
	}
	return r + 1
}

// LabelsAfter is the labeled-set size after r rounds, ignoring the budget
// and pool limits.
func (c Config) LabelsAfter(r int) int {
	n := c.InitSize
	for i := 1; i <= r; i++ {
		n += c.StepSize(i, n)
	}
	return n
}

// CheckAnnotated rejects settings that a person answering queries cannot
// serve: a balanced initial set (it needs every pool label first) and the
// relative reward (it peeks at a random batch's labels).
func (c Config) CheckAnnotated() error {
	switch {
	case c.InitMode == "balanced":
		return fmt.Errorf("al.init_mode: balanced needs every pool label before the first query, which a person answering queries cannot give; use random, or a cold-start strategy such as typiclust")
	case c.Reward == RewardRelative:
		return fmt.Errorf("al.reward: relative peeks at the labels of a random batch, which a person would have to label too; use raw")
	}
	return nil
}
