//go:build unix

package filelock

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLockExcludesAndReleases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	ctx := context.Background()
	unlock, err := Lock(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan time.Time)
	go func() {
		u, err := Lock(ctx, path)
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		got <- time.Now()
		u()
	}()
	time.Sleep(3 * poll)
	released := time.Now()
	unlock()
	at, ok := <-got
	if !ok {
		return
	}
	if at.Before(released) {
		t.Errorf("second Lock returned at %v, before the first was released at %v", at, released)
	}
}

func TestLockHonoursContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := Lock(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 3*poll)
	defer cancel()
	if _, err := Lock(ctx, path); err == nil || !strings.Contains(err.Error(), "waiting for the lock") {
		t.Errorf("Lock on a held file with an ending context: err = %v", err)
	}
}

func TestLockBadPath(t *testing.T) {
	if _, err := Lock(context.Background(), filepath.Join(t.TempDir(), "missing", "x.lock")); err == nil {
		t.Error("Lock in a missing folder succeeded")
	}
}
