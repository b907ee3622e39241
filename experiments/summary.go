package experiments

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/internal/atomicfile"
)

// StrategyStats aggregates a strategy's runs over seeds.
type StrategyStats struct {
	Strategy               string
	Seeds                  int
	FinalMean, FinalStd    float64
	AULCMean, AULCStd      float64
	TrainSeconds, QuerySec float64
}

// Aggregate groups run summaries by strategy, in first-seen order.
func Aggregate(results []RunResult) []StrategyStats {
	var order []string
	by := map[string][]Summary{}
	for _, r := range results {
		s := r.Summary
		if _, ok := by[s.Strategy]; !ok {
			order = append(order, s.Strategy)
		}
		by[s.Strategy] = append(by[s.Strategy], s)
	}
	var out []StrategyStats
	for _, name := range order {
		ss := by[name]
		var fin, au []float64
		st := StrategyStats{Strategy: name, Seeds: len(ss)}
		for _, s := range ss {
			fin, au = append(fin, float64(s.FinalAcc)), append(au, float64(s.AULC))
			st.TrainSeconds += s.TrainSeconds / float64(len(ss))
			st.QuerySec += s.QuerySeconds / float64(len(ss))
		}
		st.FinalMean, st.FinalStd = meanStd(fin)
		st.AULCMean, st.AULCStd = meanStd(au)
		out = append(out, st)
	}
	return out
}

// WriteExperimentSummary writes summary.csv, summary.md and curves.png into
// the experiment's output folder.
func WriteExperimentSummary(cfg Config, results []RunResult) error {
	stats := Aggregate(results)
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"strategy", "seeds", "final_acc_mean", "final_acc_std", "aulc_mean", "aulc_std", "train_seconds", "query_seconds"})
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', 4, 64) }
	for _, s := range stats {
		_ = w.Write([]string{s.Strategy, strconv.Itoa(s.Seeds), f(s.FinalMean), f(s.FinalStd), f(s.AULCMean), f(s.AULCStd), f(s.TrainSeconds), f(s.QuerySec)})
	}
	w.Flush()
	if err := atomicfile.WriteBytes(filepath.Join(cfg.Out, "summary.csv"), buf.Bytes()); err != nil {
		return err
	}
	var md bytes.Buffer
	fmt.Fprintf(&md, "# %s\n\n", cfg.Split.TitleNote(cfg.Name))
	if n := cfg.Split.FreeVal(); n > 0 {
		fmt.Fprintf(&md, "These runs used %d free validation labels (split.val_counts: false): their labels are not counted in the budget or on the x axis.\n\n", n)
	} else {
		md.WriteString("Budget-honest: every label the runs saw (initial set, queries, any holdout for early stopping) is counted in the budget.\n\n")
	}
	md.WriteString("| strategy | seeds | final test accuracy | AULC (normalised) | train s | query s |\n|---|---|---|---|---|---|\n")
	for _, s := range stats {
		fmt.Fprintf(&md, "| %s | %d | %.4f ± %.4f | %.4f ± %.4f | %.1f | %.1f |\n", s.Strategy, s.Seeds, s.FinalMean, s.FinalStd, s.AULCMean, s.AULCStd, s.TrainSeconds, s.QuerySec)
	}
	md.WriteString("\n± is the sample standard deviation over seeds. Runs with the same seed share the data split and the initial labeled set.\n")
	if len(results) > 0 {
		fmt.Fprintf(&md, "\nLearner backend: %s; network: %s.\n", results[0].Summary.Backend, results[0].Summary.Learner)
	}
	if err := atomicfile.WriteBytes(filepath.Join(cfg.Out, "summary.md"), md.Bytes()); err != nil {
		return err
	}
	byStrategy := map[string][][]envs.Record{}
	var order []string
	for _, r := range results {
		recs, err := ReadRounds(r.Dir)
		if err != nil {
			return err
		}
		if _, ok := byStrategy[r.Summary.Strategy]; !ok {
			order = append(order, r.Summary.Strategy)
		}
		byStrategy[r.Summary.Strategy] = append(byStrategy[r.Summary.Strategy], recs)
	}
	var curves []Curve
	for _, name := range order {
		curves = append(curves, MeanCurve(name, byStrategy[name]))
	}
	return PlotCurves(filepath.Join(cfg.Out, "curves.png"), cfg.Split.TitleNote(cfg.Name), curves)
}
