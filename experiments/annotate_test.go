package experiments

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/alrl/alrl/datasets"
)

// TestHumanOracleMatchesSimulation: a run whose labels come from a person
// (here: answers with the true labels, round by round, through Answer and
// resume) gives exactly the rounds of the simulated run on the same seed.
func TestHumanOracleMatchesSimulation(t *testing.T) {
	sim := runTestConfig(t)
	sim.Seeds = []uint64{4}
	sim.Strategies = sim.Strategies[:1]
	sim.AL.InitMode = "random"
	simRes, err := Run(context.Background(), sim, Options{})
	if err != nil {
		t.Fatal(err)
	}
	human := sim
	human.Out = t.TempDir()
	human.Oracle = &OracleConfig{Name: OracleFile}
	data, err := datasets.Load(human.Data, "", 4)
	if err != nil {
		t.Fatal(err)
	}
	dir := RunDir(human.Out, human.Strategies[0], 4)
	rounds := 0
	for {
		_, err := Run(context.Background(), human, Options{Resume: true})
		if err == nil {
			break
		}
		var w *WaitingForLabelsError
		if !errors.As(err, &w) {
			t.Fatal(err)
		}
		if rounds++; rounds > 10 {
			t.Fatal("the run keeps waiting")
		}
		q, err := ReadQueries(dir)
		if err != nil || q.Round != w.Round || len(q.Items) == 0 {
			t.Fatalf("queries %+v (%v) for %v", q, err, w)
		}
		// The person answers in two batches, the first by class index, the
		// second by class name; a wrong answer is corrected later.
		var lines []string
		for _, it := range q.Items {
			lines = append(lines, strconv.Itoa(it.Index)+","+strconv.Itoa(data.Y[it.Index]))
		}
		half := len(lines) / 2
		first, _ := ParseAnswerLines("index,label\n" + strings.Join(lines[:half], "\n"))
		first[q.Items[0].Index] = strconv.Itoa((data.Y[q.Items[0].Index] + 1) % data.NumClasses)
		if _, err := Answer(dir, first); err != nil {
			t.Fatal(err)
		}
		if _, err := Run(context.Background(), human, Options{Resume: true}); !errors.As(err, &w) {
			t.Fatalf("a half-answered round ran: %v", err)
		}
		rest := map[int]string{q.Items[0].Index: q.Classes[data.Y[q.Items[0].Index]]}
		for _, it := range q.Items[half:] {
			rest[it.Index] = q.Classes[data.Y[it.Index]]
		}
		r, err := Answer(dir, rest)
		if err != nil || r.Remaining != 0 || len(r.Replaced) != 1 {
			t.Fatalf("answer: %+v %v", r, err)
		}
	}
	if rounds != len(readRounds(t, simRes[0].Dir)) {
		t.Fatalf("the person answered %d rounds, the run has %d", rounds, len(readRounds(t, simRes[0].Dir)))
	}
	a, b := readRounds(t, simRes[0].Dir), readRounds(t, dir)
	for i := range a {
		if !slices.Equal(a[i].Chosen, b[i].Chosen) || a[i].TestAcc != b[i].TestAcc || a[i].Labels != b[i].Labels {
			t.Fatalf("round %d: simulated %+v, human %+v", i, a[i], b[i])
		}
	}
	if _, err := os.Stat(filepath.Join(dir, QueriesFile)); !os.IsNotExist(err) {
		t.Errorf("queries.json left after the run finished: %v", err)
	}
}

func TestAnswerRejectsBadAnswers(t *testing.T) {
	cfg := runTestConfig(t)
	cfg.Seeds, cfg.Strategies = []uint64{1}, cfg.Strategies[:1]
	cfg.AL.InitMode = "random"
	cfg.Oracle = &OracleConfig{Name: OracleFile}
	_, err := Run(context.Background(), cfg, Options{})
	var w *WaitingForLabelsError
	if !errors.As(err, &w) {
		t.Fatalf("first run: %v", err)
	}
	q, _ := ReadQueries(w.Dir)
	for name, ans := range map[string]map[int]string{
		"not queried":   {999999: "0"},
		"unknown class": {q.Items[0].Index: "zebra"},
		"class range":   {q.Items[0].Index: "7"},
	} {
		if _, err := Answer(w.Dir, ans); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if a, _ := ReadAnswers(w.Dir); len(a.Labels) != 0 {
		t.Fatalf("a rejected answer was written: %v", a.Labels)
	}
	if got, err := ParseAnswerLines("index,label\n# round 1\n3,a  # img/3.png\n4,  # not yet\n"); err != nil || len(got) != 1 || got[3] != "a" {
		t.Errorf("alrl query's format: %v %v", got, err)
	}
	if _, err := ParseAnswerLines("3,a\n3,b\n"); err == nil {
		t.Error("contradicting lines were accepted")
	}
	bad := cfg
	bad.AL.InitMode = "balanced"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "balanced") {
		t.Errorf("balanced initial set with a human oracle: %v", err)
	}
}

// TestLabelStudio: the tasks alrl query writes carry the pool index, and
// Label Studio's exports of them read back to the answers.
func TestLabelStudio(t *testing.T) {
	q := Queries{Round: 1, Classes: []string{"cat", "dog"}, Items: []Query{{Index: 7, Source: "img/a.png"}, {Index: 9, Source: "row 9"}}}
	b, err := LabelStudioTasks(q)
	if err != nil {
		t.Fatal(err)
	}
	var tasks []struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(b, &tasks); err != nil || len(tasks) != 2 || tasks[0].Data["index"] != 7.0 || tasks[0].Data["image"] != "img/a.png" || tasks[1].Data["source"] != "row 9" {
		t.Fatalf("tasks %s (%v)", b, err)
	}
	full := `[
 {"id": 1, "data": {"index": 7, "image": "img/a.png"}, "annotations": [
   {"was_cancelled": false, "result": [{"type": "choices", "value": {"choices": ["dog"]}}]},
   {"was_cancelled": false, "result": [{"type": "choices", "value": {"choices": ["cat"]}}]},
   {"was_cancelled": true, "result": [{"type": "choices", "value": {"choices": ["dog"]}}]}]},
 {"id": 2, "data": {"index": 9, "source": "row 9"}, "annotations": []}
]`
	tests := []struct {
		name    string
		in      string
		want    map[int]string
		wantErr string
	}{
		{"full export, last annotation not cancelled", full, map[int]string{7: "cat"}, ""},
		{"json-min", `[{"index": 7, "image": "img/a.png", "label": "dog"}, {"index": 9, "choices": ["cat", "dog"]}]`, map[int]string{7: "dog", 9: "cat"}, ""},
		{"no index", `[{"data": {"image": "x.png"}, "annotations": []}]`, nil, "no index"},
		{"string index", `[{"index": "7", "label": "dog"}]`, nil, "not an integer"},
		{"not an array", `{"index": 7}`, nil, "not a Label Studio JSON export"},
		{"contradiction", `[{"index": 7, "label": "dog"}, {"index": 7, "label": "cat"}]`, nil, "answered twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAnswers([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !maps.Equal(got, tc.want) {
				t.Fatalf("got %v (%v), want %v", got, err, tc.want)
			}
		})
	}
	if got, err := ParseAnswers([]byte("index,label\n7,cat\n")); err != nil || got[7] != "cat" {
		t.Fatalf("lines: %v %v", got, err)
	}
}
