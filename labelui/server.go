// Package labelui serves the local annotation page of `alrl label`: a person
// labels the samples a run with a human oracle (oracle: {name: file}) asks
// for, in a browser, and the run goes on by itself when a round's batch is
// complete.
//
// The page and the runs meet only through the run folder's files: every
// answer is written atomically into answers.json (experiments.Answer), and
// the experiment continues with experiments.Run and Resume. So the server
// can stop between any two answers, and a later `alrl label` (or
// `alrl train --resume`) goes on with nothing lost.
package labelui

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/experiments"
)

//go:embed page/index.html
var page embed.FS

// The phases of the experiment as the page shows them.
const (
	PhaseTraining = "training" // the loop is fitting or selecting; no labels are asked for
	PhaseWaiting  = "waiting"  // a round's queried samples wait for labels
	PhaseFinished = "finished" // every run of the config has finished
	PhaseFailed   = "failed"   // a run stopped with an error (shown in Message)
)

// Item is one queried sample as the page shows it.
type Item struct {
	Index  int    `json:"index"`  // pool index (row of the data set)
	Source string `json:"source"` // the file it came from, or "row N"
	Label  string `json:"label"`  // the class name answered so far, "" when unanswered
}

// State is what the page polls: the phase and, while waiting, the round's queries.
type State struct {
	Phase    string   `json:"phase"`
	Run      string   `json:"run,omitempty"` // the run folder that waits
	Round    int      `json:"round"`
	Classes  []string `json:"classes,omitempty"`
	Kind     string   `json:"kind"` // "image" (samples are shown as pictures) or "row" (as a table of values)
	Items    []Item   `json:"items,omitempty"`
	Answered int      `json:"answered"`
	Message  string   `json:"message,omitempty"`
	Version  int      `json:"version"` // grows with every change, so the page redraws only when needed
}

// Server drives the experiment of one config and serves its annotation page.
type Server struct {
	cfg  experiments.Config
	opt  experiments.Options
	log  *zap.Logger
	load func(seed uint64) (*datasets.Dataset, error)

	mu    sync.Mutex // guards state and data, and serialises answers (no lost update of answers.json)
	state State
	data  map[string]*datasets.Dataset // by run folder
	kick  chan struct{}
}

// New returns a server for cfg, which must use the human oracle. load reads
// the data set of a seed (to show the queried samples); opt is passed to
// experiments.Run, with Resume always set.
func New(cfg experiments.Config, opt experiments.Options, load func(seed uint64) (*datasets.Dataset, error)) (*Server, error) {
	if !cfg.HumanOracle() {
		return nil, fmt.Errorf("alrl label: the config's oracle is not a person; add `oracle: {name: file}` to it (labels then come only from the page)")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opt.Log
	if log == nil {
		log = zap.NewNop()
	}
	opt.Resume = true
	return &Server{cfg: cfg, opt: opt, log: log, load: load, data: map[string]*datasets.Dataset{},
		state: State{Phase: PhaseTraining}, kick: make(chan struct{}, 1)}, nil
}

// Drive runs the experiment until it finishes or ctx ends: whenever a round
// waits for labels it shows the round and sleeps until the last of its
// samples is answered. It returns nil once every run has finished.
func (s *Server) Drive(ctx context.Context) error {
	for {
		s.set(State{Phase: PhaseTraining, Message: "fitting the model and choosing the next samples"})
		_, err := experiments.Run(ctx, s.cfg, s.opt)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var w *experiments.WaitingForLabelsError
		switch {
		case err == nil:
			s.set(State{Phase: PhaseFinished, Message: "every run has finished; results are in " + s.cfg.Out})
			return nil
		case errors.As(err, &w):
			if err := s.showRound(w.Dir); err != nil {
				s.set(State{Phase: PhaseFailed, Message: err.Error()})
				return err
			}
			if s.complete() { // answered by another tool meanwhile
				continue
			}
		default:
			s.set(State{Phase: PhaseFailed, Message: err.Error()})
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.kick:
		}
	}
}

// set replaces the state (keeping the version counter growing).
func (s *Server) set(st State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st.Version = s.state.Version + 1
	s.state = st
}

func (s *Server) complete() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.Phase == PhaseWaiting && s.state.Answered == len(s.state.Items)
}

// showRound loads the queries and answers of the run in dir into the state.
func (s *Server) showRound(dir string) error {
	d, err := s.dataset(dir)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := readRound(dir)
	if err != nil {
		return err
	}
	st.Kind = "row"
	if isImage(d.Shape) {
		st.Kind = "image"
	}
	st.Version = s.state.Version + 1
	s.state = st
	return nil
}

// readRound reads a waiting run's round from its files.
func readRound(dir string) (State, error) {
	q, err := experiments.ReadQueries(dir)
	if err != nil {
		return State{}, err
	}
	ans, err := experiments.ReadAnswers(dir)
	if err != nil {
		return State{}, err
	}
	st := State{Phase: PhaseWaiting, Run: dir, Round: q.Round, Classes: q.Classes}
	for _, it := range q.Items {
		item := Item{Index: it.Index, Source: it.Source}
		if y, ok := ans.Answer(it.Index); ok && y >= 0 && y < len(q.Classes) {
			item.Label = q.Classes[y]
			st.Answered++
		}
		st.Items = append(st.Items, item)
	}
	return st, nil
}

// dataset returns the data set of the run in dir (loaded once per run folder).
func (s *Server) dataset(dir string) (*datasets.Dataset, error) {
	s.mu.Lock()
	d := s.data[dir]
	s.mu.Unlock()
	if d != nil {
		return d, nil
	}
	seed, ok := uint64(0), false
	for _, sd := range s.cfg.Seeds {
		for _, sc := range s.cfg.Strategies {
			if filepath.Clean(experiments.RunDir(s.cfg.Out, sc, sd)) == filepath.Clean(dir) {
				seed, ok = sd, true
			}
		}
	}
	if !ok {
		return nil, fmt.Errorf("alrl label: %s is not a run folder of this config", dir)
	}
	d, err := s.load(seed)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.data[dir] = d
	s.mu.Unlock()
	return d, nil
}

// Answer records one person's label for a queried sample of the waiting
// round (last write wins; a replaced answer is logged with both annotators'
// labels). It starts the next round when this was the last missing label.
func (s *Server) Answer(index int, label, annotator string) (State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.Phase != PhaseWaiting {
		return s.state, &conflictError{fmt.Sprintf("no round waits for labels now (the experiment is %s)", s.state.Phase)}
	}
	dir := s.state.Run
	res, err := experiments.Answer(dir, map[int]string{index: label})
	if err != nil {
		return s.state, err
	}
	for _, r := range res.Replaced {
		s.log.Info("answer replaced (last write wins)", zap.String("run", dir), zap.String("change", r), zap.String("annotator", annotator))
	}
	s.log.Info("answer", zap.String("run", dir), zap.Int("index", index), zap.String("label", label), zap.String("annotator", annotator), zap.Int("remaining", res.Remaining))
	st, err := readRound(dir)
	if err != nil {
		return s.state, err
	}
	st.Kind, st.Version = s.state.Kind, s.state.Version+1
	s.state = st
	if res.Remaining == 0 {
		s.state.Phase, s.state.Message = PhaseTraining, "the round is complete; fitting the model and choosing the next samples"
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return s.state, nil
}

// State returns the current state.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	st.Items = append([]Item(nil), st.Items...)
	return st
}

type conflictError struct{ msg string }

func (e *conflictError) Error() string { return e.msg }

// Handler returns the page and its API: GET / (the page), GET /api/state,
// POST /api/answer ({"index", "label", "annotator"}), GET /api/sample/N.png
// (an image sample) and GET /api/sample/N.json (a row's values). Only the
// samples of the waiting round can be fetched, and never their labels.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := page.ReadFile("page/index.html")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(b) //nolint:errcheck
	})
	mux.HandleFunc("GET /api/state", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.State())
	})
	mux.HandleFunc("POST /api/answer", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Index     *int   `json:"index"`
			Label     string `json:"label"`
			Annotator string `json:"annotator"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil || req.Index == nil || req.Label == "" {
			writeError(w, http.StatusBadRequest, fmt.Errorf("the body must be JSON {\"index\": N, \"label\": \"class\", \"annotator\": \"name\"}"))
			return
		}
		st, err := s.Answer(*req.Index, req.Label, req.Annotator)
		var ce *conflictError
		switch {
		case errors.As(err, &ce):
			writeError(w, http.StatusConflict, err)
		case err != nil:
			writeError(w, http.StatusBadRequest, err)
		default:
			writeJSON(w, http.StatusOK, st)
		}
	})
	mux.HandleFunc("GET /api/sample/{file}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		base, ext, _ := strings.Cut(name, ".")
		index, err := strconv.Atoi(base)
		if err != nil || (ext != "png" && ext != "json") {
			writeError(w, http.StatusNotFound, fmt.Errorf("samples are /api/sample/INDEX.png or INDEX.json"))
			return
		}
		st := s.State()
		queried := false
		for _, it := range st.Items {
			queried = queried || it.Index == index
		}
		if st.Phase != PhaseWaiting || !queried {
			writeError(w, http.StatusNotFound, fmt.Errorf("pool index %d is not queried in the waiting round", index))
			return
		}
		d, err := s.dataset(st.Run)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		if index < 0 || index >= d.Len() {
			writeError(w, http.StatusNotFound, fmt.Errorf("pool index %d is outside the data set", index))
			return
		}
		if ext == "json" {
			writeJSON(w, http.StatusOK, map[string]any{"index": index, "shape": d.Shape, "values": d.X[index*d.Dim() : (index+1)*d.Dim()]})
			return
		}
		img, err := Render(d, index)
		if err != nil {
			writeError(w, http.StatusNotFound, err)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		png.Encode(w, img) //nolint:errcheck
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v) //nolint:errcheck
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

// isImage reports whether a sample shape is a picture: [C, H, W] with 1, 3
// or 4 channels.
func isImage(shape []int) bool {
	return len(shape) == 3 && (shape[0] == 1 || shape[0] == 3 || shape[0] == 4) && shape[1] > 0 && shape[2] > 0
}

// Render draws sample i of an image data set (shape [C, H, W]): values in
// [0, 1] map to 0..255; a sample with values outside [0, 1] (for example
// CSV rows of raw pixels) is scaled from its own minimum to its maximum.
func Render(d *datasets.Dataset, i int) (image.Image, error) {
	if !isImage(d.Shape) {
		return nil, fmt.Errorf("the samples of %s have shape %v, not [channels, height, width]: they are shown as rows", d.Name, d.Shape)
	}
	c, h, wd := d.Shape[0], d.Shape[1], d.Shape[2]
	x := d.X[i*d.Dim() : (i+1)*d.Dim()]
	lo, hi := 0.0, 1.0
	mn, mx := math.Inf(1), math.Inf(-1)
	for _, v := range x {
		mn, mx = math.Min(mn, float64(v)), math.Max(mx, float64(v))
	}
	if mn < 0 || mx > 1 {
		lo, hi = mn, mx
	}
	px := func(v float32) uint8 {
		if hi <= lo {
			return 0
		}
		t := (float64(v) - lo) / (hi - lo)
		return uint8(math.Round(255 * math.Max(0, math.Min(1, t))))
	}
	if c == 1 {
		img := image.NewGray(image.Rect(0, 0, wd, h))
		for y := 0; y < h; y++ {
			for xx := 0; xx < wd; xx++ {
				img.SetGray(xx, y, color.Gray{Y: px(x[y*wd+xx])})
			}
		}
		return img, nil
	}
	img := image.NewNRGBA(image.Rect(0, 0, wd, h))
	plane := h * wd
	for y := 0; y < h; y++ {
		for xx := 0; xx < wd; xx++ {
			p := y*wd + xx
			a := uint8(255)
			if c == 4 {
				a = px(x[3*plane+p])
			}
			img.SetNRGBA(xx, y, color.NRGBA{R: px(x[p]), G: px(x[plane+p]), B: px(x[2*plane+p]), A: a})
		}
	}
	return img, nil
}
