package experiments

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSameConfigIgnoresEncodingOfOlderVersions: a checkpointed run whose
// config.yaml was written by an older alrl (empty keys spelled out, or a key
// this version omits) resumes; a real change of a value does not.
func TestSameConfigIgnoresEncodingOfOlderVersions(t *testing.T) {
	cfg := Default()
	resolved, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(resolved), "  k: ") {
		t.Fatalf("default config has no al.k line:\n%s", resolved)
	}
	changed := Default()
	changed.AL.K++
	changedYAML, err := changed.YAML()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		old  string
		want bool
	}{
		{"identical bytes", string(resolved), true},
		{"an empty key spelled out", strings.Replace(string(resolved), "data:\n", "data:\n  test_dir: \"\"\n  x_key: \"\"\n", 1), true},
		{"another k", string(changedYAML), false},
		{"not a config", "seeds: [1\n", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(p, []byte(c.old), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := sameConfig(p, resolved)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("sameConfig = %v, want %v", got, c.want)
			}
		})
	}
}
