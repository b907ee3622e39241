//go:build !unix

package strategies

import "os/exec"

// setProcessGroup is a no-op where process groups do not exist; cancellation
// kills the plugin process itself.
func setProcessGroup(*exec.Cmd) {}
