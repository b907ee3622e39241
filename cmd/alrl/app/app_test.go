package app

import (
	"bytes"
	"strings"
	"testing"
)

func TestSetKeepsCommas(t *testing.T) {
	// A YAML flow value with commas is one override: the later bad key is
	// what fails, not the split value.
	a := New()
	var out bytes.Buffer
	a.Writer, a.ErrWriter = &out, &out
	err := a.Run([]string{"alrl", "--log-level", "error", "train", "--out", t.TempDir(),
		"--set", "strategies=[{name: bald}, {name: batchbald, options: {samples: 3}}]",
		"--set", "seeds=[1,2]", "--set", "al.k=ten"})
	if err == nil || !strings.Contains(err.Error(), "al.k") || strings.Contains(err.Error(), "invalid override") {
		t.Errorf("err = %v, want the al.k type error (the comma-separated values parsed)", err)
	}
}
