package app

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/experiments"
)

// TestHumanOracleThroughTheCLI: train stops at each round with a human
// oracle; alrl query lists the samples, alrl answer records a person's
// labels from a file, train --resume goes on, until the run finishes.
func TestHumanOracleThroughTheCLI(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	cfg := filepath.Join(dir, "human.yaml")
	body := humanCLIConfig + "oracle: {name: file}\nout: " + out + "\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := datasets.Load(datasets.Source{Name: "blobs", N: 300, Classes: 3, Dim: 2}, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(out, "margin", "seed-1")
	for round := 0; ; round++ {
		_, err := runCLI(t, "train", "-c", cfg, "--resume")
		if err == nil {
			break
		}
		var w *experiments.WaitingForLabelsError
		if !errors.As(err, &w) || w.Round != round || !strings.Contains(err.Error(), "alrl answer") {
			t.Fatalf("round %d: %v", round, err)
		}
		list, err := runCLI(t, "query", run)
		if err != nil || !strings.Contains(list, "index,label") {
			t.Fatalf("query: %v\n%s", err, list)
		}
		// The person fills in the label column of alrl query's output.
		var filled []string
		for _, line := range strings.Split(list, "\n") {
			idx, _, ok := strings.Cut(line, ",")
			i, err := strconv.Atoi(idx)
			if !ok || err != nil {
				filled = append(filled, line)
				continue
			}
			filled = append(filled, idx+","+strconv.Itoa(data.Y[i]))
		}
		ans := filepath.Join(dir, "answers.csv")
		if err := os.WriteFile(ans, []byte(strings.Join(filled, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		msg, err := runCLI(t, "answer", run, ans)
		if err != nil || !strings.Contains(msg, "the round is complete") {
			t.Fatalf("answer: %v\n%s", err, msg)
		}
		if round > 5 {
			t.Fatal("the run keeps waiting")
		}
	}
	s, err := experiments.ReadSummary(run)
	if err != nil || s.Labels != 12 {
		t.Fatalf("summary %+v (%v)", s, err)
	}
	if _, err := runCLI(t, "query", run); err == nil {
		t.Fatal("query on a finished run succeeded")
	}
}

func TestListAgents(t *testing.T) {
	out, err := runCLI(t, "list", "agents")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"pg", "dqn", "bandit", "imitation"} {
		if !strings.Contains("\n"+out, "\n"+k+" ") {
			t.Errorf("list agents lacks %s:\n%s", k, out)
		}
	}
}
