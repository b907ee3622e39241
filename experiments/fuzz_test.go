package experiments

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseConfig: no config text or --set expression makes the decoder
// panic; an accepted config validates.
func FuzzParseConfig(f *testing.F) {
	base, err := ShippedYAML("default")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(base, "al.k=5")
	f.Add([]byte("name: x\nal: {k: 3, budget: 50}\n"), "seeds=[1,2]")
	f.Add([]byte("strategies: [{name: entropy}]\n"), "learner.model.hidden.0=4")
	f.Add([]byte(": :\n- [\n"), "=")
	f.Fuzz(func(t *testing.T, data []byte, set string) {
		cfg, err := Parse("fuzz.yaml", data, []string{set})
		if err == nil {
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("Parse accepted a config that does not validate: %v", verr)
			}
		}
	})
}

// FuzzReadCheckpoint: no state.json makes the checkpoint reader panic.
func FuzzReadCheckpoint(f *testing.F) {
	f.Add([]byte(`{"version": 1, "env": {"round": 0}, "records": [{}]}`))
	f.Add([]byte(`{"version": 1, "env": {"round": 3}, "records": []}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "checkpoint"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "checkpoint", "state.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, _ = readCheckpoint(dir)
	})
}

// FuzzParseAnswers: a person's answers file (index,label lines or a Label
// Studio export) never panics, and what it accepts has no empty label.
func FuzzParseAnswers(f *testing.F) {
	f.Add([]byte("index,label\n3,cat  # img.png\n4,\n"))
	f.Add([]byte(`[{"data": {"index": 7}, "annotations": [{"result": [{"value": {"choices": ["dog"]}}]}]}]`))
	f.Add([]byte(`[{"index": 9, "choices": ["cat"]}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseAnswers(b)
		if err != nil {
			return
		}
		for i, l := range got {
			if strings.TrimSpace(l) == "" {
				t.Fatalf("index %d accepted with an empty label", i)
			}
		}
	})
}
