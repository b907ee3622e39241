package labelui

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/experiments"
	"github.com/alrl/alrl/internal/testimages"
)

// chromium returns a Chromium or Chrome binary, or skips the test (make
// test installs Debian's chromium package where it can).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium binary: apt-get install chromium (make test does it as root)")
	return ""
}

// imageFolder writes a tiny imagefolder data set: 20 grey 16x16 PNGs of
// each of three shapes.
func imageFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := testimages.Folder(dir, 20, 0); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestLabelInABrowser labels every round of a run in headless Chromium:
// the page shows the queried images, keyboard shortcuts and a class button
// answer them, the next round appears by itself; in round 1 the server is
// killed after half the batch and a new one goes on from there; and the run
// finishes with the same rounds as the simulated oracle. With
// ALRL_SCREENSHOT=FILE it saves a screenshot of round 0 there (the one in
// docs/images was made so).
func TestLabelInABrowser(t *testing.T) {
	exe := chromium(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	images := imageFolder(t)
	body := func(out string, human bool) experiments.Config {
		text := `
name: browser
seeds: [1]
data: {name: imagefolder, dir: ` + images + `}
split: {test: 15}
al: {init_size: 6, init_mode: random, k: 3, budget: 12}
learner: {backend: testcentroid, model: {name: mlp, hidden: [8]}}
strategies: [{name: margin}]
out: ` + out + "\n"
		if human {
			text += "oracle: {name: file}\n"
		}
		path := filepath.Join(t.TempDir(), "cfg.yaml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := experiments.Load(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	sim, err := experiments.Run(context.Background(), body(t.TempDir(), false), experiments.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := body(t.TempDir(), true)
	data, err := datasets.Load(cfg.Data, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, cfg, nil)

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 120*time.Second)
	defer cancelTimeout()
	poll := func(expr string) error {
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second)))
		return err
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(h.http.URL+"/")); err != nil {
		t.Fatalf("the page did not load: %v", err)
	}
	keys := []string{"1", "2", "3"}
	for round := 0; ; round++ {
		s := h.waitFor(PhaseWaiting, PhaseFinished)
		if s.Phase == PhaseFinished {
			break
		}
		if round > 10 {
			t.Fatal("the run keeps waiting")
		}
		// The page shows this round, with every image decoded at 16x16.
		if err := poll(fmt.Sprintf(`document.querySelector('.card[data-index="%d"]') !== null`, s.Items[len(s.Items)-1].Index)); err != nil {
			t.Fatalf("round %d: the last sample is not shown: %v", s.Round, err)
		}
		if err := poll(fmt.Sprintf(`document.getElementById('round').textContent === '%d' && Array.from(document.querySelectorAll('.card img')).every(i => i.complete && i.naturalWidth === 16)`, s.Round)); err != nil {
			t.Fatalf("round %d: the page does not show the round's decoded images: %v", s.Round, err)
		}
		if round == 0 {
			shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if _, derr := png.Decode(bytes.NewReader(shot)); err != nil || derr != nil {
				t.Fatalf("screenshot: %v %v", err, derr)
			}
			if path := os.Getenv("ALRL_SCREENSHOT"); path != "" {
				if err := os.WriteFile(path, shot, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		// The first sample by clicking its class button, the rest by key
		// (the page moves on to the next unanswered sample by itself).
		for n, it := range s.Items {
			if round == 1 && n == len(s.Items)/2 {
				// Kill the server mid-batch; a new one shows the answers so far.
				h.stop()
				h = start(t, cfg, nil)
				if err := chromedp.Do(ctx, chromedp.Navigate(h.http.URL+"/")); err != nil {
					t.Fatal(err)
				}
				if err := poll(fmt.Sprintf(`document.getElementById('round').textContent === '%d' && document.getElementById('answered').textContent === '%d'`, s.Round, n)); err != nil {
					t.Fatalf("after the restart the page does not show round %d with %d answers: %v", s.Round, n, err)
				}
				// The page selects the first sample; move to the next unanswered one.
				for j := 0; j < n; j++ {
					if err := chromedp.Do(ctx, chromedp.KeyEvent("j")); err != nil {
						t.Fatal(err)
					}
				}
			}
			c := data.Y[it.Index]
			act := chromedp.KeyEvent(keys[c])
			if n == 0 {
				act = chromedp.Click(fmt.Sprintf(`#classes button[data-class=%q]`, s.Classes[c]))
			}
			if err := chromedp.Do(ctx, act); err != nil {
				t.Fatalf("round %d, sample %d: %v", s.Round, n, err)
			}
			if err := poll(fmt.Sprintf(`document.getElementById('answered').textContent === '%d' || document.getElementById('phase').textContent !== 'waiting'`, n+1)); err != nil {
				t.Fatalf("round %d, sample %d: the page did not record the answer: %v", s.Round, n, err)
			}
		}
		deadline := time.Now().Add(60 * time.Second)
		for st := h.state(); st.Phase == PhaseWaiting && st.Round == s.Round; st = h.state() {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: answered on the page but the server has %+v", s.Round, st)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := poll(`document.getElementById('phase').textContent === 'finished'`); err != nil {
		t.Fatalf("the page does not say the run finished: %v", err)
	}
	msg, err := chromedp.Run(ctx, chromedp.Text(`#status`))
	if err != nil || !strings.Contains(msg, "finished") {
		t.Fatalf("status line %q (%v)", msg, err)
	}
	a, err := experiments.ReadRounds(sim[0].Dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := experiments.ReadRounds(experiments.RunDir(cfg.Out, cfg.Strategies[0], 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("simulated %d rounds, the browser %d", len(a), len(b))
	}
	for i := range a {
		if !slices.Equal(a[i].Chosen, b[i].Chosen) {
			t.Fatalf("round %d: simulated %v, browser %v", i, a[i].Chosen, b[i].Chosen)
		}
	}
}
