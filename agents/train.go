package agents

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/alrl/alrl/envs"
)

// PoolEnv is the pool-based environment learning agents train in (*envs.Env).
type PoolEnv interface {
	Reset(ctx context.Context, seed uint64) (envs.Observation, envs.Record, error)
	Step(ctx context.Context, action []int) (envs.Observation, float64, envs.EndReason, envs.Record, error)
}

// StreamEnv is the stream-based environment (*envs.Stream).
type StreamEnv interface {
	Reset(ctx context.Context, seed uint64) (envs.Observation, envs.Record, error)
	Step(ctx context.Context, label bool) (envs.Observation, float64, envs.EndReason, *envs.Record, error)
}

// EpisodeResult summarises one training episode (one line of train.jsonl).
type EpisodeResult struct {
	Episode      int                `json:"episode"`
	Seed         uint64             `json:"seed"`
	Task         string             `json:"task,omitempty"` // the training task (imitation)
	Return       envs.Float         `json:"return"`         // sum of the rewards
	AULC         envs.Float         `json:"aulc"`           // normalised area under the validation-accuracy curve
	FinalValAcc  envs.Float         `json:"final_val_acc"`  // validation accuracy at the end
	FinalTestAcc envs.Float         `json:"final_test_acc"` // test accuracy at the end
	Steps        int                `json:"steps"`          // agent decisions
	Labels       int                `json:"labels"`         // labels at the end
	Seconds      float64            `json:"seconds"`
	Stats        map[string]float64 `json:"stats,omitempty"` // the agent's training statistics
}

// CurveAULC is the trapezoid area under accuracy against labels divided by
// the label range (the mean accuracy over the budget).
func CurveAULC(labels []int, acc []float64) float64 {
	if len(labels) == 0 {
		return math.NaN()
	}
	if len(labels) == 1 || labels[len(labels)-1] == labels[0] {
		return acc[len(acc)-1]
	}
	a := 0.0
	for i := 1; i < len(labels); i++ {
		a += float64(labels[i]-labels[i-1]) * (acc[i] + acc[i-1]) / 2
	}
	return a / float64(labels[len(labels)-1]-labels[0])
}

func summarise(res *EpisodeResult, recs []envs.Record, start time.Time) {
	labels := make([]int, len(recs))
	acc := make([]float64, len(recs))
	for i, r := range recs {
		labels[i], acc[i] = r.Labels, float64(r.ValAcc)
	}
	res.AULC = envs.Float(CurveAULC(labels, acc))
	if n := len(recs); n > 0 {
		res.FinalValAcc, res.FinalTestAcc, res.Labels = recs[n-1].ValAcc, recs[n-1].TestAcc, recs[n-1].Labels
	}
	res.Seconds = time.Since(start).Seconds()
}

// RunPoolEpisode plays one training episode of a pool-based agent: Reset,
// then Act / Step / Observe until the episode ends, then EndEpisode.
func RunPoolEpisode(ctx context.Context, env PoolEnv, ag PoolAgent, ep int, seed uint64) (EpisodeResult, error) {
	start := time.Now()
	res := EpisodeResult{Episode: ep, Seed: seed}
	ag.BeginEpisode(ep)
	obs, rec, err := env.Reset(ctx, seed)
	if err != nil {
		return res, err
	}
	recs := []envs.Record{rec}
	total := 0.0
	for done := obs.K == 0; !done; {
		action, err := ag.Act(ctx, obs)
		if err != nil {
			return res, fmt.Errorf("episode %d, round %d: %w", ep, obs.Round, err)
		}
		var r float64
		var end envs.EndReason
		obs, r, end, rec, err = env.Step(ctx, action)
		if err != nil {
			return res, fmt.Errorf("episode %d: %w", ep, err)
		}
		recs = append(recs, rec)
		total += r
		res.Steps++
		done = end != envs.NotDone
		if err := ag.Observe(ctx, r, obs, done); err != nil {
			return res, fmt.Errorf("episode %d: %w", ep, err)
		}
	}
	res.Return = envs.Float(total)
	summarise(&res, recs, start)
	st, err := ag.EndEpisode(ctx)
	if err != nil {
		return res, fmt.Errorf("episode %d: %w", ep, err)
	}
	res.Stats = st
	return res, nil
}

// RunStreamEpisode plays one training episode of a stream-based agent.
func RunStreamEpisode(ctx context.Context, env StreamEnv, ag StreamAgent, ep int, seed uint64) (EpisodeResult, error) {
	start := time.Now()
	res := EpisodeResult{Episode: ep, Seed: seed}
	ag.BeginEpisode(ep)
	obs, rec, err := env.Reset(ctx, seed)
	if err != nil {
		return res, err
	}
	recs := []envs.Record{rec}
	total := 0.0
	for done := len(obs.Candidates) == 0; !done; {
		label, err := ag.Decide(ctx, obs)
		if err != nil {
			return res, fmt.Errorf("episode %d: %w", ep, err)
		}
		var r float64
		var end envs.EndReason
		var rp *envs.Record
		obs, r, end, rp, err = env.Step(ctx, label)
		if err != nil {
			return res, fmt.Errorf("episode %d: %w", ep, err)
		}
		if rp != nil {
			recs = append(recs, *rp)
		}
		total += r
		res.Steps++
		done = end != envs.NotDone
		if err := ag.Observe(ctx, r, obs, done); err != nil {
			return res, fmt.Errorf("episode %d: %w", ep, err)
		}
	}
	res.Return = envs.Float(total)
	summarise(&res, recs, start)
	st, err := ag.EndEpisode(ctx)
	if err != nil {
		return res, fmt.Errorf("episode %d: %w", ep, err)
	}
	res.Stats = st
	return res, nil
}
