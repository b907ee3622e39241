package goplugin_test

import (
	"context"
	"math"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/examples/goplugin"
	"github.com/alrl/alrl/internal/testlearner"
	"github.com/alrl/alrl/internal/testrun"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/strategies"
)

func init() {
	learner.RegisterBackend("testcentroid", "pure-Go nearest-centroid test learner", testlearner.Factory)
}

// probsModel returns fixed probabilities; row r belongs to pool index r.
type probsModel struct{ p *mat.Dense }

func (m probsModel) Probs(_ context.Context, idx []int) (*mat.Dense, error) {
	_, c := m.p.Dims()
	out := mat.NewDense(len(idx), c, nil)
	for i, j := range idx {
		out.SetRow(i, m.p.RawRowView(j))
	}
	return out, nil
}

func (probsModel) MCProbs(context.Context, []int, int) ([]*mat.Dense, error) {
	return nil, &learner.CapabilityError{Capability: learner.CapMCDropout, Learner: "fixed"}
}

func (probsModel) Embed(context.Context, []int) (*mat.Dense, error) {
	return nil, &learner.CapabilityError{Capability: learner.CapEmbeddings, Learner: "fixed"}
}

func (m probsModel) NumClasses() int { _, c := m.p.Dims(); return c }

// Ratios: 0 -> 0, 1 -> 0.3/0.6 = 0.5, 2 -> 1, 3 -> 0.2/0.7 = 0.2857, 4 -> 0.4/0.45 = 0.889.
var probs = mat.NewDense(5, 3, []float64{
	1, 0, 0,
	0.6, 0.3, 0.1,
	0.4, 0.4, 0.2,
	0.7, 0.2, 0.1,
	0.15, 0.45, 0.4,
})

func TestRatioScoresKnownValues(t *testing.T) {
	got := goplugin.RatioScores(probs)
	want := []float64{0, 0.5, 1, 0.2 / 0.7, 0.4 / 0.45}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("ratio of row %d = %g, want %g", i, got[i], want[i])
		}
	}
}

func TestRatioRegisteredAndPicksTheKnownSample(t *testing.T) {
	if !slices.Contains(strategies.Names(), "ratio") {
		t.Fatalf("the blank import did not register ratio: %v", strategies.Names())
	}
	tests := []struct {
		cands []int
		k     int
		opts  map[string]any
		want  []int
	}{
		{[]int{0, 1, 2, 3, 4}, 1, nil, []int{2}},
		{[]int{0, 1, 2, 3, 4}, 3, nil, []int{2, 4, 1}},
		{[]int{0, 1, 3}, 2, map[string]any{"power": 2.0}, []int{1, 3}},
	}
	for _, tc := range tests {
		s, err := strategies.New("ratio", tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		q := strategies.Query{Model: probsModel{probs}, Candidates: tc.cands, K: tc.k, RNG: rand.New(rand.NewPCG(1, 2))}
		got, err := s.Select(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("ratio over %v, k = %d: got %v, want %v", tc.cands, tc.k, got, tc.want)
		}
	}
	if _, err := strategies.New("ratio", map[string]any{"power": -1.0}); err == nil || !strings.Contains(err.Error(), "power") {
		t.Errorf("power -1: error %v, want one naming the option", err)
	}
}

const ratioConfig = `
name: ratio-example
seeds: [4]
data: {name: blobs, n: 300, classes: 3, dim: 2}
split: {test: 60}
al: {init_size: 6, k: 4, budget: 18}
learner: {backend: testcentroid, model: {name: mlp}}
strategies:
  - name: ratio
  - name: prefilter
    label: ratio-then-margin
    options: {first: ratio, keep_factor: 3, then: margin}
targets: [0.5]
`

func TestCLIRunsAConfigNamingRatio(t *testing.T) {
	runs, listing := testrun.Train(t, ratioConfig)
	if !strings.Contains(listing, "ratio") || !strings.Contains(listing, "power") {
		t.Errorf("list strategies does not show ratio and its option:\n%s", listing)
	}
	for _, id := range []string{"ratio", "ratio-then-margin"} {
		testrun.Check(t, filepath.Join(runs, id, "seed-4"), id, 18, 3)
	}
}

func TestBuildTheExampleCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary; skipped with -short")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go toolchain in PATH: ", err)
	}
	bin := filepath.Join(t.TempDir(), "alrl-with-ratio")
	build := exec.Command(gobin, "build", "-o", bin, "./cmd/alrl-with-ratio")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/alrl-with-ratio: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "list", "strategies").CombinedOutput()
	if err != nil {
		t.Fatalf("alrl-with-ratio list strategies: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "ratio") || !strings.Contains(string(out), "entropy") {
		t.Errorf("alrl-with-ratio list strategies lacks ratio or the built-ins:\n%s", out)
	}
}
