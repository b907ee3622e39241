//go:build unix

package experiments

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alrl/alrl/internal/atomicfile"
)

// TestRunLocksItsFolder: while one process runs an experiment in a folder
// (here: holds its lock), a second alrl train on it stops with a message
// naming the holder, and writes nothing.
func TestRunLocksItsFolder(t *testing.T) {
	cfg := runTestConfig(t)
	unlock, err := LockDir(cfg.Out, "experiment")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), cfg, Options{Resume: true})
	if err == nil || !strings.Contains(err.Error(), "being run by another process (pid ") {
		t.Fatalf("second run on a locked folder: %v", err)
	}
	if ents, _ := os.ReadDir(cfg.Out); len(ents) != 1 || ents[0].Name() != ".lock" {
		t.Fatalf("the refused run wrote %v", ents)
	}
	unlock()
	// The lock of a finished (or killed) holder is taken over.
	if _, err := Run(context.Background(), cfg, Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
}

// TestResumeSweepsInterruptedWrites: temporary files that a killed write
// left in the run folder and its checkpoint are gone after resume, and only
// they are.
func TestResumeSweepsInterruptedWrites(t *testing.T) {
	cfg := runTestConfig(t)
	cfg.Seeds = []uint64{3}
	cfg.Strategies = cfg.Strategies[:1]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := Run(ctx, cfg, interruptAfter(2, cancel)); err == nil {
		t.Fatal("the interrupted run reported success")
	}
	dir := RunDir(cfg.Out, cfg.Strategies[0], 3)
	debris := []string{filepath.Join(dir, ".rounds.jsonl-4711"), filepath.Join(dir, "checkpoint", ".state.json-99"),
		filepath.Join(dir, "checkpoint", ".weights-0002.bin-1234"), filepath.Join(cfg.Out, ".summary.md-5")}
	for _, p := range debris {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keep := filepath.Join(dir, "notes-1")
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), cfg, Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
	for _, p := range debris {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s survived the resume", p)
		}
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("a file that is not alrl's temporary was removed: %v", err)
	}
	_ = filepath.WalkDir(cfg.Out, func(p string, d os.DirEntry, _ error) error {
		if d != nil && !d.IsDir() && atomicfile.IsTemp(d.Name()) {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}
