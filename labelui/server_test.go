package labelui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/experiments"
	"github.com/alrl/alrl/internal/testlearner"
	"github.com/alrl/alrl/learner"
)

func init() {
	learner.RegisterBackend("testcentroid", "pure-Go nearest-centroid test learner", testlearner.Factory)
}

// humanConfig is a tiny experiment with a human oracle: blobs, 4 rounds.
func humanConfig(t *testing.T, out string, human bool) experiments.Config {
	t.Helper()
	body := `
name: human
seeds: [1]
data: {name: blobs, n: 300, classes: 3, dim: 2}
split: {test: 60}
al: {init_size: 6, init_mode: random, k: 3, budget: 15}
learner: {backend: testcentroid, model: {name: mlp, hidden: [8]}}
strategies: [{name: margin}]
out: ` + out + "\n"
	if human {
		body += "oracle: {name: file}\n"
	}
	path := filepath.Join(t.TempDir(), "cfg.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := experiments.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func loader(cfg experiments.Config) func(uint64) (*datasets.Dataset, error) {
	return func(seed uint64) (*datasets.Dataset, error) { return datasets.Load(cfg.Data, "", seed) }
}

// harness runs a server's Drive and its handler for one test.
type harness struct {
	t      *testing.T
	srv    *Server
	http   *httptest.Server
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, cfg experiments.Config, log *zap.Logger) *harness {
	t.Helper()
	srv, err := New(cfg, experiments.Options{Log: log}, loader(cfg))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, srv: srv, http: httptest.NewServer(srv.Handler()), cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- srv.Drive(ctx) }()
	t.Cleanup(h.stop)
	return h
}

// stop ends Drive and the HTTP server (idempotent).
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	<-h.done
	h.http.Close()
	h.cancel = nil
}

func (h *harness) state() State {
	h.t.Helper()
	r, err := http.Get(h.http.URL + "/api/state")
	if err != nil {
		h.t.Fatal(err)
	}
	defer r.Body.Close()
	var s State
	if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
		h.t.Fatal(err)
	}
	return s
}

// waitFor polls the state until it is in one of phases.
func (h *harness) waitFor(phases ...string) State {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		s := h.state()
		if slices.Contains(phases, s.Phase) {
			return s
		}
		if s.Phase == PhaseFailed {
			h.t.Fatalf("the experiment failed: %s", s.Message)
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.t.Fatalf("the page never showed %v (last %+v)", phases, h.state())
	return State{}
}

// post answers index with label and returns the HTTP status and body.
func (h *harness) post(index int, label, who string) (int, string) {
	h.t.Helper()
	b, _ := json.Marshal(map[string]any{"index": index, "label": label, "annotator": who})
	r, err := http.Post(h.http.URL+"/api/answer", "application/json", bytes.NewReader(b))
	if err != nil {
		h.t.Fatal(err)
	}
	defer r.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(r.Body) //nolint:errcheck
	return r.StatusCode, buf.String()
}

// TestPageDrivesTheRunLikeTheSimulation: a person answering every round on
// the page, with the true labels, gives the same rounds as the simulated
// oracle, and the run finishes with its budget of labels.
func TestPageDrivesTheRunLikeTheSimulation(t *testing.T) {
	sim := humanConfig(t, t.TempDir(), false)
	simRes, err := experiments.Run(context.Background(), sim, experiments.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := humanConfig(t, t.TempDir(), true)
	data, err := loader(cfg)(1)
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, cfg, nil)
	rounds := 0
	for {
		s := h.waitFor(PhaseWaiting, PhaseFinished)
		if s.Phase == PhaseFinished {
			break
		}
		if s.Round != rounds || s.Kind != "row" || len(s.Classes) != 3 || s.Answered != 0 {
			t.Fatalf("round %d: state %+v", rounds, s)
		}
		for _, it := range s.Items {
			if code, body := h.post(it.Index, s.Classes[data.Y[it.Index]], "ann"); code != http.StatusOK {
				t.Fatalf("answer %d: %d %s", it.Index, code, body)
			}
		}
		if rounds++; rounds > 10 {
			t.Fatal("the run keeps waiting")
		}
		// The next round is not shown before the model has been refitted.
		for h.state().Round == s.Round && h.state().Phase == PhaseWaiting {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
	h.cancel = nil
	h.http.Close()
	dir := experiments.RunDir(cfg.Out, cfg.Strategies[0], 1)
	a, err := experiments.ReadRounds(simRes[0].Dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := experiments.ReadRounds(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) || rounds != len(a) {
		t.Fatalf("simulated %d rounds, the page %d (answered %d)", len(a), len(b), rounds)
	}
	for i := range a {
		if !slices.Equal(a[i].Chosen, b[i].Chosen) || a[i].TestAcc != b[i].TestAcc {
			t.Fatalf("round %d: simulated %+v, page %+v", i, a[i], b[i])
		}
	}
	if s, err := experiments.ReadSummary(dir); err != nil || s.Labels != 15 {
		t.Fatalf("summary %+v (%v)", s, err)
	}
}

// TestStopBetweenAnswers: the server stops after one answer of a round; a
// new one shows that answer and the run goes on from it.
func TestStopBetweenAnswers(t *testing.T) {
	cfg := humanConfig(t, t.TempDir(), true)
	data, _ := loader(cfg)(1)
	h := start(t, cfg, nil)
	s := h.waitFor(PhaseWaiting)
	first := s.Items[0].Index
	if code, body := h.post(first, s.Classes[data.Y[first]], "a"); code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	h.stop()

	h2 := start(t, cfg, nil)
	s2 := h2.waitFor(PhaseWaiting)
	if s2.Round != s.Round || s2.Answered != 1 || s2.Items[0].Label != s.Classes[data.Y[first]] {
		t.Fatalf("after the restart: %+v", s2)
	}
	for _, it := range s2.Items[1:] {
		if code, body := h2.post(it.Index, s.Classes[data.Y[it.Index]], "a"); code != http.StatusOK {
			t.Fatalf("%d %s", code, body)
		}
	}
	if s3 := h2.waitFor(PhaseWaiting); s3.Round != s.Round+1 {
		// waitFor may catch the old round before the refit starts.
		deadline := time.Now().Add(30 * time.Second)
		for h2.state().Round != s.Round+1 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if r := h2.state().Round; r != s.Round+1 {
			t.Fatalf("the next round did not start: round %d", r)
		}
	}
}

// TestTwoAnnotators: answers from two people at once are all kept; for one
// sample the later answer wins and the log records the replacement.
func TestTwoAnnotators(t *testing.T) {
	cfg := humanConfig(t, t.TempDir(), true)
	core, logs := observer.New(zap.InfoLevel)
	h := start(t, cfg, zap.New(core))
	s := h.waitFor(PhaseWaiting)
	// Both label the first sample (differently, one after the other), then
	// all but the last sample concurrently.
	if code, _ := h.post(s.Items[0].Index, s.Classes[0], "alice"); code != http.StatusOK {
		t.Fatal(code)
	}
	if code, _ := h.post(s.Items[0].Index, s.Classes[1], "bob"); code != http.StatusOK {
		t.Fatal(code)
	}
	var wg sync.WaitGroup
	rest := s.Items[1 : len(s.Items)-1]
	for n, who := range []string{"alice", "bob"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j, it := range rest {
				if j%2 == n {
					if code, body := h.post(it.Index, s.Classes[2], who); code != http.StatusOK {
						t.Errorf("%s: %d %s", who, code, body)
					}
				}
			}
		}()
	}
	wg.Wait()
	got := h.state()
	if got.Answered != len(s.Items)-1 || got.Items[0].Label != s.Classes[1] {
		t.Fatalf("after both: %+v", got)
	}
	ans, err := experiments.ReadAnswers(got.Run)
	if err != nil || len(ans.Labels) != len(s.Items)-1 {
		t.Fatalf("answers.json holds %v (%v)", ans, err)
	}
	replaced := logs.FilterMessage("answer replaced (last write wins)").All()
	if len(replaced) != 1 || replaced[0].ContextMap()["annotator"] != "bob" {
		t.Fatalf("replacement log: %v", replaced)
	}
}

// TestBadRequests: what the API refuses, with a message naming the problem.
func TestBadRequests(t *testing.T) {
	cfg := humanConfig(t, t.TempDir(), true)
	h := start(t, cfg, nil)
	s := h.waitFor(PhaseWaiting)
	cases := []struct {
		name  string
		index int
		label string
		code  int
		want  string
	}{
		{"unknown class", s.Items[0].Index, "dog", http.StatusBadRequest, "is not a class"},
		{"not queried", 100000, s.Classes[0], http.StatusBadRequest, "was not queried"},
		{"empty label", s.Items[0].Index, "", http.StatusBadRequest, "must be JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := h.post(c.index, c.label, "x")
			if code != c.code || !strings.Contains(body, c.want) {
				t.Fatalf("%d %s", code, body)
			}
		})
	}
	for _, path := range []string{"/api/sample/100000.json", "/api/sample/x.png", fmt.Sprintf("/api/sample/%d.gif", s.Items[0].Index)} {
		if r, err := http.Get(h.http.URL + path); err != nil || r.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %v %v", path, r.StatusCode, err)
		}
	}
	r, err := http.Get(fmt.Sprintf("%s/api/sample/%d.json", h.http.URL, s.Items[0].Index))
	if err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("a queried row: %v %v", r, err)
	}
	var row struct {
		Values []float64 `json:"values"`
		Label  *int      `json:"label"`
	}
	json.NewDecoder(r.Body).Decode(&row) //nolint:errcheck
	r.Body.Close()
	if len(row.Values) != 2 || row.Label != nil {
		t.Fatalf("row: %+v", row)
	}
	if r, err := http.Get(h.http.URL + "/"); err != nil || r.StatusCode != http.StatusOK || !strings.Contains(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %v %v", r, err)
	}
	if _, err := New(humanConfig(t, t.TempDir(), false), experiments.Options{}, nil); err == nil || !strings.Contains(err.Error(), "oracle: {name: file}") {
		t.Fatalf("a config without a human oracle: %v", err)
	}
}

// TestRender: known pixels of grey and RGB samples, raw values rescaled.
func TestRender(t *testing.T) {
	tests := []struct {
		name  string
		shape []int
		x     []float32
		want  [][4]uint8 // RGBA of pixels (0,0) and (1,0)
	}{
		{"grey", []int{1, 1, 2}, []float32{0, 1}, [][4]uint8{{0, 0, 0, 255}, {255, 255, 255, 255}}},
		{"raw grey", []int{1, 1, 2}, []float32{10, 265}, [][4]uint8{{0, 0, 0, 255}, {255, 255, 255, 255}}},
		{"rgb", []int{3, 1, 2}, []float32{1, 0, 0, 1, 0, 0}, [][4]uint8{{255, 0, 0, 255}, {0, 255, 0, 255}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &datasets.Dataset{Name: "t", X: tc.x, Y: []int{0}, Shape: tc.shape, NumClasses: 1}
			img, err := Render(d, 0)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := png.Encode(&buf, img); err != nil {
				t.Fatal(err)
			}
			for px, want := range tc.want {
				r, g, b, a := img.At(px, 0).RGBA()
				if got := [4]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}; got != want {
					t.Errorf("pixel %d: %v, want %v", px, got, want)
				}
			}
		})
	}
	if _, err := Render(&datasets.Dataset{Name: "rows", X: []float32{1, 2}, Y: []int{0}, Shape: []int{2}, NumClasses: 1}, 0); err == nil {
		t.Fatal("a row rendered as an image")
	}
}
