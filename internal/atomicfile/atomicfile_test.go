package atomicfile

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestIsTemp(t *testing.T) {
	for name, want := range map[string]bool{
		".rounds.jsonl-123456": true,
		".weights-0003.bin-9":  true,
		".lock":                false,
		"rounds.jsonl":         false,
		".rounds.jsonl-":       false,
		".rounds.jsonl-12a":    false,
		".-1":                  false,
		"weights-0003.bin":     false,
	} {
		if got := IsTemp(name); got != want {
			t.Errorf("IsTemp(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestSweepRemovesOnlyLeftoverTemps(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{".rounds.jsonl-4242", ".summary.json-1", ".lock", "rounds.jsonl", "notes-12"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, ".sub-7"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := Sweep(dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{".rounds.jsonl-4242", ".summary.json-1"}) {
		t.Fatalf("swept %v", got)
	}
	left, _ := os.ReadDir(dir)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{".lock", ".sub-7", "notes-12", "rounds.jsonl"}) {
		t.Fatalf("left %v", names)
	}
	if got, err := Sweep(filepath.Join(dir, "missing")); err != nil || got != nil {
		t.Fatalf("missing folder: %v %v", got, err)
	}
	// A write leaves no temporary file behind.
	if err := WriteBytes(filepath.Join(dir, "a.json"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if got, _ := Sweep(dir); len(got) != 0 {
		t.Fatalf("a finished write left %v", got)
	}
}
