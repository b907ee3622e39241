package learner

import (
	"fmt"
	"slices"
)

// The residual layer types below build the search space of Active-iNAS
// (Geifman & El-Yaniv 2019): ResNet blocks for images, residual MLP blocks
// for tabular data, batch normalisation and global average pooling.
//
//   - batchnorm2d: batch norm over the channels of a [C, H, W] input.
//   - batchnorm1d: batch norm over the features of a [D] input.
//   - resblock: conv(k, stride) - BN - ReLU - conv(k) - BN, plus the input
//     (through a 1x1 convolution with stride and BN when the channel count or
//     the resolution changes), then ReLU. Padding is k/2 ("same"), so the
//     output is [out, ceil(H/stride), ceil(W/stride)]. kernel defaults to 3
//     and must be odd, stride defaults to 1. The convolutions have no bias
//     (the batch norm that follows has one).
//   - globalavgpool: the mean over height and width, [C, H, W] -> [C].
//   - resdense: dense(out) - BN - ReLU - dense(out) - BN, plus the input
//     (through a dense projection with BN when the width changes), then
//     ReLU; [D] -> [out]. The dense layers have no bias.

// ResidualLayerTypes lists the residual-network layer types, which hold
// batch-norm statistics or skip connections. The torch backend builds them;
// a backend that does not rejects them in its BackendInfo.Supports.
var ResidualLayerTypes = []string{"batchnorm2d", "batchnorm1d", "resblock", "globalavgpool", "resdense"}

// IsResidualLayer reports whether t is one of ResidualLayerTypes.
func IsResidualLayer(t string) bool { return slices.Contains(ResidualLayerTypes, t) }

// resolveRes checks a residual layer against its input shape and returns
// the layer with defaults filled in and its output shape.
func resolveRes(l Layer, shape []int) (Layer, []int, error) {
	need3 := func() error {
		if len(shape) != 3 {
			return fmt.Errorf("needs a [channels, height, width] input, got %v", shape)
		}
		return nil
	}
	need1 := func(hint string) error {
		if len(shape) != 1 {
			return fmt.Errorf("needs a flat input, got %v; %s", shape, hint)
		}
		return nil
	}
	switch l.Type {
	case "batchnorm2d":
		if err := need3(); err != nil {
			return l, nil, fmt.Errorf("%w; use batchnorm1d on flat inputs", err)
		}
		return l, shape, nil
	case "batchnorm1d":
		if err := need1("use batchnorm2d on images, or add a flatten layer before it"); err != nil {
			return l, nil, err
		}
		return l, shape, nil
	case "globalavgpool":
		if err := need3(); err != nil {
			return l, nil, err
		}
		return l, []int{shape[0]}, nil
	case "resblock":
		if err := need3(); err != nil {
			return l, nil, fmt.Errorf("%w; use resdense on flat inputs", err)
		}
		if l.Out < 1 {
			return l, nil, fmt.Errorf("out (channels) must be >= 1")
		}
		if l.Kernel == 0 {
			l.Kernel = 3
		}
		if l.Kernel < 1 || l.Kernel%2 == 0 {
			return l, nil, fmt.Errorf("kernel must be odd and >= 1 (the block pads by kernel/2), got %d", l.Kernel)
		}
		if l.Stride == 0 {
			l.Stride = 1
		}
		if l.Stride < 1 {
			return l, nil, fmt.Errorf("stride must be >= 1, got %d", l.Stride)
		}
		if l.Padding != 0 {
			return l, nil, fmt.Errorf("padding is set by the block (kernel/2); leave it 0")
		}
		h := (shape[1]-1)/l.Stride + 1
		w := (shape[2]-1)/l.Stride + 1
		return l, []int{l.Out, h, w}, nil
	case "resdense":
		if err := need1("add a flatten layer before it, or use resblock on images"); err != nil {
			return l, nil, err
		}
		if l.Out < 1 {
			return l, nil, fmt.Errorf("out (units) must be >= 1")
		}
		return l, []int{l.Out}, nil
	}
	return l, nil, fmt.Errorf("not a residual layer type")
}

// ResidualProjects reports whether a resblock or resdense layer needs a
// projection on its skip path (its width or resolution changes).
func ResidualProjects(s Shaped) bool {
	switch s.Type {
	case "resblock":
		return s.InShape[0] != s.Out || s.Stride != 1
	case "resdense":
		return s.InShape[0] != s.Out
	}
	return false
}

// resParams counts the trainable parameters of a residual layer (batch-norm
// scales and shifts included, running statistics not).
func resParams(s Shaped) int {
	switch s.Type {
	case "batchnorm2d", "batchnorm1d":
		return 2 * s.InShape[0]
	case "resblock":
		in, out, k := s.InShape[0], s.Out, s.Kernel
		n := out*in*k*k + 2*out + out*out*k*k + 2*out
		if ResidualProjects(s) {
			n += out*in + 2*out
		}
		return n
	case "resdense":
		in, out := s.InShape[0], s.Out
		n := out*in + 2*out + out*out + 2*out
		if ResidualProjects(s) {
			n += out*in + 2*out
		}
		return n
	}
	return 0
}

func resString(s Shaped) string {
	switch s.Type {
	case "batchnorm2d", "batchnorm1d":
		return "bn"
	case "globalavgpool":
		return "gap"
	case "resblock":
		if s.Stride != 1 {
			return fmt.Sprintf("res%d(k%d,s%d)", s.Out, s.Kernel, s.Stride)
		}
		return fmt.Sprintf("res%d(k%d)", s.Out, s.Kernel)
	case "resdense":
		return fmt.Sprintf("resdense%d", s.Out)
	}
	return s.Type
}
