package app

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// progress draws a one-line progress bar on a terminal.
type progress struct {
	mu   sync.Mutex
	f    *os.File
	last time.Time
	wide bool
}

// newProgress returns a bar on f when f is a terminal, else nil (quiet).
func newProgress(f *os.File) *progress {
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return &progress{f: f}
}

func (p *progress) update(stage string, done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if done < total && time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	if done >= total {
		// Finished: clear the line so log records start on a clean one.
		fmt.Fprintf(p.f, "\r%s\r", strings.Repeat(" ", 60))
		return
	}
	const width = 30
	n := 0
	if total > 0 {
		n = width * done / total
	}
	fmt.Fprintf(p.f, "\r%-10s [%s%s] %d/%d ", stage, strings.Repeat("#", n), strings.Repeat(".", width-n), done, total)
	p.wide = true
}

func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.wide {
		fmt.Fprintf(p.f, "\r%s\r", strings.Repeat(" ", 60))
	}
}
