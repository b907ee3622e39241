package experiments

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/internal/atomicfile"
)

// The files of a run with a human oracle (oracle: file).
const (
	QueriesFile = "queries.json" // the round's queried pool indices, while they wait for labels
	AnswersFile = "answers.json" // every label a person gave, by pool index
)

// Query is one queried sample as a person sees it.
type Query struct {
	Index    int    `json:"index"`            // pool index (row of the data set)
	Source   string `json:"source,omitempty"` // the file it came from (imagefolder) or the data row
	Answered bool   `json:"answered"`
}

// Queries is a run's queries.json: the round waiting for labels.
type Queries struct {
	Round   int      `json:"round"` // 0 = the initial set
	Classes []string `json:"classes"`
	Items   []Query  `json:"items"`
}

// Answers is a run's answers.json: labels (class indices) by pool index.
type Answers struct {
	Labels map[int]int `json:"labels"`
}

// Answer implements envs.Annotator.
func (a *Answers) Answer(i int) (int, bool) {
	y, ok := a.Labels[i]
	return y, ok
}

// ReadAnswers reads dir/answers.json (none yet: empty).
func ReadAnswers(dir string) (*Answers, error) {
	a := &Answers{Labels: map[int]int{}}
	b, err := os.ReadFile(filepath.Join(dir, AnswersFile))
	if errors.Is(err, os.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, a); err != nil {
		return nil, fmt.Errorf("%s/%s is corrupt (%v); fix or delete it and answer again", dir, AnswersFile, err)
	}
	if a.Labels == nil {
		a.Labels = map[int]int{}
	}
	return a, nil
}

// ReadQueries reads dir/queries.json.
func ReadQueries(dir string) (Queries, error) {
	var q Queries
	b, err := os.ReadFile(filepath.Join(dir, QueriesFile))
	if errors.Is(err, os.ErrNotExist) {
		return q, fmt.Errorf("%s has no %s: the run is not waiting for labels (start it with alrl train, or it has finished)", dir, QueriesFile)
	}
	if err != nil {
		return q, err
	}
	if err := json.Unmarshal(b, &q); err != nil {
		return q, fmt.Errorf("%s/%s is corrupt: %v", dir, QueriesFile, err)
	}
	return q, nil
}

// classNames are the labels a person answers with.
func classNames(d *datasets.Dataset) []string {
	if len(d.ClassNames) == d.NumClasses {
		return append([]string(nil), d.ClassNames...)
	}
	out := make([]string, d.NumClasses)
	for i := range out {
		out[i] = strconv.Itoa(i)
	}
	return out
}

// writeQueries records the round that waits for labels.
func writeQueries(dir string, w *envs.AwaitingLabelsError, d *datasets.Dataset, ans *Answers) error {
	q := Queries{Round: w.Round, Classes: classNames(d)}
	for _, i := range w.Indices {
		src := fmt.Sprintf("row %d", i)
		if i < len(d.Paths) {
			src = d.Paths[i]
		}
		_, ok := ans.Answer(i)
		q.Items = append(q.Items, Query{Index: i, Source: src, Answered: ok})
	}
	return atomicfile.WriteJSON(filepath.Join(dir, QueriesFile), q)
}

// WaitingForLabelsError is what a run with a human oracle returns when a
// round needs labels: its queries are in Dir/queries.json.
type WaitingForLabelsError struct {
	Dir     string
	Round   int
	Missing int
}

func (e *WaitingForLabelsError) Error() string {
	return fmt.Sprintf("round %d waits for %d labels: list them with `alrl query %s`, answer with `alrl answer %s FILE` (lines of index,label), then continue with `alrl train --resume`", e.Round, e.Missing, e.Dir, e.Dir)
}

// AnswerResult says what Answer did.
type AnswerResult struct {
	Applied   int      // answers recorded
	Replaced  []string // "index: old -> new" for answers that overwrote earlier ones (last write wins)
	Remaining int      // queried indices of the round still without an answer
}

// Answer records labels for the queried indices of the run in dir: each
// label is a class name of the run's queries.json, or a class index. An
// index that was not queried, or an unknown label, is an error and nothing
// is written. answers.json is replaced atomically.
func Answer(dir string, labels map[int]string) (AnswerResult, error) {
	var res AnswerResult
	q, err := ReadQueries(dir)
	if err != nil {
		return res, err
	}
	queried := map[int]bool{}
	for _, it := range q.Items {
		queried[it.Index] = true
	}
	ans, err := ReadAnswers(dir)
	if err != nil {
		return res, err
	}
	keys := make([]int, 0, len(labels))
	for i := range labels {
		keys = append(keys, i)
	}
	sort.Ints(keys)
	parsed := map[int]int{}
	for _, i := range keys {
		l := strings.TrimSpace(labels[i])
		if !queried[i] {
			return res, fmt.Errorf("pool index %d was not queried in round %d (queried: see `alrl query %s`)", i, q.Round, dir)
		}
		c := slices.Index(q.Classes, l)
		if c < 0 {
			n, err := strconv.Atoi(l)
			if err != nil || n < 0 || n >= len(q.Classes) {
				return res, fmt.Errorf("pool index %d: label %q is not a class (one of %s, or 0..%d)", i, l, strings.Join(q.Classes, ", "), len(q.Classes)-1)
			}
			c = n
		}
		parsed[i] = c
	}
	for _, i := range keys {
		c := parsed[i]
		if old, ok := ans.Labels[i]; ok && old != c {
			res.Replaced = append(res.Replaced, fmt.Sprintf("%d: %s -> %s", i, q.Classes[old], q.Classes[c]))
		}
		ans.Labels[i] = c
		res.Applied++
	}
	if err := atomicfile.WriteJSON(filepath.Join(dir, AnswersFile), ans); err != nil {
		return res, err
	}
	for idx, it := range q.Items {
		_, ok := ans.Labels[it.Index]
		q.Items[idx].Answered = ok
		if !ok {
			res.Remaining++
		}
	}
	return res, atomicfile.WriteJSON(filepath.Join(dir, QueriesFile), q)
}

// ParseAnswerLines reads "index,label" lines, such as alrl query prints and
// a person fills in: a header line "index,label", blank lines, # comments
// (whole lines or after the label) and lines still without a label are
// skipped.
func ParseAnswerLines(text string) (map[int]string, error) {
	out := map[int]string{}
	for n, line := range strings.Split(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.EqualFold(strings.ReplaceAll(line, " ", ""), "index,label") {
			continue
		}
		a, b, ok := strings.Cut(line, ",")
		if !ok {
			return nil, fmt.Errorf("line %d: %q is not index,label", n+1, line)
		}
		if strings.TrimSpace(b) == "" {
			continue // not answered yet
		}
		i, err := strconv.Atoi(strings.TrimSpace(a))
		if err != nil {
			return nil, fmt.Errorf("line %d: %q is not a pool index", n+1, a)
		}
		if prev, dup := out[i]; dup && prev != strings.TrimSpace(b) {
			return nil, fmt.Errorf("line %d: pool index %d is answered twice, differently (%q and %q)", n+1, i, prev, strings.TrimSpace(b))
		}
		out[i] = strings.TrimSpace(b)
	}
	return out, nil
}

// LabelStudioTasks returns the round's queries as Label Studio tasks to
// import (a JSON array): each task's data holds the pool index, which the
// export carries back to ParseLabelStudio, and the sample's file or row
// (as "image" for image files, else "source").
func LabelStudioTasks(q Queries) ([]byte, error) {
	tasks := make([]map[string]any, 0, len(q.Items))
	for _, it := range q.Items {
		data := map[string]any{"index": it.Index}
		switch strings.ToLower(filepath.Ext(it.Source)) {
		case ".png", ".jpg", ".jpeg", ".gif":
			data["image"] = it.Source
		default:
			data["source"] = it.Source
		}
		tasks = append(tasks, map[string]any{"data": data})
	}
	return json.MarshalIndent(tasks, "", "  ")
}

// ParseLabelStudio reads a Label Studio export of tasks made by
// LabelStudioTasks: the JSON export (each task's data.index and its last
// annotation that was not cancelled, the first choice of its result) or the
// JSON-MIN export (objects with index and a label, choice or choices field).
// Tasks without an answer are skipped.
func ParseLabelStudio(b []byte) (map[int]string, error) {
	var tasks []map[string]json.RawMessage
	if err := json.Unmarshal(b, &tasks); err != nil {
		return nil, fmt.Errorf("not a Label Studio JSON export (a JSON array of tasks): %v", err)
	}
	out := map[int]string{}
	for n, task := range tasks {
		var idx *int
		var label string
		if raw, ok := task["data"]; ok { // the full JSON export
			var data struct {
				Index *int `json:"index"`
			}
			if err := json.Unmarshal(raw, &data); err != nil {
				return nil, fmt.Errorf("task %d: data: %v", n+1, err)
			}
			idx = data.Index
			var anns []struct {
				Cancelled bool `json:"was_cancelled"`
				Result    []struct {
					Value struct {
						Choices []string `json:"choices"`
					} `json:"value"`
				} `json:"result"`
			}
			if raw, ok := task["annotations"]; ok {
				if err := json.Unmarshal(raw, &anns); err != nil {
					return nil, fmt.Errorf("task %d: annotations: %v", n+1, err)
				}
			}
			for _, a := range anns {
				if !a.Cancelled && len(a.Result) > 0 && len(a.Result[0].Value.Choices) > 0 {
					label = a.Result[0].Value.Choices[0]
				}
			}
		} else { // JSON-MIN
			if raw, ok := task["index"]; ok {
				var i int
				if err := json.Unmarshal(raw, &i); err != nil {
					return nil, fmt.Errorf("task %d: index is not an integer: %s", n+1, raw)
				}
				idx = &i
			}
			for _, key := range []string{"label", "choice", "choices"} {
				raw, ok := task[key]
				if !ok {
					continue
				}
				var one string
				var many []string
				if json.Unmarshal(raw, &one) == nil {
					label = one
				} else if json.Unmarshal(raw, &many) == nil && len(many) > 0 {
					label = many[0]
				}
			}
		}
		if idx == nil {
			return nil, fmt.Errorf("task %d has no index in its data: import the tasks that `alrl query --format labelstudio` writes", n+1)
		}
		if label = strings.TrimSpace(label); label == "" {
			continue
		}
		if prev, dup := out[*idx]; dup && prev != label {
			return nil, fmt.Errorf("task %d: pool index %d is answered twice, differently (%q and %q)", n+1, *idx, prev, label)
		}
		out[*idx] = label
	}
	return out, nil
}

// ParseAnswers reads a person's answers in either format: a Label Studio
// JSON export (the text starts with '[' or '{') or index,label lines.
func ParseAnswers(b []byte) (map[int]string, error) {
	if t := strings.TrimSpace(string(b)); strings.HasPrefix(t, "[") || strings.HasPrefix(t, "{") {
		return ParseLabelStudio(b)
	}
	return ParseAnswerLines(string(b))
}
