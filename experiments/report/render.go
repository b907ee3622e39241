package report

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/alrl/alrl/experiments"
	"github.com/alrl/alrl/experiments/stats"
	"github.com/alrl/alrl/internal/atomicfile"
)

// Files lists what Write creates in the report folder.
var Files = []string{"report.md", "report.html", "summary.csv", "curves.csv", "targets.csv", "paired.csv", "penalty.csv", "stopping.csv", "architectures.csv"}

// The report as a list of blocks, rendered to Markdown and to HTML.
type (
	heading struct {
		level int
		text  string
	}
	para  struct{ text string }
	table struct {
		header []string
		rows   [][]string
	}
	figure struct {
		file     string // PNG file name next to report.md
		alt      string
		png, svg []byte
	}
)

// Write renders the report into dir: report.md (with PNG plots beside it),
// a self-contained report.html (SVG plots embedded), and CSV files of every
// aggregated number.
func Write(rep *Report, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	blocks, err := rep.blocks()
	if err != nil {
		return err
	}
	var md, page bytes.Buffer
	renderHTMLHead(&page, rep.Title)
	for _, b := range blocks {
		switch b := b.(type) {
		case heading:
			fmt.Fprintf(&md, "%s %s\n\n", strings.Repeat("#", b.level), b.text)
			fmt.Fprintf(&page, "<h%d>%s</h%d>\n", b.level, html.EscapeString(b.text), b.level)
		case para:
			fmt.Fprintf(&md, "%s\n\n", b.text)
			fmt.Fprintf(&page, "<p>%s</p>\n", html.EscapeString(b.text))
		case table:
			renderMDTable(&md, b)
			renderHTMLTable(&page, b)
		case figure:
			if err := atomicfile.WriteBytes(filepath.Join(dir, b.file), b.png); err != nil {
				return err
			}
			fmt.Fprintf(&md, "![%s](%s)\n\n", b.alt, b.file)
			fmt.Fprintf(&page, "<figure><img alt=\"%s\" src=\"data:image/svg+xml;base64,%s\"><figcaption>%s</figcaption></figure>\n",
				html.EscapeString(b.alt), base64.StdEncoding.EncodeToString(b.svg), html.EscapeString(b.alt))
		}
	}
	page.WriteString("</body>\n</html>\n")
	if err := atomicfile.WriteBytes(filepath.Join(dir, "report.md"), md.Bytes()); err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, "report.html"), page.Bytes()); err != nil {
		return err
	}
	return rep.writeCSV(dir)
}

func renderHTMLHead(w *bytes.Buffer, title string) {
	fmt.Fprintf(w, `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>%s</title>
<style>
body { font-family: sans-serif; max-width: 72em; margin: 2em auto; padding: 0 1em; color: #111; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #999; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #eee; }
figure { margin: 1em 0; }
figure img { max-width: 100%%; }
figcaption { font-size: 0.85em; color: #444; }
</style>
</head>
<body>
`, html.EscapeString(title))
}

func renderMDTable(w *bytes.Buffer, t table) {
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	row := func(cells []string) {
		w.WriteString("|")
		for _, c := range cells {
			w.WriteString(" " + esc(c) + " |")
		}
		w.WriteString("\n")
	}
	row(t.header)
	w.WriteString("|")
	for i := range t.header {
		if i == 0 {
			w.WriteString("---|")
		} else {
			w.WriteString("--:|")
		}
	}
	w.WriteString("\n")
	for _, r := range t.rows {
		row(r)
	}
	w.WriteString("\n")
}

func renderHTMLTable(w *bytes.Buffer, t table) {
	w.WriteString("<table>\n<tr>")
	for _, h := range t.header {
		fmt.Fprintf(w, "<th>%s</th>", html.EscapeString(h))
	}
	w.WriteString("</tr>\n")
	for _, r := range t.rows {
		w.WriteString("<tr>")
		for _, c := range r {
			fmt.Fprintf(w, "<td>%s</td>", html.EscapeString(c))
		}
		w.WriteString("</tr>\n")
	}
	w.WriteString("</table>\n")
}

// Number formatting: NaN (undefined) shows as "-".
func f4(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	return strconv.FormatFloat(x, 'f', 4, 64)
}

func f1(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	if math.Abs(x) < 0.05 {
		x = 0 // no "-0.0"
	}
	return strconv.FormatFloat(x, 'f', 1, 64)
}

func pval(p float64) string {
	if math.IsNaN(p) {
		return "-"
	}
	if p < 1e-4 {
		return strconv.FormatFloat(p, 'e', 1, 64)
	}
	return strconv.FormatFloat(p, 'f', 4, 64)
}

// withCI renders "mean [lo, hi]" with the given formatter.
func withCI(s stats.Summary, f func(float64) string) string {
	if s.N == 0 {
		return "-"
	}
	if s.N == 1 {
		return f(s.Mean)
	}
	return fmt.Sprintf("%s [%s, %s]", f(s.Mean), f(s.Lo), f(s.Hi))
}

func (rep *Report) blocks() ([]any, error) {
	o := rep.Options
	lv := fmt.Sprintf("%g%%", 100*o.Level)
	var out []any
	out = append(out, heading{1, rep.Title})
	nRuns := 0
	for _, s := range rep.Settings {
		for _, g := range s.Groups {
			nRuns += len(g.Runs)
		}
	}
	out = append(out, para{fmt.Sprintf("%d runs in %d setting(s). Runs are grouped by their whole resolved config except the seed; "+
		"runs with the same seed share the data split and the initial labeled set, so comparisons are paired. "+
		"Intervals are %s confidence intervals for the mean over seeds (Student's t).", nRuns, len(rep.Settings), lv)})
	for si, s := range rep.Settings {
		title := "Results"
		if s.Label != "" {
			title = "Setting: " + s.Label
		}
		plotTitle := rep.Title + " " + s.Label
		if s.FreeVal > 0 && commonFreeVal(rep.Settings) == 0 {
			note := experiments.FreeValNote(s.FreeVal)
			title, plotTitle = title+", "+note, plotTitle+", "+note
		}
		out = append(out, heading{2, title})
		if s.FreeVal > 0 {
			out = append(out, para{fmt.Sprintf("These runs used %d free validation labels (split.val_counts: false) for early stopping and model selection; "+
				"those labels are not counted in the budget or on the x axis.", s.FreeVal)})
		} else {
			out = append(out, para{"Budget-honest: every label these runs saw is counted in the budget and on the x axis."})
		}
		out = append(out, para{settingSummary(s)})
		png, svg, err := plotCurves(strings.TrimSpace(plotTitle), s.Groups, o.Level)
		if err != nil {
			return nil, err
		}
		out = append(out, figure{file: fmt.Sprintf("curves-%d.png", si+1), alt: "Learning curves: " + settingName(s) +
			fmt.Sprintf(" (mean test accuracy, shaded %s confidence band)", lv), png: png, svg: svg})

		sum := table{header: []string{"method", "seeds", "final accuracy", "AULC (normalised)", "AULC (raw)", "labels", "train s", "query s", "wall s"}}
		for _, g := range s.Groups {
			sum.rows = append(sum.rows, []string{g.Name, strconv.Itoa(len(g.Runs)), withCI(g.Final, f4), withCI(g.AULC, f4),
				withCI(g.Raw, f1), f1(g.Labels.Mean), withCI(g.Train, f1), withCI(g.Query, f1), f1(g.Wall.Mean)})
		}
		out = append(out, heading{3, "Accuracy, area under the learning curve, time"}, sum,
			para{"AULC: trapezoid rule over (labels, test accuracy); normalised = divided by the label range, i.e. the mean accuracy over the budget. Times are totals per run."})
		if ab := archBlocks(s); ab != nil {
			out = append(out, ab...)
			png, svg, err := plotArchs(strings.TrimSpace(plotTitle), s.Groups)
			if err != nil {
				return nil, err
			}
			if png != nil {
				out = append(out, figure{file: fmt.Sprintf("architectures-%d.png", si+1), alt: "Network size by label count: " + settingName(s) +
					" (trainable parameters of each run's network; one line per run)", png: png, svg: svg})
			}
		}

		if len(s.Groups) > 0 && len(s.Groups[0].To) > 0 {
			tt := table{header: []string{"method"}}
			for _, r := range s.Groups[0].To {
				tt.header = append(tt.header, fmt.Sprintf("labels to %g", r.Target))
			}
			for _, g := range s.Groups {
				row := []string{g.Name}
				for _, r := range g.To {
					row = append(row, fmt.Sprintf("%s (%d/%d)", withCI(r.Labels, f1), r.Reached, r.Of))
				}
				tt.rows = append(tt.rows, row)
			}
			out = append(out, heading{3, "Labels needed to reach a target test accuracy"}, tt,
				para{"Mean over the seeds that reached the target (how many of all seeds did is in brackets)."})
		}

		if len(s.Paired) > 0 {
			pt := table{header: []string{"method", "metric", "pairs", "mean difference [" + lv + " CI]", "t (df)", "p (t-test)", "W+ / W-", "p (Wilcoxon)"}}
			for _, r := range s.Paired {
				if r.Err != "" {
					pt.rows = append(pt.rows, []string{r.Method, r.Metric, strconv.Itoa(len(r.Seeds)), "-", "-", "-", "-", r.Err})
					continue
				}
				exact := "normal approx."
				if r.W.Exact {
					exact = "exact"
				}
				pt.rows = append(pt.rows, []string{r.Method, r.Metric, strconv.Itoa(r.T.N),
					fmt.Sprintf("%+.4f [%+.4f, %+.4f]", r.T.MeanDiff, r.T.Lo, r.T.Hi),
					fmt.Sprintf("%.3f (%d)", r.T.T, r.T.DF), pval(r.T.P),
					fmt.Sprintf("%g / %g", r.W.WPlus, r.W.WMinus), pval(r.W.P) + " (" + exact + ")"})
			}
			out = append(out, heading{3, "Paired comparison with " + s.Paired[0].Baseline}, pt,
				para{fmt.Sprintf("Difference = method - %s on the same seeds. Two-sided paired t-test; Wilcoxon signed-rank test "+
					"(zero differences dropped, ties averaged; exact p-value up to %d pairs, normal approximation beyond).", s.Paired[0].Baseline, stats.ExactMaxN)})
		}

		if s.Penalty != nil {
			out = append(out, heading{3, "Pairwise penalty matrix (Ash et al. 2020)"}, penaltyTable(s.Methods, s.Penalty),
				para{fmt.Sprintf("Entry (row i, column j): the fraction of the %d budgets (label counts %s) at which i beats j: "+
					"a two-sided paired t-test over the %d seeds all methods share has p < %g and a positive mean difference. "+
					"Last row: column means (how often a method is beaten; lower is better).%s",
					len(s.Budgets), budgetRange(s.Budgets), len(s.Seeds), o.Alpha, saturationNote(o.Saturation))})
		}

		var st table
		st.header = []string{"method", "criterion", "fired", "labels at stop", "labels saved", "accuracy at stop", "accuracy given up"}
		for _, g := range s.Groups {
			for _, r := range g.Stops {
				saved, given := withCI(r.Saved, f1), withCI(r.GivenUp, f4)
				if r.EndedEarly > 0 {
					given += fmt.Sprintf(" (%d run(s) ended there)", r.EndedEarly)
				}
				st.rows = append(st.rows, []string{g.Name, r.Criterion, fmt.Sprintf("%d/%d", r.Fired, r.Of),
					withCI(r.StopLabels, f1), saved, withCI(r.StopAcc, f4), given})
			}
		}
		if len(st.rows) > 0 {
			out = append(out, heading{3, "Stopping criteria"}, st,
				para{"Where each criterion would have stopped the run: labels saved = final labels - labels at the stop; " +
					"accuracy given up = final test accuracy - test accuracy at the stop (over the runs in which it fired and that went on to the budget)."})
		}
	}
	if rep.OverallCount > 1 {
		out = append(out, heading{2, "Penalty matrix over all settings"}, penaltyTable(rep.OverallMethods, rep.Overall),
			para{fmt.Sprintf("The settings' matrices summed, as Ash et al. do over data sets, models and batch sizes: each of the %d settings adds at most 1 to an entry.", rep.OverallCount)})
	}
	if len(rep.Builds) > 0 {
		bt := table{header: []string{"commit", "backend", "runs", "sessions"}}
		for _, b := range rep.Builds {
			bt.rows = append(bt.rows, []string{b.Commit, b.Backend, strconv.Itoa(b.Runs), strconv.Itoa(b.Sessions)})
		}
		out = append(out, heading{2, "Provenance"}, bt,
			para{"The builds whose sessions (starts and resumes, from each run's provenance.json) produced these runs."})
	}
	if len(rep.Notes) > 0 {
		out = append(out, heading{2, "Notes"})
		for _, n := range rep.Notes {
			out = append(out, para{n})
		}
	}
	return out, nil
}

func penaltyTable(methods []string, p [][]float64) table {
	t := table{header: append([]string{"row beats column"}, methods...)}
	for i, m := range methods {
		row := []string{m}
		for j := range methods {
			if i == j {
				row = append(row, "-")
			} else {
				row = append(row, fmt.Sprintf("%.2f", p[i][j]))
			}
		}
		t.rows = append(t.rows, row)
	}
	row := []string{"column mean"}
	for _, v := range stats.ColumnMeans(p) {
		row = append(row, fmt.Sprintf("%.2f", v))
	}
	t.rows = append(t.rows, row)
	return t
}

func budgetRange(b []int) string {
	if len(b) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d to %d", b[0], b[len(b)-1])
}

func saturationNote(s float64) string {
	if s == 0 {
		return ""
	}
	return fmt.Sprintf(" Budgets are cut at the first label count where every method's mean accuracy reached %g of its final mean.", s)
}

func (rep *Report) writeCSV(dir string) error {
	files := map[string][][]string{
		"summary.csv":       {{"setting", "method", "metric", "n", "mean", "sd", "ci_lo", "ci_hi"}},
		"curves.csv":        {{"setting", "method", "labels", "n", "mean", "sd", "ci_lo", "ci_hi"}},
		"targets.csv":       {{"setting", "method", "target", "reached", "seeds", "labels_mean", "labels_sd", "ci_lo", "ci_hi"}},
		"paired.csv":        {{"setting", "method", "baseline", "metric", "n", "seeds", "mean_diff", "sd", "ci_lo", "ci_hi", "t", "df", "p_t", "w_plus", "w_minus", "w", "p_wilcoxon", "exact", "error"}},
		"penalty.csv":       {{"setting", "row", "column", "value", "budgets", "seeds"}},
		"architectures.csv": {{"setting", "method", "seed", "round", "labels", "arch", "params", "nas_trainings", "nas_search_seconds", "nas_final_seconds"}},
		"stopping.csv":      {{"setting", "method", "criterion", "fired", "runs", "stop_labels_mean", "saved_mean", "saved_ci_lo", "saved_ci_hi", "stop_acc_mean", "given_up_mean", "given_up_ci_lo", "given_up_ci_hi", "ended_early"}},
	}
	g := func(x float64) string {
		if math.IsNaN(x) {
			return ""
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	sm := func(s stats.Summary) []string {
		return []string{strconv.Itoa(s.N), g(s.Mean), g(s.SD), g(s.Lo), g(s.Hi)}
	}
	add := func(f string, row ...string) { files[f] = append(files[f], row) }
	for _, s := range rep.Settings {
		sn := settingName(s)
		for _, gr := range s.Groups {
			for _, m := range []struct {
				name string
				s    stats.Summary
			}{{"final_acc", gr.Final}, {"aulc", gr.AULC}, {"aulc_raw", gr.Raw}, {"labels", gr.Labels},
				{"train_seconds", gr.Train}, {"query_seconds", gr.Query}, {"wall_seconds", gr.Wall}} {
				add("summary.csv", append([]string{sn, gr.Name, m.name}, sm(m.s)...)...)
			}
			for _, c := range gr.Curve {
				add("curves.csv", append([]string{sn, gr.Name, strconv.Itoa(c.Labels)}, sm(c.Acc)...)...)
			}
			for _, t := range gr.To {
				add("targets.csv", sn, gr.Name, g(t.Target), strconv.Itoa(t.Reached), strconv.Itoa(t.Of), g(t.Labels.Mean), g(t.Labels.SD), g(t.Labels.Lo), g(t.Labels.Hi))
			}
			for _, a := range gr.Archs {
				for _, r := range a.Rounds {
					add("architectures.csv", sn, gr.Name, strconv.FormatUint(a.Seed, 10), strconv.Itoa(r.Round), strconv.Itoa(r.Labels), r.Arch,
						strconv.Itoa(r.Params), strconv.Itoa(r.Trainings), g(r.SearchSeconds), g(r.FinalSeconds))
				}
			}
			for _, r := range gr.Stops {
				add("stopping.csv", sn, gr.Name, r.Criterion, strconv.Itoa(r.Fired), strconv.Itoa(r.Of), g(r.StopLabels.Mean), g(r.Saved.Mean), g(r.Saved.Lo), g(r.Saved.Hi),
					g(r.StopAcc.Mean), g(r.GivenUp.Mean), g(r.GivenUp.Lo), g(r.GivenUp.Hi), strconv.Itoa(r.EndedEarly))
			}
		}
		for _, r := range s.Paired {
			var seeds []string
			for _, x := range r.Seeds {
				seeds = append(seeds, strconv.FormatUint(x, 10))
			}
			add("paired.csv", sn, r.Method, r.Baseline, r.Metric, strconv.Itoa(r.T.N), strings.Join(seeds, " "), g(r.T.MeanDiff), g(r.T.SD), g(r.T.Lo), g(r.T.Hi),
				g(r.T.T), strconv.Itoa(r.T.DF), g(r.T.P), g(r.W.WPlus), g(r.W.WMinus), g(r.W.W), g(r.W.P), strconv.FormatBool(r.W.Exact), r.Err)
		}
		if s.Penalty != nil {
			addPenalty(add, sn, s.Methods, s.Penalty, budgetRange(s.Budgets), strconv.Itoa(len(s.Seeds)))
		}
	}
	if rep.OverallCount > 1 {
		addPenalty(add, "overall", rep.OverallMethods, rep.Overall, "", "")
	}
	for _, name := range Files[2:] {
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		if err := w.WriteAll(files[name]); err != nil {
			return err
		}
		if err := atomicfile.WriteBytes(filepath.Join(dir, name), buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

func addPenalty(add func(string, ...string), setting string, methods []string, p [][]float64, budgets, seeds string) {
	for i, mi := range methods {
		for j, mj := range methods {
			if i != j {
				add("penalty.csv", setting, mi, mj, strconv.FormatFloat(p[i][j], 'g', -1, 64), budgets, seeds)
			}
		}
	}
	for j, v := range stats.ColumnMeans(p) {
		add("penalty.csv", setting, "column mean", methods[j], strconv.FormatFloat(v, 'g', -1, 64), budgets, seeds)
	}
}

// settingSummary names what a setting's runs ran on (from its first run):
// the data set, the split, the learner and the loop.
func settingSummary(s *Setting) string {
	if len(s.Groups) == 0 || len(s.Groups[0].Runs) == 0 {
		return ""
	}
	r := s.Groups[0].Runs[0]
	c := r.Config
	data := c.Data.Name
	switch {
	case c.Data.Set != "":
		data += " " + c.Data.Set
	case c.Data.Path != "":
		data += " " + filepath.Base(c.Data.Path)
	case c.Data.Name == "imagefolder" && c.Data.Dir != "":
		data += " " + filepath.Base(filepath.Clean(c.Data.Dir))
	}
	size := func(n int, all string) string {
		if n == 0 {
			return all
		}
		return strconv.Itoa(n)
	}
	model := r.Summary.Learner
	if model == "" {
		model = c.Learner.Model.Name
	}
	mode := ""
	if c.Mode == experiments.ModeFast {
		mode = " (fast mode: a logistic head on frozen embeddings)"
	}
	return fmt.Sprintf("Data: %s; pool %s, test %s, validation %d. Learner: %s%s. Loop: initial set %d (%s), %d per round, budget %d.",
		data, size(c.Split.Pool, "all training rows not in test or validation"), size(c.Split.Test, "the default share"), c.Split.Val,
		model, mode, c.AL.InitSize, c.AL.InitMode, c.AL.K, c.AL.Budget)
}
