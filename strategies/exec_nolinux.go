//go:build unix && !linux

package strategies

import "syscall"

// setParentDeathSignal does nothing where the kernel has no parent-death
// signal; the plugin's timeout still bounds it.
func setParentDeathSignal(*syscall.SysProcAttr) {}
