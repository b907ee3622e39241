package datasets

import (
	"fmt"
	"math"
	"math/rand/v2"
)

const (
	blobsStream = 0xb10b_5eed_0000_0001
	moonsStream = 0x300b_5eed_0000_0002
	// blobSeparation is the minimum distance between two blob centres, ten
	// standard deviations at std 1, so that blobs with std 1 barely overlap.
	blobSeparation = 10.0
	// blobTries is how many centres are drawn before the box is enlarged.
	blobTries = 200
)

// Blobs generates n samples of isotropic Gaussian blobs with standard deviation std around classes well-separated centres in dim dimensions; sample i has label i mod classes.
//
// Centres are drawn uniformly in a box [-B,B]^dim, rejecting any centre
// closer than 10 to an earlier one and enlarging B when draws keep failing,
// so blobs with std 1 are separable. The result is deterministic per seed.
func Blobs(n, classes, dim int, std float64, seed uint64) (*Dataset, error) {
	switch {
	case classes < 1:
		return nil, fmt.Errorf("datasets: blobs: classes=%d, want >= 1", classes)
	case n < classes:
		return nil, fmt.Errorf("datasets: blobs: n=%d, want at least one sample per class (classes=%d)", n, classes)
	case dim < 1:
		return nil, fmt.Errorf("datasets: blobs: dim=%d, want >= 1", dim)
	case std < 0 || math.IsNaN(std) || math.IsInf(std, 0):
		return nil, fmt.Errorf("datasets: blobs: std=%v, want a finite value >= 0", std)
	}
	rng := rand.New(rand.NewPCG(seed, blobsStream))
	centres := make([][]float64, 0, classes)
	half := blobSeparation
	failed := 0
	for len(centres) < classes {
		c := make([]float64, dim)
		for k := range c {
			c[k] = (2*rng.Float64() - 1) * half
		}
		if farFromAll(c, centres, blobSeparation) {
			centres = append(centres, c)
			failed = 0
			continue
		}
		if failed++; failed >= blobTries {
			half *= 1.25
			failed = 0
		}
	}
	x := make([]float32, n*dim)
	y := make([]int, n)
	for i := range n {
		c := i % classes
		y[i] = c
		for k := range dim {
			x[i*dim+k] = float32(centres[c][k] + std*rng.NormFloat64())
		}
	}
	names := make([]string, classes)
	for c := range names {
		names[c] = fmt.Sprintf("blob%d", c)
	}
	return &Dataset{
		Name:       "blobs",
		X:          x,
		Y:          y,
		Shape:      []int{dim},
		NumClasses: classes,
		ClassNames: names,
		TrainN:     n,
	}, nil
}

func farFromAll(c []float64, others [][]float64, minDist float64) bool {
	for _, o := range others {
		d2 := 0.0
		for k := range c {
			d := c[k] - o[k]
			d2 += d * d
		}
		if d2 < minDist*minDist {
			return false
		}
	}
	return true
}

// Moons generates n 2-D samples on two interleaving half circles with Gaussian noise of standard deviation noise; sample i has label i mod 2 (0: upper moon, 1: lower moon).
func Moons(n int, noise float64, seed uint64) (*Dataset, error) {
	if n < 2 {
		return nil, fmt.Errorf("datasets: moons: n=%d, want >= 2", n)
	}
	if noise < 0 || math.IsNaN(noise) || math.IsInf(noise, 0) {
		return nil, fmt.Errorf("datasets: moons: noise=%v, want a finite value >= 0", noise)
	}
	rng := rand.New(rand.NewPCG(seed, moonsStream))
	counts := [2]int{(n + 1) / 2, n / 2}
	x := make([]float32, 2*n)
	y := make([]int, n)
	for i := range n {
		c, j := i%2, i/2
		t := 0.0
		if counts[c] > 1 {
			t = math.Pi * float64(j) / float64(counts[c]-1)
		}
		var px, py float64
		if c == 0 {
			px, py = math.Cos(t), math.Sin(t)
		} else {
			px, py = 1-math.Cos(t), 0.5-math.Sin(t)
		}
		y[i] = c
		x[2*i] = float32(px + noise*rng.NormFloat64())
		x[2*i+1] = float32(py + noise*rng.NormFloat64())
	}
	return &Dataset{
		Name:       "moons",
		X:          x,
		Y:          y,
		Shape:      []int{2},
		NumClasses: 2,
		ClassNames: []string{"upper", "lower"},
		TrainN:     n,
	}, nil
}
