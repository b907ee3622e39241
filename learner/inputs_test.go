package learner

import (
	"context"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/datasets"
)

// gradLearner provides inputs and input gradients of the logits 2x, -x.
type gradLearner struct {
	*countingLearner
	in datasets.Inputs
}

func (g gradLearner) Inputs(ctx context.Context, idx []int) (*mat.Dense, error) {
	return DatasetInputs(g.in).Inputs(ctx, idx)
}

func (g gradLearner) InputGrads(_ context.Context, x *mat.Dense) (*mat.Dense, []*mat.Dense, error) {
	n, d := x.Dims()
	logits := mat.NewDense(n, 2, nil)
	g0, g1 := mat.NewDense(n, d, nil), mat.NewDense(n, d, nil)
	for i := 0; i < n; i++ {
		logits.Set(i, 0, 2*x.At(i, 0))
		logits.Set(i, 1, -x.At(i, 0))
		g0.Set(i, 0, 2)
		g1.Set(i, 0, -1)
	}
	return logits, []*mat.Dense{g0, g1}, nil
}

func TestDatasetInputs(t *testing.T) {
	d := &datasets.Dataset{Name: "t", Shape: []int{1, 1, 2}, NumClasses: 2, TrainN: 5,
		X: []float32{0, 1, 10, 11, 20, 21, 30, 31, 40, 41}, Y: []int{0, 1, 0, 1, 0}}
	src := DatasetInputs(d.Inputs())
	x, err := src.Inputs(context.Background(), []int{3, 0, 3})
	if err != nil {
		t.Fatal(err)
	}
	want := mat.NewDense(3, 2, []float64{30, 31, 0, 1, 30, 31})
	if !mat.Equal(x, want) {
		t.Errorf("Inputs = %v, want %v", mat.Formatted(x), mat.Formatted(want))
	}
	if _, err := src.Inputs(context.Background(), []int{5}); err == nil || !strings.Contains(err.Error(), "5") {
		t.Errorf("out of range: err = %v", err)
	}
	if x, err := src.Inputs(context.Background(), nil); err != nil || !x.IsEmpty() {
		t.Errorf("no indices: %v, %v", x, err)
	}
}

func TestMemoInputsAndGradients(t *testing.T) {
	ctx := context.Background()
	d := &datasets.Dataset{Name: "t", Shape: []int{1}, NumClasses: 2, TrainN: 3, X: []float32{1, 2, 3}, Y: []int{0, 1, 0}}
	plain := NewMemo(&countingLearner{})
	for _, c := range []Capability{CapInputs, CapInputGrads} {
		if Has(plain, c) {
			t.Errorf("a learner without %s claims it", c)
		}
	}
	if _, err := plain.Inputs(ctx, []int{0}); !IsCapabilityError(err) {
		t.Errorf("Inputs without the capability: %v", err)
	}
	if _, _, err := plain.InputGrads(ctx, mat.NewDense(1, 1, nil)); !IsCapabilityError(err) || !strings.Contains(err.Error(), string(CapInputGrads)) {
		t.Errorf("InputGrads without the capability: %v", err)
	}
	m := NewMemo(gradLearner{&countingLearner{}, d.Inputs()})
	for _, c := range []Capability{CapInputs, CapInputGrads} {
		if !Has(m, c) {
			t.Errorf("Has(%s) = false", c)
		}
	}
	x, err := m.Inputs(ctx, []int{2, 1})
	if err != nil || x.At(0, 0) != 3 || x.At(1, 0) != 2 {
		t.Errorf("Inputs = %v, %v", x, err)
	}
	for i := 0; i < 2; i++ {
		logits, grads, err := m.InputGrads(ctx, x)
		if err != nil || logits.At(0, 0) != 6 || grads[1].At(1, 0) != -1 {
			t.Errorf("InputGrads = %v %v %v", logits, grads, err)
		}
	}
	if m.Calls[CapInputGrads] != 2 {
		t.Errorf("InputGrads is not cached: %d calls counted, want 2", m.Calls[CapInputGrads])
	}
}
