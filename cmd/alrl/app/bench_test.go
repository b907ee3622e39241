package app

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alrl/alrl/internal/testlearner"
	"github.com/alrl/alrl/learner"
)

func init() {
	learner.RegisterBackend("testcentroid", "pure-Go nearest-centroid test learner", testlearner.Factory)
}

func TestBenchCommandSynthetic(t *testing.T) {
	out := filepath.Join(t.TempDir(), "b", "bench.csv")
	a := New()
	var buf bytes.Buffer
	a.Writer, a.ErrWriter = &buf, &buf
	err := a.RunContext(context.Background(), []string{"alrl", "--log-level", "warn", "bench", "--synthetic",
		"--n", "400", "--dim", "3", "--k", "4,8", "--labels", "12", "--strategies", "entropy,random,coreset_not_registered,prefilter",
		"--opt", "prefilter.first=margin", "--opt", "prefilter.then=entropy", "--backend", "testcentroid", "--out", out})
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, buf.String())
	}
	s := buf.String()
	for _, w := range []string{"pool 400 (388 candidates, 12 labeled)", "probabilities", "entropy", "prefilter", "coreset_not_registered", "skipped", "not registered in this binary", "CSV: " + out} {
		if !strings.Contains(s, w) {
			t.Errorf("output lacks %q:\n%s", w, s)
		}
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// header + 1 capability + 4 strategies x 2 k
	if len(rows) != 1+1+4*2 {
		t.Errorf("CSV has %d rows:\n%v", len(rows), rows)
	}
	status := slices.Index(rows[0], "status")
	if status < 0 {
		t.Fatalf("the CSV header has no status column: %v", rows[0])
	}
	for _, r := range rows[1:] {
		if r[1] == "prefilter" && r[status] != "ok" {
			t.Errorf("prefilter with --opt options: %v", r)
		}
	}
}

func TestBenchCommandBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--k", "10,x", "--backend", "testcentroid", "--synthetic", "--n", "100", "--dim", "2"},
		{"bench", "--opt", "nodot=1", "--backend", "testcentroid", "--synthetic", "--n", "100", "--dim", "2"},
		{"bench", "--synthetic", "--n", "1"},
		{"bench", "--ensemble", "1", "--backend", "testcentroid", "--synthetic", "--n", "100", "--dim", "2"},
	} {
		a := New()
		var buf bytes.Buffer
		a.Writer, a.ErrWriter = &buf, &buf
		if err := a.RunContext(context.Background(), append([]string{"alrl"}, args...)); err == nil {
			t.Errorf("%v succeeded", args)
		}
	}
}
