package experiments

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/alrl/alrl/agents"
	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	"github.com/alrl/alrl/learner"
)

// AgentTask is one training task of the imitation agent: a data set with
// its split and encoder, or ranges from which a fresh synthetic task is
// drawn every episode it is used. Tasks take turns, episode by episode.
type AgentTask struct {
	Name      string               `yaml:"name"`      // label in train.jsonl [the source's name, or synthetic]
	Source    *datasets.Source     `yaml:"source"`    // a data set
	Split     SplitConfig          `yaml:"split"`     // its split; val is the expert's held-out set (training only)
	Fast      *envs.FastConfig     `yaml:"fast"`      // its encoder [the experiment's fast section]
	Synthetic *datasets.TaskRanges `yaml:"synthetic"` // or: synthetic tasks drawn from these ranges (raw features)
}

// label names the task.
func (t AgentTask) label() string {
	switch {
	case t.Name != "":
		return t.Name
	case t.Synthetic != nil:
		return "synthetic"
	case t.Source != nil:
		if t.Source.Set != "" {
			return t.Source.Name + "-" + t.Source.Set
		}
		return t.Source.Name
	}
	return "task"
}

// fastFor returns the task's encoder settings: its fast keys over base (the
// experiment's fast section, or the defaults); keys left out keep base's.
func (t AgentTask) fastFor(base envs.FastConfig) envs.FastConfig {
	f := t.Fast
	if f == nil {
		return base
	}
	out := base
	if f.Encoder != "" {
		out.Encoder = f.Encoder
	}
	for _, p := range []struct{ dst, src *int }{{&out.Dim, &f.Dim}, {&out.PCASamples, &f.PCASamples}, {&out.EncoderLabels, &f.EncoderLabels},
		{&out.EncoderEpochs, &f.EncoderEpochs}, {&out.Iterations, &f.Iterations}} {
		if *p.src != 0 {
			*p.dst = *p.src
		}
	}
	if f.L2 != 0 {
		out.L2 = f.L2
	}
	if f.Cache != "" {
		out.Cache = f.Cache
	}
	return out
}

// ranges returns the task's synthetic ranges, keys left out taking the defaults.
func (t AgentTask) ranges() datasets.TaskRanges {
	r, d := *t.Synthetic, datasets.DefaultTaskRanges()
	if r.N == 0 {
		r.N = d.N
	}
	for _, p := range []struct{ dst, def *[2]int }{{&r.Classes, &d.Classes}, {&r.Dim, &d.Dim}, {&r.Clusters, &d.Clusters}} {
		if *p.dst == [2]int{} {
			*p.dst = *p.def
		}
	}
	for _, p := range []struct{ dst, def *[2]float64 }{{&r.Informative, &d.Informative}, {&r.Spread, &d.Spread}, {&r.Imbalance, &d.Imbalance}} {
		if *p.dst == [2]float64{} {
			*p.dst = *p.def
		}
	}
	return r // label_noise [0, 0] is a valid choice, so it has no default
}

func (a AgentConfig) validateTasks() error {
	var errs []error
	for i, t := range a.Tasks {
		switch {
		case (t.Source == nil) == (t.Synthetic == nil):
			errs = append(errs, fmt.Errorf("agent.tasks[%d]: give exactly one of source and synthetic", i))
		case t.Synthetic != nil:
			r := t.ranges()
			if err := r.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("agent.tasks[%d].synthetic: %w", i, err))
			}
			if s := t.Split; s.Pool+s.Val+s.Test > r.N {
				errs = append(errs, fmt.Errorf("agent.tasks[%d].split: pool + val + test = %d is more than synthetic.n = %d", i, s.Pool+s.Val+s.Test, r.N))
			}
		}
		if t.Split.Val < 1 {
			errs = append(errs, fmt.Errorf("agent.tasks[%d].split.val: the look-ahead expert measures gains on a held-out set of the training task; give val > 0 (used in training episodes only)", i))
		}
		if t.Fast != nil {
			if err := t.fastFor(envs.DefaultFastConfig()).Validate(); err != nil {
				errs = append(errs, fmt.Errorf("agent.tasks[%d].%w", i, err))
			}
		}
	}
	return errors.Join(errs...)
}

// checkTasksUnseen rejects a training task on the evaluation data set.
func (c Config) checkTasksUnseen() error {
	a := c.Agent
	if a == nil || a.Name != agents.KindImitation {
		return nil
	}
	for i, t := range a.Tasks {
		if t.Source != nil && strings.EqualFold(t.Source.Name, c.Data.Name) && t.Source.Set == c.Data.Set && t.Source.Path == c.Data.Path {
			return fmt.Errorf("agent.tasks[%d]: trains on %s, the data set the policy is evaluated on; a learned policy must be tested on data it never saw", i, t.label())
		}
	}
	return nil
}

// imitationTask is a prepared source task.
type imitationTask struct {
	data  *datasets.Dataset
	split datasets.Split
	emb   *envs.Embedding
}

// imitationEpisodes prepares the imitation agent's episodes: task ep mod
// len(tasks), a fresh fast head, the look-ahead expert on the task's
// validation rows. It returns the runner and a description of the tasks.
func imitationEpisodes(ctx context.Context, cfg Config, opt Options) (episodeFunc, string, error) {
	a := *cfg.Agent
	if err := cfg.checkTasksUnseen(); err != nil {
		return nil, "", err
	}
	tasks := a.Tasks
	if len(tasks) == 0 {
		src := a.Source
		tasks = []AgentTask{{Source: &src, Split: a.Split}}
	}
	fastOf := func(t AgentTask) envs.FastConfig {
		if cfg.Fast != nil {
			return t.fastFor(*cfg.Fast)
		}
		return t.fastFor(envs.DefaultFastConfig())
	}
	prepared := make([]*imitationTask, len(tasks))
	var names []string
	for i, t := range tasks {
		names = append(names, t.label())
		if t.Source == nil {
			continue
		}
		data, err := datasets.Load(*t.Source, opt.DataDir, a.Seed)
		if err != nil {
			return nil, "", fmt.Errorf("agent.tasks[%d].source: %w", i, err)
		}
		split, err := data.Split(a.Seed, datasets.SplitConfig{PoolSize: t.Split.Pool, ValSize: t.Split.Val, TestSize: t.Split.Test})
		if err != nil {
			return nil, "", fmt.Errorf("agent.tasks[%d].split: %w", i, err)
		}
		emb, err := envs.Encode(ctx, fastOf(t), cfg.Learner, data, split, a.Seed)
		if err != nil {
			return nil, "", fmt.Errorf("agent.tasks[%d]: %w", i, err)
		}
		prepared[i] = &imitationTask{data: data, split: split, emb: emb}
	}
	play := func(ctx context.Context, tr agents.LearningAgent, ep int, seed uint64) (agents.EpisodeResult, error) {
		im, ok := tr.(*agents.Imitation)
		if !ok {
			return agents.EpisodeResult{}, fmt.Errorf("imitation episodes need the imitation agent")
		}
		ti := ep % len(tasks)
		t := tasks[ti]
		pt := prepared[ti]
		if pt == nil {
			rng := envs.RNG(a.Seed, ep, "task")
			spec := t.ranges().Draw(rng)
			tseed := rng.Uint64()
			data, err := datasets.Task(spec, tseed)
			if err != nil {
				return agents.EpisodeResult{}, fmt.Errorf("episode %d: %w", ep, err)
			}
			split, err := data.Split(tseed, datasets.SplitConfig{PoolSize: t.Split.Pool, ValSize: t.Split.Val, TestSize: t.Split.Test})
			if err != nil {
				return agents.EpisodeResult{}, fmt.Errorf("episode %d: agent.tasks[%d].split: %w", ep, ti, err)
			}
			emb, err := envs.RawEmbedding(data, split)
			if err != nil {
				return agents.EpisodeResult{}, err
			}
			pt = &imitationTask{data: data, split: split, emb: emb}
		}
		fc := fastOf(t)
		head, err := envs.NewHead(pt.emb, pt.data.NumClasses, fc.L2, fc.Iterations)
		if err != nil {
			return agents.EpisodeResult{}, err
		}
		al := cfg.AL
		al.Reward, al.RewardArea = envs.RewardRaw, false // the expert teaches; no counterfactual refits
		if a.Candidates > 0 {
			al.Candidates = a.Candidates
		}
		env, err := envs.New(pt.data, pt.split, head, al, trainingEnvOptions(cfg)...)
		if err != nil {
			return agents.EpisodeResult{}, fmt.Errorf("episode %d on %s: %w", ep, t.label(), err)
		}
		eval := pt.split.Val[:min(a.Imitation.ExpertEval, len(pt.split.Val))]
		y := make([]int, len(eval))
		for i, r := range eval {
			y[i] = pt.data.Y[r]
		}
		ex := &envs.LookaheadExpert{Head: head, Labels: pt.data.Y, Eval: learner.Labeled{Idx: eval, Y: y}, Iters: a.Imitation.ExpertIters, Metric: a.Imitation.ExpertMetric}
		im.SetExpert(ex)
		res, err := agents.RunPoolEpisode(ctx, env, im, ep, seed)
		im.SetExpert(nil)
		if err != nil {
			return res, fmt.Errorf("on %s: %w", t.label(), err)
		}
		res.Task = t.label()
		if res.Stats == nil {
			res.Stats = map[string]float64{}
		}
		res.Stats["expert_refits"], res.Stats["expert_seconds"] = float64(ex.Refits), ex.Seconds
		res.Stats["classes"] = float64(pt.data.NumClasses)
		return res, nil
	}
	return play, "tasks: " + strings.Join(names, ", "), nil
}
