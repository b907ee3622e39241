package experiments

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LockDir takes an exclusive lock on dir/.lock without waiting; the lock
// file names the holder (PID and host). The kernel releases the lock of a
// process that dies, so a stale lock file is simply taken over.
func LockDir(dir, what string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking %s %s: %w", what, dir, err)
	}
	if err := tryLock(f); err != nil {
		owner, _ := os.ReadFile(f.Name())
		f.Close()
		return nil, fmt.Errorf("%s %s is being run by another process (%s); wait for it or stop it, or use another --out", what, dir, strings.TrimSpace(string(owner)))
	}
	host, _ := os.Hostname()
	_ = f.Truncate(0)
	_, _ = f.WriteAt(bytes.TrimSpace([]byte(fmt.Sprintf("pid %d on %s", os.Getpid(), host))), 0)
	return func() { f.Close() }, nil
}
