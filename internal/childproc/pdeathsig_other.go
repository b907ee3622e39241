//go:build !linux

package childproc

import "syscall"

func setPdeathsig(*syscall.SysProcAttr) {}
