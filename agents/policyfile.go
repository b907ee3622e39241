package agents

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"strings"
	"time"

	"github.com/alrl/alrl/internal/atomicfile"
)

// PolicyFormat and PolicyVersion identify policy files.
const (
	PolicyFormat  = "alrl-policy"
	PolicyVersion = 1
)

// Agent kinds stored in policy files.
const (
	KindPG     = "pg"
	KindDQN    = "dqn"
	KindBandit = "bandit"
)

// NetFile is one network in a policy file.
type NetFile struct {
	Sizes   []int       `json:"sizes"`
	Dropout float64     `json:"dropout"`
	W       [][]float64 `json:"w"`
	B       [][]float64 `json:"b"`
}

func netFile(m *MLP) *NetFile {
	if m == nil {
		return nil
	}
	c := m.Clone()
	return &NetFile{Sizes: c.Sizes, Dropout: c.Dropout, W: c.W, B: c.B}
}

// MLP returns the network, checking its shapes.
func (n *NetFile) MLP() (*MLP, error) {
	m := &MLP{Sizes: n.Sizes, Dropout: n.Dropout, W: n.W, B: n.B}
	if err := m.Check(); err != nil {
		return nil, err
	}
	return m, nil
}

// TrainInfo records how a policy was trained.
type TrainInfo struct {
	Source   string    `json:"source,omitempty"`   // training data set
	Episodes int       `json:"episodes,omitempty"` // episodes trained
	Seed     uint64    `json:"seed"`
	Saved    time.Time `json:"saved"`
	Note     string    `json:"note,omitempty"`
}

// PolicyFile is a trained agent on disk: its networks (or bandit weights),
// the feature list and global state it reads, and the settings it needs to act.
type PolicyFile struct {
	Format     string   `json:"format"`
	Version    int      `json:"version"`
	Kind       string   `json:"kind"`
	Features   []string `json:"features"`    // configured feature names
	Columns    []string `json:"columns"`     // expanded feature columns
	Global     []string `json:"global"`      // global state names
	NumClasses int      `json:"num_classes"` // classes the features were built for
	MCSamples  int      `json:"mc_samples"`  // MC samples of the bald feature

	PG     *PGConfig     `json:"pg,omitempty"`
	DQN    *DQNConfig    `json:"dqn,omitempty"`
	Bandit *BanditConfig `json:"bandit,omitempty"`
	// Imitation holds the imitation ranker's settings; its policy is class-agnostic (NumClasses 0).
	Imitation *ImitationConfig `json:"imitation,omitempty"`

	Nets map[string]*NetFile `json:"nets,omitempty"` // pg: policy, baseline; dqn: q
	// LogWeights are the bandit's learned log-weights over its arms (its prior on a new task).
	LogWeights []float64 `json:"log_weights,omitempty"`
	Training   TrainInfo `json:"training"`
	Checksum   uint32    `json:"checksum"` // CRC32 of the weights
}

func (p *PolicyFile) checksum() uint32 {
	h := crc32.NewIEEE()
	put := func(v float64) {
		b := math.Float64bits(v)
		h.Write([]byte{byte(b), byte(b >> 8), byte(b >> 16), byte(b >> 24), byte(b >> 32), byte(b >> 40), byte(b >> 48), byte(b >> 56)})
	}
	for _, name := range []string{"policy", "baseline", "q"} {
		n := p.Nets[name]
		if n == nil {
			continue
		}
		h.Write([]byte(name))
		for l := range n.W {
			for _, v := range n.W[l] {
				put(v)
			}
			for _, v := range n.B[l] {
				put(v)
			}
		}
	}
	for _, v := range p.LogWeights {
		put(v)
	}
	return h.Sum32()
}

// WritePolicy writes a policy file atomically.
func WritePolicy(path string, p *PolicyFile) error {
	p.Format, p.Version = PolicyFormat, PolicyVersion
	p.Checksum = p.checksum()
	b, err := json.MarshalIndent(p, "", " ")
	if err != nil {
		return fmt.Errorf("policy file %s: %w", path, err)
	}
	if err := atomicfile.WriteBytes(path, append(b, '\n')); err != nil {
		return fmt.Errorf("policy file %s: %w", path, err)
	}
	return nil
}

// ReadPolicy reads and checks a policy file: its format, version, checksum
// and network shapes.
func ReadPolicy(path string) (*PolicyFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy file: %w", err)
	}
	var p PolicyFile
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("policy file %s is not an alrl policy (%v)", path, err)
	}
	if p.Format != PolicyFormat {
		return nil, fmt.Errorf("policy file %s is not an alrl policy (format %q)", path, p.Format)
	}
	if p.Version != PolicyVersion {
		return nil, fmt.Errorf("policy file %s has version %d; this alrl reads version %d (retrain the agent with this alrl)", path, p.Version, PolicyVersion)
	}
	if p.Checksum != p.checksum() {
		return nil, fmt.Errorf("policy file %s is corrupt (checksum mismatch)", path)
	}
	need := map[string][]string{KindPG: {"policy"}, KindDQN: {"q"}, KindBandit: nil, KindImitation: {"policy"}}
	nets, ok := need[p.Kind]
	if !ok {
		return nil, fmt.Errorf("policy file %s: unknown agent kind %q", path, p.Kind)
	}
	in := len(p.Columns) + len(p.Global)
	for _, name := range nets {
		n := p.Nets[name]
		if n == nil {
			return nil, fmt.Errorf("policy file %s: the %s network is missing", path, name)
		}
		m, err := n.MLP()
		if err != nil {
			return nil, fmt.Errorf("policy file %s: %s network: %w", path, name, err)
		}
		if m.In() != in {
			return nil, fmt.Errorf("policy file %s: the %s network takes %d inputs but the file lists %d features and %d global entries", path, name, m.In(), len(p.Columns), len(p.Global))
		}
	}
	if p.Kind == KindBandit && (p.Bandit == nil || len(p.LogWeights) != len(p.Bandit.Arms)) {
		return nil, fmt.Errorf("policy file %s: the bandit's weights do not match its arms", path)
	}
	return &p, nil
}

// CheckFeatures compares the file's features with a configured list and
// with the columns and global state the current feature builder produces.
func (p *PolicyFile) CheckFeatures(path string, configured []string, columns, global []string) error {
	if configured != nil && strings.Join(configured, ",") != strings.Join(p.Features, ",") {
		return fmt.Errorf("policy file %s was trained with features [%s], but the config lists [%s]; use the same feature list (or leave it out to use the file's)",
			path, strings.Join(p.Features, ", "), strings.Join(configured, ", "))
	}
	if columns != nil && strings.Join(columns, ",") != strings.Join(p.Columns, ",") {
		return fmt.Errorf("policy file %s expects feature columns [%s] but this data set gives [%s] (a different number of classes?)",
			path, strings.Join(p.Columns, ", "), strings.Join(columns, ", "))
	}
	if global != nil && strings.Join(global, ",") != strings.Join(p.Global, ",") {
		return fmt.Errorf("policy file %s expects global state [%s] but this data set gives [%s] (a different number of classes?)",
			path, strings.Join(p.Global, ", "), strings.Join(global, ", "))
	}
	return nil
}
