package scoreplugin_test

import (
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/alrl/alrl/examples/scoreplugin"
	"github.com/alrl/alrl/internal/testlearner"
	"github.com/alrl/alrl/internal/testrun"
	"github.com/alrl/alrl/learner"
)

func init() {
	learner.RegisterBackend("testcentroid", "pure-Go nearest-centroid test learner", testlearner.Factory)
}

const giniConfig = `
name: gini-example
seeds: [3]
data: {name: blobs, n: 300, classes: 3, dim: 2}
split: {test: 60}
al: {init_size: 6, k: 4, budget: 18}
learner: {backend: testcentroid, model: {name: mlp}}
strategies:
  - name: gini
  - name: prefilter
    label: gini-then-coreset
    options: {first: gini, keep_factor: 3, then: coreset}
targets: [0.5]
`

// The plugin is listed, and a config naming it (alone and as another
// strategy's scorer) runs through the CLI within its budget.
func TestCLIRunsAConfigNamingGini(t *testing.T) {
	runs, listing := testrun.Train(t, giniConfig)
	if !strings.Contains(listing, "Gini impurity") {
		t.Fatalf("list strategies does not show gini:\n%s", listing)
	}
	for _, id := range []string{"gini", "gini-then-coreset"} {
		testrun.Check(t, filepath.Join(runs, id, "seed-3"), id, 18, 3)
	}
}
