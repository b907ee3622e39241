//go:build unix

package sweep

import (
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

func TestKilledByNamesTheSignal(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skipf("no sleep binary: %v", err)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	err := cmd.Wait()
	if got := killedBy(err); !strings.Contains(got, "signal 9") || !strings.Contains(got, "SIGKILL") {
		t.Fatalf("killedBy = %q", got)
	}
	if got := killedBy(exec.Command("false").Run()); got != "" {
		t.Fatalf("an ordinary failure was reported as %q", got)
	}
	if got := killedBy(errors.New("x")); got != "" {
		t.Fatalf("a plain error was reported as %q", got)
	}
}
