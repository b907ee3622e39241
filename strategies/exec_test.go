package strategies

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

// TestExecHelperProcess is not a test: the exec tests start the test binary
// itself as a plugin, with the helper's mode after "--".
func TestExecHelperProcess(t *testing.T) {
	args := flag.Args()
	if len(args) == 0 || !slices.Contains(os.Args, "--") {
		return
	}
	os.Exit(execHelper(args))
}

func execHelper(args []string) int {
	mode := args[0]
	switch mode {
	case "sleep":
		time.Sleep(time.Minute)
		return 0
	case "sleep-pid": // sleep-pid FILE: write this process's pid, then hang
		if err := os.WriteFile(args[1], []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return 4
		}
		time.Sleep(time.Minute)
		return 0
	case "parent": // parent PIDFILE: run a query whose plugin hangs (see TestPluginDiesWithAlrl)
		m := &capModel{probs: [][]float64{{0.5, 0.5}, {0.9, 0.1}, {0.2, 0.8}}, calls: map[string]int{}}
		s, err := New("exec", map[string]any{"command": helperCmd("sleep-pid", args[1]), "name": "hanger", "timeout": "10m"})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 5
		}
		_, _ = s.Select(context.Background(), Query{Model: m, Candidates: []int{0, 1, 2}, K: 1, RNG: seeded(1, 2), Round: 1})
		return 0
	case "exit": // exit CODE MESSAGE, without reading stdin
		fmt.Fprintln(os.Stderr, args[2])
		code, _ := strconv.Atoi(args[1])
		return code
	}
	h, arrays, err := ReadExecMessage(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 3
	}
	switch mode {
	case "first-k":
		b, _ := json.Marshal(map[string]any{"indices": h.Candidates[:h.K]})
		fmt.Println(string(b))
	case "dump": // dump FILE: write what arrived, answer the last k
		b, _ := json.Marshal(map[string]any{"header": h, "arrays": arrays})
		if err := os.WriteFile(args[1], b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 4
		}
		b, _ = json.Marshal(map[string]any{"indices": h.Candidates[len(h.Candidates)-h.K:]})
		fmt.Println(string(b))
	case "reply": // reply TEXT: print TEXT on stdout as the answer
		fmt.Print(args[1])
	case "stderr-then-exit":
		for i := 0; i < 200; i++ {
			fmt.Fprintf(os.Stderr, "log line %d\n", i)
		}
		fmt.Fprintln(os.Stderr, "Traceback: the real problem")
		return 7
	default:
		fmt.Fprintln(os.Stderr, "helper: unknown mode", mode)
		return 2
	}
	return 0
}

// helperCmd is the argv that runs the test binary as a plugin in the given mode.
func helperCmd(mode ...string) []any {
	argv := []any{os.Args[0], "-test.run=^TestExecHelperProcess$", "--"}
	for _, m := range mode {
		argv = append(argv, m)
	}
	return argv
}

// capModel is a fake model with probabilities, MC samples and embeddings per
// pool index.
type capModel struct {
	probs [][]float64
	mc    [][][]float64 // [t][pool index][class]
	emb   [][]float64
	calls map[string]int
}

func (m *capModel) rows(src [][]float64, idx []int) *mat.Dense {
	out := mat.NewDense(len(idx), len(src[0]), nil)
	for i, j := range idx {
		out.SetRow(i, src[j])
	}
	return out
}

func (m *capModel) Probs(_ context.Context, idx []int) (*mat.Dense, error) {
	m.calls["probs"]++
	return m.rows(m.probs, idx), nil
}

func (m *capModel) MCProbs(_ context.Context, idx []int, T int) ([]*mat.Dense, error) {
	m.calls["mc"]++
	if T > len(m.mc) {
		return nil, fmt.Errorf("fake: only %d MC samples", len(m.mc))
	}
	out := make([]*mat.Dense, T)
	for t := range out {
		out[t] = m.rows(m.mc[t], idx)
	}
	return out, nil
}

func (m *capModel) Embed(_ context.Context, idx []int) (*mat.Dense, error) {
	m.calls["emb"]++
	if m.emb == nil {
		return nil, &learner.CapabilityError{Capability: learner.CapEmbeddings, Learner: "fake"}
	}
	return m.rows(m.emb, idx), nil
}

func (m *capModel) NumClasses() int { return len(m.probs[0]) }

// randomProbs returns n rows of c probabilities that are multiples of 1/1024,
// so float32 transport loses nothing and ties are frequent.
func randomProbRows(rng *rand.Rand, n, c int) [][]float64 {
	out := make([][]float64, n)
	for i := range out {
		counts := make([]int, c)
		for u := 0; u < 1024; u++ {
			counts[rng.IntN(c)*rng.IntN(2)]++ // skewed towards class 0
		}
		out[i] = make([]float64, c)
		for j, k := range counts {
			out[i][j] = float64(k) / 1024
		}
	}
	return out
}

func newExecStrategy(t *testing.T, opts map[string]any) Strategy {
	t.Helper()
	s, err := New("exec", opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestExecSendsTheDocumentedMessage(t *testing.T) {
	dump := filepath.Join(t.TempDir(), "dump.json")
	m := &capModel{
		probs: [][]float64{{0.5, 0.25, 0.25}, {0.125, 0.75, 0.125}, {1, 0, 0}, {0.375, 0.375, 0.25}},
		mc: [][][]float64{
			{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {0.5, 0.5, 0}},
			{{0, 1, 0}, {0, 0, 1}, {1, 0, 0}, {0, 0.5, 0.5}},
		},
		emb:   [][]float64{{1, 2}, {3, 4}, {5, 6}, {7.25, -8.5}},
		calls: map[string]int{},
	}
	s := newExecStrategy(t, map[string]any{
		"command": helperCmd("dump", dump), "name": "dumper",
		"needs": []any{"embeddings", "probs", "mc_dropout"}, "samples": 2, "timeout": "30s",
	})
	if got := s.(Needer).Needs(); !slices.Equal(got, []learner.Capability{learner.CapEmbeddings, learner.CapProbs, learner.CapMCDropout}) {
		t.Errorf("Needs = %v", got)
	}
	q := Query{Model: m, Candidates: []int{3, 0, 1}, Labeled: []int{2}, K: 2, RNG: seeded(5, 6), Round: 4}
	sel, err := s.Select(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sel, []int{0, 1}) {
		t.Errorf("Select = %v, want the helper's answer [0 1]", sel)
	}
	b, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Header ExecHeader  `json:"header"`
		Arrays [][]float32 `json:"arrays"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	h := got.Header
	if h.Protocol != 1 || h.Plugin != "dumper" || h.Round != 4 || h.K != 2 || h.NumClasses != 3 ||
		!slices.Equal(h.Candidates, []int{3, 0, 1}) || !slices.Equal(h.Labeled, []int{2}) {
		t.Errorf("header = %+v", h)
	}
	if want := seeded(5, 6).Uint64(); h.Seed != want {
		t.Errorf("seed = %d, want the query RNG's first draw %d", h.Seed, want)
	}
	wantSpecs := []ExecArray{
		{Name: "embeddings", DType: "<f4", Shape: []int{3, 2}},
		{Name: "probs", DType: "<f4", Shape: []int{3, 3}},
		{Name: "mc_dropout", DType: "<f4", Shape: []int{2, 3, 3}},
	}
	if len(h.Arrays) != 3 {
		t.Fatalf("arrays = %+v", h.Arrays)
	}
	for i, w := range wantSpecs {
		if h.Arrays[i].Name != w.Name || h.Arrays[i].DType != w.DType || !slices.Equal(h.Arrays[i].Shape, w.Shape) {
			t.Errorf("arrays[%d] = %+v, want %+v", i, h.Arrays[i], w)
		}
	}
	wantData := [][]float32{
		{7.25, -8.5, 1, 2, 3, 4},
		{0.375, 0.375, 0.25, 0.5, 0.25, 0.25, 0.125, 0.75, 0.125},
		{0.5, 0.5, 0, 1, 0, 0, 0, 1, 0, 0, 0.5, 0.5, 0, 1, 0, 0, 0, 1},
	}
	for i, w := range wantData {
		if !slices.Equal(got.Arrays[i], w) {
			t.Errorf("array %s = %v, want %v", wantSpecs[i].Name, got.Arrays[i], w)
		}
	}
}

func TestExecMessageRoundTrip(t *testing.T) {
	h := ExecHeader{Protocol: 1, Plugin: "p", Round: 2, K: 1, Seed: 9, NumClasses: 2, Candidates: []int{4, 8}, Labeled: []int{},
		Arrays: []ExecArray{{Name: "probs", DType: "<f4", Shape: []int{2, 2}}}}
	var buf bytes.Buffer
	p := mat.NewDense(2, 2, []float64{0.1, 0.9, math.Inf(1), -0.5})
	if err := WriteExecMessage(&buf, h, [][]*mat.Dense{{p}}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if string(b[:4]) != "ALRL" {
		t.Fatalf("magic %q", b[:4])
	}
	hlen := int(b[4]) | int(b[5])<<8 | int(b[6])<<16 | int(b[7])<<24
	if len(b) != 8+hlen+4*4 {
		t.Errorf("message is %d bytes, want 8 + %d + 16", len(b), hlen)
	}
	h2, arrays, err := ReadExecMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if h2.Round != 2 || !slices.Equal(h2.Candidates, h.Candidates) || len(arrays) != 1 {
		t.Errorf("header %+v, arrays %v", h2, arrays)
	}
	if want := []float32{0.1, 0.9, float32(math.Inf(1)), -0.5}; !slices.Equal(arrays[0], want) {
		t.Errorf("array = %v, want %v", arrays[0], want)
	}
	// Truncated and corrupt messages are errors, not panics.
	for _, bad := range [][]byte{b[:3], b[:20], b[:len(b)-1], append([]byte("XXXX"), b[4:]...)} {
		if _, _, err := ReadExecMessage(bytes.NewReader(bad)); err == nil {
			t.Errorf("ReadExecMessage of a %d-byte corrupt message succeeded", len(bad))
		}
	}
}

func TestExecPythonMarginMatchesBuiltin(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed, so the example Python plugin cannot be tested: ", err)
	}
	// Resolve the interpreter once (a version-manager shim costs a second per start).
	if out, err := exec.Command(py, "-c", "import sys; print(sys.executable)").Output(); err == nil && len(bytes.TrimSpace(out)) > 0 {
		py = string(bytes.TrimSpace(out))
	}
	script, err := filepath.Abs("../examples/exec-plugin/margin.py")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(11, 12))
	probs := randomProbRows(rng, 400, 10)
	m := &capModel{probs: probs, calls: map[string]int{}}
	plugin := newExecStrategy(t, map[string]any{"command": []any{py, script}, "timeout": "60s"})
	margin, err := New("margin", nil)
	if err != nil {
		t.Fatal(err)
	}
	all := make([]int, len(probs))
	for i := range all {
		all[i] = i
	}
	for _, tc := range []struct {
		cands []int
		k     int
	}{
		{all, 10},
		{all[:37], 37},
		{[]int{399, 5, 77, 12, 300, 1}, 3},
		{all[100:300], 100},
	} {
		q := Query{Model: m, Candidates: tc.cands, Labeled: []int{}, K: tc.k, RNG: seeded(1, 1), Round: 1}
		want, err := margin.Select(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := plugin.Select(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%d candidates, k = %d: margin.py chose %v, built-in margin %v", len(tc.cands), tc.k, got, want)
		}
	}
}

func TestExecPluginFailures(t *testing.T) {
	m := &capModel{probs: [][]float64{{0.5, 0.5}, {0.9, 0.1}, {0.2, 0.8}, {0.6, 0.4}, {0.3, 0.7}}, calls: map[string]int{}}
	q := Query{Model: m, Candidates: []int{0, 1, 3, 4}, Labeled: []int{2}, K: 2, RNG: seeded(1, 2), Round: 3}
	tests := []struct {
		name    string
		command []any
		timeout string
		want    []string
		maxTime time.Duration
	}{
		{"crash with stderr", []any{"sh", "-c", "echo 'ValueError: bad things happened' >&2; exit 3"}, "", []string{`"plugin"`, "exit status 3", "ValueError: bad things happened"}, 0},
		{"crash keeps the stderr tail", helperCmd("stderr-then-exit"), "", []string{"exit status 7", "the real problem", "..."}, 0},
		{"crash without stderr", helperCmd("exit", "5", ""), "", []string{"exit status 5"}, 0},
		{"hang past the timeout", []any{"sleep", "60"}, "300ms", []string{"no answer within the timeout of 300ms", "killed"}, 10 * time.Second},
		{"hang with a child in its group", []any{"sh", "-c", "sleep 60 & sleep 60; wait"}, "300ms", []string{"timeout of 300ms"}, 10 * time.Second},
		{"duplicate index", helperCmd("reply", `{"indices": [0, 0]}`), "", []string{"bad answer", "pool index 0 is returned twice"}, 0},
		{"indices as strings", helperCmd("reply", `{"indices": ["0", "2"]}`), "", []string{"bad answer", "indices[0]", "a JSON string"}, 0},
		{"fractional index", helperCmd("reply", `{"indices": [0, 1.5]}`), "", []string{"bad answer", "indices[1] = 1.5 is not an integer"}, 0},
		{"labeled index", helperCmd("reply", `{"indices": [2, 0]}`), "", []string{"bad answer", "pool index 2", "already labeled"}, 0},
		{"index outside the candidates", helperCmd("reply", `{"indices": [0, 17]}`), "", []string{"bad answer", "pool index 17", "not among this round's 4 candidates"}, 0},
		{"too few", helperCmd("reply", `{"indices": [0]}`), "", []string{"returned 1 indices, but k = 2"}, 0},
		{"too many", helperCmd("reply", `{"indices": [0, 1, 3]}`), "", []string{"returned 3 indices, but k = 2"}, 0},
		{"non-integer index", helperCmd("reply", `{"indices": [0, 1.5]}`), "", []string{"indices[1] = 1.5 is not an integer"}, 0},
		{"not JSON", helperCmd("reply", "0 1\n"), "", []string{"not a JSON reply", `"0 1"`}, 0},
		{"no indices key", helperCmd("reply", `{"index": [0, 1]}`), "", []string{`no "indices"`}, 0},
		{"two replies", helperCmd("reply", "{\"indices\": [0, 1]}\n{\"indices\": [0, 1]}\n"), "", []string{"more than one JSON value", "stderr"}, 0},
		{"empty stdout", helperCmd("reply", ""), "", []string{"without printing a reply"}, 0},
		{"plugin reports an error", helperCmd("reply", `{"error": "need embeddings"}`), "", []string{"reported an error: need embeddings"}, 0},
		{"not executable", []any{"/dev/null"}, "", []string{"options.command[0]"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := map[string]any{"command": tc.command, "name": "plugin"}
			if tc.timeout != "" {
				opts["timeout"] = tc.timeout
			}
			s, err := New("exec", opts)
			if err == nil {
				start := time.Now()
				_, err = s.Select(context.Background(), q)
				if tc.maxTime > 0 && time.Since(start) > tc.maxTime {
					t.Errorf("took %v, want under %v", time.Since(start), tc.maxTime)
				}
			}
			if err == nil {
				t.Fatal("succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestExecCancelledContext(t *testing.T) {
	m := &capModel{probs: [][]float64{{0.5, 0.5}, {0.9, 0.1}}, calls: map[string]int{}}
	s := newExecStrategy(t, map[string]any{"command": []any{"sleep", "60"}, "timeout": "1m"})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(200 * time.Millisecond); cancel() }()
	start := time.Now()
	_, err := s.Select(ctx, Query{Model: m, Candidates: []int{0, 1}, K: 1, RNG: seeded(1, 2)})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("error = %v, want an interruption wrapping context.Canceled", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v after cancellation", d)
	}
}

func TestExecCapabilityErrorsPassThrough(t *testing.T) {
	m := &capModel{probs: [][]float64{{0.5, 0.5}, {0.9, 0.1}}, calls: map[string]int{}}
	s := newExecStrategy(t, map[string]any{"command": helperCmd("first-k"), "needs": []any{"embeddings"}})
	_, err := s.Select(context.Background(), Query{Model: m, Candidates: []int{0, 1}, K: 1, RNG: seeded(1, 2)})
	if !learner.IsCapabilityError(err) || !strings.Contains(err.Error(), "embeddings") {
		t.Errorf("error = %v, want a wrapped CapabilityError for embeddings", err)
	}
	if m.calls["probs"] != 0 {
		t.Error("probabilities were computed although needs lists only embeddings")
	}
	if _, err := s.Select(context.Background(), Query{Candidates: []int{0, 1}, K: 1, RNG: seeded(1, 2)}); err == nil || !strings.Contains(err.Error(), "no model") {
		t.Errorf("query without a model: error %v", err)
	}
}

func TestExecConfigErrors(t *testing.T) {
	ok := helperCmd("first-k")
	tests := []struct {
		name string
		opts map[string]any
		path string
		want string
	}{
		{"no command", nil, "options.command", "list"},
		{"command is a string", map[string]any{"command": "python3 plugin.py"}, "options.command", "no shell"},
		{"empty command", map[string]any{"command": []any{}}, "options.command", "list"},
		{"non-string argument", map[string]any{"command": []any{"python3", 3}}, "options.command[1]", "string"},
		{"missing program", map[string]any{"command": []any{"no-such-program-alrl"}}, "options.command[0]", "no-such-program-alrl"},
		{"bad timeout", map[string]any{"command": ok, "timeout": "soon"}, "options.timeout", `"soon"`},
		{"negative timeout", map[string]any{"command": ok, "timeout": -1}, "options.timeout", "positive"},
		{"unknown need", map[string]any{"command": ok, "needs": []any{"probs", "gradients"}}, "options.needs[1]", "gradients"},
		{"need twice", map[string]any{"command": ok, "needs": []any{"probs", "probs"}}, "options.needs[1]", "twice"},
		{"needs not a list", map[string]any{"command": ok, "needs": "probs"}, "options.needs", "list"},
		{"samples zero", map[string]any{"command": ok, "needs": []any{"mc_dropout"}, "samples": 0}, "options.samples", ">= 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New("exec", tc.opts)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *ConfigError", err)
			}
			if ce.Path != tc.path || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want path %q and %q", err, tc.path, tc.want)
			}
		})
	}
	// Timeouts as numbers are seconds; the label defaults to the script's name.
	script := filepath.Join(t.TempDir(), "my-plugin.sh")
	if err := os.WriteFile(script, []byte("exit 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newExecStrategy(t, map[string]any{"command": []any{"sh", "-e", script}, "timeout": 1.5})
	if e := s.(*Exec); e.Timeout != 1500*time.Millisecond || e.Label != "my-plugin.sh" || !slices.Equal(e.Arrays, []string{"probs"}) || e.Samples != 20 {
		t.Errorf("exec = %+v", e)
	}
	if e := newExecStrategy(t, map[string]any{"command": []any{"sleep", "5"}}).(*Exec); e.Label != "sleep" {
		t.Errorf("label of [sleep 5] = %q, want sleep", e.Label)
	}
}

// TestCappedWriter: a plugin's log keeps max bytes, says it cut the rest,
// and never fails the plugin's writes.
func TestCappedWriter(t *testing.T) {
	var b strings.Builder
	c := &cappedWriter{w: &b, max: 10}
	for _, chunk := range []string{"hello ", "world, ", "again"} {
		if n, err := c.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("write %q: %d %v", chunk, n, err)
		}
	}
	if got := b.String(); !strings.HasPrefix(got, "hello worl\n[alrl: the rest") || strings.Contains(got, "again") {
		t.Fatalf("log %q", got)
	}
}
