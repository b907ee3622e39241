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
	// A libtorch built with oneDNN also says which ISA its kernels use.
	if n["libtorch onednn"] != "" && n["onednn effective isa (dnnl_cpu_isa_t)"] == "" {
		t.Errorf("libtorch uses oneDNN but its effective ISA is not recorded: %v", n)
	}
	t.Logf("onednn isa %q, openblas core %q", n["onednn effective isa (dnnl_cpu_isa_t)"], n["openblas core"])
}
