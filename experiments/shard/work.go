package shard

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/alrl/alrl/experiments"
	"github.com/alrl/alrl/learner"
	"github.com/alrl/alrl/strategies"
)

// reseeder is a model whose dropout masks (or posterior samples) follow a seed.
type reseeder interface{ Reseed(seed uint64) }

// Work scores shard i of the spec with model (the round's learner, its
// weights loaded): the scores of the slice for a top-k scorer, else the
// strategy's own keep picks from the slice.
func Work(ctx context.Context, s *Spec, i int, model strategies.Model) (*Result, error) {
	inner, _, err := strategies.NewNested("of", s.Of)
	if err != nil {
		return nil, fmt.Errorf("shard %d: %w", i, err)
	}
	lo, hi := s.Bounds(i)
	res := &Result{Nonce: s.Nonce, Shard: i}
	if lo == hi {
		return res, nil
	}
	if r, ok := model.(reseeder); ok {
		r.Reseed(s.MCSeed)
	}
	q := strategies.Query{Model: model, Candidates: s.Candidates[lo:hi], Labeled: s.Labeled, Round: s.Round,
		RNG: rand.New(rand.NewPCG(s.Seed, uint64(i)))}
	if s.TopK {
		sc, ok := inner.(strategies.TopKScorer)
		if !ok {
			return nil, fmt.Errorf("shard %d: strategy %s is not a top-k scorer", i, inner.Name())
		}
		q.K = min(s.K, hi-lo)
		if res.Scores, err = sc.Score(ctx, q); err != nil {
			return nil, fmt.Errorf("shard %d: %s: %w", i, inner.Name(), err)
		}
		if len(res.Scores) != hi-lo {
			return nil, fmt.Errorf("shard %d: %s returned %d scores for %d candidates", i, inner.Name(), len(res.Scores), hi-lo)
		}
		return res, nil
	}
	q.K = min(s.Keep, hi-lo)
	if res.Picks, err = inner.Select(ctx, q); err != nil {
		return nil, fmt.Errorf("shard %d: %s: %w", i, inner.Name(), err)
	}
	if err := q.CheckSelection(res.Picks); err != nil {
		return nil, fmt.Errorf("shard %d: %s: %w", i, inner.Name(), err)
	}
	return res, nil
}

// WorkDir is the worker's entry point (`alrl score-shard --dir`): it reads
// the spec of shard folder dir, rebuilds the run's learner with the round's
// weights, scores the shard and writes result.json there.
func WorkDir(ctx context.Context, dir string, opt experiments.Options) error {
	s, i, err := ReadSpec(dir)
	if err != nil {
		return err
	}
	l, err := experiments.LoadRunModel(ctx, s.RunDir, s.Weights, opt)
	if err != nil {
		return fmt.Errorf("shard %d: %w", i, err)
	}
	defer l.Close()
	res, err := Work(ctx, s, i, learner.NewMemo(l))
	if err != nil {
		return err
	}
	return WriteResult(dir, res)
}
