//go:build linux

package strategies

import "syscall"

// setParentDeathSignal makes the kernel SIGKILL the plugin when alrl dies
// (even by SIGKILL), so that a hanging plugin is never orphaned. A plugin
// that starts its own subprocesses should exec into the real worker (or set
// the same signal for them): the kernel signals only the direct child.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
