package app

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// progress draws a one-line progress bar on a terminal: the experiment's
// run and round (with an ETA from the rounds so far) before the bar of the
// current stage (training epochs, pool scoring, ...).
type progress struct {
	mu   sync.Mutex
	f    *os.File
	last time.Time
	wide bool
	now  func() time.Time

	run, runs     int
	round, rounds int
	t0            time.Time // when the rounds of this run started being counted
	r0            int       // the round count then
}

// newProgress returns a bar on f when f is a terminal, else nil (quiet).
func newProgress(f *os.File) *progress {
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return &progress{f: f, now: time.Now}
}

// observe records the run and round counters; it reports whether stage is
// one of them (they are shown as the bar's prefix, not drawn alone).
func (p *progress) observe(stage string, done, total int) bool {
	switch stage {
	case "run":
		p.run, p.runs = done, total
		p.round, p.rounds, p.t0 = 0, 0, time.Time{}
		return true
	case "round":
		if p.t0.IsZero() || done < p.round {
			p.t0, p.r0 = p.now(), done
		}
		p.round, p.rounds = done, total
		return true
	}
	return false
}

// prefix is "run 2/6 · round 5/29, ETA 3m10s · " as far as known.
func (p *progress) prefix() string {
	var parts []string
	if p.runs > 1 {
		parts = append(parts, fmt.Sprintf("run %d/%d", p.run+1, p.runs))
	}
	if p.rounds > 0 {
		s := fmt.Sprintf("round %d/%d", min(p.round+1, p.rounds), p.rounds)
		if n := p.round - p.r0; n > 0 && p.round < p.rounds {
			per := p.now().Sub(p.t0) / time.Duration(n)
			s += ", ETA " + (per * time.Duration(p.rounds-p.round)).Round(time.Second).String()
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, " · ") + " · "
}

// line is the text of the bar for a stage.
func (p *progress) line(stage string, done, total int) string {
	const width = 30
	n := 0
	if total > 0 {
		n = width * min(done, total) / total
	}
	return fmt.Sprintf("%s%-10s [%s%s] %d/%d ", p.prefix(), stage, strings.Repeat("#", n), strings.Repeat(".", width-n), done, total)
}

func (p *progress) update(stage string, done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.observe(stage, done, total) {
		return
	}
	if done < total && time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	if done >= total {
		// Finished: clear the line so log records start on a clean one.
		fmt.Fprintf(p.f, "\r%s\r", strings.Repeat(" ", 100))
		return
	}
	fmt.Fprintf(p.f, "\r%s", p.line(stage, done, total))
	p.wide = true
}

func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.wide {
		fmt.Fprintf(p.f, "\r%s\r", strings.Repeat(" ", 100))
	}
}
