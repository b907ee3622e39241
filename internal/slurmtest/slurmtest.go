// Package slurmtest starts a one-node Slurm cluster on localhost for tests
// (Debian's slurm-wlm and munge, run as root without cgroups; see the Slurm
// section of the project's FACTS), and stops it when the test ends.
package slurmtest

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Start starts a one-node Slurm cluster on localhost (munged, slurmctld
// and slurmd from Debian's munge and slurm-wlm, on free ports, with every
// file in a temporary folder), points SLURM_CONF at it and stops it when the
// test ends. It skips the test where the packages are not installed or the
// test does not run as root (slurmd needs it).
func Start(t testing.TB) {
	t.Helper()
	for _, b := range []string{"munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("Slurm executor test skipped: %s not found; install Debian's slurm-wlm and munge as root (apt-get install slurm-wlm munge; `make test` does it)", b)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("Slurm executor test skipped: starting slurmd on localhost needs root")
	}
	dir, err := os.MkdirTemp("", "alrl-slurm-")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"munge", "state", "spool", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	key := make([]byte, 1024)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "munge", "munge.key")
	if err := os.WriteFile(keyPath, key, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "munge", "munge.sock")
	pids := map[string]string{
		"munged":    filepath.Join(dir, "munge", "munged.pid"),
		"slurmctld": filepath.Join(dir, "slurmctld.pid"),
		"slurmd":    filepath.Join(dir, "slurmd.pid"),
	}
	t.Cleanup(func() {
		for _, name := range []string{"slurmd", "slurmctld", "munged"} {
			stopDaemon(pids[name])
		}
		if !t.Failed() {
			os.RemoveAll(dir)
		} else {
			t.Logf("Slurm files kept in %s", dir)
		}
	})
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	run("munged", "--force", "--socket="+sock, "--key-file="+keyPath, "--pid-file="+pids["munged"],
		"--log-file="+filepath.Join(dir, "munge", "munged.log"), "--seed-file="+filepath.Join(dir, "munge", "seed"))
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "slurm.conf")
	text := fmt.Sprintf(`ClusterName=alrltest
SlurmctldHost=%[1]s
SlurmctldPort=%[2]d
SlurmdPort=%[3]d
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=%[4]s
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=%[5]s/state
SlurmdSpoolDir=%[5]s/spool
SlurmctldPidFile=%[6]s
SlurmdPidFile=%[7]s
SlurmctldLogFile=%[5]s/log/slurmctld.log
SlurmdLogFile=%[5]s/log/slurmd.log
ReturnToService=2
MpiDefault=none
NodeName=%[1]s CPUs=%[8]d RealMemory=1000 State=UNKNOWN
PartitionName=test Nodes=%[1]s Default=YES MaxTime=INFINITE State=UP
`, host, freePort(t), freePort(t), sock, dir, pids["slurmctld"], pids["slurmd"], numCPU())
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLURM_CONF", conf)
	run("slurmctld", "-f", conf)
	run("slurmd", "-f", conf)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := exec.Command("sinfo", "-h", "-o", "%t").Output()
		if strings.TrimSpace(string(out)) == "idle" {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "log", "slurmctld.log"))
			t.Fatalf("the local Slurm node did not become idle within 30 s (sinfo: %q); slurmctld log:\n%s", out, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func numCPU() int {
	out, err := exec.Command("nproc").Output()
	if n, e := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && e == nil && n > 0 {
		return n
	}
	return 1
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// stopDaemon stops the process named by a pid file: SIGTERM, then SIGKILL.
func stopDaemon(pidFile string) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 50; i++ {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}
