package experiments

import (
	"context"
	"crypto/rand"
	"encoding/json"
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

// startSlurm starts a one-node Slurm cluster on localhost (munged, slurmctld
// and slurmd from Debian's munge and slurm-wlm, on free ports, with every
// file in a temporary folder), points SLURM_CONF at it and stops it when the
// test ends. It skips the test where the packages are not installed or the
// test does not run as root (slurmd needs it).
func startSlurm(t *testing.T) {
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

func freePort(t *testing.T) int {
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

func TestSlurmExecutorEndToEnd(t *testing.T) {
	t0 := time.Now()
	startSlurm(t)
	t.Logf("cluster up in %.1f s", time.Since(t0).Seconds())
	path, out := writeSweep(t, `base: base.yaml
axes:
  - grid: {strategy: [entropy, random, test_fail], seed: [1]}
slurm: {cpus: 1, mem: 100M, time: "5", poll: 200ms, options: ["--comment=alrl-test"]}
`)
	s, err := LoadSweep(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(out)
	ex := &Slurm{Config: s.Config.Slurm, Dir: abs, Sweep: s.Config.Name, Command: []string{os.Args[0], "sweep-task"}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t1 := time.Now()
	res, err := RunSweep(ctx, s, out, SweepOptions{Executor: ex, Retries: 1})
	t.Logf("sweep of 3 runs (1 failing, retried once) in %.1f s", time.Since(t1).Seconds())
	if err == nil || res.Index.Counts[StatusDone] != 2 || len(res.Failed) != 1 {
		t.Fatalf("counts %v, err %v", res.Index.Counts, err)
	}
	f := res.Failed[0]
	if f.Strategy != "test_fail" || f.Attempts != 2 || !strings.Contains(f.Error, "refuses to choose") ||
		!strings.HasPrefix(f.Log, filepath.Join(abs, "slurm")) || !strings.Contains(err.Error(), f.Log) {
		t.Errorf("failed run: %+v\nsweep error: %v", f, err)
	}
	for _, r := range res.Index.Runs {
		if r.Strategy != "test_fail" {
			if n := len(readRounds(t, filepath.Join(out, r.Dir))); r.Status != StatusDone || n != 5 {
				t.Errorf("%s: %s with %d rounds", r.Dir, r.Status, n)
			}
		}
	}
	jobs := readJobsFile(t, abs)
	if len(jobs) != 2 || len(jobs[0].Tasks) != 3 || len(jobs[1].Tasks) != 1 {
		t.Fatalf("jobs: %+v", jobs)
	}
	script, _ := os.ReadFile(jobs[0].Script)
	for _, w := range []string{"--array=0-2", "--cpus-per-task=1", "--mem=100M", "--time=5", "--comment=alrl-test", "sweep-task"} {
		if !strings.Contains(string(script), w) {
			t.Errorf("job script lacks %q:\n%s", w, script)
		}
	}
	// The same resume rules: a rerun submits only the unfinished run.
	res, err = RunSweep(ctx, s, out, SweepOptions{Executor: ex})
	if err == nil || res.Skipped != 2 || len(res.Failed) != 1 {
		t.Fatalf("rerun: skipped %d failed %d err %v", res.Skipped, len(res.Failed), err)
	}
	if jobs := readJobsFile(t, abs); len(jobs) != 3 || len(jobs[2].Tasks) != 1 {
		t.Errorf("rerun submitted %+v", jobs[len(jobs)-1])
	}
}

func readJobsFile(t *testing.T, dir string) []slurmJob {
	t.Helper()
	var jobs []slurmJob
	b, err := os.ReadFile(filepath.Join(dir, "slurm", "jobs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &jobs); err != nil {
		t.Fatal(err)
	}
	return jobs
}

func TestSlurmArgs(t *testing.T) {
	s := &Slurm{Dir: "/sweeps/x", Sweep: "x", Config: SlurmConfig{Partition: "gpu", CPUs: 4, Mem: "8G", Time: "01:00:00", GPUs: 1,
		MaxParallel: 3, Options: []string{"--account=lab"}}}
	got := strings.Join(s.sbatchArgs(10), " ")
	want := "--parsable --job-name=alrl-x --array=0-9%3 --cpus-per-task=4 --chdir=/sweeps/x --output=/sweeps/x/slurm/%A_%a.out " +
		"--partition=gpu --mem=8G --time=01:00:00 --gres=gpu:1 --account=lab"
	if got != want {
		t.Errorf("sbatch args:\n got %s\nwant %s", got, want)
	}
	for _, c := range []struct {
		state string
		term  bool
	}{{"PENDING", false}, {"RUNNING", false}, {"COMPLETING", false}, {"COMPLETED", true}, {"FAILED", true},
		{"CANCELLED+", true}, {"TIMEOUT", true}, {"OUT_OF_MEMORY", true}} {
		if terminal(c.state) != c.term {
			t.Errorf("terminal(%s) = %v", c.state, !c.term)
		}
	}
}
