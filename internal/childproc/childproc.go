// Package childproc starts child processes that die with alrl.
package childproc

import (
	"os/exec"
	"syscall"
)

// DieWithParent makes the kernel SIGKILL cmd's process when alrl dies (even
// by SIGKILL), where the kernel can (Linux); elsewhere it does nothing. The
// signal follows the OS thread that starts the child, so the caller keeps
// its goroutine on one thread (runtime.LockOSThread) until the child ends;
// only the direct child is signalled.
func DieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	setPdeathsig(cmd.SysProcAttr)
}
