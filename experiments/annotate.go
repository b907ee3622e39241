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
	return writeJSONAtomic(filepath.Join(dir, QueriesFile), q)
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
	if err := writeJSONAtomic(filepath.Join(dir, AnswersFile), ans); err != nil {
		return res, err
	}
	for idx, it := range q.Items {
		_, ok := ans.Labels[it.Index]
		q.Items[idx].Answered = ok
		if !ok {
			res.Remaining++
		}
	}
	return res, writeJSONAtomic(filepath.Join(dir, QueriesFile), q)
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
