package experiments

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/alrl/alrl/agents"
	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/learner"
)

func TestParseAgentSection(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte("agent: {name: dqn, episodes: 7}\nfast: {encoder: pca}\nmode: fast\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultAgentConfig()
	if cfg.Agent == nil || cfg.Agent.Name != "dqn" || cfg.Agent.Episodes != 7 || cfg.Agent.LR != def.LR || cfg.Agent.DQN.Replay != def.DQN.Replay || len(cfg.Agent.Features) != len(def.Features) {
		t.Errorf("agent section %+v: keys left out should keep their defaults", cfg.Agent)
	}
	if cfg.Fast == nil || cfg.Fast.Encoder != "pca" || cfg.Fast.L2 != envs.DefaultFastConfig().L2 || cfg.Mode != "fast" {
		t.Errorf("fast section %+v, mode %q", cfg.Fast, cfg.Mode)
	}
	// Without the sections nothing is set, and the resolved YAML does not mention them.
	plain, err := Parse("p.yaml", []byte("al: {k: 3}\n"), []string{"agent.episodes=5"})
	if err != nil {
		t.Fatal(err)
	}
	if plain.Agent == nil || plain.Agent.Episodes != 5 || plain.Agent.Name != "pg" {
		t.Errorf("--set agent.episodes=5 should create the section with defaults: %+v", plain.Agent)
	}
	none, _ := Parse("n.yaml", []byte("al: {k: 3}\n"), nil)
	if y, _ := none.YAML(); regexp.MustCompile(`(?m)^(agent|fast|mode):`).Match(y) {
		t.Errorf("resolved YAML of a plain config mentions the new sections:\n%s", y)
	}
	// Round trip of a config with an agent.
	y, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("back.yaml", y, nil)
	if err != nil {
		t.Fatalf("resolved config does not parse back: %v\n%s", err, y)
	}
	if y2, _ := back.YAML(); string(y2) != string(y) {
		t.Errorf("round trip changed the config:\n%s\n---\n%s", y, y2)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"agent: {name: sac}", `agent.name: "sac"`},
		{"agent: {features: [entropy, nope]}", `unknown feature "nope"`},
		{"agent: {features: [strategy:random]}", "not a Scorer"},
		{"agent: {episodes: 0}", "agent.episodes"},
		{"agent: {mode: slow}", "agent.mode"},
		{"agent: {pg: {algo: a3c}}", "agent.pg.algo"},
		{"agent: {name: bandit, bandit: {arms: [random, nope]}}", "agent.bandit.arms[1]"},
		{"agent: {epsiodes: 3}", "agent.epsiodes"},
		{"mode: turbo", "mode:"},
		{"fast: {encoder: vae}", "fast.encoder"},
		{"agent: {name: pg}\nstrategies: [{name: entropy, label: pg}]", "trained agent's label"},
	} {
		_, err := Parse("bad.yaml", []byte(tc.yaml), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.yaml, err, tc.want)
		}
	}
}

// agentTestConfig trains a bandit on blobs in fast mode (raw encoder) and
// evaluates it next to random.
func agentTestConfig(t *testing.T) Config {
	t.Helper()
	cfg := runTestConfig(t)
	cfg.Seeds = []uint64{1}
	cfg.Strategies = []StrategyConfig{{Name: "random"}}
	cfg.AL = envs.Config{InitSize: 6, InitMode: "balanced", K: 4, Budget: 22, Candidates: 40}
	f := envs.DefaultFastConfig()
	f.Encoder, f.Cache = envs.EncoderRaw, t.TempDir()
	cfg.Fast = &f
	a := DefaultAgentConfig()
	a.Name, a.Episodes, a.CheckpointEvery = agents.KindBandit, 4, 1
	a.Reward = envs.RewardRaw
	a.Source = datasets.Source{Name: "blobs", N: 400, Classes: 3, Dim: 2, Noise: 2}
	a.Split = SplitConfig{Pool: 200, Val: 60, Test: 60}
	a.Bandit.Arms = []string{"random", "entropy"}
	cfg.Agent = &a
	return cfg
}

func TestTrainAgentThenEvaluate(t *testing.T) {
	cfg := agentTestConfig(t)
	res, err := Run(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[1].Summary.Strategy != "bandit" {
		t.Fatalf("results %+v, want random and the trained bandit", res)
	}
	dir := AgentDir(cfg.Out)
	eps, err := ReadEpisodes(filepath.Join(dir, "train.jsonl"))
	if err != nil || len(eps) != 4 {
		t.Fatalf("%d episodes logged (%v), want 4", len(eps), err)
	}
	for i, e := range eps {
		if e.Episode != i || e.Labels != 22 || e.Steps != 4 {
			t.Errorf("episode %+v", e)
		}
	}
	for _, f := range []string{"policy.json", "training.png", "config.yaml"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "checkpoint.json")); err == nil {
		t.Error("the checkpoint should be removed when training finishes")
	}
	if _, err := Run(context.Background(), cfg, Options{}); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("training again into the same folder: %v", err)
	}
	// With --resume the finished training is skipped.
	if _, err := Run(context.Background(), cfg, Options{Resume: true}); err != nil {
		t.Errorf("resume of a finished experiment: %v", err)
	}
	changed := cfg
	a := *cfg.Agent
	a.Episodes = 5
	changed.Agent = &a
	if _, err := Run(context.Background(), changed, Options{Resume: true}); err == nil || !strings.Contains(err.Error(), "config differs") {
		t.Errorf("resume with another agent config: %v", err)
	}
}

func TestAgentTrainingResumesExactly(t *testing.T) {
	full := agentTestConfig(t)
	full.Agent.Evaluate = false
	if _, err := Run(context.Background(), full, Options{}); err != nil {
		t.Fatal(err)
	}
	want, _ := ReadEpisodes(filepath.Join(AgentDir(full.Out), "train.jsonl"))

	cut := agentTestConfig(t)
	cut.Agent.Evaluate = false
	ctx, cancel := context.WithCancel(context.Background())
	ctx = learner.WithProgress(ctx, func(stage string, done, _ int) {
		if stage == "agent" && done == 2 {
			cancel()
		}
	})
	if _, err := Run(ctx, cut, Options{}); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("interrupted training: %v", err)
	}
	if _, err := Run(context.Background(), cut, Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
	got, _ := ReadEpisodes(filepath.Join(AgentDir(cut.Out), "train.jsonl"))
	if len(got) != len(want) {
		t.Fatalf("%d episodes after resume, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Return != want[i].Return || got[i].AULC != want[i].AULC || got[i].Stats["w_entropy"] != want[i].Stats["w_entropy"] {
			t.Errorf("episode %d: resumed %+v, uninterrupted %+v", i, got[i], want[i])
		}
	}
	pa, _ := os.ReadFile(PolicyPath(full.Out))
	pb, _ := os.ReadFile(PolicyPath(cut.Out))
	strip := func(b []byte) string { // the save time differs
		s := string(b)
		if i := strings.Index(s, `"saved"`); i >= 0 {
			j := strings.Index(s[i:], "\n")
			s = s[:i] + s[i+j:]
		}
		return s
	}
	if strip(pa) != strip(pb) {
		t.Error("the policy file of the resumed training differs from the uninterrupted one")
	}
}

func TestTrainAgentInFullMode(t *testing.T) {
	cfg := agentTestConfig(t)
	cfg.Agent.Mode, cfg.Agent.Episodes, cfg.Agent.Evaluate = ModeFull, 2, false
	if _, err := Run(context.Background(), cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	eps, err := ReadEpisodes(filepath.Join(AgentDir(cfg.Out), "train.jsonl"))
	if err != nil || len(eps) != 2 {
		t.Fatalf("%d episodes (%v)", len(eps), err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, "summary.md")); err == nil {
		t.Error("agent.evaluate false still ran the evaluation")
	}
}

func TestFastModeRuns(t *testing.T) {
	cfg := runTestConfig(t)
	cfg.Seeds = []uint64{3}
	cfg.Mode = ModeFast
	f := envs.DefaultFastConfig()
	f.Encoder, f.Cache = envs.EncoderRaw, t.TempDir()
	cfg.Fast = &f
	res, err := Run(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if !strings.Contains(r.Summary.Learner, "fast head") || r.Summary.Labels != 22 {
			t.Errorf("fast-mode run: learner %q, %d labels", r.Summary.Learner, r.Summary.Labels)
		}
	}
}

func TestAgentNeedsBackend(t *testing.T) {
	if len(agentsBackends()) > 0 {
		t.Skip("a network backend is compiled in")
	}
	cfg := agentTestConfig(t)
	cfg.Agent.Name = agents.KindPG
	_, err := Run(context.Background(), cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "-tags torch") {
		t.Errorf("training pg without a backend: %v", err)
	}
}

func agentsBackends() []string {
	if _, err := agents.NewBackend(""); err == nil {
		return []string{"torch"}
	}
	return nil
}

// TestTrainAgentWithNAS: an agent trains and is evaluated on Active-iNAS
// learners (the environment sees only a learner); every evaluation round
// records its architecture.
func TestTrainAgentWithNAS(t *testing.T) {
	cfg := agentTestConfig(t)
	nc := nasTestConfig(t)
	cfg.Learner, cfg.NAS = nc.Learner, nc.NAS
	cfg.Agent.Mode, cfg.Agent.Episodes = ModeFull, 2
	res, err := Run(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	eps, err := ReadEpisodes(filepath.Join(AgentDir(cfg.Out), "train.jsonl"))
	if err != nil || len(eps) != 2 {
		t.Fatalf("%d episodes (%v)", len(eps), err)
	}
	for _, r := range res {
		for _, rec := range readRounds(t, r.Dir) {
			if _, ok := rec.Info["arch"].(string); !ok {
				t.Fatalf("%s round %d: no architecture in %v", r.Summary.Strategy, rec.Round, rec.Info)
			}
		}
	}
}
