package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommittedReportsMatchTheirRuns regenerates every results page under
// docs/results/ from the run folders committed under results/, with the
// `alrl report` arguments in its report.args, and fails when the committed
// report.md or any CSV differs: every published number is recomputable
// from committed runs (make docs-results rewrites the pages).
func TestCommittedReportsMatchTheirRuns(t *testing.T) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	pages, err := filepath.Glob(filepath.Join(root, "docs", "results", "*", "report.args"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatal("no docs/results/*/report.args: the generated results pages are missing")
	}
	t.Chdir(root)
	for _, argsFile := range pages {
		page := filepath.Dir(argsFile)
		t.Run(filepath.Base(page), func(t *testing.T) {
			b, err := os.ReadFile(argsFile)
			if err != nil {
				t.Fatal(err)
			}
			args := strings.Fields(string(b))
			for _, a := range args {
				if !strings.HasPrefix(a, "-") && strings.HasPrefix(a, "results/") {
					if _, err := os.Stat(a); err != nil {
						t.Fatalf("%s names %s, which is not committed: %v", argsFile, a, err)
					}
				}
			}
			out := t.TempDir()
			if _, err := runCLI(t, append([]string{"report", "--out", out}, args...)...); err != nil {
				t.Fatal(err)
			}
			want, _ := filepath.Glob(filepath.Join(page, "*.csv"))
			want = append(want, filepath.Join(page, "report.md"))
			for _, f := range want {
				committed, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				fresh, err := os.ReadFile(filepath.Join(out, filepath.Base(f)))
				if err != nil {
					t.Fatalf("the report no longer writes %s: %v", filepath.Base(f), err)
				}
				if !bytes.Equal(committed, fresh) {
					t.Errorf("%s differs from the report of its committed runs; run make docs-results (first difference at line %d)", f, firstDiffLine(committed, fresh))
				}
			}
		})
	}
}

func firstDiffLine(a, b []byte) int {
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := 0; i < len(la) && i < len(lb); i++ {
		if !bytes.Equal(la[i], lb[i]) {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}
