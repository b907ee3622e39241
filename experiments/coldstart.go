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
// built with al.init_options otherwise.
func initOptions(al envs.Config) ([]envs.Option, error) {
	if err := checkInitMode(al); err != nil {
		return nil, err
	}
	if al.InitMode == "random" || al.InitMode == "balanced" {
		return nil, nil
	}
	s, err := strategies.New(al.InitMode, al.InitOptions)
	if err != nil {
		return nil, fmt.Errorf("al.init_options: %w", err)
	}
	return []envs.Option{envs.WithInitialSelector(al.InitMode, s.(strategies.ColdStarter))}, nil
}

// checkInitMode accepts random, balanced and the cold-start strategies, and
// init_options only with a cold-start strategy that accepts them.
func checkInitMode(al envs.Config) error {
	mode := al.InitMode
	if mode == "random" || mode == "balanced" {
		if len(al.InitOptions) > 0 {
			return fmt.Errorf("al.init_options: init_mode %s takes no options", mode)
		}
		return nil
	}
	cold := ColdStarts()
	for _, c := range cold {
		if c == mode {
			if _, err := strategies.New(mode, al.InitOptions); err != nil {
				return fmt.Errorf("al.init_options: %w", err)
			}
			return nil
		}
	}
	return fmt.Errorf("al.init_mode: %q is not one of %s", mode, strings.Join(append([]string{"random", "balanced"}, cold...), ", "))
}
