package learner

import (
	"context"
	"math"
	"strings"
	"testing"
)

func TestEarlyStop(t *testing.T) {
	e := EarlyStop{Patience: 2}
	steps := []struct {
		acc            float64
		improved, stop bool
	}{
		{0.5, true, false}, {0.4, false, false}, {0.6, true, false}, {0.6, false, false}, {0.55, false, true},
	}
	for i, s := range steps {
		if im, st := e.Observe(s.acc); im != s.improved || st != s.stop {
			t.Fatalf("epoch %d (acc %g): improved %v stop %v, want %v %v", i+1, s.acc, im, st, s.improved, s.stop)
		}
	}
	var st FitStats
	if err := EndEpoch(context.Background(), &st, 3, 10, 6, 4); err != nil || st.Epochs != 3 || st.TrainLoss != 1.5 {
		t.Fatalf("%+v %v", st, err)
	}
	if err := EndEpoch(context.Background(), &st, 4, 10, math.NaN(), 4); err == nil || !strings.Contains(err.Error(), "lower learner.train.lr") {
		t.Fatalf("NaN loss: %v", err)
	}
}
