package experiments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/alrl/alrl/agents"
	"github.com/alrl/alrl/agents/features"
	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/internal/atomicfile"
	"github.com/alrl/alrl/internal/strictyaml"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/nas"
)

// Modes of the learner in an environment.
const (
	ModeFull = "full" // refit the configured learner (e.g. the whole CNN) every round
	ModeFast = "fast" // refit a logistic-regression head on frozen encoder embeddings
)

// AgentConfig is the `agent:` section: a learning agent trained on a source
// data set in the fast environment, then evaluated as the strategy `policy`
// next to the config's strategies on the config's data set.
type AgentConfig struct {
	Name            string                 `yaml:"name"`             // pg | dqn | bandit
	Label           string                 `yaml:"label"`            // run folder / legend name of the trained agent [name]
	Features        []string               `yaml:"features"`         // candidate features by name (pg, dqn)
	MCSamples       int                    `yaml:"mc_samples"`       // MC samples of the bald feature
	Episodes        int                    `yaml:"episodes"`         // training episodes
	LR              float64                `yaml:"lr"`               // learning rate (Adam)
	Seed            uint64                 `yaml:"seed"`             // training seed: source split, episode seeds, network init
	Mode            string                 `yaml:"mode"`             // training env: fast | full
	Reward          string                 `yaml:"reward"`           // training env's reward: raw | relative; "" = relative (raw for dqn); al.reward applies to the evaluation
	RewardArea      bool                   `yaml:"reward_area"`      // training env: weight rewards so that they sum to the AULC gain
	Candidates      int                    `yaml:"candidates"`       // training env: candidates offered per step (0 = al.candidates)
	Source          datasets.Source        `yaml:"source"`           // training data set
	Split           SplitConfig            `yaml:"split"`            // training data split
	CheckpointEvery int                    `yaml:"checkpoint_every"` // episodes between training checkpoints
	Evaluate        bool                   `yaml:"evaluate"`         // run the evaluation after training
	Stream          envs.StreamConfig      `yaml:"stream"`           // dqn: the stream-based env
	PG              agents.PGConfig        `yaml:"pg"`
	DQN             agents.DQNConfig       `yaml:"dqn"`
	Bandit          agents.BanditConfig    `yaml:"bandit"`
	Imitation       agents.ImitationConfig `yaml:"imitation"`
	Tasks           []AgentTask            `yaml:"tasks"` // imitation: the training tasks, one per episode in turn ([] = source and split)
}

// DefaultAgentConfig returns the documented defaults of the agent section.
func DefaultAgentConfig() AgentConfig {
	return AgentConfig{
		Name:            agents.KindPG,
		Features:        []string{"max_prob", "margin", "entropy", "bald", "pred_class_share", "knn_dist", "density"},
		MCSamples:       10,
		Episodes:        200,
		LR:              1e-3,
		Mode:            ModeFast,
		RewardArea:      true,
		Candidates:      100,
		Source:          datasets.Source{Name: "mnist"},
		Split:           SplitConfig{Pool: 10000, Val: 2000, Test: 1000},
		CheckpointEvery: 10,
		Evaluate:        true,
		Stream:          envs.DefaultStreamConfig(),
		PG:              agents.DefaultPGConfig(),
		DQN:             agents.DefaultDQNConfig(),
		Bandit:          agents.DefaultBanditConfig(),
		Imitation:       agents.DefaultImitationConfig(),
	}
}

// ID is the label, or the agent's name.
func (a AgentConfig) ID() string {
	if a.Label != "" {
		return a.Label
	}
	return a.Name
}

// Validate checks the section.
func (a AgentConfig) Validate() error {
	var errs []error
	switch a.Name {
	case agents.KindPG:
		errs = append(errs, a.PG.Validate())
	case agents.KindDQN:
		errs = append(errs, a.DQN.Validate())
	case agents.KindBandit:
		errs = append(errs, a.Bandit.Validate())
	case agents.KindImitation:
		errs = append(errs, a.Imitation.Validate(), a.validateTasks())
		if a.Mode != ModeFast {
			errs = append(errs, fmt.Errorf("agent.mode: the imitation agent trains in fast mode only (its look-ahead expert refits the fast head)"))
		}
	default:
		errs = append(errs, fmt.Errorf("agent.name: %q is not one of pg, dqn, bandit, imitation", a.Name))
	}
	if a.Name == agents.KindPG || a.Name == agents.KindDQN {
		if _, err := features.New(a.Features, 2, features.Options{MCSamples: a.MCSamples}); err != nil {
			errs = append(errs, fmt.Errorf("agent.%w", err))
		}
		if a.LR <= 0 {
			errs = append(errs, fmt.Errorf("agent.lr: must be > 0, got %g", a.LR))
		}
	}
	if a.Name == agents.KindImitation && !(a.LR > 0) {
		errs = append(errs, fmt.Errorf("agent.lr: must be > 0, got %g", a.LR))
	}
	if a.Episodes < 1 {
		errs = append(errs, fmt.Errorf("agent.episodes: must be >= 1, got %d", a.Episodes))
	}
	if a.Reward != "" && a.Reward != envs.RewardRaw && a.Reward != envs.RewardRelative {
		errs = append(errs, fmt.Errorf("agent.reward: %q is not one of raw, relative", a.Reward))
	}
	if a.Name == agents.KindDQN && a.Reward == envs.RewardRelative {
		errs = append(errs, fmt.Errorf("agent.reward: the stream-based env of dqn supports raw only"))
	}
	if a.Mode != ModeFast && a.Mode != ModeFull {
		errs = append(errs, fmt.Errorf("agent.mode: %q is not one of fast, full", a.Mode))
	}
	if a.Candidates < 0 {
		errs = append(errs, fmt.Errorf("agent.candidates: must be >= 0, got %d", a.Candidates))
	}
	if a.CheckpointEvery < 1 {
		errs = append(errs, fmt.Errorf("agent.checkpoint_every: must be >= 1, got %d", a.CheckpointEvery))
	}
	if strings.ContainsAny(a.ID(), `/\ `) {
		errs = append(errs, fmt.Errorf("agent.label: %q must not contain slashes or spaces (it names a folder)", a.ID()))
	}
	return errors.Join(errs...)
}

// AgentDir is the folder of the agent's training inside the experiment's output folder.
func AgentDir(out string) string { return filepath.Join(out, "agent") }

// PolicyPath is where the trained agent's policy file is written.
func PolicyPath(out string) string { return filepath.Join(AgentDir(out), "policy.json") }

// NewLearner builds the learner of one run: the configured learner in full
// mode, or the fast head over the (cached) frozen encoder in fast mode.
func NewLearner(ctx context.Context, mode string, fc *envs.FastConfig, lc learner.Config, data *datasets.Dataset, split datasets.Split, seed uint64) (learner.Learner, error) {
	switch mode {
	case "", ModeFull:
		return learner.New(data.Inputs(), data.NumClasses, lc)
	case ModeFast:
		f := envs.DefaultFastConfig()
		if fc != nil {
			f = *fc
		}
		return envs.NewFastLearner(ctx, f, lc, data, split, seed)
	}
	return nil, fmt.Errorf("mode: %q is not one of full, fast", mode)
}

// agentCheckpoint is the training state saved every checkpoint_every episodes.
type agentCheckpoint struct {
	Version  int                    `json:"version"`
	Next     int                    `json:"next_episode"`
	Agent    json.RawMessage        `json:"agent"`
	Episodes []agents.EpisodeResult `json:"episodes"`
	Seconds  float64                `json:"seconds"`
}

// TrainAgent trains the configured agent on its source data set and writes
// OUT/agent/: config.yaml, train.jsonl (one line per episode), training.png,
// checkpoint.json and policy.json. With opt.Resume it continues from the
// checkpoint, and skips training that already finished. It returns the
// policy file's path.
func TrainAgent(ctx context.Context, cfg Config, opt Options) (string, error) {
	log := opt.Log
	if log == nil {
		log = zap.NewNop()
	}
	a := *cfg.Agent
	dir := AgentDir(cfg.Out)
	policy := PolicyPath(cfg.Out)
	resolved, err := cfg.agentYAML()
	if err != nil {
		return "", err
	}
	ckPath := filepath.Join(dir, "checkpoint.json")
	if old, err := os.ReadFile(filepath.Join(dir, "config.yaml")); err == nil {
		if !opt.Resume {
			return "", fmt.Errorf("agent training folder %s is not empty; use --resume to continue or reuse it, or another --out", dir)
		}
		if !bytes.Equal(old, resolved) {
			return "", fmt.Errorf("cannot resume: the agent or environment config differs from %s/config.yaml; use another --out", dir)
		}
		if _, err := os.Stat(policy); err == nil {
			if _, err := os.Stat(ckPath); errors.Is(err, os.ErrNotExist) {
				log.Info("agent already trained, skipping", zap.String("policy", policy))
				return policy, nil
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if _, err := atomicfile.Sweep(dir); err != nil {
		return "", err
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, "config.yaml"), resolved); err != nil {
		return "", err
	}
	be, err := backendFor(a.Name)
	if err != nil {
		return "", err
	}
	if be != nil {
		defer be.Close()
	}
	var play episodeFunc
	var source string
	var classes int
	if a.Name == agents.KindImitation {
		play, source, err = imitationEpisodes(ctx, cfg, opt)
	} else {
		play, source, classes, err = sourceEpisodes(ctx, cfg, opt)
	}
	if err != nil {
		return "", err
	}
	common := agents.Common{Features: a.Features, MCSamples: a.MCSamples, Classes: classes, LR: a.LR, Seed: a.Seed, Backend: be}
	tr, err := newLearningAgent(a, common)
	if err != nil {
		return "", err
	}
	var results []agents.EpisodeResult
	next := 0
	var spent float64
	if b, err := os.ReadFile(ckPath); err == nil && opt.Resume {
		var ck agentCheckpoint
		if err := json.Unmarshal(b, &ck); err != nil || ck.Version != 1 {
			return "", fmt.Errorf("agent checkpoint %s is corrupt; delete %s to train again", ckPath, dir)
		}
		if err := tr.Restore(ck.Agent); err != nil {
			return "", fmt.Errorf("resume: %w", err)
		}
		results, next, spent = ck.Episodes, ck.Next, ck.Seconds
		log.Info("agent training resumed", zap.Int("episode", next))
	} else if err == nil {
		return "", fmt.Errorf("agent training folder %s holds a checkpoint; use --resume to continue it, or another --out", dir)
	}
	start := time.Now().Add(-time.Duration(spent * float64(time.Second)))
	log.Info("agent training", zap.String("agent", a.Name), zap.String("source", source), zap.String("mode", a.Mode),
		zap.Int("episodes", a.Episodes))
	save := func(done bool) error {
		if err := writeEpisodes(filepath.Join(dir, "train.jsonl"), results); err != nil {
			return err
		}
		if err := PlotTraining(filepath.Join(dir, "training.png"), fmt.Sprintf("%s on %s", a.ID(), source), results); err != nil {
			return err
		}
		info := agents.TrainInfo{Source: source, Episodes: len(results), Seed: a.Seed, Saved: time.Now().UTC(),
			Note: fmt.Sprintf("mode %s, al.k %d, al.budget %d, al.candidates %d", a.Mode, cfg.AL.K, cfg.AL.Budget, cfg.AL.Candidates)}
		if err := agents.WritePolicy(policy, tr.Policy(info)); err != nil {
			return err
		}
		if done {
			if err := os.Remove(ckPath); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			return nil
		}
		st, err := tr.Checkpoint()
		if err != nil {
			return err
		}
		b, err := json.Marshal(agentCheckpoint{Version: 1, Next: len(results), Agent: st, Episodes: results, Seconds: time.Since(start).Seconds()})
		if err != nil {
			return err
		}
		return atomicfile.WriteBytes(ckPath, b)
	}
	for ep := next; ep < a.Episodes; ep++ {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("agent training interrupted after %d episodes (resume with --resume): %w", ep, err)
		}
		seed := envs.RNG(a.Seed, ep, "episode").Uint64()
		res, err := play(ctx, tr, ep, seed)
		if err != nil {
			return "", err
		}
		results = append(results, res)
		learner.Report(ctx, "agent", ep+1, a.Episodes)
		if (ep+1)%a.CheckpointEvery == 0 || ep+1 == a.Episodes {
			if err := save(ep+1 == a.Episodes); err != nil {
				return "", fmt.Errorf("agent checkpoint: %w", err)
			}
			log.Info("agent episodes", zap.Int("done", ep+1), zap.Float64("mean_return", meanOf(results, 10, func(r agents.EpisodeResult) float64 { return float64(r.Return) })),
				zap.Float64("mean_aulc", meanOf(results, 10, func(r agents.EpisodeResult) float64 { return float64(r.AULC) })),
				zap.Float64("seconds", time.Since(start).Seconds()))
		}
	}
	if next >= a.Episodes {
		if err := save(true); err != nil {
			return "", err
		}
	}
	return policy, nil
}

// episodeFunc plays training episode ep of tr with the given seed.
type episodeFunc func(ctx context.Context, tr agents.LearningAgent, ep int, seed uint64) (agents.EpisodeResult, error)

// sourceEpisodes prepares the episodes of pg, dqn and bandit: every one on
// agent.source's split, with a fresh learner. It returns the runner, the
// source's name and its class count.
func sourceEpisodes(ctx context.Context, cfg Config, opt Options) (episodeFunc, string, int, error) {
	a := *cfg.Agent
	log := opt.Log
	if log == nil {
		log = zap.NewNop()
	}
	data, err := datasets.Load(a.Source, opt.DataDir, a.Seed)
	if err != nil {
		return nil, "", 0, fmt.Errorf("agent.source: %w", err)
	}
	split, err := data.Split(a.Seed, datasets.SplitConfig{PoolSize: a.Split.Pool, ValSize: a.Split.Val, TestSize: a.Split.Test})
	if err != nil {
		return nil, "", 0, fmt.Errorf("agent.split: %w", err)
	}
	if a.Split.Val == 0 && a.Name != agents.KindBandit {
		return nil, "", 0, fmt.Errorf("agent.split.val: the reward is the change in validation accuracy, so the training split needs a validation set")
	}
	// Fast mode encodes the source once (or reads the cache).
	var emb *envs.Embedding
	if a.Mode == ModeFast {
		fc := envs.DefaultFastConfig()
		if cfg.Fast != nil {
			fc = *cfg.Fast
		}
		t0 := time.Now()
		if emb, err = envs.Encode(ctx, fc, cfg.Learner, data, split, a.Seed); err != nil {
			return nil, "", 0, err
		}
		log.Info("fast mode: embeddings ready", zap.String("encoder", emb.Source), zap.Int("dims", emb.D), zap.Float64("seconds", time.Since(t0).Seconds()))
	}
	newLearner := func() (learner.Learner, error) {
		if emb != nil {
			fc := envs.DefaultFastConfig()
			if cfg.Fast != nil {
				fc = *cfg.Fast
			}
			return envs.NewHead(emb, data.NumClasses, fc.L2, fc.Iterations)
		}
		if cfg.NASEnabled() {
			return nas.New(data.Inputs(), data.NumClasses, cfg.Learner, *cfg.NAS, nas.Options{Log: log})
		}
		return learner.New(data.Inputs(), data.NumClasses, cfg.Learner)
	}
	play := func(ctx context.Context, tr agents.LearningAgent, ep int, seed uint64) (agents.EpisodeResult, error) {
		l, err := newLearner()
		if err != nil {
			return agents.EpisodeResult{}, err
		}
		defer l.Close()
		return runTrainingEpisode(ctx, a, cfg.AL, data, split, l, tr, ep, seed, trainingEnvOptions(cfg)...)
	}
	return play, data.Name, data.NumClasses, nil
}

func meanOf(rs []agents.EpisodeResult, last int, f func(agents.EpisodeResult) float64) float64 {
	lo := max(0, len(rs)-last)
	s, n := 0.0, 0
	for _, r := range rs[lo:] {
		if v := f(r); !math.IsNaN(v) {
			s += v
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}

func backendFor(name string) (agents.Backend, error) {
	if name == agents.KindBandit {
		return nil, nil
	}
	be, err := agents.NewBackend("")
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", name, err)
	}
	return be, nil
}

func newLearningAgent(a AgentConfig, c agents.Common) (agents.LearningAgent, error) {
	switch a.Name {
	case agents.KindPG:
		return agents.NewPG(c, a.PG)
	case agents.KindDQN:
		return agents.NewDQN(c, a.DQN)
	case agents.KindBandit:
		return agents.NewBandit(a.Seed, a.Bandit)
	case agents.KindImitation:
		return agents.NewImitation(c, a.Imitation)
	}
	return nil, fmt.Errorf("agent.name: %q is not one of pg, dqn, bandit, imitation", a.Name)
}

// trainingEnvOptions are the options of a training episode's env: the
// source split's validation labels measure rewards only (a simulation may
// reward from held-out labels, but the learner and the policy's inputs see
// what an evaluation run would), and fits hold out what the evaluation's do.
func trainingEnvOptions(cfg Config) []envs.Option {
	return []envs.Option{envs.WithValidationForRewardOnly(), envs.WithHoldout(cfg.Learner.Train.Holdout)}
}

func runTrainingEpisode(ctx context.Context, a AgentConfig, al envs.Config, data *datasets.Dataset, split datasets.Split, l learner.Learner, tr agents.LearningAgent, ep int, seed uint64, opts ...envs.Option) (agents.EpisodeResult, error) {
	al.Reward, al.RewardArea = a.trainingReward(), a.RewardArea
	if a.Candidates > 0 {
		al.Candidates = a.Candidates
	}
	if st, ok := tr.(agents.StreamAgent); ok && a.Name == agents.KindDQN {
		env, err := envs.NewStream(data, split, l, al, a.Stream, opts...)
		if err != nil {
			return agents.EpisodeResult{}, err
		}
		return agents.RunStreamEpisode(ctx, env, st, ep, seed)
	}
	pt, ok := tr.(agents.PoolAgent)
	if !ok {
		return agents.EpisodeResult{}, fmt.Errorf("agent %s cannot act in the pool-based env", a.Name)
	}
	env, err := envs.New(data, split, l, al, opts...)
	if err != nil {
		return agents.EpisodeResult{}, err
	}
	return agents.RunPoolEpisode(ctx, env, pt, ep, seed)
}

func writeEpisodes(path string, rs []agents.EpisodeResult) error {
	var buf bytes.Buffer
	for _, r := range rs {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return atomicfile.WriteBytes(path, buf.Bytes())
}

// ReadEpisodes reads an agent's train.jsonl.
func ReadEpisodes(path string) ([]agents.EpisodeResult, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []agents.EpisodeResult
	for i, line := range splitLines(b) {
		var r agents.EpisodeResult
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// PlotTraining draws the episode returns and validation AULCs of agent
// training, with their moving averages over 20 episodes, into a PNG.
func PlotTraining(path, title string, rs []agents.EpisodeResult) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "episode"
	p.Y.Label.Text = "return / validation AULC"
	p.Add(plotter.NewGrid())
	series := []struct {
		name string
		f    func(agents.EpisodeResult) float64
		col  color.Color
	}{
		{"return", func(r agents.EpisodeResult) float64 { return float64(r.Return) }, colours[1]},
		{"validation AULC", func(r agents.EpisodeResult) float64 { return float64(r.AULC) }, colours[2]},
	}
	for i, s := range series {
		var raw, avg plotter.XYs
		for j, r := range rs {
			v := s.f(r)
			if math.IsNaN(v) {
				continue
			}
			raw = append(raw, plotter.XY{X: float64(r.Episode), Y: v})
			avg = append(avg, plotter.XY{X: float64(r.Episode), Y: meanOf(rs[:j+1], 20, s.f)})
		}
		if len(raw) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(raw)
		if err != nil {
			return err
		}
		sc.Color = s.col
		sc.Radius = vg.Points(1.2)
		sc.Shape = glyphs[i%len(glyphs)]
		ln, err := plotter.NewLine(avg)
		if err != nil {
			return err
		}
		ln.Color, ln.Width, ln.Dashes = s.col, vg.Points(2), dashes[i%len(dashes)]
		p.Add(sc, ln)
		p.Legend.Add(s.name+" (dots: episodes, line: mean of 20)", ln, sc)
	}
	// Head room above the data for the legend.
	p.Legend.Top, p.Legend.Left = true, true
	p.Y.Max += 0.35 * (p.Y.Max - p.Y.Min)
	w, err := p.WriterTo(7*vg.Inch, 4.5*vg.Inch, "png")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, func(f io.Writer) error {
		_, err := w.WriteTo(f)
		return err
	})
}

// agentYAML renders what agent training depends on (for resume checks).
func (c *Config) agentYAML() ([]byte, error) {
	type view struct {
		AL      envs.Config      `yaml:"al"`
		Learner learner.Config   `yaml:"learner"`
		Fast    *envs.FastConfig `yaml:"fast,omitempty"`
		Agent   *AgentConfig     `yaml:"agent"`
	}
	return strictyaml.Encode(view{AL: c.AL, Learner: c.Learner, Fast: c.Fast, Agent: c.Agent})
}

// trainAgentFirst trains the config's agent (if any) and returns the config
// with the trained policy appended to the strategies, and whether to evaluate.
func trainAgentFirst(ctx context.Context, cfg Config, opt Options) (Config, bool, error) {
	if cfg.Agent == nil {
		return cfg, true, nil
	}
	path, err := TrainAgent(ctx, cfg, opt)
	if err != nil {
		return cfg, false, fmt.Errorf("agent training: %w", err)
	}
	if !cfg.Agent.Evaluate {
		return cfg, false, nil
	}
	c := cfg
	c.Strategies = append(append([]StrategyConfig(nil), cfg.Strategies...),
		StrategyConfig{Name: "policy", Label: cfg.Agent.ID(), Options: map[string]any{"path": path}})
	if err := c.Validate(); err != nil {
		return cfg, false, err
	}
	return c, true, nil
}

// trainingReward is the training env's reward mode: relative by default for
// pool-based agents, raw for the stream-based dqn.
func (a AgentConfig) trainingReward() string {
	switch {
	case a.Reward != "":
		return a.Reward
	case a.Name == agents.KindDQN:
		return envs.RewardRaw
	}
	return envs.RewardRelative
}
