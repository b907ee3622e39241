package nas

import (
	"fmt"

	"github.com/alrl/alrl/learner"
)

// Kind is the network family an architecture builds, chosen by the input shape.
type Kind string

// The two families of the search space.
const (
	// Image networks take [C, H, W] inputs (28 x 28 grey images for MNIST
	// and Fashion-MNIST): a 3x3 convolution stem, stacks of ResNet blocks,
	// global average pooling and a dense classifier.
	Image Kind = "image"
	// Tabular networks take [D] inputs: a dense stem, stacks of residual MLP
	// blocks and a dense classifier.
	Tabular Kind = "tabular"
)

// KindFor returns the family that fits a per-sample input shape.
func KindFor(shape []int) (Kind, error) {
	switch len(shape) {
	case 3:
		return Image, nil
	case 1:
		return Tabular, nil
	}
	return "", fmt.Errorf("nas: inputs of shape %v are neither images [channels, height, width] nor tabular [features]", shape)
}

// Arch is one point of the Active-iNAS search space (Geifman & El-Yaniv
// 2019): Stacks stacks of Blocks residual blocks each, the first stack Width
// channels (or units) wide. From one stack to the next the width doubles
// and, for images, the resolution halves (the first block of every stack
// after the first has stride 2).
type Arch struct {
	Kind   Kind `json:"kind"`
	Stacks int  `json:"stacks"`
	Blocks int  `json:"blocks"` // per stack
	Width  int  `json:"width"`  // stem and first-stack channels (image) or units (tabular)
}

// String renders the architecture compactly, e.g. "2x3 w16" (2 stacks of 3 blocks, width 16).
func (a Arch) String() string { return fmt.Sprintf("%dx%d w%d", a.Stacks, a.Blocks, a.Width) }

// Validate checks the architecture's numbers.
func (a Arch) Validate() error {
	switch {
	case a.Kind != Image && a.Kind != Tabular:
		return fmt.Errorf("nas: architecture kind %q is not image or tabular", a.Kind)
	case a.Stacks < 1 || a.Blocks < 1 || a.Width < 1:
		return fmt.Errorf("nas: architecture %s: stacks, blocks and width must be >= 1", a)
	case a.Stacks > 30:
		return fmt.Errorf("nas: architecture %s: %d stacks double the width %d times; use at most 30", a, a.Stacks, a.Stacks-1)
	}
	return nil
}

// Space holds the settings every network of a search shares (they are not
// searched).
type Space struct {
	// Dropout > 0 adds a dropout layer of that probability before the
	// classifier (so MC-dropout strategies can use the network).
	Dropout float64
	// StemPool > 1 ends the image stem with max pooling of that size, so
	// the first stack works at a lower resolution (28 x 28 -> 14 x 14 for 2);
	// 0 or 1 = none. Tabular networks ignore it.
	StemPool int
}

// Layers returns the network as a learner layer list; the classifier's
// width is left to the class count.
func (a Arch) Layers(sp Space) []learner.Layer {
	var ls []learner.Layer
	if a.Kind == Image {
		ls = append(ls,
			learner.Layer{Type: "conv2d", Out: a.Width, Kernel: 3, Padding: 1},
			learner.Layer{Type: "batchnorm2d"},
			learner.Layer{Type: "relu"})
		if sp.StemPool > 1 {
			ls = append(ls, learner.Layer{Type: "maxpool2d", Kernel: sp.StemPool})
		}
	} else {
		ls = append(ls,
			learner.Layer{Type: "dense", Out: a.Width},
			learner.Layer{Type: "batchnorm1d"},
			learner.Layer{Type: "relu"})
	}
	for s := 0; s < a.Stacks; s++ {
		w := a.Width << s
		for b := 0; b < a.Blocks; b++ {
			if a.Kind == Image {
				stride := 1
				if s > 0 && b == 0 {
					stride = 2
				}
				ls = append(ls, learner.Layer{Type: "resblock", Out: w, Kernel: 3, Stride: stride})
			} else {
				ls = append(ls, learner.Layer{Type: "resdense", Out: w})
			}
		}
	}
	if a.Kind == Image {
		ls = append(ls, learner.Layer{Type: "globalavgpool"})
	}
	if sp.Dropout > 0 {
		ls = append(ls, learner.Layer{Type: "dropout", P: sp.Dropout})
	}
	return append(ls, learner.Layer{Type: "dense"})
}

// Spec returns the architecture as a learner model spec (name "layers").
func (a Arch) Spec(sp Space) learner.ModelSpec {
	return learner.ModelSpec{Name: "layers", Layers: a.Layers(sp)}
}

// Resolve builds the architecture for an input shape and class count.
func (a Arch) Resolve(input []int, numClasses int, sp Space) (learner.Architecture, error) {
	if err := a.Validate(); err != nil {
		return learner.Architecture{}, err
	}
	k, err := KindFor(input)
	if err != nil {
		return learner.Architecture{}, err
	}
	if k != a.Kind {
		return learner.Architecture{}, fmt.Errorf("nas: a %s architecture cannot take inputs of shape %v (%s)", a.Kind, input, k)
	}
	r, err := a.Spec(sp).Resolve(input, numClasses)
	if err != nil {
		return r, fmt.Errorf("nas: architecture %s: %w", a, err)
	}
	return r, nil
}

// Bigger reports whether b has at least a's capacity: the same kind and
// width, at least as many stacks and at least as many residual blocks in
// all. The search only moves to such architectures. (The stack step can
// lower the blocks per stack, 1x3 -> 2x2, while the depth and the
// parameters still grow.)
func (a Arch) Bigger(b Arch) bool {
	return b.Kind == a.Kind && b.Width == a.Width && b.Stacks >= a.Stacks && b.Stacks*b.Blocks >= a.Stacks*a.Blocks
}

// Neighbourhood returns the candidates of one iNAS step as Geifman &
// El-Yaniv's code builds them: the architecture itself, one more block in
// every stack, and one more stack whose blocks per stack are
// floor(blocks * stacks / (stacks + 1)) + 1, so that the stack step also
// deepens the network by about one block rather than by a whole stack
// (1x3 -> 2x2, 2x3 -> 3x3, 2x4 -> 3x3).
func (a Arch) Neighbourhood() []Arch {
	block, stack := a, a
	block.Blocks++
	stack.Stacks++
	stack.Blocks = a.Blocks*a.Stacks/(a.Stacks+1) + 1
	return []Arch{a, block, stack}
}

// Bounds limit the search space; a zero field means no limit.
type Bounds struct {
	MaxStacks int
	MaxBlocks int
	MaxParams int
}

// Allows reports whether an architecture with params trainable parameters
// is inside the bounds, and if not, why.
func (b Bounds) Allows(a Arch, params int) (bool, string) {
	switch {
	case b.MaxStacks > 0 && a.Stacks > b.MaxStacks:
		return false, fmt.Sprintf("%d stacks > max_stacks %d", a.Stacks, b.MaxStacks)
	case b.MaxBlocks > 0 && a.Blocks > b.MaxBlocks:
		return false, fmt.Sprintf("%d blocks > max_blocks %d", a.Blocks, b.MaxBlocks)
	case b.MaxParams > 0 && params > b.MaxParams:
		return false, fmt.Sprintf("%d parameters > max_params %d", params, b.MaxParams)
	}
	return true, ""
}

// Candidates returns the neighbourhood of a that lies inside the bounds,
// with a first (a itself is always a candidate: capacity never shrinks) and
// the growth candidates by increasing parameter count. params counts an
// architecture's trainable parameters.
func Candidates(a Arch, b Bounds, params func(Arch) (int, error)) ([]Arch, error) {
	out := []Arch{a}
	var counts []int
	for _, n := range a.Neighbourhood()[1:] {
		p, err := params(n)
		if err != nil {
			return nil, err
		}
		if ok, _ := b.Allows(n, p); !ok {
			continue
		}
		// Insert by parameter count (stable: block before stack on a tie).
		at := len(counts)
		for at > 0 && counts[at-1] > p {
			at--
		}
		counts = append(counts[:at], append([]int{p}, counts[at:]...)...)
		out = append(out[:1+at], append([]Arch{n}, out[1+at:]...)...)
	}
	return out, nil
}
