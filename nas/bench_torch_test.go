//go:build torch

package nas_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/nas"
)

// BenchmarkTrainEpoch times one training epoch (1,024 samples in minibatches
// of 64, Adam, 1 thread, no validation) of Active-iNAS image networks on
// 28 x 28 grey inputs: what one epoch of a candidate or final training
// costs at each point of the builtin:inas search space, and at the paper's
// width 64.
//
//	go test -tags torch -run '^$' -bench TrainEpoch -benchtime 3x ./nas/
func BenchmarkTrainEpoch(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 1024
	d := &datasets.Dataset{Name: "bench", Shape: []int{1, 28, 28}, NumClasses: 10, TrainN: n}
	for i := 0; i < n; i++ {
		for j := 0; j < 28*28; j++ {
			d.X = append(d.X, float32(rng.Float64()))
		}
		d.Y = append(d.Y, i%10)
	}
	cfg := torchConfig()
	cfg.Train.BatchSize = 64
	cfg.Train.Epochs = 1
	cfg.Train.Optimizer = "adam"
	cfg.Train.LR = 0.001
	ncfg := nas.DefaultConfig()
	ncfg.Enabled, ncfg.Search = true, false
	train := labeledOf(d, span(0, n))
	for _, a := range []struct{ stacks, blocks, width int }{
		{1, 1, 16}, {2, 2, 16}, {3, 3, 16}, {1, 1, 64}, {3, 3, 64},
	} {
		b.Run(fmt.Sprintf("%dx%d_w%d", a.stacks, a.blocks, a.width), func(b *testing.B) {
			c := ncfg
			c.Stacks, c.Blocks, c.Width = a.stacks, a.blocks, a.width
			c.MaxStacks, c.MaxBlocks = a.stacks, a.blocks
			l, err := nas.New(d.Inputs(), 10, cfg, c, nas.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := l.Fit(context.Background(), train, labeledOf(d, nil), uint64(i)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
