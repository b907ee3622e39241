package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/experiments"
	"github.com/alrl/alrl/internal/testimages"
	"github.com/alrl/alrl/labelui"
)

const humanCLIConfig = `
name: human
seeds: [1]
data: {name: blobs, n: 300, classes: 3, dim: 2}
split: {test: 60}
al: {init_size: 6, init_mode: random, k: 3, budget: 12}
learner: {backend: testcentroid, model: {name: mlp, hidden: [8]}}
strategies: [{name: margin}]
`

// labelOverHTTP runs alrl label with args (plus --addr 127.0.0.1:0) as a
// user would: it reads the page's address from the first line, answers
// every queried sample over HTTP with answer(item), and returns when the
// command does, with the number of samples answered.
func labelOverHTTP(t *testing.T, args []string, answer func(labelui.Item) string) int {
	t.Helper()
	pr, pw := io.Pipe()
	app := New()
	app.Writer, app.ErrWriter = pw, io.Discard
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	go func() {
		done <- app.RunContext(ctx, append([]string{"alrl", "--log-level", "warn", "label", "--addr", "127.0.0.1:0"}, args...))
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "labeling page: http://") {
		t.Fatalf("first line %q (%v; %v)", line, err, <-done)
	}
	go io.Copy(io.Discard, pr) //nolint:errcheck
	url := strings.Fields(strings.TrimPrefix(line, "labeling page: "))[0]
	answered := map[int]bool{}
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return len(answered)
		default:
		}
		r, err := http.Get(url + "api/state")
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			continue // the command has shut its server down
		}
		var s labelui.State
		json.NewDecoder(r.Body).Decode(&s) //nolint:errcheck
		r.Body.Close()
		if s.Phase == labelui.PhaseFailed {
			t.Fatal(s.Message)
		}
		for _, it := range s.Items {
			if s.Phase != labelui.PhaseWaiting || it.Label != "" {
				continue
			}
			b, _ := json.Marshal(map[string]any{"index": it.Index, "label": answer(it)})
			if r, err := http.Post(url+"api/answer", "application/json", bytes.NewReader(b)); err == nil {
				if r.StatusCode == http.StatusOK {
					answered[it.Index] = true
				}
				r.Body.Close()
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLabelCommand: alrl label runs a human-oracle experiment on rows to
// its end, with every answer given over HTTP.
func TestLabelCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	cfg := filepath.Join(dir, "human.yaml")
	if err := os.WriteFile(cfg, []byte(humanCLIConfig+"oracle: {name: file}\nout: "+out+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := datasets.Load(datasets.Source{Name: "blobs", N: 300, Classes: 3, Dim: 2}, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	n := labelOverHTTP(t, []string{"-c", cfg}, func(it labelui.Item) string { return strconv.Itoa(data.Y[it.Index]) })
	if s, err := experiments.ReadSummary(filepath.Join(out, "margin", "seed-1")); err != nil || s.Labels != 12 || n != 12 {
		t.Fatalf("summary %+v (%v), %d answered", s, err, n)
	}
}

// TestLabelImagesFromAFolder follows the README: a folder of example
// images per class plus a folder of unlabeled images, labeled by hand with
// alrl label -c builtin:label-images, then alrl report. A simulated run of
// the same data is refused: only a person can label those images.
func TestLabelImagesFromAFolder(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	photos := filepath.Join(dir, "photos")
	truth, err := testimages.Folder(photos, 8, 6)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "runs", "photos")
	args := []string{"-c", "builtin:label-images", "--set", "data.dir=" + photos, "--set", "data.unlabeled=" + filepath.Join(photos, "unlabeled"),
		"--out", out, "--set", "al.init_size=6", "--set", "al.k=6", "--set", "al.budget=24",
		"--set", "learner.train.epochs=2", "--set", "learner.train.min_epoch_samples=64"}
	sim := append([]string{"train"}, args...)
	if _, err := runCLI(t, append(sim, "--set", "oracle.name=data")...); err == nil || !strings.Contains(err.Error(), "only a person can label them") {
		t.Fatalf("a simulated run on unlabeled images: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "margin", "seed-1", "config.yaml")); !os.IsNotExist(err) {
		t.Fatalf("the refused run left its config: %v", err)
	}
	unlabeled := 0
	n := labelOverHTTP(t, args, func(it labelui.Item) string {
		if c, ok := truth[it.Source]; ok {
			unlabeled++
			return testimages.Classes[c]
		}
		return filepath.Base(filepath.Dir(it.Source)) // a class folder's image
	})
	run := filepath.Join(out, "margin", "seed-1")
	s, err := experiments.ReadSummary(run)
	if err != nil || s.Labels != 24 || n != 24 {
		t.Fatalf("summary %+v (%v), %d answered", s, err, n)
	}
	if unlabeled == 0 {
		t.Error("no image of the unlabeled folder was queried")
	}
	if msg, err := runCLI(t, "report", out); err != nil {
		t.Fatalf("report: %v\n%s", err, msg)
	}
	rep, err := os.ReadFile(filepath.Join(out, "report", "report.md"))
	if err != nil || !strings.Contains(string(rep), "margin") {
		t.Fatalf("report.md: %v\n%s", err, rep)
	}
}

// TestLabelStudioThroughTheCLI: alrl query --format labelstudio writes
// tasks, and alrl answer reads a Label Studio export of them.
func TestLabelStudioThroughTheCLI(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	cfg := filepath.Join(dir, "human.yaml")
	if err := os.WriteFile(cfg, []byte(humanCLIConfig+"oracle: {name: file}\nout: "+out+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	data, _ := datasets.Load(datasets.Source{Name: "blobs", N: 300, Classes: 3, Dim: 2}, "", 1)
	if _, err := runCLI(t, "train", "-c", cfg); err == nil {
		t.Fatal("a human-oracle run did not wait for labels")
	}
	run := filepath.Join(out, "margin", "seed-1")
	text, err := runCLI(t, "query", "--format", "labelstudio", run)
	if err != nil {
		t.Fatal(err)
	}
	var tasks []map[string]map[string]any
	if err := json.Unmarshal([]byte(text), &tasks); err != nil || len(tasks) != 6 {
		t.Fatalf("tasks %s (%v)", text, err)
	}
	// Label Studio's JSON export: the imported data plus each annotation.
	var export []map[string]any
	for _, task := range tasks {
		i := int(task["data"]["index"].(float64))
		export = append(export, map[string]any{"data": task["data"], "annotations": []any{
			map[string]any{"was_cancelled": false, "result": []any{map[string]any{"type": "choices", "value": map[string]any{"choices": []string{"blob" + strconv.Itoa(data.Y[i])}}}}},
		}})
	}
	b, _ := json.Marshal(export)
	path := filepath.Join(dir, "export.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := runCLI(t, "answer", run, path); err != nil || !strings.Contains(msg, "the round is complete") {
		t.Fatalf("answer: %v\n%s", err, msg)
	}
	if _, err := runCLI(t, "query", "--format", "xml", run); err == nil || !strings.Contains(err.Error(), "csv or labelstudio") {
		t.Fatalf("a bad format: %v", err)
	}
	plain := filepath.Join(dir, "plain.yaml")
	if err := os.WriteFile(plain, []byte(humanCLIConfig+"out: "+filepath.Join(dir, "o2")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "label", "-c", plain); err == nil || !strings.Contains(err.Error(), "oracle: {name: file}") {
		t.Fatalf("label without a human oracle: %v", err)
	}
}
