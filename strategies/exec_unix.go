//go:build unix

package strategies

import (
	"os/exec"
	"syscall"

	"github.com/alrl/alrl/internal/childproc"
)

// setProcessGroup starts the plugin in its own process group and makes
// cancellation kill the whole group, so that children a plugin spawned (a
// shell's subprocesses, worker pools) die with it.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	childproc.DieWithParent(cmd)
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
