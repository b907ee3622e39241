package nas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/learner"
	_ "github.com/alrl/alrl/learner/gorgonia" // the pure-Go backend, to check it rejects residual layers
)

func TestNeighbourhoodIsThePapers(t *testing.T) {
	tests := []struct {
		a    Arch
		want []Arch
	}{
		{Arch{Image, 1, 1, 16}, []Arch{{Image, 1, 1, 16}, {Image, 1, 2, 16}, {Image, 2, 1, 16}}},
		{Arch{Image, 2, 3, 8}, []Arch{{Image, 2, 3, 8}, {Image, 2, 4, 8}, {Image, 3, 3, 8}}},
		{Arch{Tabular, 3, 1, 4}, []Arch{{Tabular, 3, 1, 4}, {Tabular, 3, 2, 4}, {Tabular, 4, 1, 4}}},
		// The stack step keeps the depth growing by about one block:
		// floor(blocks * stacks / (stacks + 1)) + 1 blocks per stack.
		{Arch{Image, 1, 3, 16}, []Arch{{Image, 1, 3, 16}, {Image, 1, 4, 16}, {Image, 2, 2, 16}}},
		{Arch{Image, 2, 4, 16}, []Arch{{Image, 2, 4, 16}, {Image, 2, 5, 16}, {Image, 3, 3, 16}}},
		{Arch{Image, 4, 6, 16}, []Arch{{Image, 4, 6, 16}, {Image, 4, 7, 16}, {Image, 5, 5, 16}}},
		{Arch{Tabular, 1, 1, 4}, []Arch{{Tabular, 1, 1, 4}, {Tabular, 1, 2, 4}, {Tabular, 2, 1, 4}}},
	}
	for _, tc := range tests {
		t.Run(tc.a.String(), func(t *testing.T) {
			got := tc.a.Neighbourhood()
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Neighbourhood(%v) = %v, want %v", tc.a, got, tc.want)
			}
			for _, n := range got {
				if !tc.a.Bigger(n) {
					t.Fatalf("neighbour %v is smaller than %v", n, tc.a)
				}
			}
		})
	}
}

func TestCandidatesRespectBoundsAndOrder(t *testing.T) {
	img := []int{1, 28, 28}
	params := func(a Arch) (int, error) {
		r, err := a.Resolve(img, 10, Space{StemPool: 2})
		return r.Params(), err
	}
	p := func(s, b int) int { n, _ := params(Arch{Image, s, b, 16}); return n }
	tests := []struct {
		name string
		a    Arch
		b    Bounds
		want []Arch
	}{
		{"no bounds, block is cheaper than stack", Arch{Image, 1, 1, 16}, Bounds{},
			[]Arch{{Image, 1, 1, 16}, {Image, 1, 2, 16}, {Image, 2, 1, 16}}},
		{"at max stacks", Arch{Image, 2, 1, 16}, Bounds{MaxStacks: 2, MaxBlocks: 3},
			[]Arch{{Image, 2, 1, 16}, {Image, 2, 2, 16}}},
		{"at max blocks", Arch{Image, 1, 3, 16}, Bounds{MaxStacks: 3, MaxBlocks: 3},
			[]Arch{{Image, 1, 3, 16}, {Image, 2, 2, 16}}},
		{"at both", Arch{Image, 3, 3, 16}, Bounds{MaxStacks: 3, MaxBlocks: 3},
			[]Arch{{Image, 3, 3, 16}}},
		{"max params admits the block only", Arch{Image, 1, 1, 16}, Bounds{MaxParams: p(1, 2)},
			[]Arch{{Image, 1, 1, 16}, {Image, 1, 2, 16}}},
		{"max params admits nothing", Arch{Image, 1, 1, 16}, Bounds{MaxParams: p(1, 1)},
			[]Arch{{Image, 1, 1, 16}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Candidates(tc.a, tc.b, params)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Candidates = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLayersResolve(t *testing.T) {
	for _, tc := range []struct {
		kind  Kind
		input []int
		pool  int
		hw    []int // resolution of each stack's output (images)
	}{
		{Image, []int{1, 28, 28}, 1, []int{28, 14, 7, 4}},
		{Image, []int{1, 28, 28}, 2, []int{14, 7, 4, 2}},
		{Tabular, []int{7}, 2, nil},
	} {
		for s := 1; s <= 4; s++ {
			for b := 1; b <= 3; b++ {
				a := Arch{tc.kind, s, b, 4}
				r, err := a.Resolve(tc.input, 10, Space{Dropout: 0.5, StemPool: tc.pool})
				if err != nil {
					t.Fatalf("%v: %v", a, err)
				}
				blocks, width := 0, 0
				for _, l := range r.Layers {
					if l.Type == "resblock" || l.Type == "resdense" {
						blocks++
						width = l.Out
					}
				}
				if blocks != s*b || width != 4<<(s-1) {
					t.Fatalf("%v: %d blocks of final width %d, want %d of width %d", a, blocks, width, s*b, 4<<(s-1))
				}
				last := r.Layers[len(r.Layers)-1]
				if last.Type != "dense" || last.Out != 10 || r.EmbedDim() != width {
					t.Fatalf("%v: classifier %v, embedding %d", a, last, r.EmbedDim())
				}
				if !r.HasDropout() {
					t.Fatalf("%v: dropout 0.5 was not added", a)
				}
				if tc.kind == Image {
					// Resolution halves from one stack to the next.
					gap := r.Layers[len(r.Layers)-3]
					wantHW := tc.hw[s-1]
					if gap.Type != "globalavgpool" || gap.InShape[1] != wantHW || gap.InShape[2] != wantHW {
						t.Fatalf("%v: pooled map %v, want %dx%d", a, gap.InShape, wantHW, wantHW)
					}
				}
			}
		}
	}
	if _, err := (Arch{Image, 1, 1, 4}).Resolve([]int{5}, 3, Space{}); err == nil {
		t.Fatal("an image architecture accepted tabular inputs")
	}
}

// fake is a learner whose accuracy is a chosen function of its network's
// depth (residual blocks) and width and of the training-set size. It peeks
// at the true labels to be right on exactly that fraction of any set of
// samples (the first ones asked for).
type fake struct {
	y       []int
	c       int
	blocks  int
	width   int
	quality func(blocks, width, n int) float64
	n       int
	fitted  bool
	log     *[]string
}

func fakeFactory(y []int, quality func(blocks, width, n int) float64, log *[]string) learner.Factory {
	return func(in datasets.Inputs, c int, cfg learner.Config) (learner.Learner, error) {
		f := &fake{y: y, c: c, quality: quality, log: log}
		for _, l := range cfg.Model.Layers {
			if l.Type == "resblock" || l.Type == "resdense" {
				f.blocks++
				f.width = l.Out
			}
		}
		return f, nil
	}
}

func (f *fake) Fit(_ context.Context, train, _ learner.Labeled, _ uint64) (learner.FitStats, error) {
	f.n, f.fitted = train.Len(), true
	*f.log = append(*f.log, fmt.Sprintf("fit %d/%d on %d", f.blocks, f.width, f.n))
	return learner.FitStats{Epochs: 1}, nil
}

func (f *fake) Probs(_ context.Context, idx []int) (*mat.Dense, error) {
	if !f.fitted {
		return nil, fmt.Errorf("not fitted")
	}
	q := math.Min(1, f.quality(f.blocks, f.width, f.n))
	right := int(math.Round(q * float64(len(idx))))
	p := mat.NewDense(len(idx), f.c, nil)
	for i, j := range idx {
		y := f.y[j]
		if i >= right {
			y = (y + 1) % f.c
		}
		for c := 0; c < f.c; c++ {
			p.Set(i, c, 0.1/float64(f.c-1))
		}
		p.Set(i, y, 0.9)
	}
	return p, nil
}

func (f *fake) NumClasses() int  { return f.c }
func (f *fake) Reseed(uint64)    {}
func (f *fake) Describe() string { return fmt.Sprintf("fake %d blocks", f.blocks) }
func (f *fake) Save(path string) error {
	return os.WriteFile(path, []byte(fmt.Sprint(f.blocks, f.width)), 0o644)
}
func (f *fake) Load(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if string(b) != fmt.Sprint(f.blocks, f.width) {
		return fmt.Errorf("weights of %s loaded into %d/%d", b, f.blocks, f.width)
	}
	f.fitted = true
	*f.log = append(*f.log, "load "+string(b))
	return nil
}
func (f *fake) Close() error { return nil }

// tabular returns n tabular inputs with labels i mod c.
func tabular(n, c int) (datasets.Inputs, []int) {
	d := &datasets.Dataset{Name: "t", Shape: []int{3}, NumClasses: c, TrainN: n}
	for i := 0; i < n; i++ {
		d.X = append(d.X, float32(i), 0, 1)
		d.Y = append(d.Y, i%c)
	}
	return d.Inputs(), d.Y
}

func labeledSet(y []int, idx []int) learner.Labeled {
	l := learner.Labeled{Idx: idx}
	for _, i := range idx {
		l.Y = append(l.Y, y[i])
	}
	return l
}

func init() {
	// The fake learners are built by Options.Factory; the backend name only
	// has to be registered (without a Supports check) for Check to pass.
	learner.RegisterBackend("nas-fake", "test backend of package nas", func(datasets.Inputs, int, learner.Config) (learner.Learner, error) {
		return nil, fmt.Errorf("nas-fake builds through Options.Factory")
	})
}

func fakeConfig() learner.Config {
	c := learner.DefaultConfig()
	c.Backend = "nas-fake"
	return c
}

func testConfig() Config {
	c := DefaultConfig()
	c.Enabled = true
	c.Width = 4
	c.MaxStacks, c.MaxBlocks = 3, 3
	c.Holdout = 0.25
	return c
}

// rounds fits l on 100, 200, 300, ... labels (candidates train on 75, 150,
// 225, ... and are scored on 25, 50, 75, ...) and returns the architecture
// after each round.
func rounds(t *testing.T, l *Learner, y []int, n int) []Arch {
	t.Helper()
	var out []Arch
	for r := 1; r <= n; r++ {
		idx := make([]int, 100*r)
		for i := range idx {
			idx[i] = i
		}
		st, err := l.Fit(context.Background(), labeledSet(y, idx), learner.Labeled{}, uint64(r))
		if err != nil {
			t.Fatal(err)
		}
		if st.Info["arch"] != l.Arch().String() {
			t.Fatalf("round %d: info arch %v, learner arch %v", r, st.Info["arch"], l.Arch())
		}
		out = append(out, l.Arch())
	}
	return out
}

func TestSearchGrowsOnlyWhenItHelps(t *testing.T) {
	in, y := tabular(400, 4)
	tests := []struct {
		name    string
		quality func(blocks, width, n int) float64
		want    []Arch
	}{
		{"capacity does not help: stays smallest", func(int, int, int) float64 { return 0.9 },
			[]Arch{{Tabular, 1, 1, 4}, {Tabular, 1, 1, 4}, {Tabular, 1, 1, 4}, {Tabular, 1, 1, 4}}},
		// Blocks in total: 1x2 and 2x1 tie at 2 (the cheaper 1x2 wins), then
		// 2x2 (4) beats 1x3 (3), 2x3 and 3x2 tie at 6 (2x3 is cheaper), 3x3.
		{"depth helps: grows every round", func(b, w, n int) float64 { return 0.3 + 0.1*float64(b) },
			[]Arch{{Tabular, 1, 2, 4}, {Tabular, 2, 2, 4}, {Tabular, 2, 3, 4}, {Tabular, 3, 3, 4}}},
		// Width helps and depth hurts: stacks up to max_stacks, never blocks.
		{"width helps: one more stack each round up to max_stacks", func(b, w, n int) float64 { return 0.2 + 0.05*float64(w) - 0.1*float64(b) },
			[]Arch{{Tabular, 2, 1, 4}, {Tabular, 3, 1, 4}, {Tabular, 3, 1, 4}, {Tabular, 3, 1, 4}}},
		{"capacity helps only with enough labels", func(b, w, n int) float64 {
			if n >= 150 {
				return 0.5 + 0.1*float64(b)
			}
			return 0.5
		}, []Arch{{Tabular, 1, 1, 4}, {Tabular, 1, 2, 4}, {Tabular, 2, 2, 4}, {Tabular, 2, 3, 4}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			l, err := New(in, 4, fakeConfig(), testConfig(), Options{Factory: fakeFactory(y, tc.quality, &log)})
			if err != nil {
				t.Fatal(err)
			}
			got := rounds(t, l, y, 4)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("architectures %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSearchNeverShrinks(t *testing.T) {
	in, y := tabular(2000, 3)
	for seed := uint64(0); seed < 5; seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		scores := map[string]float64{}
		quality := func(b, w, n int) float64 { // arbitrary, fixed per (arch, n)
			k := fmt.Sprint(b, w, n)
			if _, ok := scores[k]; !ok {
				scores[k] = rng.Float64()
			}
			return scores[k]
		}
		var log []string
		cfg := testConfig()
		cfg.MaxStacks, cfg.MaxBlocks = 4, 4
		l, err := New(in, 3, fakeConfig(), cfg, Options{Factory: fakeFactory(y, quality, &log)})
		if err != nil {
			t.Fatal(err)
		}
		prev := l.Arch()
		prevParams, _ := l.Params(prev)
		for _, a := range rounds(t, l, y, 12) {
			p, _ := l.Params(a)
			if !prev.Bigger(a) || p < prevParams {
				t.Fatalf("seed %d: architecture went from %v (%d parameters) to %v (%d)", seed, prev, prevParams, a, p)
			}
			if a.Stacks > 4 || a.Blocks > 4 {
				t.Fatalf("seed %d: %v is outside the bounds", seed, a)
			}
			if a != prev && !contains(prev.Neighbourhood(), a) {
				t.Fatalf("seed %d: jumped from %v to %v, outside the neighbourhood", seed, prev, a)
			}
			prev, prevParams = a, p
		}
	}
}

func TestSearchCostAndInfo(t *testing.T) {
	in, y := tabular(400, 4)
	var log []string
	grow := func(b, w, n int) float64 { return 0.3 + 0.1*float64(b) }
	cfg := testConfig()
	cfg.MaxCandidates = 2
	l, err := New(in, 4, fakeConfig(), cfg, Options{Factory: fakeFactory(y, grow, &log)})
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]int, 40)
	for i := range idx {
		idx[i] = i
	}
	st, err := l.Fit(context.Background(), labeledSet(y, idx), learner.Labeled{}, 7)
	if err != nil {
		t.Fatal(err)
	}
	// Two candidate trainings on 30 of the 40 labels (holdout 0.25), then the winner on all 40.
	want := []string{"fit 1/4 on 30", "fit 2/4 on 30", "fit 2/4 on 40"}
	if !reflect.DeepEqual(log, want) {
		t.Fatalf("trainings %v, want %v", log, want)
	}
	if st.Info["nas_trainings"] != 2 || st.Info["arch"] != "1x2 w4" || st.Info["nas_scored_on"] != "holdout" {
		t.Fatalf("info %v", st.Info)
	}
	sk, _ := st.Info["nas_skipped"].([]any)
	if len(sk) != 1 || !strings.Contains(sk[0].(string), "max_candidates") {
		t.Fatalf("skipped %v, want the stack candidate skipped by max_candidates", st.Info["nas_skipped"])
	}
	// The info survives JSON and reads the same after a round trip.
	b1, err := json.Marshal(st.Info)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b1, &back); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(back)
	if string(b1) != string(b2) {
		t.Fatalf("info JSON changes in a round trip:\n%s\n%s", b1, b2)
	}

	// Search off: one training per round, the start architecture kept.
	log = nil
	cfg.Search = false
	l, _ = New(in, 4, fakeConfig(), cfg, Options{Factory: fakeFactory(y, grow, &log)})
	if st, err = l.Fit(context.Background(), labeledSet(y, idx), learner.Labeled{}, 7); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(log, []string{"fit 1/4 on 40"}) || st.Info["nas_trainings"] != 0 {
		t.Fatalf("fixed architecture trained %v, info %v", log, st.Info)
	}
}

func TestHoldoutSplit(t *testing.T) {
	y := []int{0, 0, 0, 0, 0, 0, 1, 1, 2, 2}
	train := learner.Labeled{Idx: []int{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}, Y: y}
	for _, frac := range []float64{0.2, 0.3, 0.5, 0.99, 0.01} {
		fit, held := split(train, frac, 3)
		m := max(1, min(int(math.Round(frac*10)), 9))
		if held.Len() != m || fit.Len() != 10-m {
			t.Fatalf("frac %g: %d held, %d fit; want %d held", frac, held.Len(), fit.Len(), m)
		}
		seen := map[int]bool{}
		for _, s := range []learner.Labeled{fit, held} {
			for i, idx := range s.Idx {
				if seen[idx] || y[idx-10] != s.Y[i] {
					t.Fatalf("frac %g: index %d duplicated or mislabeled", frac, idx)
				}
				seen[idx] = true
			}
		}
		if frac == 0.3 {
			classes := map[int]bool{}
			for _, c := range held.Y {
				classes[c] = true
			}
			if len(classes) != 3 {
				t.Fatalf("a holdout of 3 covers classes %v, want all 3", classes)
			}
		}
	}
	a, b := split(train, 0.3, 5)
	c, d := split(train, 0.3, 5)
	if !reflect.DeepEqual(a, c) || !reflect.DeepEqual(b, d) {
		t.Fatal("the split is not deterministic for a seed")
	}
}

func TestSaveLoadRestoresArchitecture(t *testing.T) {
	in, y := tabular(400, 4)
	var log []string
	grow := func(b, w, n int) float64 { return 0.3 + 0.1*float64(b) }
	l, err := New(in, 4, fakeConfig(), testConfig(), Options{Factory: fakeFactory(y, grow, &log)})
	if err != nil {
		t.Fatal(err)
	}
	rounds(t, l, y, 2)
	if l.Arch() != (Arch{Tabular, 2, 2, 4}) {
		t.Fatalf("setup: architecture %v", l.Arch())
	}
	path := filepath.Join(t.TempDir(), "weights-0002.bin")
	if err := l.Save(path); err != nil {
		t.Fatal(err)
	}
	// A fresh learner (as on resume) starts at 1x1 and loads 2x2 (4 blocks, final width 8).
	log = nil
	r, err := New(in, 4, fakeConfig(), testConfig(), Options{Factory: fakeFactory(y, grow, &log)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Load(path); err != nil {
		t.Fatal(err)
	}
	if r.Arch() != l.Arch() || !reflect.DeepEqual(log, []string{"load 4 8"}) {
		t.Fatalf("restored %v (log %v), want %v with its weights", r.Arch(), log, l.Arch())
	}
	if _, err := r.Probs(context.Background(), []int{1, 2}); err != nil {
		t.Fatal(err)
	}
	// The next search continues from the restored architecture.
	if a := rounds(t, r, y, 1)[0]; !l.Arch().Bigger(a) {
		t.Fatalf("after resume the search went to %v", a)
	}

	// Errors: no side file; a side file for another width.
	if err := os.WriteFile(filepath.Join(t.TempDir(), "w.bin"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Load(filepath.Join(t.TempDir(), "w.bin")); err == nil || !strings.Contains(err.Error(), "architecture file") {
		t.Fatalf("load without a side file: %v", err)
	}
	cfg := testConfig()
	cfg.Width = 8
	o, _ := New(in, 4, fakeConfig(), cfg, Options{Factory: fakeFactory(y, grow, &log)})
	if err := o.Load(path); err == nil || !strings.Contains(err.Error(), "nas.width") {
		t.Fatalf("load into another width: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"fixed", func(c *Config) { c.Search = false; c.Stacks, c.Blocks = 3, 3 }, ""},
		{"width", func(c *Config) { c.Width = 0 }, "nas.width"},
		{"start", func(c *Config) { c.Blocks = 0 }, "nas.stacks, nas.blocks"},
		{"start above max", func(c *Config) { c.Stacks = 4 }, "nas.stacks: the start"},
		{"max blocks", func(c *Config) { c.MaxBlocks = 0 }, "nas.max_stacks, nas.max_blocks"},
		{"holdout", func(c *Config) { c.Holdout = 1 }, "nas.holdout"},
		{"one candidate", func(c *Config) { c.MaxCandidates = 1 }, "nas.max_candidates"},
		{"budget", func(c *Config) { c.BudgetSeconds = -1 }, "nas.budget_seconds"},
		{"dropout", func(c *Config) { c.Dropout = 1 }, "nas.dropout"},
		{"params", func(c *Config) { c.MaxParams = -5 }, "nas.max_params"},
		{"stem pool", func(c *Config) { c.StemPool = 0 }, "nas.stem_pool"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestNewRejectsBadSetups(t *testing.T) {
	in, y := tabular(50, 4)
	var log []string
	f := fakeFactory(y, func(int, int, int) float64 { return 1 }, &log)
	cfg := testConfig()
	cfg.MaxParams = 10
	if _, err := New(in, 4, fakeConfig(), cfg, Options{Factory: f}); err == nil || !strings.Contains(err.Error(), "max_params") {
		t.Fatalf("start above max_params: %v", err)
	}
	img := &datasets.Dataset{Name: "i", Shape: []int{2, 2}, X: make([]float32, 4), Y: []int{0}, NumClasses: 2, TrainN: 1}
	if _, err := New(img.Inputs(), 2, fakeConfig(), testConfig(), Options{Factory: f}); err == nil || !strings.Contains(err.Error(), "neither images") {
		t.Fatalf("2-D inputs: %v", err)
	}
	// The pure-Go backend builds no residual layers: the config is rejected
	// before anything runs, naming the backend that can.
	gl := learner.DefaultConfig()
	gl.Backend = "gorgonia"
	err := Check([]int{3}, 4, gl, testConfig())
	for _, want := range []string{"gorgonia", "learner.backend: torch"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Active-iNAS on gorgonia: %v; want it to mention %q", err, want)
		}
	}
	bad := fakeConfig()
	bad.Train.LR = 0
	if _, err := New(in, 4, bad, testConfig(), Options{Factory: f}); err == nil || !strings.Contains(err.Error(), "learner.train.lr") {
		t.Fatalf("bad learner config: %v", err)
	}
	cfg = testConfig()
	cfg.Holdout = 0
	l, err := New(in, 4, fakeConfig(), cfg, Options{Factory: f})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Fit(context.Background(), labeledSet(y, []int{0, 1, 2, 3}), learner.Labeled{}, 1); err == nil || !strings.Contains(err.Error(), "nas.holdout") {
		t.Fatalf("holdout 0 without a validation split: %v", err)
	}
}

// weightedFake is a fake that also fits weighted sets (as CEAL and SSAL need).
type weightedFake struct{ *fake }

func (w weightedFake) FitWeighted(_ context.Context, train learner.Weighted, _ learner.Labeled, _ uint64, _ learner.FitOptions) (learner.FitStats, error) {
	w.n, w.fitted = train.Len(), true
	*w.log = append(*w.log, fmt.Sprintf("weighted %d/%d on %d", w.blocks, w.width, w.n))
	return learner.FitStats{Epochs: 1}, nil
}

// TestPrepareRoundForTrainers: the environment prepares the round (the
// search) before a trainer's calls; predictions come from the last trained
// network until the round's first training call, which trains the winner;
// a Fit after PrepareRound on the same set does not search again.
func TestPrepareRoundForTrainers(t *testing.T) {
	in, y := tabular(400, 4)
	var log []string
	grow := func(b, w, n int) float64 { return 0.3 + 0.1*float64(b) }
	plain := fakeFactory(y, grow, &log)
	factory := func(in datasets.Inputs, c int, cfg learner.Config) (learner.Learner, error) {
		f, err := plain(in, c, cfg)
		return weightedFake{f.(*fake)}, err
	}
	cfg := testConfig()
	cfg.MaxCandidates = 2 // the current architecture and one more block
	l, err := New(in, 4, fakeConfig(), cfg, Options{Factory: factory})
	if err != nil {
		t.Fatal(err)
	}
	if !learner.Has(l, learner.CapWeightedFit) {
		t.Fatal("weighted fits of the networks not reported")
	}
	set := func(n int) learner.Labeled {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return labeledSet(y, idx)
	}
	ctx := context.Background()
	if _, err := l.Fit(ctx, set(40), learner.Labeled{}, 1); err != nil {
		t.Fatal(err)
	}
	if l.Arch().String() != "1x2 w4" {
		t.Fatalf("after round 1: %s", l.Arch())
	}
	log = nil
	if err := l.PrepareRound(ctx, set(80), learner.Labeled{}, 2); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(log, []string{"fit 2/4 on 60", "fit 3/4 on 60"}) {
		t.Fatalf("search trainings %v", log)
	}
	// The winner (1x3) is prepared, not yet trained: predictions and the
	// current architecture are still the trained 1x2's.
	if l.Arch().String() != "1x2 w4" || len(l.ModelSpec().Layers) != len((Arch{Tabular, 1, 3, 4}).Layers(cfg.Space())) {
		t.Fatalf("prepared: current %s, next spec %d layers", l.Arch(), len(l.ModelSpec().Layers))
	}
	if _, err := l.Probs(ctx, []int{0, 1}); err != nil {
		t.Fatalf("predictions between the search and the training: %v", err)
	}
	w := learner.FromLabeled(set(80)).Append(learner.Weighted{Idx: []int{100, 101}, Y: []int{0, 1}, W: []float64{0.5, 0.5}})
	st, err := l.FitWeighted(ctx, w, learner.Labeled{}, 2, learner.FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Arch().String() != "1x3 w4" || log[len(log)-1] != "weighted 3/4 on 82" || st.Info["arch"] != "1x3 w4" || st.Info["nas_trainings"] != 2 {
		t.Fatalf("weighted fit: arch %s, log %v, info %v", l.Arch(), log, st.Info)
	}
	// Fit after PrepareRound on the same labeled set and seed: one search.
	log = nil
	if err := l.PrepareRound(ctx, set(120), learner.Labeled{}, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Fit(ctx, set(120), learner.Labeled{}, 3); err != nil {
		t.Fatal(err)
	}
	if want := []string{"fit 3/4 on 90", "fit 4/8 on 90", "fit 4/8 on 120"}; !reflect.DeepEqual(log, want) {
		t.Fatalf("prepare then fit trained %v, want %v", log, want)
	}
	// Networks without weighted fits: a capability error, not a panic.
	l2, _ := New(in, 4, fakeConfig(), cfg, Options{Factory: plain})
	var ce *learner.CapabilityError
	if _, err := l2.FitWeighted(ctx, w, learner.Labeled{}, 2, learner.FitOptions{}); !errors.As(err, &ce) || learner.Has(l2, learner.CapWeightedFit) {
		t.Fatalf("weighted fit on plain networks: %v", err)
	}
	// Capabilities: the networks' (embeddings: neither fake has them), never
	// one this learner has no methods for (ensembles), and raw inputs always.
	for _, c := range []struct {
		c    learner.Capability
		want bool
	}{{learner.CapProbs, true}, {learner.CapInputs, true}, {learner.CapEmbeddings, false}, {learner.CapEnsemble, false}, {learner.CapLossPrediction, false}} {
		if got := learner.Has(l2, c.c); got != c.want {
			t.Errorf("Has(%s) = %v, want %v", c.c, got, c.want)
		}
	}
}
