package experiments

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/experiments/provenance"
)

// RoundCheck compares one round of a rerun with the original run.
type RoundCheck struct {
	Round  int
	Labels int
	Match  bool
	Diffs  []string // "test_acc: 0.9123 vs 0.9125", ...
}

// Reproduction is the outcome of rerunning a run from its folder.
type Reproduction struct {
	Dir, Out string
	Rounds   []RoundCheck
	Matched  int
	// Environment lists how the rerun's software and machine differ from the
	// original's first session (version, commit, libtorch, threads, host...).
	Environment []string
}

// OK reports whether every round matched.
func (r Reproduction) OK() bool { return r.Matched == len(r.Rounds) && len(r.Rounds) > 0 }

// Reproduce reruns the run in dir from its config.yaml into out (which must
// not hold anything yet) and compares every round: labels, the chosen pool
// indices, test accuracy and loss, validation accuracy and epochs must be
// identical. Times are not compared. Unless opt.Threads is set, the rerun
// uses the thread count the original recorded.
func Reproduce(ctx context.Context, dir, out string, opt Options) (Reproduction, error) {
	rep := Reproduction{Dir: dir, Out: out}
	b, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		return rep, fmt.Errorf("reproduce: %s is not a run folder: %w", dir, err)
	}
	cfg, err := ParseRun(filepath.Join(dir, "config.yaml"), b)
	if err != nil {
		return rep, fmt.Errorf("reproduce: %w", err)
	}
	orig, err := ReadRounds(dir)
	if err != nil {
		return rep, fmt.Errorf("reproduce: %w", err)
	}
	if ents, err := os.ReadDir(out); err == nil && len(ents) > 0 {
		return rep, fmt.Errorf("reproduce: %s is not empty; choose a new --out", out)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return rep, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return rep, err
	}
	p0, perr := provenance.Read(dir)
	if opt.Threads == 0 && perr == nil && len(p0.Sessions) > 0 {
		// Same intra-op thread count as the original: libtorch's reductions may
		// differ in the last bits with another.
		opt.Threads = p0.Sessions[0].Threads
	}
	opt.Resume = false
	if _, err := RunAt(ctx, cfg, out, opt); err != nil {
		return rep, fmt.Errorf("reproduce: the rerun failed: %w", err)
	}
	again, err := ReadRounds(out)
	if err != nil {
		return rep, err
	}
	rep.Rounds = CompareRounds(orig, again)
	for _, r := range rep.Rounds {
		if r.Match {
			rep.Matched++
		}
	}
	if perr == nil && len(p0.Sessions) > 0 {
		if p1, err := provenance.Read(out); err == nil && len(p1.Sessions) > 0 {
			rep.Environment = provenance.Diffs(p0.Sessions[0], p1.Sessions[0])
		}
	} else {
		rep.Environment = []string{"the original run has no provenance.json (made before alrl recorded it)"}
	}
	return rep, nil
}

// CompareRounds compares two runs' records round by round.
func CompareRounds(a, b []envs.Record) []RoundCheck {
	n := max(len(a), len(b))
	out := make([]RoundCheck, n)
	same := func(x, y envs.Float) bool {
		return x == y || (math.IsNaN(float64(x)) && math.IsNaN(float64(y)))
	}
	for i := 0; i < n; i++ {
		c := RoundCheck{Round: i}
		switch {
		case i >= len(a):
			c.Labels = b[i].Labels
			c.Diffs = []string{"round only in the rerun"}
		case i >= len(b):
			c.Labels = a[i].Labels
			c.Diffs = []string{"round missing from the rerun"}
		default:
			x, y := a[i], b[i]
			c.Labels = x.Labels
			if x.Labels != y.Labels {
				c.Diffs = append(c.Diffs, fmt.Sprintf("labels: %d vs %d", x.Labels, y.Labels))
			}
			if !slices.Equal(x.Chosen, y.Chosen) {
				c.Diffs = append(c.Diffs, fmt.Sprintf("chosen: %d of %d indices differ", countDiff(x.Chosen, y.Chosen), max(len(x.Chosen), len(y.Chosen))))
			}
			for _, f := range []struct {
				name string
				x, y envs.Float
			}{{"test_acc", x.TestAcc, y.TestAcc}, {"test_loss", x.TestLoss, y.TestLoss}, {"val_acc", x.ValAcc, y.ValAcc}} {
				if !same(f.x, f.y) {
					c.Diffs = append(c.Diffs, fmt.Sprintf("%s: %.6g vs %.6g", f.name, float64(f.x), float64(f.y)))
				}
			}
			if x.Epochs != y.Epochs {
				c.Diffs = append(c.Diffs, fmt.Sprintf("epochs: %d vs %d", x.Epochs, y.Epochs))
			}
		}
		c.Match = len(c.Diffs) == 0
		out[i] = c
	}
	return out
}

func countDiff(a, b []int) int {
	n := 0
	for i := 0; i < max(len(a), len(b)); i++ {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			n++
		}
	}
	return n
}

// Summary renders the reproduction as text: one line per round.
func (r Reproduction) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "reproducing %s into %s\n", r.Dir, r.Out)
	for _, c := range r.Rounds {
		status := "match"
		if !c.Match {
			status = "DIFFERS: " + strings.Join(c.Diffs, "; ")
		}
		fmt.Fprintf(&b, "round %3d  labels %5d  %s\n", c.Round, c.Labels, status)
	}
	fmt.Fprintf(&b, "%d of %d rounds match\n", r.Matched, len(r.Rounds))
	if len(r.Environment) > 0 {
		b.WriteString("environment differences:\n")
		for _, e := range r.Environment {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	return b.String()
}
