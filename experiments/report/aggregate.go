package report

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/alrl/alrl/experiments"
	"github.com/alrl/alrl/experiments/stats"
)

// Options tune the statistics of a report.
type Options struct {
	Title    string  // report title ("" = derived from the runs)
	Level    float64 // confidence level of intervals [0.95]
	Alpha    float64 // significance level of the penalty matrix [0.05]
	Baseline string  // method the others are compared with [random when By is unset]
	// By lists the config keys (flattened, e.g. "nas" or "learner.model";
	// a key covers the keys under it) whose values make up the compared
	// methods; runs that differ elsewhere fall in different settings. nil =
	// the strategy. ByModel compares task models (learner.model and nas) and
	// names each by Config.ModelLabel.
	By      []string
	Targets []float64 // target accuracies for labels-to-target (nil = the runs' targets)
	// Saturation, when in (0, 1], restricts each setting's penalty matrix to
	// the budgets before the first at which every method's mean accuracy has
	// reached Saturation times its own final mean accuracy (0 = all budgets).
	Saturation float64

	modelNames bool // By is ByModel: groups are named by Config.ModelLabel
}

func (o Options) withDefaults() Options {
	if o.Level == 0 {
		o.Level = 0.95
	}
	if o.Alpha == 0 {
		o.Alpha = 0.05
	}
	if o.Baseline == "" && len(o.By) == 0 {
		o.Baseline = "random"
	}
	if len(o.By) == 1 && o.By[0] == ByModel {
		o.By = []string{"learner.model", "nas"}
		o.modelNames = true
	}
	return o
}

// ByModel is the By value that compares task models: Options.By =
// []string{ByModel} (alrl report --by model).
const ByModel = "model"

// methodKey reports whether a flattened config key defines the method.
func (o Options) methodKey(k string) bool {
	if len(o.By) == 0 {
		return isStrategyKey(k)
	}
	for _, p := range o.By {
		if k == p || strings.HasPrefix(k, p+".") {
			return true
		}
	}
	return false
}

func (o Options) validate() error {
	switch {
	case o.Level <= 0 || o.Level >= 1:
		return fmt.Errorf("confidence level %g is not in (0, 1)", o.Level)
	case o.Alpha <= 0 || o.Alpha >= 1:
		return fmt.Errorf("alpha %g is not in (0, 1)", o.Alpha)
	case o.Saturation < 0 || o.Saturation > 1:
		return fmt.Errorf("saturation %g is not in [0, 1]", o.Saturation)
	}
	for _, k := range o.By {
		if k == "" || k == "seeds" || k == "seed" {
			return fmt.Errorf("by: %q cannot define the compared methods; name config keys such as strategies, nas or learner.model", k)
		}
	}
	for _, t := range o.Targets {
		if t <= 0 || t > 1 {
			return fmt.Errorf("target %g is not an accuracy in (0, 1]", t)
		}
	}
	return nil
}

// Report is every aggregated number of a set of runs.
type Report struct {
	Title    string
	Options  Options
	Settings []*Setting
	Notes    []string // runs skipped, comparisons not possible
	// Builds are the commits and backends that produced the runs.
	Builds []BuildRow
	// Overall is the penalty matrix summed over settings, over OverallMethods.
	OverallMethods []string
	Overall        [][]float64
	OverallCount   int // settings that contributed
}

// Setting is a set of groups that differ only in the strategy (same data,
// model, budget...): the unit of paired comparisons.
type Setting struct {
	Label  string // the keys that distinguish it from other settings ("" with one setting)
	Groups []*Group
	Paired []PairedRow
	// Penalty is the setting's penalty matrix over Methods at Budgets.
	Methods []string
	Budgets []int
	Seeds   []uint64 // seeds common to every method, used for the matrix
	Penalty [][]float64
	// FreeVal is the largest number of free validation labels (outside the
	// budget) any of its runs used; 0 = budget-honest.
	FreeVal int
}

// Group is the runs of one config except the seed: one method in one setting.
type Group struct {
	Name   string // the strategy label, plus distinguishing options if needed
	Runs   []Run
	Seeds  []uint64
	Curve  []CurvePoint
	Final  stats.Summary // final test accuracy
	AULC   stats.Summary // normalised AULC
	Raw    stats.Summary // AULC in accuracy x labels
	Labels stats.Summary // final label count
	Train  stats.Summary // total training seconds per run
	Query  stats.Summary // total query seconds per run
	Wall   stats.Summary
	To     []TargetRow
	Stops  []StopRow
	// Archs are the Active-iNAS runs' architectures; Search and FinalTrain
	// their search and final-training seconds per run (empty for other runs).
	Archs      []ArchRun
	Search     stats.Summary
	FinalTrain stats.Summary
}

// CurvePoint is the learning curve at one label count, over the group's seeds.
type CurvePoint struct {
	Labels int
	Acc    stats.Summary
}

// TargetRow is "labels needed to reach a target accuracy" over seeds.
type TargetRow struct {
	Target  float64
	Reached int           // seeds that reached it
	Of      int           // seeds
	Labels  stats.Summary // over the seeds that reached it
}

// PairedRow compares a method with the baseline on the seeds both ran.
type PairedRow struct {
	Method, Baseline, Metric string
	Seeds                    []uint64
	T                        stats.TTest
	W                        stats.WilcoxonResult
	Err                      string // why the test could not run
}

// StopRow is one stopping criterion over a group's runs: where it fired,
// the labels it would have saved and the accuracy it would have given up.
type StopRow struct {
	Criterion string
	Fired     int // runs in which it fired
	Of        int // runs that recorded it
	// Over the runs in which it fired:
	StopLabels stats.Summary // labels at the stop
	Saved      stats.Summary // final labels - labels at the stop
	StopAcc    stats.Summary // test accuracy at the stop
	GivenUp    stats.Summary // final accuracy - accuracy at the stop (runs that went on to the budget)
	EndedEarly int           // runs that stopped there (stopping.stop), whose final accuracy is the stop's
}

// Build aggregates runs into a report.
func Build(runs []Run, opt Options) (*Report, error) {
	opt = opt.withDefaults()
	if err := opt.validate(); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	rep := &Report{Title: opt.Title, Options: opt}
	// Settings: everything but strategy and seed; groups: everything but seed.
	settingOf := map[string]*Setting{}
	var settingParams []map[string]string
	groupOf := map[string]*Group{}
	groupSetting := map[*Group]*Setting{}
	for _, r := range runs {
		sk := keyOf(r.params, func(k string) bool { return !opt.methodKey(k) })
		s := settingOf[sk]
		if s == nil {
			s = &Setting{}
			settingOf[sk] = s
			rep.Settings = append(rep.Settings, s)
			settingParams = append(settingParams, r.params)
		}
		gk := keyOf(r.params, func(string) bool { return true })
		g := groupOf[gk]
		if g == nil {
			g = &Group{}
			switch {
			case len(opt.By) == 0:
				g.Name = r.Strategy
			case opt.modelNames:
				g.Name = r.Config.ModelLabel()
			}
			groupOf[gk] = g
			groupSetting[g] = s
			s.Groups = append(s.Groups, g)
		}
		for _, o := range g.Runs {
			if o.Seed == r.Seed {
				return nil, fmt.Errorf("report: %s and %s are the same run (same config and seed); give report only one of them", o.Dir, r.Dir)
			}
		}
		g.Runs = append(g.Runs, r)
		s.FreeVal = max(s.FreeVal, r.Config.Split.FreeVal())
	}
	// Labels: settings by their varying keys, groups by strategy (+ options if needed).
	if len(rep.Settings) > 1 {
		keys := varying(settingParams, func(k string) bool { return !opt.methodKey(k) })
		for i, s := range rep.Settings {
			var parts []string
			for _, k := range keys {
				v, ok := settingParams[i][k]
				if !ok {
					v = "-"
				}
				parts = append(parts, shortKey(k)+"="+v)
			}
			s.Label = strings.Join(parts, " ")
		}
	}
	for _, s := range rep.Settings {
		nameGroups(s, opt.methodKey)
	}
	if rep.Title == "" {
		rep.Title = runs[0].Config.Name
	}
	if free := commonFreeVal(rep.Settings); free > 0 {
		rep.Title += ", " + experiments.FreeValNote(free)
	}
	targets := opt.Targets
	if targets == nil {
		seen := map[float64]bool{}
		for _, r := range runs {
			for _, t := range r.Config.Targets {
				if !seen[t] {
					seen[t] = true
					targets = append(targets, t)
				}
			}
		}
		slices.Sort(targets)
	}
	for _, s := range rep.Settings {
		for _, g := range s.Groups {
			aggregate(g, targets, opt.Level)
		}
		rep.Notes = append(rep.Notes, compare(s, opt)...)
		rep.Notes = append(rep.Notes, penalty(s, opt)...)
	}
	overall(rep)
	var notes []string
	rep.Builds, notes = builds(runs)
	rep.Notes = append(rep.Notes, notes...)
	return rep, nil
}

// shortKey writes the strategy's keys of a one-strategy run as "strategy"
// ("strategies.0.name" -> "strategy", "strategies.0.options.T" ->
// "strategy.options.T").
func shortKey(k string) string {
	if k == "strategies.0.name" {
		return "strategy"
	}
	if rest, ok := strings.CutPrefix(k, "strategies.0."); ok {
		return "strategy." + rest
	}
	return k
}

// nameGroups names a setting's groups: groups that share a name (the
// strategy label, the model label, or none yet) get the method keys in
// which they differ.
func nameGroups(s *Setting, methodKey func(string) bool) {
	by := map[string][]*Group{}
	for _, g := range s.Groups {
		by[g.Name] = append(by[g.Name], g)
	}
	for _, gs := range by {
		if len(gs) < 2 {
			continue
		}
		var ps []map[string]string
		for _, g := range gs {
			ps = append(ps, g.Runs[0].params)
		}
		keys := varying(ps, methodKey)
		for i, g := range gs {
			var parts []string
			for _, k := range keys {
				parts = append(parts, strings.TrimPrefix(k, "strategies.0.")+"="+ps[i][k])
			}
			if g.Name == "" {
				g.Name = strings.Join(parts, " ")
			} else {
				g.Name += " (" + strings.Join(parts, " ") + ")"
			}
		}
	}
	for _, g := range s.Groups {
		if g.Name == "" { // the only group of its setting under generic By keys
			g.Name = g.Runs[0].Strategy
		}
	}
	sort.SliceStable(s.Groups, func(i, j int) bool { return s.Groups[i].Name < s.Groups[j].Name })
	for _, g := range s.Groups {
		sort.Slice(g.Runs, func(i, j int) bool { return g.Runs[i].Seed < g.Runs[j].Seed })
		g.Seeds = nil
		for _, r := range g.Runs {
			g.Seeds = append(g.Seeds, r.Seed)
		}
	}
}

func aggregate(g *Group, targets []float64, level float64) {
	col := func(f func(Run) float64) stats.Summary {
		v := make([]float64, len(g.Runs))
		for i, r := range g.Runs {
			v[i] = f(r)
		}
		return stats.Describe(v, level)
	}
	g.Final = col(func(r Run) float64 { return float64(r.Summary.FinalAcc) })
	g.AULC = col(func(r Run) float64 { return float64(r.Summary.AULC) })
	g.Raw = col(func(r Run) float64 { return float64(r.Summary.AULCRaw) })
	g.Labels = col(func(r Run) float64 { return float64(r.Summary.Labels) })
	g.Train = col(func(r Run) float64 { return r.Summary.TrainSeconds })
	g.Query = col(func(r Run) float64 { return r.Summary.QuerySeconds })
	g.Wall = col(func(r Run) float64 { return r.Summary.WallSeconds })
	aggregateArchs(g, level)
	// The curve at every label count that all of the group's runs reached.
	for _, l := range commonLabels(g.Runs) {
		acc := make([]float64, len(g.Runs))
		for i, r := range g.Runs {
			acc[i] = accAt(r, l)
		}
		g.Curve = append(g.Curve, CurvePoint{Labels: l, Acc: stats.Describe(acc, level)})
	}
	for _, t := range targets {
		row := TargetRow{Target: t, Of: len(g.Runs)}
		var ls []float64
		for _, r := range g.Runs {
			labels, acc := curveOf(r)
			if n := experiments.LabelsToTarget(labels, acc, t); n >= 0 {
				ls = append(ls, float64(n))
			}
		}
		row.Reached = len(ls)
		row.Labels = stats.Describe(ls, level)
		g.To = append(g.To, row)
	}
	// Stopping criteria, in the order the first run lists them.
	var names []string
	for _, r := range g.Runs {
		for _, c := range r.Config.Stopping.Criteria {
			if !slices.Contains(names, c.Name) {
				names = append(names, c.Name)
			}
		}
	}
	for _, name := range names {
		row := StopRow{Criterion: name}
		var stopL, saved, stopAcc, givenUp []float64
		for _, r := range g.Runs {
			p, ok := r.Summary.Stops[name]
			if !ok {
				continue
			}
			row.Of++
			if p == nil {
				continue
			}
			row.Fired++
			stopL = append(stopL, float64(p.Labels))
			stopAcc = append(stopAcc, float64(p.TestAcc))
			if strings.HasPrefix(r.Summary.EndReason, experiments.StoppedBy) {
				row.EndedEarly++
				continue
			}
			saved = append(saved, float64(r.Summary.Labels-p.Labels))
			givenUp = append(givenUp, float64(r.Summary.FinalAcc-p.TestAcc))
		}
		row.StopLabels = stats.Describe(stopL, level)
		row.Saved = stats.Describe(saved, level)
		row.StopAcc = stats.Describe(stopAcc, level)
		row.GivenUp = stats.Describe(givenUp, level)
		g.Stops = append(g.Stops, row)
	}
}

func curveOf(r Run) ([]int, []float64) {
	labels := make([]int, len(r.Records))
	acc := make([]float64, len(r.Records))
	for i, rec := range r.Records {
		labels[i], acc[i] = rec.Labels, float64(rec.TestAcc)
	}
	return labels, acc
}

// accAt is a run's test accuracy at a label count (NaN if it has no such round).
func accAt(r Run, labels int) float64 {
	for _, rec := range r.Records {
		if rec.Labels == labels {
			return float64(rec.TestAcc)
		}
	}
	return math.NaN()
}

// commonLabels returns the label counts present in every run, sorted.
func commonLabels(runs []Run) []int {
	count := map[int]int{}
	for _, r := range runs {
		seen := map[int]bool{}
		for _, rec := range r.Records {
			if !seen[rec.Labels] {
				seen[rec.Labels] = true
				count[rec.Labels]++
			}
		}
	}
	var out []int
	for l, n := range count {
		if n == len(runs) {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

// pairOn returns the two groups' runs on their common seeds, in seed order.
func pairOn(a, b *Group) ([]Run, []Run, []uint64) {
	bySeed := map[uint64]Run{}
	for _, r := range b.Runs {
		bySeed[r.Seed] = r
	}
	var ra, rb []Run
	var seeds []uint64
	for _, r := range a.Runs {
		if o, ok := bySeed[r.Seed]; ok {
			ra, rb, seeds = append(ra, r), append(rb, o), append(seeds, r.Seed)
		}
	}
	return ra, rb, seeds
}

// compare tests every method against the baseline on the same seeds.
func compare(s *Setting, opt Options) []string {
	where := settingName(s)
	if opt.Baseline == "" {
		return []string{fmt.Sprintf("%s: no baseline named (alrl report --baseline METHOD), so no paired comparison", where)}
	}
	var base *Group
	for _, g := range s.Groups {
		if g.Name == opt.Baseline {
			base = g
		}
	}
	if base == nil {
		return []string{fmt.Sprintf("%s: no %s runs, so no paired comparison against it", where, opt.Baseline)}
	}
	metrics := []struct {
		name string
		f    func(Run) float64
	}{
		{"aulc", func(r Run) float64 { return float64(r.Summary.AULC) }},
		{"final_acc", func(r Run) float64 { return float64(r.Summary.FinalAcc) }},
	}
	for _, g := range s.Groups {
		if g == base {
			continue
		}
		ra, rb, seeds := pairOn(g, base)
		for _, m := range metrics {
			row := PairedRow{Method: g.Name, Baseline: base.Name, Metric: m.name, Seeds: seeds}
			a, b := make([]float64, len(ra)), make([]float64, len(rb))
			for i := range ra {
				a[i], b[i] = m.f(ra[i]), m.f(rb[i])
			}
			var err error
			if row.T, err = stats.PairedT(a, b, opt.Level); err != nil {
				row.Err = err.Error()
			}
			if row.W, err = stats.Wilcoxon(a, b); err != nil && row.Err == "" {
				row.Err = err.Error()
			}
			s.Paired = append(s.Paired, row)
		}
	}
	return nil
}

// penalty computes the setting's penalty matrix on the seeds every method ran
// and the label counts every such run reached.
func penalty(s *Setting, opt Options) []string {
	where := settingName(s)
	if len(s.Groups) < 2 {
		return nil
	}
	common := map[uint64]int{}
	for _, g := range s.Groups {
		for _, seed := range g.Seeds {
			common[seed]++
		}
	}
	for seed, n := range common {
		if n == len(s.Groups) {
			s.Seeds = append(s.Seeds, seed)
		}
	}
	slices.Sort(s.Seeds)
	if len(s.Seeds) < 2 {
		return []string{fmt.Sprintf("%s: fewer than 2 seeds shared by every method; no penalty matrix", where)}
	}
	var runs []Run
	perMethod := make([][]Run, len(s.Groups))
	for i, g := range s.Groups {
		s.Methods = append(s.Methods, g.Name)
		for _, r := range g.Runs {
			if slices.Contains(s.Seeds, r.Seed) {
				perMethod[i] = append(perMethod[i], r)
			}
		}
		runs = append(runs, perMethod[i]...)
	}
	s.Budgets = commonLabels(runs)
	if opt.Saturation > 0 {
		s.Budgets = beforeSaturation(s.Budgets, perMethod, opt.Saturation)
	}
	acc := make([][][]float64, len(s.Groups))
	for i := range perMethod {
		acc[i] = make([][]float64, len(s.Budgets))
		for b, l := range s.Budgets {
			for _, r := range perMethod[i] {
				acc[i][b] = append(acc[i][b], accAt(r, l))
			}
		}
	}
	p, err := stats.PenaltyMatrix(acc, opt.Alpha)
	if err != nil {
		return []string{fmt.Sprintf("%s: penalty matrix: %v", where, err)}
	}
	s.Penalty = p
	return nil
}

// beforeSaturation keeps the budgets up to (and including) the first at
// which every method's mean accuracy has reached frac times its final mean.
func beforeSaturation(budgets []int, perMethod [][]Run, frac float64) []int {
	if len(budgets) == 0 {
		return budgets
	}
	mean := func(runs []Run, l int) float64 {
		s := 0.0
		for _, r := range runs {
			s += accAt(r, l)
		}
		return s / float64(len(runs))
	}
	last := budgets[len(budgets)-1]
	for i, l := range budgets {
		all := true
		for _, runs := range perMethod {
			if mean(runs, l) < frac*mean(runs, last) {
				all = false
				break
			}
		}
		if all {
			return budgets[:i+1]
		}
	}
	return budgets
}

// overall sums the settings' penalty matrices over the union of method names.
func overall(rep *Report) {
	n := 0
	for _, s := range rep.Settings {
		if s.Penalty == nil {
			continue
		}
		n++
		for _, m := range s.Methods {
			if !slices.Contains(rep.OverallMethods, m) {
				rep.OverallMethods = append(rep.OverallMethods, m)
			}
		}
	}
	rep.OverallCount = n
	if n == 0 {
		return
	}
	slices.Sort(rep.OverallMethods)
	k := len(rep.OverallMethods)
	rep.Overall = make([][]float64, k)
	for i := range rep.Overall {
		rep.Overall[i] = make([]float64, k)
	}
	for _, s := range rep.Settings {
		for i, mi := range s.Methods {
			for j, mj := range s.Methods {
				if s.Penalty != nil {
					rep.Overall[slices.Index(rep.OverallMethods, mi)][slices.Index(rep.OverallMethods, mj)] += s.Penalty[i][j]
				}
			}
		}
	}
}

func settingName(s *Setting) string {
	if s.Label == "" {
		return "all runs"
	}
	return s.Label
}

// commonFreeVal is the free validation labels every setting shares (0 when
// any is budget-honest or they differ: then each setting's title says it).
func commonFreeVal(ss []*Setting) int {
	if len(ss) == 0 {
		return 0
	}
	n := ss[0].FreeVal
	for _, s := range ss[1:] {
		if s.FreeVal != n {
			return 0
		}
	}
	return n
}
