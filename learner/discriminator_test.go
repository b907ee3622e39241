package learner_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/alrl/alrl/learner"
)

// XORData is XOR repeated 25 times: a hidden layer is needed to fit it.
func xorData() (x *mat.Dense, y []float64, corners *mat.Dense) {
	c := []float64{0, 0, 0, 1, 1, 0, 1, 1}
	labels := []float64{0, 1, 1, 0}
	x = mat.NewDense(100, 2, nil)
	for i := range 100 {
		x.SetRow(i, c[2*(i%4):2*(i%4)+2])
		y = append(y, labels[i%4])
	}
	return x, y, mat.NewDense(4, 2, c)
}

func TestGoDiscriminatorLearnsXOR(t *testing.T) {
	x, y, corners := xorData()
	spec := learner.DiscriminatorSpec{Width: 16, Layers: 2, Batch: 16, Epochs: 500, LR: 0.01, StopAccuracy: 0.999, Seed: 4}
	fit, err := learner.GoDiscriminator{}.TrainDiscriminator(context.Background(), x, y, corners, spec)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{0, 1, 1, 0} {
		if (fit.P[i] > 0.5) != (want == 1) {
			t.Errorf("XOR corner %d: P = %.3f, want class %g", i, fit.P[i], want)
		}
	}
	if fit.Epochs < 1 || fit.Epochs > 500 || fit.Accuracy < 0.999 {
		t.Errorf("stopped after %d epochs at accuracy %g", fit.Epochs, fit.Accuracy)
	}
	// The same seed gives the same fit.
	again, _ := learner.GoDiscriminator{}.TrainDiscriminator(context.Background(), x, y, corners, spec)
	for i := range fit.P {
		if fit.P[i] != again.P[i] {
			t.Fatalf("seeded fits differ: %v vs %v", fit.P, again.P)
		}
	}
}

func TestDiscriminatorBadInput(t *testing.T) {
	x, y, corners := xorData()
	ok := learner.DiscriminatorSpec{Width: 4, Layers: 1, Batch: 8, Epochs: 2, LR: 0.01, StopAccuracy: 1}
	tests := []struct {
		name string
		spec learner.DiscriminatorSpec
		y    []float64
		s    *mat.Dense
		want string
	}{
		{"no width", learner.DiscriminatorSpec{Layers: 1, Batch: 8, Epochs: 2, LR: 0.01}, y, corners, "width"},
		{"NaN rate", learner.DiscriminatorSpec{Width: 4, Batch: 8, Epochs: 2, LR: math.NaN()}, y, corners, "learning rate"},
		{"labels", ok, y[:10], corners, "100 training rows for 10 labels"},
		{"label 2", ok, append(append([]float64{}, y[:99]...), 2), corners, "not 0 or 1"},
		{"features", ok, y, mat.NewDense(1, 3, nil), "3 features, trained on 2"},
	}
	for _, tc := range tests {
		_, err := learner.GoDiscriminator{}.TrainDiscriminator(context.Background(), x, tc.y, tc.s, tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.want)
		}
	}
}

func TestClassWeights(t *testing.T) {
	w := learner.ClassWeights([]float64{0, 0, 0, 1})
	if w != [2]float64{4.0 / 3, 4} {
		t.Errorf("class weights %v, want [4/3 4]", w)
	}
}
