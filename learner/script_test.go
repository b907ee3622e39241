package learner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTorchScriptChecks: a torchscript model without a file, or in a binary
// without libtorch (no runner registered, as in this package's tests), is
// rejected at validation with the fix.
func TestTorchScriptChecks(t *testing.T) {
	file := filepath.Join(t.TempDir(), "b.pt")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		spec ModelSpec
		want string
	}{
		{"no path", ModelSpec{Name: "torchscript"}, "needs the path"},
		{"missing file", ModelSpec{Name: "torchscript", Path: file + ".none"}, "no such file"},
		{"no libtorch", ModelSpec{Name: "torchscript", Path: file}, "make build"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Model = tc.spec
			if err := cfg.Validate([]int{1, 8, 8}, 3); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
