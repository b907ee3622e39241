// Package filelock is an inter-process exclusive lock on a file, so that
// concurrent runs of a sweep wait for one another's cached work (SSAL's
// pre-training) instead of repeating it.
package filelock

import (
	"context"
	"fmt"
	"os"
	"time"
)

// poll is how often Lock retries a held lock.
const poll = 200 * time.Millisecond

// Lock takes an exclusive lock on path (created if missing), waiting while
// another process or file handle holds it, until ctx ends. The returned
// function releases it. Where the platform has no advisory locks it returns at
// once and the caller's work may be repeated, never corrupted.
func Lock(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if ok {
			return func() { unlock(f); f.Close() }, nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for the lock %s: %w", path, ctx.Err())
		case <-time.After(poll):
		}
	}
}
