package learner

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// Ensembler is a learner made of several independently trained members
// (deep ensembles, Lakshminarayanan et al. 2017; for active learning, Beluch
// et al. 2018).
type Ensembler interface {
	// MemberProbs returns one N x C matrix of class probabilities per member.
	MemberProbs(ctx context.Context, idx []int) ([]*mat.Dense, error)
}

// capabilityReporter is a learner that knows which capabilities it can
// provide (a wrapper whose answer depends on what it wraps).
type capabilityReporter interface {
	HasCapability(c Capability) bool
}

// Ensemble is M learners of the same configuration, each initialised and
// trained with its own seed; its class probabilities are the members' mean.
// learner.New builds one when the config sets `ensemble: M` with M >= 2.
type Ensemble struct {
	members []Learner
	c       int
}

// NewEnsemble wraps at least two members with the same number of classes.
func NewEnsemble(members []Learner) (*Ensemble, error) {
	if len(members) < 2 {
		return nil, fmt.Errorf("learner.ensemble: an ensemble needs at least 2 members, got %d", len(members))
	}
	c := members[0].NumClasses()
	for i, m := range members {
		if m.NumClasses() != c {
			return nil, fmt.Errorf("learner.ensemble: member %d has %d classes, member 0 has %d", i, m.NumClasses(), c)
		}
	}
	return &Ensemble{members: members, c: c}, nil
}

// Members returns the member learners.
func (e *Ensemble) Members() []Learner { return e.members }

// MemberSeed derives member i's seed from a round's seed (SplitMix64 of the
// pair), so that members are initialised and shuffled independently.
func MemberSeed(seed uint64, i int) uint64 {
	z := seed + uint64(i+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Fit trains every member on the same data with its own seed. The returned
// validation accuracy and loss are those of the ensemble's mean prediction;
// epochs are the most any member ran and the training loss is the members'
// mean.
func (e *Ensemble) Fit(ctx context.Context, train, val Labeled, seed uint64) (FitStats, error) {
	st := FitStats{ValAcc: math.NaN(), ValLoss: math.NaN()}
	for i, m := range e.members {
		s, err := m.Fit(ctx, train, val, MemberSeed(seed, i))
		if err != nil {
			return st, fmt.Errorf("ensemble member %d of %d: %w", i, len(e.members), err)
		}
		st.Epochs = max(st.Epochs, s.Epochs)
		st.BestEpoch = max(st.BestEpoch, s.BestEpoch)
		st.TrainLoss += s.TrainLoss / float64(len(e.members))
	}
	if val.Len() > 0 {
		p, err := e.Probs(ctx, val.Idx)
		if err != nil {
			return st, fmt.Errorf("ensemble validation: %w", err)
		}
		ok, nll := 0, 0.0
		for i, y := range val.Y {
			row := p.RawRowView(i)
			best := 0
			for c, v := range row {
				if v > row[best] {
					best = c
				}
			}
			if best == y {
				ok++
			}
			nll -= math.Log(math.Max(row[y], 1e-12))
		}
		st.ValAcc = float64(ok) / float64(val.Len())
		st.ValLoss = nll / float64(val.Len())
	}
	return st, nil
}

// MemberProbs returns each member's class probabilities.
func (e *Ensemble) MemberProbs(ctx context.Context, idx []int) ([]*mat.Dense, error) {
	out := make([]*mat.Dense, len(e.members))
	for i, m := range e.members {
		p, err := m.Probs(ctx, idx)
		if err != nil {
			return nil, fmt.Errorf("ensemble member %d: %w", i, err)
		}
		out[i] = p
	}
	return out, nil
}

// Probs returns the mean of the members' class probabilities.
func (e *Ensemble) Probs(ctx context.Context, idx []int) (*mat.Dense, error) {
	ps, err := e.MemberProbs(ctx, idx)
	if err != nil {
		return nil, err
	}
	r, c := ps[0].Dims()
	mean := mat.NewDense(r, c, nil)
	for _, p := range ps {
		mean.Add(mean, p)
	}
	mean.Scale(1/float64(len(ps)), mean)
	return mean, nil
}

// HasCapability reports what the ensemble can provide: probabilities and
// member probabilities always; MC-dropout samples when every member can draw
// them; embeddings and last-layer weights when member 0 has them.
func (e *Ensemble) HasCapability(c Capability) bool {
	switch c {
	case CapProbs, CapEnsemble:
		return true
	case CapMCDropout:
		for _, m := range e.members {
			if !Has(m, CapMCDropout) {
				return false
			}
		}
		return true
	case CapEmbeddings, CapLastLayer:
		return Has(e.members[0], c)
	}
	return false
}

// MCProbs returns T MC-dropout samples drawn round-robin from the members
// (sample t comes from member t mod M), i.e. samples of the ensemble's
// mixture of dropout posteriors.
func (e *Ensemble) MCProbs(ctx context.Context, idx []int, T int) ([]*mat.Dense, error) {
	if !e.HasCapability(CapMCDropout) {
		return nil, &CapabilityError{Capability: CapMCDropout, Learner: e.Describe(), Hint: CapabilityHint(CapMCDropout)}
	}
	M := len(e.members)
	out := make([]*mat.Dense, T)
	for i, m := range e.members {
		n := T / M
		if i < T%M {
			n++
		}
		if n == 0 {
			continue
		}
		s, err := m.(MCSampler).MCProbs(ctx, idx, n)
		if err != nil {
			return nil, fmt.Errorf("ensemble member %d: %w", i, err)
		}
		if len(s) != n {
			return nil, fmt.Errorf("ensemble member %d returned %d MC samples, %d were asked for", i, len(s), n)
		}
		for j, d := range s {
			out[j*M+i] = d
		}
	}
	return out, nil
}

// Embed returns member 0's embeddings (the members' representations are not
// aligned with each other, so they are not averaged).
func (e *Ensemble) Embed(ctx context.Context, idx []int) (*mat.Dense, error) {
	em, ok := e.members[0].(Embedder)
	if !ok {
		return nil, &CapabilityError{Capability: CapEmbeddings, Learner: e.Describe()}
	}
	return em.Embed(ctx, idx)
}

// LastLayerWeights returns member 0's output-layer weights.
func (e *Ensemble) LastLayerWeights() (*mat.Dense, error) {
	l, ok := e.members[0].(LastLayer)
	if !ok {
		return nil, &CapabilityError{Capability: CapLastLayer, Learner: e.Describe()}
	}
	return l.LastLayerWeights()
}

// NumClasses returns C.
func (e *Ensemble) NumClasses() int { return e.c }

// Reseed reseeds every member with a derived seed.
func (e *Ensemble) Reseed(seed uint64) {
	for i, m := range e.members {
		m.Reseed(MemberSeed(seed, i))
	}
}

// Describe names the ensemble and its members.
func (e *Ensemble) Describe() string {
	return fmt.Sprintf("ensemble of %d x %s", len(e.members), e.members[0].Describe())
}

// Close closes every member.
func (e *Ensemble) Close() error {
	var errs []error
	for i, m := range e.members {
		if err := m.Close(); err != nil {
			errs = append(errs, fmt.Errorf("ensemble member %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// Members are saved into one weights file (WriteWeights) with tensor names
// prefixed "m<i>/". A member whose own file is not in that format is stored
// as its raw bytes in one tensor named "m<i>/#file/<length>" (four bytes per
// float32 bit pattern).
const rawTensor = "#file/"

// Save writes every member's weights into one file at path, atomically.
func (e *Ensemble) Save(path string) error {
	dir, err := os.MkdirTemp("", "alrl-ensemble-*")
	if err != nil {
		return fmt.Errorf("ensemble save: %w", err)
	}
	defer os.RemoveAll(dir)
	var all []Tensor
	for i, m := range e.members {
		tmp := filepath.Join(dir, fmt.Sprintf("m%d.bin", i))
		if err := m.Save(tmp); err != nil {
			return fmt.Errorf("ensemble member %d: %w", i, err)
		}
		prefix := fmt.Sprintf("m%d/", i)
		if ts, err := ReadWeights(tmp); err == nil {
			for _, t := range ts {
				t.Name = prefix + t.Name
				all = append(all, t)
			}
			continue
		}
		b, err := os.ReadFile(tmp)
		if err != nil {
			return fmt.Errorf("ensemble member %d: %w", i, err)
		}
		data := make([]float32, (len(b)+3)/4)
		padded := append(b, make([]byte, 4*len(data)-len(b))...)
		for j := range data {
			data[j] = math.Float32frombits(binary.LittleEndian.Uint32(padded[4*j:]))
		}
		all = append(all, Tensor{Name: prefix + rawTensor + strconv.Itoa(len(b)), Shape: []int{len(data)}, Data: data})
	}
	return WriteWeights(path, all)
}

// Load reads a file written by Save into the members.
func (e *Ensemble) Load(path string) error {
	ts, err := ReadWeights(path)
	if err != nil {
		return err
	}
	byMember := make([][]Tensor, len(e.members))
	for _, t := range ts {
		i, name, ok := splitMember(t.Name)
		if !ok {
			return fmt.Errorf("%s: tensor %q has no member prefix: the file was not written by an ensemble (learner.ensemble differs from the saved run's)", path, t.Name)
		}
		if i >= len(e.members) {
			return fmt.Errorf("%s: the file holds member %d but learner.ensemble is %d (the config differs from the saved run's)", path, i, len(e.members))
		}
		t.Name = name
		byMember[i] = append(byMember[i], t)
	}
	for i, ts := range byMember {
		if len(ts) == 0 {
			return fmt.Errorf("%s: no weights for ensemble member %d of %d (learner.ensemble differs from the saved run's)", path, i, len(e.members))
		}
	}
	dir, err := os.MkdirTemp("", "alrl-ensemble-*")
	if err != nil {
		return fmt.Errorf("ensemble load: %w", err)
	}
	defer os.RemoveAll(dir)
	for i, m := range e.members {
		tmp := filepath.Join(dir, fmt.Sprintf("m%d.bin", i))
		if raw := byMember[i][0]; len(byMember[i]) == 1 && strings.HasPrefix(raw.Name, rawTensor) {
			n, err := strconv.Atoi(strings.TrimPrefix(raw.Name, rawTensor))
			if err != nil || n < 0 || n > 4*len(raw.Data) {
				return fmt.Errorf("%s: member %d: bad raw tensor %q", path, i, raw.Name)
			}
			b := make([]byte, 4*len(raw.Data))
			for j, v := range raw.Data {
				binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(v))
			}
			if err := os.WriteFile(tmp, b[:n], 0o600); err != nil {
				return fmt.Errorf("ensemble load: %w", err)
			}
		} else if err := WriteWeights(tmp, byMember[i]); err != nil {
			return fmt.Errorf("ensemble load: %w", err)
		}
		if err := m.Load(tmp); err != nil {
			return fmt.Errorf("ensemble member %d: %w", i, err)
		}
	}
	return nil
}

// splitMember parses "m<i>/<name>".
func splitMember(s string) (int, string, bool) {
	head, name, ok := strings.Cut(s, "/")
	if !ok || len(head) < 2 || head[0] != 'm' {
		return 0, "", false
	}
	i, err := strconv.Atoi(head[1:])
	if err != nil || i < 0 {
		return 0, "", false
	}
	return i, name, true
}
