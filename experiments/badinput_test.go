package experiments

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInputsAreRejectedBeforeAnythingIsWritten: each input is refused
// with the key and the fix, and the output folder stays free of run folders.
func TestBadInputsAreRejectedBeforeAnythingIsWritten(t *testing.T) {
	csvOne := filepath.Join(t.TempDir(), "one.csv")
	if err := os.WriteFile(csvOne, []byte("a,b,label\n1,2,x\n3,4,x\n5,6,x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mut  func(*Config)
		want []string
	}{
		{"k above the budget", func(c *Config) { c.AL.K = 50 }, []string{"al.k", "budget"}},
		{"k above what the budget leaves", func(c *Config) { c.AL.K = 17 }, []string{"al.k", "16 labels", "lower al.k"}},
		{"single-class CSV", func(c *Config) { c.Data.Name, c.Data.Path = "csv", csvOne }, []string{"at least two classes"}},
		{"unusable strategy option", func(c *Config) {
			c.Strategies = []StrategyConfig{{Name: "policy", Options: map[string]any{"path": "/no/such/policy.json"}}}
		}, []string{"policy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := runTestConfig(t)
			tc.mut(&cfg)
			_, err := Run(context.Background(), cfg, Options{})
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			_ = filepath.WalkDir(cfg.Out, func(p string, d os.DirEntry, _ error) error {
				if d != nil && !d.IsDir() && d.Name() != ".lock" {
					t.Errorf("the rejected config left %s", p)
				}
				return nil
			})
		})
	}
}

func TestEmptyConfigFileIsAnError(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"empty.yaml": "", "comments.yaml": "# nothing here\n\n---\n"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p, nil); err == nil || !strings.Contains(err.Error(), "is empty") || !strings.Contains(err.Error(), "builtin:default") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Load("builtin:default", nil); err != nil {
		t.Fatal(err)
	}
}
