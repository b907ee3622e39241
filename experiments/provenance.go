package experiments

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/alrl/alrl/learner"
)

// Provenance is what a run records about the software and machine that
// produced it, in provenance.json: one Session per start or resume.
type Provenance struct {
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

// newSession describes this process.
func newSession(version, commit, learnerDesc string, threads int) Session {
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

// ReadProvenance reads a run's provenance.json.
func ReadProvenance(dir string) (Provenance, error) {
	var p Provenance
	b, err := os.ReadFile(filepath.Join(dir, "provenance.json"))
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%s/provenance.json is corrupt: %w", dir, err)
	}
	return p, nil
}

// appendSession adds s to the run's provenance.json (written atomically).
func appendSession(dir string, s Session) error {
	p, err := ReadProvenance(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	p.Sessions = append(p.Sessions, s)
	return writeJSONAtomic(filepath.Join(dir, "provenance.json"), p)
}
