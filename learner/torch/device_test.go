//go:build torch

package torch

import (
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/alrl/alrl/learner"
)

// TestUnavailableDeviceFailsValidation: a CUDA device that is not there is
// a config error (before any run starts), not a crash at the first tensor.
func TestUnavailableDeviceFailsValidation(t *testing.T) {
	cfg := learner.DefaultConfig()
	cfg.Backend = "torch"
	cfg.Model = learner.ModelSpec{Name: "mlp", Hidden: []int{4}}
	if err := cfg.Validate([]int{3}, 2); err != nil {
		t.Fatalf("cpu: %v", err)
	}
	if gotch.CUDA.IsAvailable() {
		cfg.Device = "cuda:999"
		if err := cfg.Validate([]int{3}, 2); err == nil || !strings.Contains(err.Error(), "CUDA device(s)") {
			t.Fatalf("cuda:999 on a GPU machine: %v", err)
		}
		return
	}
	for _, d := range []string{"cuda", "cuda:1"} {
		cfg.Device = d
		if err := cfg.Validate([]int{3}, 2); err == nil || !strings.Contains(err.Error(), "no usable CUDA device") {
			t.Errorf("%s without CUDA: %v", d, err)
		}
	}
	cfg.Device = "auto"
	if err := cfg.Validate([]int{3}, 2); err != nil {
		t.Errorf("auto: %v", err)
	}
}
