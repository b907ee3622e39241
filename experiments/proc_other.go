//go:build !linux

package experiments

import "os/exec"

// setParentDeathSignal is Linux-only; elsewhere workers may outlive a killed sweep.
func setParentDeathSignal(*exec.Cmd) {}
