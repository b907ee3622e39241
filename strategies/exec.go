package strategies

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

// The exec strategy runs a user's program, in any language, as the
// acquisition function. The wire format is specified in docs/exec-protocol.md;
// the constants and types below are its Go side.

// ExecMagic opens every message alrl writes to a plugin.
const ExecMagic = "ALRL"

// ExecProtocol is the protocol version carried in the header.
const ExecProtocol = 1

// Array names a plugin may ask for with the `needs` option.
const (
	ExecProbs      = "probs"      // N x C class probabilities
	ExecMCDropout  = "mc_dropout" // T x N x C Monte-Carlo-dropout probabilities
	ExecEmbeddings = "embeddings" // N x D penultimate activations
)

// maxExecHeader bounds the JSON header a reader accepts (candidate and
// labeled index lists of a few million entries fit).
const maxExecHeader = 256 << 20

// maxExecReply bounds what a plugin may write to stdout.
const maxExecReply = 16 << 20

// ExecArray describes one array that follows the header.
type ExecArray struct {
	Name  string `json:"name"`  // probs, mc_dropout or embeddings
	DType string `json:"dtype"` // always "<f4": little-endian IEEE 754 float32
	Shape []int  `json:"shape"` // row-major (C order); rows follow the candidates' order
}

// ExecHeader is the JSON metadata of one query message.
type ExecHeader struct {
	Protocol   int         `json:"protocol"`    // ExecProtocol
	Plugin     string      `json:"plugin"`      // the plugin's name in alrl's errors
	Round      int         `json:"round"`       // acquisition round, 1 for the first query (0 if unknown)
	K          int         `json:"k"`           // exactly how many indices to return
	Seed       uint64      `json:"seed"`        // for the plugin's own randomness; derived from the run seed and round
	NumClasses int         `json:"num_classes"` // C
	Candidates []int       `json:"candidates"`  // pool indices to choose from; row i of every array is candidates[i]
	Labeled    []int       `json:"labeled"`     // pool indices labeled so far
	Arrays     []ExecArray `json:"arrays"`      // the arrays that follow, in this order
}

// ExecReply is what a plugin prints on stdout: the chosen pool indices, or an
// error message of its own.
type ExecReply struct {
	Indices []json.RawMessage `json:"indices"` // JSON integers; strings such as "3" are refused
	Error   string            `json:"error,omitempty"`
}

// Exec is the external-process strategy: for every query it starts Command
// (no shell), writes one message (ExecHeader plus the arrays named in Needs)
// to its stdin, closes stdin and reads one JSON reply from its stdout.
//
// The process is started afresh for every round rather than kept for the
// whole run: a plugin then holds no state between rounds that a resumed run
// could not reproduce, a crash cannot leak into the next round, and a plugin
// is a plain read-compute-print script. Starting a process costs
// milliseconds, against seconds for the forward passes of a round.
type Exec struct {
	Command []string      // argv; Command[0] is looked up in PATH unless it holds a slash
	Label   string        // the plugin's name in errors
	Timeout time.Duration // per query; the process group is killed when it runs out
	Arrays  []string      // arrays to send, from ExecProbs, ExecMCDropout, ExecEmbeddings
	Samples int           // T, for ExecMCDropout
	// LogPath, when set, is a file the plugin's whole stderr is appended to,
	// query by query (the run folder's plugin-stderr.log; see UseRunDir).
	LogPath string
}

// PluginLog is the file in a run folder that keeps an exec plugin's stderr.
const PluginLog = "plugin-stderr.log"

// RunDirUser is a strategy that keeps files in the folder of the run it
// serves; the runner calls UseRunDir before the first query.
type RunDirUser interface {
	UseRunDir(dir string)
}

// UseRunDir keeps the plugin's stderr in dir/plugin-stderr.log.
func (e *Exec) UseRunDir(dir string) { e.LogPath = filepath.Join(dir, PluginLog) }

// cappedWriter writes at most max bytes to w and drops the rest (a log
// must not fill the disk); it never fails the plugin.
type cappedWriter struct {
	w   io.Writer
	max int
	n   int
}

func (c *cappedWriter) Write(p []byte) (int, error) {
	if room := c.max - c.n; room > 0 {
		k, _ := c.w.Write(p[:min(room, len(p))])
		c.n += k
		if c.n >= c.max {
			fmt.Fprintf(c.w, "\n[alrl: the rest of this query's stderr is not kept, over %d bytes]\n", c.max)
		}
	}
	return len(p), nil
}

// Name returns "exec".
func (*Exec) Name() string { return "exec" }

// Needs maps the requested arrays to learner capabilities.
func (e *Exec) Needs() []learner.Capability {
	var out []learner.Capability
	for _, a := range e.Arrays {
		switch a {
		case ExecProbs:
			out = append(out, learner.CapProbs)
		case ExecMCDropout:
			out = append(out, learner.CapMCDropout)
		case ExecEmbeddings:
			out = append(out, learner.CapEmbeddings)
		}
	}
	return out
}

func (e *Exec) fail(format string, args ...any) error {
	return fmt.Errorf("exec plugin %q: "+format, append([]any{e.Label}, args...)...)
}

// Select sends the query to the plugin and returns its validated answer.
func (e *Exec) Select(ctx context.Context, q Query) ([]int, error) {
	if err := q.Check(); err != nil {
		return nil, e.fail("%v", err)
	}
	if q.Model == nil && len(e.Arrays) > 0 {
		return nil, e.fail("the query has no model to compute %s from", strings.Join(e.Arrays, ", "))
	}
	h := ExecHeader{
		Protocol: ExecProtocol, Plugin: e.Label, Round: q.Round, K: q.K, Seed: q.RNG.Uint64(),
		Candidates: q.Candidates, Labeled: q.Labeled,
	}
	if q.Labeled == nil {
		h.Labeled = []int{}
	}
	if q.Model != nil {
		h.NumClasses = q.Model.NumClasses()
	}
	var data [][]*mat.Dense // per array: one matrix, or T of them
	for _, a := range e.Arrays {
		var ms []*mat.Dense
		var err error
		switch a {
		case ExecProbs:
			var p *mat.Dense
			p, err = q.Model.Probs(ctx, q.Candidates)
			ms = []*mat.Dense{p}
		case ExecMCDropout:
			ms, err = q.Model.MCProbs(ctx, q.Candidates, e.Samples)
		case ExecEmbeddings:
			var z *mat.Dense
			z, err = q.Model.Embed(ctx, q.Candidates)
			ms = []*mat.Dense{z}
		}
		if err != nil {
			return nil, e.fail("computing %s: %w", a, err)
		}
		spec, err := arraySpec(a, ms, len(q.Candidates))
		if err != nil {
			return nil, e.fail("%v", err)
		}
		h.Arrays = append(h.Arrays, spec)
		data = append(data, ms)
	}
	reply, err := e.run(ctx, h, data)
	if err != nil {
		return nil, err
	}
	sel, err := e.parseReply(reply)
	if err != nil {
		return nil, err
	}
	if err := q.CheckSelection(sel); err != nil {
		return nil, e.fail("bad answer: %v", err)
	}
	return sel, nil
}

// arraySpec checks the matrices of one array and describes their shape.
func arraySpec(name string, ms []*mat.Dense, n int) (ExecArray, error) {
	if len(ms) == 0 {
		return ExecArray{}, fmt.Errorf("%s: the learner returned no data", name)
	}
	_, cols := ms[0].Dims()
	for t, m := range ms {
		if r, c := m.Dims(); r != n || c != cols {
			return ExecArray{}, fmt.Errorf("%s[%d]: the learner returned %d x %d for %d candidates", name, t, r, c, n)
		}
	}
	shape := []int{n, cols}
	if name == ExecMCDropout {
		shape = []int{len(ms), n, cols}
	}
	return ExecArray{Name: name, DType: "<f4", Shape: shape}, nil
}

// WriteExecMessage writes one message: magic, uint32 little-endian header
// length, the JSON header, then each array as little-endian float32 values in
// row-major order (for mc_dropout: sample after sample).
func WriteExecMessage(w io.Writer, h ExecHeader, data [][]*mat.Dense) error {
	js, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if len(js) > maxExecHeader {
		return fmt.Errorf("header of %d bytes is larger than the protocol's %d", len(js), maxExecHeader)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var pre [8]byte
	copy(pre[:4], ExecMagic)
	binary.LittleEndian.PutUint32(pre[4:], uint32(len(js)))
	if _, err := bw.Write(pre[:]); err != nil {
		return err
	}
	if _, err := bw.Write(js); err != nil {
		return err
	}
	var b [4]byte
	for _, ms := range data {
		for _, m := range ms {
			r, _ := m.Dims()
			for i := 0; i < r; i++ {
				for _, v := range m.RawRowView(i) {
					binary.LittleEndian.PutUint32(b[:], math.Float32bits(float32(v)))
					if _, err := bw.Write(b[:]); err != nil {
						return err
					}
				}
			}
		}
	}
	return bw.Flush()
}

// ReadExecMessage reads one message written by WriteExecMessage: the plugin
// side of the protocol, for plugins written in Go and for tests. Array a is
// returned flat, with h.Arrays[a].Shape giving its dimensions.
func ReadExecMessage(r io.Reader) (ExecHeader, [][]float32, error) {
	var h ExecHeader
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return h, nil, fmt.Errorf("reading the message prefix: %w", err)
	}
	if string(pre[:4]) != ExecMagic {
		return h, nil, fmt.Errorf("bad magic %q, want %q", pre[:4], ExecMagic)
	}
	n := binary.LittleEndian.Uint32(pre[4:])
	if n > maxExecHeader {
		return h, nil, fmt.Errorf("header length %d is larger than %d", n, maxExecHeader)
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(r, js); err != nil {
		return h, nil, fmt.Errorf("reading the %d-byte header: %w", n, err)
	}
	if err := json.Unmarshal(js, &h); err != nil {
		return h, nil, fmt.Errorf("decoding the header: %w", err)
	}
	if h.Protocol != ExecProtocol {
		return h, nil, fmt.Errorf("protocol %d, this reader speaks %d", h.Protocol, ExecProtocol)
	}
	br := bufio.NewReaderSize(r, 1<<20)
	out := make([][]float32, len(h.Arrays))
	for a, spec := range h.Arrays {
		if spec.DType != "<f4" {
			return h, nil, fmt.Errorf("array %s: dtype %q, want \"<f4\"", spec.Name, spec.DType)
		}
		size := 1
		for _, d := range spec.Shape {
			if d < 0 || (d > 0 && size > math.MaxInt32/d) {
				return h, nil, fmt.Errorf("array %s: bad shape %v", spec.Name, spec.Shape)
			}
			size *= d
		}
		buf := make([]byte, 4*size)
		if _, err := io.ReadFull(br, buf); err != nil {
			return h, nil, fmt.Errorf("array %s %v: %w", spec.Name, spec.Shape, err)
		}
		v := make([]float32, size)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
		}
		out[a] = v
	}
	return h, out, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
	cut bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.max:]...)
		t.cut = true
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	s := strings.TrimSpace(string(t.buf))
	if t.cut {
		s = "..." + s
	}
	return s
}

// limitBuffer fails writes beyond max bytes.
type limitBuffer struct {
	max  int
	buf  bytes.Buffer
	over bool
}

func (l *limitBuffer) Write(p []byte) (int, error) {
	if l.buf.Len()+len(p) > l.max {
		l.over = true
		return 0, fmt.Errorf("more than %d bytes on stdout", l.max)
	}
	return l.buf.Write(p)
}

// run starts the plugin, feeds it the message and returns its stdout.
func (e *Exec) run(ctx context.Context, h ExecHeader, data [][]*mat.Dense) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tctx, cancel := context.WithTimeout(ctx, e.Timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, e.Command[0], e.Command[1:]...)
	setProcessGroup(cmd)
	cmd.WaitDelay = 5 * time.Second
	// The parent-death signal follows the OS thread that starts the plugin:
	// keep this goroutine on it until the plugin is done.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	stdout := &limitBuffer{max: maxExecReply}
	stderr := &tailBuffer{max: 2048}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if e.LogPath != "" {
		if f, err := os.OpenFile(e.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			defer f.Close()
			fmt.Fprintf(f, "=== round %d, %s: %s\n", h.Round, time.Now().UTC().Format(time.RFC3339), strings.Join(e.Command, " "))
			cmd.Stderr = io.MultiWriter(stderr, &cappedWriter{w: f, max: 1 << 20})
			defer func() { fmt.Fprintf(f, "=== end of round %d\n", h.Round) }()
		}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, e.fail("%v", err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, e.fail("cannot start %s: %v; check options.command", strings.Join(e.Command, " "), err)
	}
	wrote := make(chan error, 1)
	go func() {
		err := WriteExecMessage(stdin, h, data)
		if cerr := stdin.Close(); err == nil {
			err = cerr
		}
		wrote <- err
	}()
	waitErr := cmd.Wait()
	writeErr := <-wrote
	elapsed := time.Since(start).Round(time.Millisecond)
	withStderr := func(msg string) error {
		if s := stderr.String(); s != "" {
			return e.fail("%s; its stderr ends with:\n%s", msg, s)
		}
		return e.fail("%s (it wrote nothing to stderr)", msg)
	}
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("exec plugin %q: interrupted: %w", e.Label, ctx.Err())
	case errors.Is(tctx.Err(), context.DeadlineExceeded):
		return nil, withStderr(fmt.Sprintf("no answer within the timeout of %v, so alrl killed it and its process group (raise options.timeout if it is just slow)", e.Timeout))
	case stdout.over:
		return nil, e.fail("wrote more than %d bytes to stdout; print only the reply there and logs to stderr", maxExecReply)
	}
	if waitErr != nil {
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) {
			return nil, withStderr(fmt.Sprintf("failed after %v: %v", elapsed, ee))
		}
		return nil, withStderr(fmt.Sprintf("failed after %v: %v", elapsed, waitErr))
	}
	_ = writeErr // a plugin may answer without reading every array; its exit status and reply decide
	return stdout.buf.Bytes(), nil
}

// parseReply decodes and checks the plugin's stdout.
func (e *Exec) parseReply(out []byte) ([]int, error) {
	s := bytes.TrimSpace(out)
	if len(s) == 0 {
		return nil, e.fail(`exited without printing a reply; print one JSON line such as {"indices": [3, 17]} on stdout`)
	}
	dec := json.NewDecoder(bytes.NewReader(s))
	dec.UseNumber()
	var r ExecReply
	if err := dec.Decode(&r); err != nil {
		return nil, e.fail(`its stdout is not a JSON reply such as {"indices": [3, 17]} (%v); it began with %q`, err, head(s))
	}
	if dec.More() {
		return nil, e.fail(`printed more than one JSON value on stdout; print only the reply there and logs to stderr (stdout began with %q)`, head(s))
	}
	if r.Error != "" {
		return nil, e.fail("reported an error: %s", r.Error)
	}
	if r.Indices == nil {
		return nil, e.fail(`the reply has no "indices" list: %q`, head(s))
	}
	sel := make([]int, len(r.Indices))
	for i, n := range r.Indices {
		v, err := strconv.ParseInt(string(bytes.TrimSpace(n)), 10, 64)
		if err != nil {
			hint := ""
			if bytes.HasPrefix(bytes.TrimSpace(n), []byte(`"`)) {
				hint = " (a JSON string; send the number itself, e.g. 3 rather than \"3\")"
			}
			return nil, e.fail("bad answer: indices[%d] = %s is not an integer pool index%s", i, n, hint)
		}
		sel[i] = int(v)
	}
	return sel, nil
}

func head(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

func newExec(o Options) (Strategy, error) {
	raw := o.Value("command")
	list, ok := raw.([]any)
	if !ok || len(list) == 0 {
		return nil, located("options.command", `expected the program and its arguments as a list, e.g. [python3, plugin.py]; got %v (no shell is involved)`, raw)
	}
	e := &Exec{}
	for i, v := range list {
		s, ok := v.(string)
		if !ok || (i == 0 && s == "") {
			return nil, located(fmt.Sprintf("options.command[%d]", i), "expected a string, got %v", v)
		}
		e.Command = append(e.Command, s)
	}
	if _, err := exec.LookPath(e.Command[0]); err != nil {
		return nil, located("options.command[0]", "%v", err)
	}
	label, err := o.String("name")
	if err != nil {
		return nil, &ConfigError{Path: "options.name", Err: err}
	}
	if label == "" {
		label = filepath.Base(e.Command[0])
		// A script run by an interpreter is better known by its own name.
		for _, a := range e.Command[1:] {
			if st, err := os.Stat(a); err == nil && st.Mode().IsRegular() {
				label = filepath.Base(a)
				break
			}
		}
	}
	e.Label = label
	switch v := o.Value("timeout").(type) {
	case string:
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, located("options.timeout", "expected a positive duration such as 30s or 5m, got %q", v)
		}
		e.Timeout = d
	case int, int64, uint64, float64:
		f, _ := o.Float("timeout")
		if !(f > 0) || math.IsInf(f, 0) {
			return nil, located("options.timeout", "expected a positive number of seconds or a duration such as 30s, got %v", v)
		}
		e.Timeout = time.Duration(f * float64(time.Second))
	default:
		return nil, located("options.timeout", "expected a duration such as 30s or 5m, got %v", v)
	}
	needs := o.Value("needs")
	nl, ok := needs.([]any)
	if !ok {
		return nil, located("options.needs", "expected a list of %s, %s, %s; got %v", ExecProbs, ExecMCDropout, ExecEmbeddings, needs)
	}
	for i, v := range nl {
		s, _ := v.(string)
		switch s {
		case ExecProbs, ExecMCDropout, ExecEmbeddings:
		default:
			return nil, located(fmt.Sprintf("options.needs[%d]", i), "%v is not one of %s, %s, %s", v, ExecProbs, ExecMCDropout, ExecEmbeddings)
		}
		for _, prev := range e.Arrays {
			if prev == s {
				return nil, located(fmt.Sprintf("options.needs[%d]", i), "%s is listed twice", s)
			}
		}
		e.Arrays = append(e.Arrays, s)
	}
	if e.Samples, err = o.Int("samples"); err != nil {
		return nil, &ConfigError{Path: "options.samples", Err: err}
	}
	if e.Samples < 1 {
		return nil, located("options.samples", "must be >= 1, got %d", e.Samples)
	}
	return e, nil
}

func init() {
	Register(Info{
		Name:        "exec",
		Description: "an external program in any language chooses the batch (protocol: docs/exec-protocol.md)",
		Options: []Option{
			{Name: "command", Doc: "program and arguments, e.g. [python3, examples/exec-plugin/margin.py]; no shell (required)"},
			{Name: "needs", Default: []any{ExecProbs}, Doc: "arrays sent to the plugin: probs, mc_dropout, embeddings"},
			{Name: "samples", Default: 20, Doc: "MC-dropout samples T when needs has mc_dropout"},
			{Name: "timeout", Default: "5m", Doc: "per query; the plugin's process group is killed after it"},
			{Name: "name", Default: "", Doc: "the plugin's name in errors (default: the script's file name)"},
		},
		New: newExec,
	})
}
