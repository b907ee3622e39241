// Package testrun holds test assertions on the run folders alrl writes.
package testrun

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/alrl/alrl/cmd/alrl/app"
	"github.com/alrl/alrl/experiments"
)

// Check asserts that the run folder dir is strategy id's finished run with
// the given labels and rounds, and that no pool index was labeled twice.
func Check(t testing.TB, dir, id string, labels, rounds int) {
	t.Helper()
	s, err := experiments.ReadSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Strategy != id || s.Labels != labels || s.Rounds != rounds {
		t.Errorf("%s: summary %+v, want strategy %s, %d labels, %d rounds", id, s, id, labels, rounds)
	}
	recs, err := experiments.ReadRounds(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, r := range recs {
		for _, i := range r.Chosen {
			if seen[i] {
				t.Errorf("%s: pool index %d labeled twice", id, i)
			}
			seen[i] = true
		}
	}
	if len(seen) != labels {
		t.Errorf("%s: %d distinct labeled indices, want %d", id, len(seen), labels)
	}
}

// Train writes config to a temporary folder, runs `alrl list strategies` and
// `alrl train` on it through the CLI in process, and returns the runs folder
// and the strategy listing.
func Train(t testing.TB, config string) (runs, listing string) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	a := app.New()
	a.Writer, a.ErrWriter = &out, &out
	if err := a.Run([]string{"alrl", "--log-level", "warn", "list", "strategies"}); err != nil {
		t.Fatal(err)
	}
	listing = out.String()
	runs = filepath.Join(dir, "runs")
	if err := a.Run([]string{"alrl", "--log-level", "warn", "train", "-c", cfg, "--out", runs}); err != nil {
		t.Fatalf("train: %v\n%s", err, out.String())
	}
	return runs, listing
}
