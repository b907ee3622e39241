package report

import (
	"fmt"
	"sort"
	"strings"
)

// BuildRow is one build (commit and backend) that worked on the report's runs.
type BuildRow struct {
	Commit   string // VCS revision, shortened; "unknown ..." when not recorded
	Backend  string // backend runtime versions, e.g. "libtorch 1.13.0"
	Runs     int    // runs with at least one session of this build
	Sessions int    // sessions (starts and resumes) of this build
}

// noProvenance names the build of runs without provenance.json.
const noProvenance = "unknown (no provenance.json)"

// builds lists the builds that produced the runs, most runs first, and a note
// when more than one did or when runs were resumed under another build.
func builds(runs []Run) ([]BuildRow, []string) {
	type key struct{ commit, backend string }
	rows := map[key]*BuildRow{}
	var order []key
	row := func(k key) *BuildRow {
		if rows[k] == nil {
			rows[k] = &BuildRow{Commit: k.commit, Backend: k.backend}
			order = append(order, k)
		}
		return rows[k]
	}
	mixed := 0
	for _, r := range runs {
		if len(r.Provenance.Sessions) == 0 {
			row(key{commit: noProvenance}).Runs++
			continue
		}
		seen := map[key]bool{}
		for _, s := range r.Provenance.Sessions {
			k := key{commit: shortCommit(s.Commit), backend: backendString(s.Backend)}
			b := row(k)
			b.Sessions++
			if !seen[k] {
				seen[k] = true
				b.Runs++
			}
		}
		if len(seen) > 1 {
			mixed++
		}
	}
	out := make([]BuildRow, 0, len(order))
	for _, k := range order {
		out = append(out, *rows[k])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Runs > out[j].Runs })
	var notes []string
	if len(out) > 1 {
		names := make([]string, len(out))
		for i, b := range out {
			names[i] = b.Commit
			if b.Backend != "" {
				names[i] += " (" + b.Backend + ")"
			}
		}
		notes = append(notes, fmt.Sprintf("The runs come from %d builds: %s (see Provenance). Numbers from different builds are comparable only where "+
			"the changes between them leave training, acquisition and evaluation as they were; check the log between the commits, "+
			"or rerun the runs of the older build.", len(out), strings.Join(names, ", ")))
	}
	if mixed > 0 {
		notes = append(notes, fmt.Sprintf("%d run(s) were resumed under another build than the one that started them (provenance.json lists each session).", mixed))
	}
	return out, notes
}

// shortCommit keeps 12 hex digits of a revision and its "-dirty" mark.
func shortCommit(c string) string {
	if c == "" {
		return "unknown"
	}
	rev, dirty := strings.CutSuffix(c, "-dirty")
	if len(rev) == 40 && !strings.ContainsFunc(rev, func(r rune) bool { return !strings.ContainsRune("0123456789abcdef", r) }) {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// backendString writes backend versions as "name version", sorted by name.
func backendString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + m[k]
	}
	return strings.Join(parts, ", ")
}
