//go:build torch

package app

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBashCompletion sources alrl completion bash in a real bash, with the
// test binary standing in for alrl on PATH, and completes a command, a
// flag and a shipped config.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	bin := t.TempDir()
	script := "#!/bin/sh\n" + cliEnv + "=1 exec " + os.Args[0] + ` "$@"` + "\n"
	if err := os.WriteFile(filepath.Join(bin, "alrl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		words string
		want  string
	}{
		{"alrl tr", "train"},
		{"alrl train --res", "--resume"},
		{"alrl train -c builtin:label-im", "builtin:label-images"},
		{"alrl completion", ""},
	}
	for _, tc := range tests {
		words := strings.Fields(tc.words)
		cmd := exec.Command(bash, "-c", `source <(alrl completion bash) && COMP_WORDS=(`+tc.words+`) && COMP_CWORD=`+
			strings.TrimSpace(string(rune('0'+len(words)-1)))+` && _alrl_complete && echo "${COMPREPLY[@]}"`)
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.words, err, out)
		}
		if got := strings.TrimSpace(string(out)); tc.want != "" && got != tc.want {
			t.Errorf("%q completes to %q, want %q", tc.words, got, tc.want)
		}
	}
	if msg, err := runCLI(t, "completion", "fish"); err != nil || !strings.Contains(msg, "complete -c alrl") {
		t.Fatalf("fish: %v\n%s", err, msg)
	}
	if _, err := runCLI(t, "completion", "tcsh"); err == nil {
		t.Fatal("an unknown shell was accepted")
	}
}
