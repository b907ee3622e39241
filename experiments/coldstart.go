package experiments

import (
	"fmt"
	"strings"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/strategies"
)

// ColdStarts returns the registered strategies that can choose the initial
// labeled set from raw inputs alone (strategies.ColdStarter), sorted: the
// al.init_mode values beyond random and balanced.
func ColdStarts() []string {
	var out []string
	for _, n := range strategies.Names() {
		s, err := strategies.New(n, nil)
		if err != nil {
			continue // needs options to exist; cannot be an init_mode
		}
		if _, ok := s.(strategies.ColdStarter); ok {
			out = append(out, n)
		}
	}
	return out
}

// initOptions maps al.init_mode to the environment options that serve it:
// nothing for random and balanced, the cold-start strategy of that name
// (with its default options) otherwise.
func initOptions(mode string) ([]envs.Option, error) {
	if mode == "random" || mode == "balanced" {
		return nil, nil
	}
	if err := checkInitMode(mode); err != nil {
		return nil, err
	}
	s, err := strategies.New(mode, nil)
	if err != nil {
		return nil, fmt.Errorf("al.init_mode: %w", err)
	}
	return []envs.Option{envs.WithInitialSelector(mode, s.(strategies.ColdStarter))}, nil
}

// checkInitMode accepts random, balanced and the cold-start strategies.
func checkInitMode(mode string) error {
	if mode == "random" || mode == "balanced" {
		return nil
	}
	cold := ColdStarts()
	for _, c := range cold {
		if c == mode {
			return nil
		}
	}
	return fmt.Errorf("al.init_mode: %q is not one of %s", mode, strings.Join(append([]string{"random", "balanced"}, cold...), ", "))
}
