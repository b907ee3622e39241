//go:build torch

package app

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alrl/alrl/experiments"
	"github.com/alrl/alrl/internal/atomicfile"
)

// faultConfig is moonsConfig with one strategy and enough rounds that a
// run is still going when a second process or a kill arrives.
func faultConfig(t *testing.T, budget int) (cfg, out string) {
	t.Helper()
	dir := t.TempDir()
	cfg = filepath.Join(dir, "cfg.yaml")
	text := strings.Replace(moonsConfig, "  - name: random\n", "", 1)
	text = strings.Replace(text, "budget: 30", fmt.Sprintf("budget: %d", budget), 1)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg, filepath.Join(dir, "out")
}

// startCLI starts the test binary as the alrl command in its own process.
func startCLI(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"--log-level", "warn"}, args...)...)
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// waitFor polls until ok holds, failing the test after a minute.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !ok(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestSecondTrainProcessStopsAtTheLock starts two alrl train processes on
// one folder: the second stops with the lock's message, naming the first
// one's PID and host, and the first finishes undisturbed.
func TestSecondTrainProcessStopsAtTheLock(t *testing.T) {
	cfg, out := faultConfig(t, 246)
	first := startCLI(t, "train", "-c", cfg, "--out", out)
	defer func() { _ = first.Process.Kill() }()
	state := filepath.Join(out, "entropy", "seed-3", "checkpoint", "state.json")
	waitFor(t, "the first run's checkpoint", func() bool { _, err := os.Stat(state); return err == nil })
	// Stop the first process (it keeps its lock) so that it cannot finish
	// before the second one starts on a loaded machine; continue it after.
	if err := first.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = first.Process.Signal(syscall.SIGCONT) }()

	second := exec.Command(os.Args[0], "--log-level", "warn", "train", "-c", cfg, "--out", out, "--resume")
	second.Env = append(os.Environ(), cliEnv+"=1")
	msg, err := second.CombinedOutput()
	host, _ := os.Hostname()
	want := fmt.Sprintf("is being run by another process (pid %d on %s)", first.Process.Pid, host)
	if err == nil || !strings.Contains(string(msg), want) {
		t.Fatalf("second process: err %v, output:\n%s\nwant %q", err, msg, want)
	}
	if err := first.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("the first run failed: %v", err)
	}
	recs, err := experiments.ReadRounds(filepath.Join(out, "entropy", "seed-3"))
	if err != nil || len(recs) != 41 {
		t.Fatalf("the first run wrote %d rounds (%v), want 41", len(recs), err)
	}
}

// temps lists alrl's temporary files of atomic writes under dir.
func temps(dir string) []string {
	var found []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, _ error) error {
		if d != nil && !d.IsDir() && atomicfile.IsTemp(d.Name()) {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// roundsJSON is a run's rounds without their timings, one JSON line each.
func roundsJSON(t *testing.T, dir string) []string {
	t.Helper()
	recs, err := experiments.ReadRounds(dir)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range recs {
		r.TrainSeconds, r.EvalSeconds, r.QuerySeconds = 0, 0, 0
		b, _ := json.Marshal(r)
		lines = append(lines, string(b))
	}
	return lines
}

// TestKilledDuringAWrite SIGKILLs alrl train while one of its atomic
// writes is under way (its temporary file exists), several times, resuming
// after each kill: resume leaves no temporary file, and the run's rounds
// equal those of an uninterrupted run.
func TestKilledDuringAWrite(t *testing.T) {
	cfg, out := faultConfig(t, 96)
	ref := filepath.Join(filepath.Dir(out), "ref")
	if msg, err := runCLI(t, "train", "-c", cfg, "--out", ref); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, msg)
	}
	want := roundsJSON(t, filepath.Join(ref, "entropy", "seed-3"))
	run := filepath.Join(out, "entropy", "seed-3")
	summary := filepath.Join(run, "summary.json")

	const wantMidWrite = 5
	tries, midWrite := 0, 0
	for midWrite < wantMidWrite && tries < 40 {
		tries++
		args := []string{"train", "-c", cfg, "--out", out}
		if tries > 1 {
			args = append(args, "--resume")
		}
		if left := temps(out); len(left) > 0 && tries > 1 {
			// Resume must sweep them: checked below once the run is going.
			t.Logf("try %d starts with %d temporary files left by the kill", tries, len(left))
		}
		cmd := startCLI(t, args...)
		var caught []string
		deadline := time.Now().Add(time.Minute)
		for caught == nil && time.Now().Before(deadline) {
			if _, err := os.Stat(summary); err == nil {
				break
			}
			caught = temps(out)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if _, err := os.Stat(summary); err == nil && caught == nil {
			t.Fatalf("the run finished before %d kills landed in a write (%d did)", wantMidWrite, midWrite)
		}
		// The kill landed inside a write when a temporary file it saw is
		// still there after the process is gone.
		for _, p := range caught {
			if _, err := os.Stat(p); err == nil {
				midWrite++
				break
			}
		}
	}
	if midWrite < wantMidWrite {
		t.Fatalf("only %d of %d kills landed inside a write", midWrite, tries)
	}
	if left := temps(out); len(left) == 0 {
		t.Fatal("the last kill left no temporary file to sweep")
	}
	if msg, err := runCLI(t, "train", "-c", cfg, "--out", out, "--resume"); err != nil {
		t.Fatalf("final resume: %v\n%s", err, msg)
	}
	if left := temps(out); len(left) > 0 {
		t.Fatalf("temporary files left after resume: %v", left)
	}
	got := roundsJSON(t, run)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rounds after %d kills differ from the uninterrupted run:\n%s\nwant\n%s", tries, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	t.Logf("%d kills, %d inside a write; resumed to the uninterrupted rounds", tries, midWrite)
}
