//go:build linux

package experiments

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill the worker when its parent dies.
func setParentDeathSignal(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
