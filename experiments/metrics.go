package experiments

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/alrl/alrl/envs"
)

// Summary is a run's final numbers, written to summary.json.
type Summary struct {
	Strategy     string          `json:"strategy"`
	Seed         uint64          `json:"seed"`
	Rounds       int             `json:"rounds"`
	Labels       int             `json:"labels"`
	FinalAcc     envs.Float      `json:"final_acc"`
	FinalLoss    envs.Float      `json:"final_loss"`
	AULC         envs.Float      `json:"aulc"`             // normalised: mean test accuracy over the label range (trapezoid)
	AULCRaw      envs.Float      `json:"aulc_raw"`         // area in accuracy x labels
	LabelsTo     map[string]*int `json:"labels_to_target"` // first label count reaching each target accuracy (null = never)
	TrainSeconds float64         `json:"train_seconds"`
	QuerySeconds float64         `json:"query_seconds"`
	WallSeconds  float64         `json:"wall_seconds"`
	EndReason    string          `json:"end_reason"`
	Learner      string          `json:"learner"`           // the learner's one-line description, starting with its backend
	Backend      string          `json:"backend"`           // learner backend that ran it (torch, gorgonia, ...)
	Trainer      string          `json:"trainer,omitempty"` // the round trainer (supervised, ceal, ssal, ...)
	// FreeValLabels is the number of labeled validation samples the run used
	// outside its budget (split.val_counts: false); 0 = none. Protocol says
	// it in words: "budget-honest" or "plus N free validation labels".
	FreeValLabels int    `json:"free_val_labels"`
	Protocol      string `json:"protocol"`
	// Stops is where each configured stopping criterion fired (null = never).
	Stops map[string]*StopPoint `json:"stops,omitempty"`
	Extra map[string]string     `json:"extra,omitempty"`
}

// AULC returns the area under the learning curve (accuracy against labels,
// trapezoid rule) and the same divided by the label range, i.e. the mean
// accuracy over the budget. A single point gives its accuracy for both.
func AULC(labels []int, acc []float64) (raw, normalised float64) {
	if len(labels) == 0 {
		return math.NaN(), math.NaN()
	}
	if len(labels) == 1 {
		return acc[0], acc[0]
	}
	for i := 1; i < len(labels); i++ {
		raw += float64(labels[i]-labels[i-1]) * (acc[i] + acc[i-1]) / 2
	}
	span := float64(labels[len(labels)-1] - labels[0])
	if span == 0 {
		return raw, acc[len(acc)-1]
	}
	return raw, raw / span
}

// LabelsToTarget returns the first label count at which acc reaches target, or -1.
func LabelsToTarget(labels []int, acc []float64, target float64) int {
	for i, a := range acc {
		if a >= target {
			return labels[i]
		}
	}
	return -1
}

// Summarize computes a run's summary from its round records.
func Summarize(records []envs.Record, targets []float64) Summary {
	var s Summary
	labels := make([]int, len(records))
	acc := make([]float64, len(records))
	for i, r := range records {
		labels[i], acc[i] = r.Labels, float64(r.TestAcc)
		s.TrainSeconds += r.TrainSeconds
		s.QuerySeconds += r.QuerySeconds
	}
	if len(records) > 0 {
		last := records[len(records)-1]
		s.Rounds, s.Labels = last.Round, last.Labels
		s.FinalAcc, s.FinalLoss = last.TestAcc, last.TestLoss
	}
	raw, norm := AULC(labels, acc)
	s.AULCRaw, s.AULC = envs.Float(raw), envs.Float(norm)
	s.LabelsTo = map[string]*int{}
	for _, t := range targets {
		n := LabelsToTarget(labels, acc, t)
		key := fmt.Sprintf("%g", t)
		if n < 0 {
			s.LabelsTo[key] = nil
		} else {
			s.LabelsTo[key] = &n
		}
	}
	return s
}

// ReadSummary reads a finished run's summary.json.
func ReadSummary(dir string) (Summary, error) {
	var s Summary
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s/summary.json is corrupt: %w", dir, err)
	}
	return s, nil
}

// ReadRounds reads a run's rounds.jsonl.
func ReadRounds(dir string) ([]envs.Record, error) {
	b, err := os.ReadFile(filepath.Join(dir, "rounds.jsonl"))
	if err != nil {
		return nil, err
	}
	var out []envs.Record
	for i, line := range splitLines(b) {
		var r envs.Record
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("%s/rounds.jsonl line %d: %w", dir, i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	start := 0
	for i, c := range b {
		if c == '\n' {
			if i > start {
				out = append(out, b[start:i])
			}
			start = i + 1
		}
	}
	if start < len(b) {
		out = append(out, b[start:])
	}
	return out
}

// meanStd returns the mean and sample standard deviation.
func meanStd(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	m := 0.0
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	if len(xs) == 1 {
		return m, 0
	}
	v := 0.0
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	return m, math.Sqrt(v / float64(len(xs)-1))
}
