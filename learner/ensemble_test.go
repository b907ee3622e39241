package learner_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/internal/testlearner"
	"github.com/alrl/alrl/learner"
)

// line is a 1-D, 2-class data set: x = -3 .. 3 in steps of 0.5, label x > 0.
func line() *datasets.Dataset {
	d := &datasets.Dataset{Name: "line", Shape: []int{1}, NumClasses: 2}
	for x := -3.0; x <= 3; x += 0.5 {
		d.X = append(d.X, float32(x))
		y := 0
		if x > 0 {
			y = 1
		}
		d.Y = append(d.Y, y)
	}
	d.TrainN = len(d.Y)
	return d
}

func noisyMembers(in datasets.Inputs, m int) []learner.Learner {
	out := make([]learner.Learner, m)
	for i := range out {
		l := testlearner.New(in, 2)
		l.FitNoise = 0.5
		out[i] = l
	}
	return out
}

func all(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

func fitted(t *testing.T, d *datasets.Dataset, m int) *learner.Ensemble {
	t.Helper()
	e, err := learner.NewEnsemble(noisyMembers(d.Inputs(), m))
	if err != nil {
		t.Fatal(err)
	}
	train := learner.Labeled{Idx: []int{0, 1, 11, 12}, Y: []int{0, 0, 1, 1}}
	val := learner.Labeled{Idx: all(d.Len()), Y: d.Y}
	if _, err := e.Fit(context.Background(), train, val, 42); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEnsembleProbsAreMemberMean(t *testing.T) {
	ctx := context.Background()
	d := line()
	e := fitted(t, d, 3)
	idx := all(d.Len())
	ps, err := e.MemberProbs(ctx, idx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 3 {
		t.Fatalf("%d member matrices, want 3", len(ps))
	}
	if mat.Equal(ps[0], ps[1]) || mat.Equal(ps[1], ps[2]) {
		t.Error("members fitted with derived seeds are identical")
	}
	mean, err := e.Probs(ctx, idx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range idx {
		for c := 0; c < 2; c++ {
			want := (ps[0].At(i, c) + ps[1].At(i, c) + ps[2].At(i, c)) / 3
			if math.Abs(mean.At(i, c)-want) > 1e-15 {
				t.Errorf("row %d class %d: %g, mean of members %g", i, c, mean.At(i, c), want)
			}
		}
	}
	// Members' seeds are derived from the round seed: refitting with the
	// same seed reproduces them, another seed changes them.
	again := fitted(t, d, 3)
	p2, _ := again.MemberProbs(ctx, idx)
	for i := range ps {
		if !mat.Equal(ps[i], p2[i]) {
			t.Errorf("member %d differs between two fits with the same seed", i)
		}
	}
	if learner.MemberSeed(42, 0) == learner.MemberSeed(42, 1) || learner.MemberSeed(42, 0) == learner.MemberSeed(43, 0) {
		t.Error("MemberSeed collides")
	}
}

func TestEnsembleFitStatsUseTheMean(t *testing.T) {
	d := line()
	e, _ := learner.NewEnsemble(noisyMembers(d.Inputs(), 4))
	val := learner.Labeled{Idx: all(d.Len()), Y: d.Y}
	st, err := e.Fit(context.Background(), learner.Labeled{Idx: []int{0, 12}, Y: []int{0, 1}}, val, 7)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := e.Probs(context.Background(), val.Idx)
	ok := 0
	for i, y := range val.Y {
		if (p.At(i, 1) > p.At(i, 0)) == (y == 1) {
			ok++
		}
	}
	if want := float64(ok) / float64(len(val.Y)); st.ValAcc != want {
		t.Errorf("ValAcc = %g, accuracy of the mean prediction %g", st.ValAcc, want)
	}
}

func TestEnsembleCapabilitiesAndMemo(t *testing.T) {
	ctx := context.Background()
	d := line()
	e := fitted(t, d, 2)
	single := testlearner.New(d.Inputs(), 2)
	for _, c := range []learner.Capability{learner.CapProbs, learner.CapEnsemble, learner.CapMCDropout, learner.CapEmbeddings} {
		if !learner.Has(e, c) || !learner.Has(learner.NewMemo(e), c) {
			t.Errorf("ensemble of test learners should have %q", c)
		}
	}
	if learner.Has(e, learner.CapLastLayer) {
		t.Error("ensemble of test learners claims last-layer weights")
	}
	if learner.Has(single, learner.CapEnsemble) {
		t.Error("a single learner claims the ensemble capability")
	}
	m := learner.NewMemo(e)
	a, err := m.MemberProbs(ctx, []int{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.MemberProbs(ctx, []int{1, 2})
	if &a[0] != &b[0] || m.Calls[learner.CapEnsemble] != 1 {
		t.Errorf("MemberProbs not cached: %d computations", m.Calls[learner.CapEnsemble])
	}
	_, err = learner.NewMemo(single).MemberProbs(ctx, []int{1})
	var ce *learner.CapabilityError
	if !errors.As(err, &ce) || ce.Capability != learner.CapEnsemble || !strings.Contains(err.Error(), "learner.ensemble") {
		t.Errorf("MemberProbs of a single learner: err = %v, want a capability error telling to set learner.ensemble", err)
	}
	// MC samples: T = 5 from 2 members, sample t from member t mod 2.
	e.Reseed(9)
	s, err := e.MCProbs(ctx, []int{3, 4}, 5)
	if err != nil {
		t.Fatal(err)
	}
	m0, _ := e.Members()[0].(learner.MCSampler).MCProbs(ctx, []int{3, 4}, 3)
	m1, _ := e.Members()[1].(learner.MCSampler).MCProbs(ctx, []int{3, 4}, 2)
	for tt, want := range []*mat.Dense{m0[0], m1[0], m0[1], m1[1], m0[2]} {
		if !mat.Equal(s[tt], want) {
			t.Errorf("MC sample %d is not member %d's sample %d", tt, tt%2, tt/2)
		}
	}
	if _, err := learner.NewEnsemble(noisyMembers(d.Inputs(), 1)); err == nil {
		t.Error("an ensemble of 1 member was accepted")
	}
}

// wlearner is a member that saves in the weights format.
type wlearner struct {
	*testlearner.Learner
}

func (w wlearner) Save(path string) error {
	var data []float32
	for _, c := range w.Centroids {
		for _, v := range c {
			data = append(data, float32(v))
		}
	}
	return learner.WriteWeights(path, []learner.Tensor{{Name: "centroids", Shape: []int{len(w.Centroids), len(w.Centroids[0])}, Data: data}})
}

func (w wlearner) Load(path string) error {
	ts, err := learner.ReadWeights(path)
	if err != nil {
		return err
	}
	if len(ts) != 1 || ts[0].Name != "centroids" {
		return errors.New("wlearner: unexpected tensors")
	}
	r, c := ts[0].Shape[0], ts[0].Shape[1]
	w.Centroids = make([][]float64, r)
	for i := range w.Centroids {
		w.Centroids[i] = make([]float64, c)
		for j := range w.Centroids[i] {
			w.Centroids[i][j] = float64(ts[0].Data[i*c+j])
		}
	}
	return nil
}

func TestEnsembleSaveLoadRoundTrip(t *testing.T) {
	ctx := context.Background()
	d := line()
	idx := all(d.Len())
	dir := t.TempDir()
	for _, format := range []string{"raw member files", "weights member files"} {
		mk := func() *learner.Ensemble {
			ms := noisyMembers(d.Inputs(), 3)
			if format == "weights member files" {
				for i := range ms {
					ms[i] = wlearner{ms[i].(*testlearner.Learner)}
				}
			}
			e, err := learner.NewEnsemble(ms)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		e := mk()
		if _, err := e.Fit(ctx, learner.Labeled{Idx: []int{0, 1, 11, 12}, Y: []int{0, 0, 1, 1}}, learner.Labeled{}, 5); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "weights-0001.bin")
		if err := e.Save(path); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		ts, err := learner.ReadWeights(path)
		if err != nil {
			t.Fatalf("%s: the ensemble file is not a weights file: %v", format, err)
		}
		for _, tn := range ts {
			if !strings.HasPrefix(tn.Name, "m") || !strings.Contains(tn.Name, "/") {
				t.Errorf("%s: tensor %q has no member prefix", format, tn.Name)
			}
		}
		fresh := mk()
		if err := fresh.Load(path); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		want, _ := e.MemberProbs(ctx, idx)
		got, err := fresh.MemberProbs(ctx, idx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if !mat.EqualApprox(got[i], want[i], 1e-6) {
				t.Errorf("%s: member %d predicts differently after Save/Load", format, i)
			}
		}
		// A file of 3 members does not load into 2 or 4.
		for _, m := range []int{2, 4} {
			other, _ := learner.NewEnsemble(noisyMembers(d.Inputs(), m))
			if err := other.Load(path); err == nil || !strings.Contains(err.Error(), "learner.ensemble") {
				t.Errorf("%s: loading 3 members into %d: err = %v", format, m, err)
			}
		}
	}
	// A single model's weights file is rejected with a clear error.
	single := filepath.Join(dir, "single.bin")
	if err := learner.WriteWeights(single, []learner.Tensor{{Name: "w", Shape: []int{1}, Data: []float32{1}}}); err != nil {
		t.Fatal(err)
	}
	e, _ := learner.NewEnsemble(noisyMembers(d.Inputs(), 2))
	if err := e.Load(single); err == nil || !strings.Contains(err.Error(), "member prefix") {
		t.Errorf("loading a single model's file: err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "weights-0001.bin")); err != nil {
		t.Error(err)
	}
}

func TestNewBuildsEnsemble(t *testing.T) {
	learner.RegisterBackend("ensemble_test_centroid", "test", testlearner.Factory)
	d := line()
	cfg := learner.DefaultConfig()
	cfg.Backend = "ensemble_test_centroid"
	cfg.Ensemble = 4
	l, err := learner.New(d.Inputs(), 2, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := l.(*learner.Ensemble)
	if !ok || len(e.Members()) != 4 {
		t.Fatalf("learner.New with ensemble 4 = %T, want an ensemble of 4", l)
	}
	if !strings.Contains(e.Describe(), "ensemble of 4") {
		t.Errorf("Describe() = %q", e.Describe())
	}
	for _, m := range []int{0, 1} {
		cfg.Ensemble = m
		l, err := learner.New(d.Inputs(), 2, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := l.(*learner.Ensemble); ok {
			t.Errorf("ensemble %d built an ensemble", m)
		}
	}
	cfg.Ensemble = -1
	if err := cfg.Validate([]int{1}, 2); err == nil || !strings.Contains(err.Error(), "learner.ensemble") {
		t.Errorf("Validate(ensemble -1) = %v", err)
	}
}
