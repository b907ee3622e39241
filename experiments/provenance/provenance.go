// Package provenance records, in a run's provenance.json, the software and
// machine of every process that worked on the run (one Session per start or
// resume), and names what differs between two of them.
package provenance

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/alrl/alrl/internal/atomicfile"
	"github.com/alrl/alrl/learner"
)

// File is what a run records about the software and machine that
// produced it, in provenance.json: one Session per start or resume.
type File struct {
	Sessions []Session `json:"sessions"`
}

// Session describes one process that worked on a run.
type Session struct {
	Started    time.Time         `json:"started"`
	Resumed    bool              `json:"resumed"`      // continued from a checkpoint
	FromRound  int               `json:"from_round"`   // first round this session computed
	Version    string            `json:"alrl_version"` // alrl's version
	Commit     string            `json:"commit"`       // VCS revision the binary was built from ("-dirty" when modified)
	GoVersion  string            `json:"go_version"`
	Modules    map[string]string `json:"modules"` // versions of key dependencies (gotch, gonum, ...)
	Backend    map[string]string `json:"backend"` // backend runtime versions (e.g. libtorch)
	Learner    string            `json:"learner"` // the learner's description
	Threads    int               `json:"threads"` // intra-op threads the learner was given
	GOMAXPROCS int               `json:"gomaxprocs"`
	NumCPU     int               `json:"num_cpu"`
	Host       string            `json:"host"`
	OS         string            `json:"os"` // GOOS/GOARCH
	CPU        string            `json:"cpu"`
	// CPUFlags are the vector-instruction flags of /proc/cpuinfo that decide
	// which kernels oneDNN, OpenBLAS and gonum pick (and so the last bits of
	// reductions); Microcode is the CPU's microcode revision.
	CPUFlags  string `json:"cpu_flags,omitempty"`
	Microcode string `json:"microcode,omitempty"`
}

// keyModules are the dependencies whose versions matter for reproducing numbers.
var keyModules = []string{"github.com/sugarme/gotch", "gonum.org/v1/gonum", "gonum.org/v1/plot"}

// New describes this process.
func New(version, commit, learnerDesc string, threads int) Session {
	s := Session{
		Started: time.Now().UTC(), Version: version, GoVersion: runtime.Version(),
		Modules: map[string]string{}, Backend: learner.Info(), Learner: learnerDesc, Threads: threads,
		GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		CPU: cpuModel(),
	}
	s.CPUFlags, s.Microcode = cpuFlags()
	s.Host, _ = os.Hostname()
	if bi, ok := debug.ReadBuildInfo(); ok {
		if s.Version == "" {
			s.Version = bi.Main.Version
		}
		var rev, dirty string
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				rev = kv.Value
			case "vcs.modified":
				if kv.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if rev != "" {
			s.Commit = rev + dirty
		}
		for _, d := range bi.Deps {
			for _, k := range keyModules {
				if d.Path == k {
					s.Modules[k] = d.Version
				}
			}
		}
	}
	if commit != "" {
		s.Commit = commit
	}
	if s.Commit == "" {
		s.Commit = "unknown (built without VCS information: go test, go run, or GOFLAGS=-buildvcs=false; make build sets it)"
	}
	return s
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// simdFlags are the /proc/cpuinfo flags that change which numeric kernels run.
var simdFlags = []string{"sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512dq", "avx512bw", "avx512vl",
	"avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve"}

// cpuFlags returns the first CPU's vector-instruction flags (in simdFlags
// order) and its microcode revision.
func cpuFlags() (flags, microcode string) {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "", ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	have := map[string]bool{}
	seenFlags := false
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "flags", "Features":
			if !seenFlags {
				for _, fl := range strings.Fields(v) {
					have[fl] = true
				}
				seenFlags = true
			}
		case "microcode":
			if microcode == "" {
				microcode = strings.TrimSpace(v)
			}
		}
	}
	var out []string
	for _, fl := range simdFlags {
		if have[fl] {
			out = append(out, fl)
		}
	}
	return strings.Join(out, " "), microcode
}

// Read reads a run's provenance.json.
func Read(dir string) (File, error) {
	var p File
	b, err := os.ReadFile(filepath.Join(dir, "provenance.json"))
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%s/provenance.json is corrupt: %w", dir, err)
	}
	return p, nil
}

// Append adds s to the run's provenance.json (written atomically).
func Append(dir string, s Session) error {
	p, err := Read(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	p.Sessions = append(p.Sessions, s)
	return atomicfile.WriteJSON(filepath.Join(dir, "provenance.json"), p)
}

// Diffs names each recorded item that differs between the session a run
// was made in (a) and another (b), as "item: then, now" lines.
func Diffs(a, b Session) []string {
	var d []string
	cmp := func(name, x, y string) {
		if x != y {
			d = append(d, fmt.Sprintf("%s: %q then, %q now", name, x, y))
		}
	}
	cmp("alrl version", a.Version, b.Version)
	cmp("commit", a.Commit, b.Commit)
	cmp("Go", a.GoVersion, b.GoVersion)
	for _, k := range sortedKeys(a.Modules, b.Modules) {
		cmp(k, a.Modules[k], b.Modules[k])
	}
	for _, k := range sortedKeys(a.Backend, b.Backend) {
		if _, recorded := a.Backend[k]; !recorded && k != "libtorch" {
			continue // recorded only since a later alrl
		}
		cmp(k, a.Backend[k], b.Backend[k])
	}
	cmp("learner", a.Learner, b.Learner)
	cmp("threads", fmt.Sprint(a.Threads), fmt.Sprint(b.Threads))
	cmp("host", a.Host, b.Host)
	cmp("cpu", a.CPU, b.CPU)
	if a.CPUFlags != "" || a.Microcode != "" { // runs made before alrl recorded them
		cmp("cpu vector flags", a.CPUFlags, b.CPUFlags)
		cmp("cpu microcode", a.Microcode, b.Microcode)
	}
	cmp("gomaxprocs", fmt.Sprint(a.GOMAXPROCS), fmt.Sprint(b.GOMAXPROCS))
	cmp("os", a.OS, b.OS)
	return d
}

func sortedKeys(ms ...map[string]string) []string {
	var keys []string
	for _, m := range ms {
		for k := range maps.Keys(m) {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}
