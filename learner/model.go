package learner

import (
	"fmt"
	"strings"
)

// LayerTypes lists the basic layer types a config may use; every backend
// builds them. ResidualLayerTypes lists the others.
var LayerTypes = []string{"conv2d", "maxpool2d", "avgpool2d", "relu", "tanh", "sigmoid", "dropout", "dropout2d", "flatten", "dense"}

// Shaped is a layer with its input and output shapes resolved.
type Shaped struct {
	Layer
	InShape, OutShape []int
}

// Architecture is a resolved network: layers with shapes, ending in a dense
// layer with one unit per class.
type Architecture struct {
	Input  []int
	Layers []Shaped
}

// MCSplit returns, for MC dropout, the deterministic prefix (the layers
// that run once per batch), the first stochastic layer (-1: none) and the
// first layer after the hoisted ones. When that dropout is channel-wise
// (dropout2d) its mask is a non-negative constant per channel, so the max /
// avg pooling and ReLU that follow it commute with it and are hoisted into
// the prefix too: the T passes start after them (identical results, far
// less work). Both backends split so.
func (a Architecture) MCSplit() (prefix []int, drop int, rest int) {
	ls := a.Layers
	first := len(ls)
	for i, s := range ls {
		if (s.Type == "dropout" || s.Type == "dropout2d") && s.P > 0 {
			first = i
			break
		}
	}
	for i := 0; i < first; i++ {
		prefix = append(prefix, i)
	}
	if first == len(ls) {
		return prefix, -1, len(ls)
	}
	rest = first + 1
	if ls[first].Type == "dropout2d" {
		for rest < len(ls) {
			t := ls[rest].Type
			if t != "maxpool2d" && t != "avgpool2d" && t != "relu" {
				break
			}
			prefix = append(prefix, rest)
			rest++
		}
	}
	return prefix, first, rest
}

// EmbedDim returns the width of the penultimate representation (the input of
// the output layer).
func (a Architecture) EmbedDim() int { return prod(a.Layers[len(a.Layers)-1].InShape) }

// Params returns the number of trainable parameters (weights and biases).
func (a Architecture) Params() int {
	n := 0
	for _, l := range a.Layers {
		switch l.Type {
		case "conv2d":
			n += l.Out*l.InShape[0]*l.Kernel*l.Kernel + l.Out
		case "dense":
			n += l.Out*l.InShape[0] + l.Out
		default:
			n += resParams(l)
		}
	}
	return n
}

// HasDropout reports whether any layer is a dropout layer with p > 0.
func (a Architecture) HasDropout() bool {
	for _, l := range a.Layers {
		if (l.Type == "dropout" || l.Type == "dropout2d") && l.P > 0 {
			return true
		}
	}
	return false
}

// String renders the architecture on one line.
func (a Architecture) String() string {
	parts := make([]string, len(a.Layers))
	for i, l := range a.Layers {
		switch l.Type {
		case "conv2d":
			parts[i] = fmt.Sprintf("conv%d(k%d)", l.Out, l.Kernel)
		case "dense":
			parts[i] = fmt.Sprintf("dense%d", l.Out)
		case "dropout", "dropout2d":
			parts[i] = fmt.Sprintf("%s(%.2g)", l.Type, l.P)
		case "maxpool2d", "avgpool2d":
			parts[i] = fmt.Sprintf("%s(%d)", l.Type, l.Kernel)
		case "batchnorm2d", "batchnorm1d", "resblock", "globalavgpool", "resdense":
			parts[i] = resString(l)
		default:
			parts[i] = l.Type
		}
	}
	return strings.Join(parts, "-")
}

func prod(s []int) int {
	p := 1
	for _, v := range s {
		p *= v
	}
	return p
}

// BatchBALDCNN returns the layer list of the MNIST network used by DBAL and
// BatchBALD ("BayesianNet" in Kirsch et al. 2019): conv 32 k5, max-pool,
// ReLU, conv 64 k5, dropout2d, max-pool, ReLU, dense 128, ReLU, dropout,
// dense C.
func BatchBALDCNN(hidden int, p float64) []Layer {
	return []Layer{
		{Type: "conv2d", Out: 32, Kernel: 5},
		{Type: "maxpool2d", Kernel: 2},
		{Type: "relu"},
		{Type: "conv2d", Out: 64, Kernel: 5},
		{Type: "dropout2d", P: p},
		{Type: "maxpool2d", Kernel: 2},
		{Type: "relu"},
		{Type: "flatten"},
		{Type: "dense", Out: hidden},
		{Type: "relu"},
		{Type: "dropout", P: p},
		{Type: "dense"},
	}
}

// MLP returns the layer list of a multi-layer perceptron.
func MLP(hidden []int, p float64) []Layer {
	ls := []Layer{{Type: "flatten"}}
	for _, h := range hidden {
		ls = append(ls, Layer{Type: "dense", Out: h}, Layer{Type: "relu"})
		if p > 0 {
			ls = append(ls, Layer{Type: "dropout", P: p})
		}
	}
	return append(ls, Layer{Type: "dense"})
}

// Layers returns the spec's layer list (built-in or written out).
func (m ModelSpec) layerList() ([]Layer, error) {
	switch m.Name {
	case "cnn":
		h := 128
		if len(m.Hidden) > 0 {
			h = m.Hidden[0]
		}
		return BatchBALDCNN(h, m.Dropout), nil
	case "mlp", "torchscript": // torchscript: the head on the backbone's outputs
		return MLP(m.Hidden, m.Dropout), nil
	case "layers":
		if len(m.Layers) == 0 {
			return nil, fmt.Errorf("learner.model.layers: empty; list the network's layers or use model.name cnn or mlp")
		}
		return append([]Layer(nil), m.Layers...), nil
	}
	return nil, fmt.Errorf("learner.model.name: %q is not one of cnn, mlp, layers, torchscript", m.Name)
}

// Resolve expands the spec for an input shape and class count, checking every
// layer's sizes. The last layer must be dense; its width defaults to the
// number of classes.
func (m ModelSpec) Resolve(input []int, numClasses int) (Architecture, error) {
	ls, err := m.layerList()
	if err != nil {
		return Architecture{}, err
	}
	if m.Dropout < 0 || m.Dropout >= 1 {
		return Architecture{}, fmt.Errorf("learner.model.dropout: must be in [0, 1), got %g", m.Dropout)
	}
	last := &ls[len(ls)-1]
	if last.Type != "dense" {
		return Architecture{}, fmt.Errorf("learner.model.layers[%d]: the last layer must be dense (the classifier), got %q", len(ls)-1, last.Type)
	}
	if last.Out == 0 {
		last.Out = numClasses
	}
	if last.Out != numClasses {
		return Architecture{}, fmt.Errorf("learner.model.layers[%d].out: the output layer has %d units but the data set has %d classes", len(ls)-1, last.Out, numClasses)
	}
	arch := Architecture{Input: append([]int(nil), input...)}
	shape := append([]int(nil), input...)
	for i, l := range ls {
		path := fmt.Sprintf("learner.model.layers[%d] (%s)", i, l.Type)
		in := append([]int(nil), shape...)
		switch l.Type {
		case "conv2d", "maxpool2d", "avgpool2d":
			if len(shape) != 3 {
				return arch, fmt.Errorf("%s: needs a [channels, height, width] input, got %v; for rows of features use learner.model.name: mlp, for flattened images set data.shape (e.g. [1, 28, 28])", path, shape)
			}
			if l.Kernel < 1 {
				return arch, fmt.Errorf("%s: kernel must be >= 1", path)
			}
			if l.Stride == 0 {
				if l.Type == "conv2d" {
					l.Stride = 1
				} else {
					l.Stride = l.Kernel
				}
			}
			if l.Stride < 1 || l.Padding < 0 {
				return arch, fmt.Errorf("%s: stride must be >= 1 and padding >= 0", path)
			}
			h := (shape[1]+2*l.Padding-l.Kernel)/l.Stride + 1
			w := (shape[2]+2*l.Padding-l.Kernel)/l.Stride + 1
			if h < 1 || w < 1 {
				return arch, fmt.Errorf("%s: kernel %d does not fit the %dx%d input", path, l.Kernel, shape[1], shape[2])
			}
			c := shape[0]
			if l.Type == "conv2d" {
				if l.Out < 1 {
					return arch, fmt.Errorf("%s: out (channels) must be >= 1", path)
				}
				c = l.Out
			}
			shape = []int{c, h, w}
		case "relu", "tanh", "sigmoid":
		case "dropout", "dropout2d":
			if l.P < 0 || l.P >= 1 {
				return arch, fmt.Errorf("%s: p must be in [0, 1), got %g", path, l.P)
			}
			if l.Type == "dropout2d" && len(shape) != 3 {
				return arch, fmt.Errorf("%s: needs a [channels, height, width] input, got %v; use dropout", path, shape)
			}
		case "flatten":
			shape = []int{prod(shape)}
		case "dense":
			if len(shape) != 1 {
				return arch, fmt.Errorf("%s: needs a flat input, got %v; add a flatten layer before it", path, shape)
			}
			if l.Out < 1 {
				return arch, fmt.Errorf("%s: out (units) must be >= 1", path)
			}
			shape = []int{l.Out}
		case "batchnorm2d", "batchnorm1d", "resblock", "globalavgpool", "resdense":
			var err error
			if l, shape, err = resolveRes(l, shape); err != nil {
				return arch, fmt.Errorf("%s: %w", path, err)
			}
		default:
			return arch, fmt.Errorf("%s: unknown layer type; known: %s, %s", path, strings.Join(LayerTypes, ", "), strings.Join(ResidualLayerTypes, ", "))
		}
		arch.Layers = append(arch.Layers, Shaped{Layer: l, InShape: in, OutShape: append([]int(nil), shape...)})
	}
	return arch, nil
}
