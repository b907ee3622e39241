package conformance

import (
	"fmt"
	"math"

	"github.com/alrl/alrl/learner"
)

// Forward is a plain float64 reference implementation of a resolved
// architecture in inference mode (dropout is the identity), reading weights
// in the weights file's layout: conv2d weights [out, in, k, k] (a
// cross-correlation, as PyTorch's Conv2d), dense weights [out, in], biases
// [out]; max pooling ignores padded positions, average pooling counts them
// as zeros (PyTorch's count_include_pad). It returns, per sample, the class
// probabilities and the penultimate activations (the output layer's input).
// Backends are checked against it, so two conforming backends agree with
// each other.
func Forward(arch learner.Architecture, weights []learner.Tensor, x []float32, n int) (probs, embed [][]float64, err error) {
	byName := map[string]learner.Tensor{}
	for _, t := range weights {
		byName[t.Name] = t
	}
	dim := 1
	for _, s := range arch.Input {
		dim *= s
	}
	if len(x) != n*dim {
		return nil, nil, fmt.Errorf("reference: %d inputs for %d samples of %d values", len(x), n, dim)
	}
	for s := 0; s < n; s++ {
		h := make([]float64, dim)
		for j := range h {
			h[j] = float64(x[s*dim+j])
		}
		for i, l := range arch.Layers {
			if i == len(arch.Layers)-1 {
				embed = append(embed, append([]float64(nil), h...))
			}
			w := byName[fmt.Sprintf("l%d_weight", i)]
			b := byName[fmt.Sprintf("l%d_bias", i)]
			switch l.Type {
			case "conv2d":
				if w.Data == nil || b.Data == nil {
					return nil, nil, fmt.Errorf("reference: layer %d has no weights", i)
				}
				h = conv(h, l, w.Data, b.Data)
			case "maxpool2d", "avgpool2d":
				h = pool(h, l)
			case "relu":
				for j, v := range h {
					h[j] = math.Max(v, 0)
				}
			case "tanh":
				for j, v := range h {
					h[j] = math.Tanh(v)
				}
			case "sigmoid":
				for j, v := range h {
					h[j] = 1 / (1 + math.Exp(-v))
				}
			case "dropout", "dropout2d", "flatten":
			case "dense":
				if w.Data == nil || b.Data == nil {
					return nil, nil, fmt.Errorf("reference: layer %d has no weights", i)
				}
				in := len(h)
				out := make([]float64, l.Out)
				for o := range out {
					sum := float64(b.Data[o])
					for k := 0; k < in; k++ {
						sum += float64(w.Data[o*in+k]) * h[k]
					}
					out[o] = sum
				}
				h = out
			default:
				return nil, nil, fmt.Errorf("reference: layer type %q", l.Type)
			}
		}
		probs = append(probs, softmax(h))
	}
	return probs, embed, nil
}

func conv(h []float64, l learner.Shaped, w, b []float32) []float64 {
	C, H, W := l.InShape[0], l.InShape[1], l.InShape[2]
	O, OH, OW := l.OutShape[0], l.OutShape[1], l.OutShape[2]
	k, st, pd := l.Kernel, l.Stride, l.Padding
	out := make([]float64, O*OH*OW)
	for o := 0; o < O; o++ {
		for y := 0; y < OH; y++ {
			for x := 0; x < OW; x++ {
				sum := float64(b[o])
				for c := 0; c < C; c++ {
					for ky := 0; ky < k; ky++ {
						for kx := 0; kx < k; kx++ {
							iy, ix := y*st-pd+ky, x*st-pd+kx
							if iy < 0 || iy >= H || ix < 0 || ix >= W {
								continue
							}
							sum += float64(w[((o*C+c)*k+ky)*k+kx]) * h[(c*H+iy)*W+ix]
						}
					}
				}
				out[(o*OH+y)*OW+x] = sum
			}
		}
	}
	return out
}

func pool(h []float64, l learner.Shaped) []float64 {
	C, H, W := l.InShape[0], l.InShape[1], l.InShape[2]
	OH, OW := l.OutShape[1], l.OutShape[2]
	k, st, pd := l.Kernel, l.Stride, l.Padding
	out := make([]float64, C*OH*OW)
	for c := 0; c < C; c++ {
		for y := 0; y < OH; y++ {
			for x := 0; x < OW; x++ {
				m, sum := math.Inf(-1), 0.0
				for ky := 0; ky < k; ky++ {
					for kx := 0; kx < k; kx++ {
						iy, ix := y*st-pd+ky, x*st-pd+kx
						if iy < 0 || iy >= H || ix < 0 || ix >= W {
							continue
						}
						v := h[(c*H+iy)*W+ix]
						m = math.Max(m, v)
						sum += v
					}
				}
				if l.Type == "maxpool2d" {
					out[(c*OH+y)*OW+x] = m
				} else {
					out[(c*OH+y)*OW+x] = sum / float64(k*k)
				}
			}
		}
	}
	return out
}

func softmax(z []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range z {
		m = math.Max(m, v)
	}
	out := make([]float64, len(z))
	s := 0.0
	for i, v := range z {
		out[i] = math.Exp(v - m)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}
