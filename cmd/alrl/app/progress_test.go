package app

import (
	"strings"
	"testing"
	"time"
)

// TestProgressLine: the bar's prefix names the run and the round, with an
// ETA from the time the rounds so far took.
func TestProgressLine(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &progress{now: func() time.Time { return clock }}
	if got := p.line("train", 5, 10); !strings.HasPrefix(got, "train      [###############...............] 5/10") {
		t.Fatalf("no counters yet: %q", got)
	}
	p.observe("run", 1, 4)
	p.observe("round", 2, 12) // rounds 0 and 1 were done before (a resume)
	clock = clock.Add(90 * time.Second)
	p.observe("round", 5, 12) // three rounds in 90 s: 7 left, 210 s
	tests := []struct {
		stage       string
		done, total int
		want        string
	}{
		{"train", 3, 10, "run 2/4 · round 6/12, ETA 3m30s · train      [#########.....................] 3/10 "},
		{"score", 10, 5, "run 2/4 · round 6/12, ETA 3m30s · score      [##############################] 10/5 "},
	}
	for _, tc := range tests {
		if got := p.line(tc.stage, tc.done, tc.total); got != tc.want {
			t.Errorf("line(%s, %d, %d) = %q, want %q", tc.stage, tc.done, tc.total, got, tc.want)
		}
	}
	// A new run resets the rounds.
	p.observe("run", 2, 4)
	if got := p.prefix(); got != "run 3/4 · " {
		t.Fatalf("after a new run: %q", got)
	}
}

// TestSweepCounter: finished runs counted from those done before, with
// the ETA from this invocation's rate.
func TestSweepCounter(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newSweepCounter(10, 4, start)
	if got := c.add(start.Add(100 * time.Second)); got != "[5/10, ETA 8m20s]" {
		t.Fatalf("first: %q", got)
	}
	if got := c.add(start.Add(120 * time.Second)); got != "[6/10, ETA 4m0s]" {
		t.Fatalf("second: %q", got)
	}
	for i := 0; i < 3; i++ {
		c.add(start.Add(200 * time.Second))
	}
	if got := c.add(start.Add(300 * time.Second)); got != "[10/10]" {
		t.Fatalf("last: %q", got)
	}
}
