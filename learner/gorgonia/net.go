package gorgonia

import (
	"fmt"
	"runtime/debug"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/alrl/alrl/learner"
)

// netSpec says which part of the network a graph computes and how.
type netSpec struct {
	kind   string // cache key: "det", "head", "tail", "train"
	layers []int  // indices into the architecture, in the order applied
	in     []int  // per-sample input shape
	masks  bool   // dropout layers multiply by a mask input (else identity)
	train  bool   // adds one-hot labels, the mean NLL loss and its gradients
}

// net is one compiled gorgonia graph for a fixed batch size. Every value it
// reads is an input node that run binds afresh (inputs, masks, copies of the
// parameters), so gorgonia's in-place ("unsafe") ops can never change the
// learner's own buffers. After a run the graph keeps its activations bound
// to its nodes (gorgonia's UnbindAll would hand tensors that several nodes
// share back to its pool twice), so the learner drops its graphs at the end
// of every call and the garbage collector frees them.
type net struct {
	spec  netSpec
	batch int
	g     *G.ExprGraph
	vm    G.VM

	x      *G.Node
	xbuf   []float32
	masks  map[int]*G.Node // dropout layer -> mask node
	mbuf   map[int][]float32
	wNodes map[int]*G.Node // parametrised layer -> weight node
	bNodes map[int]*G.Node
	consts map[*G.Node]*tensor.Dense // fixed inputs (average-pooling kernels)

	logits, probs, embed *G.Node
	y                    *G.Node
	ybuf                 []float32
	loss                 *G.Node
	gradW, gradB         map[int]*G.Node
}

// safely runs f and turns a panic inside gorgonia into an error.
func safely(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("gorgonia: %s: internal error: %v\n%s", what, r, debug.Stack())
		}
	}()
	return f()
}

func prod(s []int) int {
	p := 1
	for _, v := range s {
		p *= v
	}
	return p
}

// newNet builds and compiles the graph of spec for batch samples.
func (l *Learner) newNet(spec netSpec, batch int) (*net, error) {
	n := &net{
		spec: spec, batch: batch, g: G.NewGraph(),
		masks: map[int]*G.Node{}, mbuf: map[int][]float32{},
		wNodes: map[int]*G.Node{}, bNodes: map[int]*G.Node{},
		consts: map[*G.Node]*tensor.Dense{},
		gradW:  map[int]*G.Node{}, gradB: map[int]*G.Node{},
	}
	err := safely("building the "+spec.kind+" graph", func() error {
		return n.build(l.arch, l.c)
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

func (n *net) build(arch learner.Architecture, classes int) error {
	g, B := n.g, n.batch
	shape := append([]int{B}, n.spec.in...)
	n.x = G.NewTensor(g, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName("x"))
	n.xbuf = make([]float32, prod(shape))
	h := n.x
	last := len(arch.Layers) - 1
	var params G.Nodes
	var err error
	for _, i := range n.spec.layers {
		s := arch.Layers[i]
		if i == last {
			n.embed = h
		}
		cur := []int(h.Shape())
		switch s.Type {
		case "conv2d":
			inC := cur[1]
			w := G.NewTensor(g, tensor.Float32, 4, G.WithShape(s.Out, inC, s.Kernel, s.Kernel), G.WithName(fmt.Sprintf("l%d_weight", i)))
			b := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, s.Out, 1, 1), G.WithName(fmt.Sprintf("l%d_bias", i)))
			n.wNodes[i], n.bNodes[i] = w, b
			params = append(params, w, b)
			if h, err = G.Conv2d(h, w, tensor.Shape{s.Kernel, s.Kernel}, []int{s.Padding, s.Padding}, []int{s.Stride, s.Stride}, []int{1, 1}); err != nil {
				return err
			}
			if h, err = G.BroadcastAdd(h, b, nil, []byte{0, 2, 3}); err != nil {
				return err
			}
		case "dense":
			w := G.NewMatrix(g, tensor.Float32, G.WithShape(cur[1], s.Out), G.WithName(fmt.Sprintf("l%d_weight", i)))
			b := G.NewMatrix(g, tensor.Float32, G.WithShape(1, s.Out), G.WithName(fmt.Sprintf("l%d_bias", i)))
			n.wNodes[i], n.bNodes[i] = w, b
			params = append(params, w, b)
			if h, err = G.Mul(h, w); err != nil {
				return err
			}
			if h, err = G.BroadcastAdd(h, b, nil, []byte{0}); err != nil {
				return err
			}
		case "maxpool2d":
			if h, err = G.MaxPool2D(h, tensor.Shape{s.Kernel, s.Kernel}, []int{s.Padding, s.Padding}, []int{s.Stride, s.Stride}); err != nil {
				return err
			}
		case "avgpool2d":
			if h, err = n.avgPool(h, s); err != nil {
				return err
			}
		case "relu":
			h, err = G.Rectify(h)
		case "tanh":
			h, err = G.Tanh(h)
		case "sigmoid":
			h, err = G.Sigmoid(h)
		case "flatten":
			h, err = G.Reshape(h, tensor.Shape{B, prod(cur[1:])})
		case "dropout", "dropout2d":
			if !n.spec.masks || s.P == 0 {
				continue
			}
			m := G.NewTensor(g, tensor.Float32, len(cur), G.WithShape(cur...), G.WithName(fmt.Sprintf("l%d_mask", i)))
			n.masks[i] = m
			n.mbuf[i] = make([]float32, prod(cur))
			h, err = G.HadamardProd(h, m)
		default:
			return fmt.Errorf("layer %d: type %q is not supported by the gorgonia backend", i, s.Type)
		}
		if err != nil {
			return fmt.Errorf("layer %d (%s): %w", i, s.Type, err)
		}
	}
	n.logits = h
	full := len(n.spec.layers) > 0 && n.spec.layers[len(n.spec.layers)-1] == last
	if full && !n.spec.train {
		if n.probs, err = G.SoftMax(h); err != nil {
			return err
		}
	}
	if n.spec.train {
		lp, err := G.LogSoftMax(h)
		if err != nil {
			return err
		}
		n.y = G.NewMatrix(g, tensor.Float32, G.WithShape(B, classes), G.WithName("y"))
		n.ybuf = make([]float32, B*classes)
		picked, err := G.HadamardProd(lp, n.y)
		if err != nil {
			return err
		}
		sum, err := G.Sum(picked)
		if err != nil {
			return err
		}
		if n.loss, err = G.Mul(sum, G.NewConstant(float32(-1/float64(B)))); err != nil {
			return err
		}
		grads, err := G.Grad(n.loss, params...)
		if err != nil {
			return fmt.Errorf("gradients: %w", err)
		}
		for k, p := range params {
			for i, w := range n.wNodes {
				if w == p {
					n.gradW[i] = grads[k]
				}
			}
			for i, b := range n.bNodes {
				if b == p {
					n.gradB[i] = grads[k]
				}
			}
		}
	}
	n.vm = G.NewTapeMachine(g)
	return nil
}

// avgPool is PyTorch's AvgPool2d with count_include_pad (zero padding counts
// towards the mean), written as a convolution of every channel with a
// constant k x k kernel of 1/k^2. (gorgonia v0.9.18's AveragePool2D divides
// by the input width instead of the window size, so it is not used.)
func (n *net) avgPool(h *G.Node, s learner.Shaped) (*G.Node, error) {
	cur := []int(h.Shape())
	B, C, H, W := cur[0], cur[1], cur[2], cur[3]
	r, err := G.Reshape(h, tensor.Shape{B * C, 1, H, W})
	if err != nil {
		return nil, err
	}
	k := G.NewTensor(n.g, tensor.Float32, 4, G.WithShape(1, 1, s.Kernel, s.Kernel), G.WithName(fmt.Sprintf("avgpool_%d", len(n.consts))))
	vals := make([]float32, s.Kernel*s.Kernel)
	for i := range vals {
		vals[i] = 1 / float32(len(vals))
	}
	n.consts[k] = tensor.New(tensor.WithShape(1, 1, s.Kernel, s.Kernel), tensor.WithBacking(vals))
	c, err := G.Conv2d(r, k, tensor.Shape{s.Kernel, s.Kernel}, []int{s.Padding, s.Padding}, []int{s.Stride, s.Stride}, []int{1, 1})
	if err != nil {
		return nil, err
	}
	oh, ow := c.Shape()[2], c.Shape()[3]
	return G.Reshape(c, tensor.Shape{B, C, oh, ow})
}

// bindInput binds a fresh tensor header over buf (copied) to node.
func bindCopy(node *G.Node, src []float32) error {
	buf := make([]float32, len(src))
	copy(buf, src)
	return G.Let(node, tensor.New(tensor.WithShape(node.Shape().Clone()...), tensor.WithBacking(buf)))
}

// run binds the inputs (n.xbuf, the masks, the labels and copies of the
// parameters) and executes the graph once.
func (n *net) run(ps []*param) error {
	return safely("running the "+n.spec.kind+" graph", func() error {
		if err := bindCopy(n.x, n.xbuf); err != nil {
			return err
		}
		for i, m := range n.masks {
			if err := bindCopy(m, n.mbuf[i]); err != nil {
				return err
			}
		}
		if n.y != nil {
			if err := bindCopy(n.y, n.ybuf); err != nil {
				return err
			}
		}
		for i, w := range n.wNodes {
			p := ps[i]
			if p == nil {
				return fmt.Errorf("layer %d has no parameters", i)
			}
			if err := bindCopy(w, p.w); err != nil {
				return err
			}
			if err := bindCopy(n.bNodes[i], p.b); err != nil {
				return err
			}
		}
		for node, v := range n.consts {
			if err := bindCopy(node, v.Data().([]float32)); err != nil {
				return err
			}
		}
		err := n.vm.RunAll()
		n.vm.Reset()
		return err
	})
}

// values returns the float32 data of a node after run.
func values(node *G.Node) ([]float32, error) {
	v := node.Value()
	if v == nil {
		return nil, fmt.Errorf("gorgonia: node %s has no value after the run", node.Name())
	}
	d, ok := v.Data().([]float32)
	if !ok {
		if f, ok := v.Data().(float32); ok {
			return []float32{f}, nil
		}
		return nil, fmt.Errorf("gorgonia: node %s holds %T, not float32 data", node.Name(), v.Data())
	}
	return d, nil
}
