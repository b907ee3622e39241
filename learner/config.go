package learner

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/alrl/alrl/datasets"
)

// Config selects and configures a learner; it is the `learner:` section of an
// experiment config.
type Config struct {
	Backend        string      `yaml:"backend"`         // registered backend; "" picks the default
	Device         string      `yaml:"device"`          // cpu, cuda:N or auto
	Threads        int         `yaml:"threads"`         // intra-op threads; 0 = number of CPUs
	InferenceBatch int         `yaml:"inference_batch"` // samples per forward pass at inference
	Model          ModelSpec   `yaml:"model"`
	Train          TrainConfig `yaml:"train"`
}

// ModelSpec names a built-in network or lists its layers.
type ModelSpec struct {
	Name    string  `yaml:"name"`    // cnn | mlp | layers
	Hidden  []int   `yaml:"hidden"`  // mlp hidden widths
	Dropout float64 `yaml:"dropout"` // mlp dropout after each hidden layer (0 = none)
	Layers  []Layer `yaml:"layers"`  // used when name is "layers"
}

// Layer is one layer of a feed-forward network written in a config.
type Layer struct {
	Type    string  `yaml:"type"`    // conv2d, maxpool2d, avgpool2d, relu, tanh, sigmoid, dropout, dropout2d, flatten, dense
	Out     int     `yaml:"out"`     // output channels (conv2d) or units (dense)
	Kernel  int     `yaml:"kernel"`  // kernel size (conv2d, pools)
	Stride  int     `yaml:"stride"`  // stride (conv2d: 1, pools: kernel when 0)
	Padding int     `yaml:"padding"` // zero padding
	P       float64 `yaml:"p"`       // dropout probability
}

// TrainConfig is how the model is fitted each round.
type TrainConfig struct {
	Optimizer   string  `yaml:"optimizer"`    // adam | sgd
	LR          float64 `yaml:"lr"`           // learning rate
	Momentum    float64 `yaml:"momentum"`     // sgd momentum
	WeightDecay float64 `yaml:"weight_decay"` // L2 penalty
	// WeightDecayPerSample, when true, divides weight_decay by the number of
	// labeled samples, as DBAL (Gal et al. 2017) scales its prior.
	WeightDecayPerSample bool `yaml:"weight_decay_per_sample"`
	BatchSize            int  `yaml:"batch_size"`
	Epochs               int  `yaml:"epochs"` // maximum epochs
	// MinEpochSamples makes an epoch draw at least this many samples by
	// cycling through fresh permutations of a small labeled set, as
	// BatchBALD's fixed-length sampler does (Kirsch et al. 2019); 0 = one pass.
	MinEpochSamples int  `yaml:"min_epoch_samples"`
	Patience        int  `yaml:"patience"` // early-stopping patience in epochs on validation accuracy; 0 = off
	WarmStart       bool `yaml:"warm_start"`
}

// DefaultConfig returns the documented defaults: the BatchBALD CNN trained
// with Adam, early stopping on validation.
func DefaultConfig() Config {
	return Config{
		Backend:        "",
		Device:         "cpu",
		Threads:        0,
		InferenceBatch: 1000,
		Model:          ModelSpec{Name: "cnn", Hidden: []int{128}, Dropout: 0.5},
		Train: TrainConfig{
			Optimizer: "adam", LR: 1e-3, Momentum: 0.9, BatchSize: 64, Epochs: 50,
			MinEpochSamples: 0, Patience: 5,
		},
	}
}

// Validate checks the config against the input shape and returns an error
// naming the offending key.
func (c Config) Validate(inputShape []int, numClasses int) error {
	if c.InferenceBatch < 1 {
		return fmt.Errorf("learner.inference_batch: must be >= 1, got %d", c.InferenceBatch)
	}
	if c.Threads < 0 {
		return fmt.Errorf("learner.threads: must be >= 0, got %d", c.Threads)
	}
	if c.Device != "cpu" && c.Device != "auto" && !strings.HasPrefix(c.Device, "cuda") {
		return fmt.Errorf("learner.device: %q is not one of cpu, cuda, cuda:N, auto", c.Device)
	}
	t := c.Train
	switch t.Optimizer {
	case "adam", "sgd":
	default:
		return fmt.Errorf("learner.train.optimizer: %q is not one of adam, sgd", t.Optimizer)
	}
	if t.LR <= 0 {
		return fmt.Errorf("learner.train.lr: must be > 0, got %g", t.LR)
	}
	if t.BatchSize < 1 {
		return fmt.Errorf("learner.train.batch_size: must be >= 1, got %d", t.BatchSize)
	}
	if t.Epochs < 1 {
		return fmt.Errorf("learner.train.epochs: must be >= 1, got %d", t.Epochs)
	}
	if t.Patience < 0 || t.MinEpochSamples < 0 || t.WeightDecay < 0 {
		return fmt.Errorf("learner.train: patience, min_epoch_samples and weight_decay must be >= 0")
	}
	arch, err := c.Model.Resolve(inputShape, numClasses)
	if err != nil {
		return err
	}
	return CheckLayers(c.Backend, arch)
}

// Factory builds a learner over the label-free inputs of a data set.
type Factory func(in datasets.Inputs, numClasses int, cfg Config) (Learner, error)

type backend struct {
	factory    Factory
	doc        string
	layerCheck func(Layer) error
}

// BackendOption configures a backend at registration.
type BackendOption func(*backend)

// WithLayerCheck declares which layers a backend can build: check returns an
// error (saying why) for a layer the backend cannot build. A backend
// registered without it is assumed to build every type in LayerTypes.
func WithLayerCheck(check func(Layer) error) BackendOption {
	return func(b *backend) { b.layerCheck = check }
}

var (
	backendsMu sync.RWMutex
	backends   = map[string]backend{}
)

// RegisterBackend makes a learner backend available by name; backends call it
// from init in files compiled under their build tag.
func RegisterBackend(name, doc string, f Factory, opts ...BackendOption) {
	b := backend{factory: f, doc: doc}
	for _, o := range opts {
		o(&b)
	}
	backendsMu.Lock()
	defer backendsMu.Unlock()
	backends[name] = b
}

// CheckLayers returns an error naming the first layer of arch that the named
// backend ("" = the default) cannot build, and the compiled-in backends that
// can. A backend that is not compiled in is not checked (New reports it).
func CheckLayers(backendName string, arch Architecture) error {
	if backendName == "" {
		backendName = DefaultBackend()
	}
	backendsMu.RLock()
	defer backendsMu.RUnlock()
	b, ok := backends[backendName]
	if !ok || b.layerCheck == nil {
		return nil
	}
	for i, l := range arch.Layers {
		err := b.layerCheck(l.Layer)
		if err == nil {
			continue
		}
		var others []string
		for n, o := range backends {
			if n != backendName && (o.layerCheck == nil || o.layerCheck(l.Layer) == nil) {
				others = append(others, n)
			}
		}
		sort.Strings(others)
		hint := "no compiled-in backend builds it; rebuild with -tags torch (make build) and use learner.backend: torch"
		if len(others) > 0 {
			hint = "use learner.backend: " + strings.Join(others, " or ")
		}
		return fmt.Errorf("learner.model.layers[%d] (%s): backend %s cannot build this layer (%v); %s", i, l.Type, backendName, err, hint)
	}
	return nil
}

// Backends returns the names of the compiled-in backends, sorted.
func Backends() []string {
	backendsMu.RLock()
	defer backendsMu.RUnlock()
	names := make([]string, 0, len(backends))
	for n := range backends {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// DefaultBackend returns "torch" when compiled in, else the first backend, else "".
func DefaultBackend() string {
	names := Backends()
	for _, n := range names {
		if n == "torch" {
			return n
		}
	}
	if len(names) > 0 {
		return names[0]
	}
	return ""
}

// New builds a learner with the configured (or default) backend.
func New(in datasets.Inputs, numClasses int, cfg Config) (Learner, error) {
	name := cfg.Backend
	if name == "" {
		name = DefaultBackend()
	}
	backendsMu.RLock()
	b, ok := backends[name]
	backendsMu.RUnlock()
	if !ok {
		if len(Backends()) == 0 {
			return nil, fmt.Errorf("learner.backend: no learner backend is compiled into this binary; build with `make build` (go build -tags torch, libtorch through gotch)")
		}
		return nil, fmt.Errorf("learner.backend: %q is not compiled into this binary (available: %s); the torch backend needs `-tags torch` (make build)",
			name, strings.Join(Backends(), ", "))
	}
	if b.layerCheck != nil {
		arch, err := cfg.Model.Resolve(in.Shape(), numClasses)
		if err != nil {
			return nil, err
		}
		if err := CheckLayers(name, arch); err != nil {
			return nil, err
		}
	}
	return b.factory(in, numClasses, cfg)
}
