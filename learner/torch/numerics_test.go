//go:build torch

package torch

import "testing"

// TestNumericsAreRecorded: provenance gets libtorch's CPU kernel choice and
// its determinism setting.
func TestNumericsAreRecorded(t *testing.T) {
	n := Numerics()
	for _, k := range []string{"libtorch cpu capability", "libtorch parallel backend", "libtorch deterministic algorithms"} {
		if n[k] == "" {
			t.Errorf("%s is not recorded: %v", k, n)
		}
	}
}
