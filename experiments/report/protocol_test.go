package report

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alrl/alrl/experiments"
)

// TestFreeValidationLabelsAreNamedEverywhere: a run given a validation split
// outside its budget (split.val_counts: false) says so in its summary.json,
// the experiment's summary.md, and the report's title and text; an honest run
// says it is budget-honest and names no free labels.
func TestFreeValidationLabelsAreNamedEverywhere(t *testing.T) {
	base := `
name: protocol
seeds: [1]
data: {name: blobs, n: 300, classes: 3, dim: 2}
al: {init_size: 6, init_mode: balanced, k: 4, budget: 14}
learner: {backend: testcentroid, model: {name: mlp, hidden: [8]}}
strategies: [{name: random}]
targets: [0.9]
`
	tests := []struct {
		name, split string
		free        int
	}{
		{"honest", "split: {test: 60}", 0},
		{"paper protocol", "split: {val: 30, val_counts: false, test: 60}", 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			cfg, err := experiments.Parse("p.yaml", []byte(base+tc.split+"\nout: "+out+"\n"), nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := experiments.Run(context.Background(), cfg, experiments.Options{})
			if err != nil {
				t.Fatal(err)
			}
			sum := res[0].Summary
			note := "plus 30 free validation labels"
			if sum.FreeValLabels != tc.free {
				t.Errorf("summary.json free_val_labels %d, want %d", sum.FreeValLabels, tc.free)
			}
			wantProtocol := "budget-honest"
			if tc.free > 0 {
				wantProtocol = note
			}
			if sum.Protocol != wantProtocol {
				t.Errorf("summary.json protocol %q, want %q", sum.Protocol, wantProtocol)
			}
			md, err := os.ReadFile(filepath.Join(out, "summary.md"))
			if err != nil {
				t.Fatal(err)
			}
			runs, _, err := Load(out)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Build(runs, Options{})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := Write(rep, dir); err != nil {
				t.Fatal(err)
			}
			rmd, err := os.ReadFile(filepath.Join(dir, "report.md"))
			if err != nil {
				t.Fatal(err)
			}
			firstLine := func(b []byte) string { return strings.SplitN(string(b), "\n", 2)[0] }
			for what, text := range map[string]string{"summary.md title": firstLine(md), "report title": rep.Title, "report.md heading": firstLine(rmd)} {
				if has := strings.Contains(text, note); has != (tc.free > 0) {
					t.Errorf("%s %q: names the free labels %v, want %v", what, text, has, tc.free > 0)
				}
			}
			if tc.free == 0 && !strings.Contains(string(rmd), "Budget-honest") {
				t.Errorf("report.md does not say the runs are budget-honest:\n%s", rmd)
			}
			// It names the data, split, learner and loop of the setting.
			want := fmt.Sprintf("Data: blobs; pool all training rows not in test or validation, test 60, validation %d. Learner: test nearest-centroid.", tc.free)
			if !strings.Contains(string(rmd), want) || !strings.Contains(string(rmd), "Loop: initial set 6 (balanced), 4 per round, budget 14.") {
				t.Errorf("report.md does not describe the setting (want %q):\n%s", want, rmd)
			}
		})
	}
}
