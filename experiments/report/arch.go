package report

import (
	"fmt"
	"strings"

	"github.com/alrl/alrl/experiments/stats"
)

// ArchRun is one Active-iNAS run's architectures (the "arch" field its
// learner writes into every round's info) and what the search cost.
type ArchRun struct {
	Seed   uint64
	Steps  []ArchStep  // the architecture from a label count on, one entry per change
	Rounds []ArchRound // every round
	// Trainings counts the candidate trainings over the run; SearchSeconds
	// is their wall time, FinalSeconds that of training the chosen
	// architectures on all labels.
	Trainings     int
	SearchSeconds float64
	FinalSeconds  float64
}

// ArchStep is the architecture a run used from Labels labels on.
type ArchStep struct {
	Labels int
	Arch   string
}

// ArchRound is one round's architecture and search cost.
type ArchRound struct {
	Round, Labels int
	Arch          string
	Params        int
	Trainings     int
	SearchSeconds float64
	FinalSeconds  float64
}

// archOf reads a run's architectures; false when its rounds carry none
// (not an Active-iNAS run).
func archOf(r Run) (ArchRun, bool) {
	a := ArchRun{Seed: r.Seed}
	for _, rec := range r.Records {
		name, ok := rec.Info["arch"].(string)
		if !ok {
			return ArchRun{}, false
		}
		ar := ArchRound{Round: rec.Round, Labels: rec.Labels, Arch: name,
			Params:        int(infoNum(rec.Info, "params")),
			Trainings:     int(infoNum(rec.Info, "nas_trainings")),
			SearchSeconds: infoNum(rec.Info, "nas_search_seconds"),
			FinalSeconds:  infoNum(rec.Info, "nas_final_seconds")}
		a.Rounds = append(a.Rounds, ar)
		if n := len(a.Steps); n == 0 || a.Steps[n-1].Arch != name {
			a.Steps = append(a.Steps, ArchStep{Labels: rec.Labels, Arch: name})
		}
		a.Trainings += ar.Trainings
		a.SearchSeconds += ar.SearchSeconds
		a.FinalSeconds += ar.FinalSeconds
	}
	return a, len(a.Rounds) > 0
}

// infoNum reads a number from a round's info as rounds.jsonl decodes it
// (a float64; 0 when absent).
func infoNum(m map[string]any, k string) float64 {
	v, _ := m[k].(float64)
	return v
}

// Path renders the architecture steps, e.g. "20: 1x1 w16 -> 60: 2x1 w16".
func (a ArchRun) Path() string {
	parts := make([]string, len(a.Steps))
	for i, s := range a.Steps {
		parts[i] = fmt.Sprintf("%d: %s", s.Labels, s.Arch)
	}
	return strings.Join(parts, " -> ")
}

// aggregateArchs fills a group's architecture rows and search-cost
// summaries when its runs are Active-iNAS runs.
func aggregateArchs(g *Group, level float64) {
	g.Archs = nil
	var search, final []float64
	for _, r := range g.Runs {
		a, ok := archOf(r)
		if !ok {
			continue
		}
		g.Archs = append(g.Archs, a)
		search = append(search, a.SearchSeconds)
		final = append(final, a.FinalSeconds)
	}
	g.Search = stats.Describe(search, level)
	g.FinalTrain = stats.Describe(final, level)
}

// archBlocks renders a setting's architecture table, or nothing when no
// group has Active-iNAS runs.
func archBlocks(s *Setting) []any {
	t := table{header: []string{"method", "seed", "architecture (from label count on)", "candidate trainings", "search s", "final training s", "search share"}}
	for _, g := range s.Groups {
		for _, a := range g.Archs {
			t.rows = append(t.rows, []string{g.Name, fmt.Sprint(a.Seed), a.Path(), fmt.Sprint(a.Trainings),
				f1(a.SearchSeconds), f1(a.FinalSeconds), share(a.SearchSeconds, a.FinalSeconds)})
		}
		if len(g.Archs) > 1 {
			t.rows = append(t.rows, []string{g.Name, "mean", "", "", withCI(g.Search, f1), withCI(g.FinalTrain, f1),
				share(g.Search.Mean, g.FinalTrain.Mean)})
		}
	}
	if len(t.rows) == 0 {
		return nil
	}
	return []any{heading{3, "Architectures (Active-iNAS)"}, t,
		para{"Each run's architecture (stacks x blocks per stack, first-stack width) from the label count at which it was chosen. " +
			"Search s: wall time of the round's candidate trainings (each on part of the labeled set, scored on the rest); " +
			"final training s: training the chosen architecture on all labels; search share = search / (search + final). " +
			"Train s in the table above is the sum of both for iNAS runs, so it compares directly with the fixed architectures'."}}
}

func share(search, final float64) string {
	if search+final <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*search/(search+final))
}
