package learner

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/alrl/alrl/datasets"
	reg "github.com/alrl/alrl/internal/registry"
)

// Config selects and configures a learner; it is the `learner:` section of an
// experiment config.
type Config struct {
	Backend        string      `yaml:"backend"`         // registered backend; "" picks the default
	Device         string      `yaml:"device"`          // cpu, cuda:N or auto
	Threads        int         `yaml:"threads"`         // intra-op threads; 0 = number of CPUs
	InferenceBatch int         `yaml:"inference_batch"` // samples per forward pass at inference
	Ensemble       int         `yaml:"ensemble"`        // M >= 2: an ensemble of M independently initialised models (0 or 1 = one)
	Model          ModelSpec   `yaml:"model"`
	Train          TrainConfig `yaml:"train"`
}

// ModelSpec names a built-in network or lists its layers.
type ModelSpec struct {
	Name    string  `yaml:"name"`           // cnn | mlp | layers | torchscript
	Path    string  `yaml:"path,omitempty"` // torchscript: the frozen backbone file; hidden and dropout then shape the MLP head on its outputs
	Hidden  []int   `yaml:"hidden"`         // mlp hidden widths
	Dropout float64 `yaml:"dropout"`        // mlp dropout after each hidden layer (0 = none)
	Layers  []Layer `yaml:"layers"`         // used when name is "layers"
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
	MinEpochSamples int `yaml:"min_epoch_samples"`
	Patience        int `yaml:"patience"` // early-stopping patience in epochs on held-out accuracy; 0 = off (a fixed schedule of epochs)
	// Holdout is the share of the labeled set held out each round, stratified
	// by class, to stop early on (with patience > 0) and keep the best
	// weights; the model fits the rest. These labels were bought, so the
	// budget counts them. 0 = none.
	Holdout   float64 `yaml:"holdout"`
	WarmStart bool    `yaml:"warm_start"`
}

// DefaultConfig returns the documented defaults: the BatchBALD CNN trained
// with Adam on a fixed schedule (no labels outside the budget to stop on).
func DefaultConfig() Config {
	return Config{
		Backend:        "",
		Device:         "cpu",
		Threads:        0,
		InferenceBatch: 1000,
		Model:          ModelSpec{Name: "cnn", Hidden: []int{128}, Dropout: 0.5},
		Train: TrainConfig{
			Optimizer: "adam", LR: 1e-3, Momentum: 0.9, BatchSize: 64, Epochs: 50,
			MinEpochSamples: 0, Patience: 0,
		},
	}
}

// Validate checks the config against the input shape and returns an error
// naming the offending key.
func (c Config) Validate(inputShape []int, numClasses int) error {
	if c.InferenceBatch < 1 {
		return fmt.Errorf("learner.inference_batch: must be >= 1, got %d", c.InferenceBatch)
	}
	if c.Ensemble < 0 {
		return fmt.Errorf("learner.ensemble: must be >= 0 (0 or 1 = a single model, M >= 2 = an ensemble of M), got %d", c.Ensemble)
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
	if t.Holdout < 0 || t.Holdout > 0.5 {
		return fmt.Errorf("learner.train.holdout: must be in [0, 0.5] (a share of the labeled set), got %g", t.Holdout)
	}
	if c.Model.Name == "torchscript" {
		if err := checkScript(c.Model); err != nil {
			return err
		}
		inputShape = []int{1} // the head's input width is the backbone's output, known once it runs
	}
	arch, err := c.Model.Resolve(inputShape, numClasses)
	if err != nil {
		return err
	}
	// Ask the backend whether it can run this config. A backend that is not
	// compiled in is an error only when named explicitly (an empty name with
	// no backend at all fails in New).
	name := ResolveBackend(c.Backend)
	if name == "" {
		return nil
	}
	b, err := lookup(name)
	if err != nil {
		return err
	}
	if b.Supports != nil {
		if err := b.Supports(c, arch); err != nil {
			return err
		}
	}
	return CheckLayers(name, arch)
}

// Factory builds a learner over the label-free inputs of a data set.
type Factory func(in datasets.Inputs, numClasses int, cfg Config) (Learner, error)

// BackendInfo describes a learner backend for the registry.
type BackendInfo struct {
	Name string  // the value of learner.backend that selects it
	Doc  string  // one line for `alrl list backends`
	New  Factory // builds a learner
	// Supports, if set, reports whether the backend can run cfg with the
	// resolved architecture. Config.Validate calls it, so that a config the
	// backend cannot run fails before the run starts; the error should name
	// the offending key, the backend that can run it and how to build that.
	Supports func(cfg Config, arch Architecture) error
	// LayerCheck, if set, returns an error (saying why) for a layer type the
	// backend cannot build; nil means it builds every type in LayerTypes.
	LayerCheck func(Layer) error
}

// BackendOption configures a backend at registration.
type BackendOption func(*BackendInfo)

// WithSupports declares which configs a backend can run (BackendInfo.Supports).
func WithSupports(f func(cfg Config, arch Architecture) error) BackendOption {
	return func(b *BackendInfo) { b.Supports = f }
}

// WithLayerCheck declares which layers a backend can build.
func WithLayerCheck(check func(Layer) error) BackendOption {
	return func(b *BackendInfo) { b.LayerCheck = check }
}

// CheckLayers returns an error naming the first layer of arch that the named
// backend ("" = the default) cannot build, and the compiled-in backends that
// can. A backend that is not compiled in is not checked (New reports it).
func CheckLayers(backendName string, arch Architecture) error {
	backendName = ResolveBackend(backendName)
	b, ok := backends.Value(backendName)
	if !ok || b.LayerCheck == nil {
		return nil
	}
	for i, l := range arch.Layers {
		err := b.LayerCheck(l.Layer)
		if err == nil {
			continue
		}
		var others []string
		backends.Each(func(n string, o BackendInfo) {
			if n != backendName && (o.LayerCheck == nil || o.LayerCheck(l.Layer) == nil) {
				others = append(others, n)
			}
		})
		hint := "no compiled-in backend builds it; rebuild with -tags torch (make build) and use learner.backend: torch"
		if len(others) > 0 {
			hint = "use learner.backend: " + strings.Join(others, " or ")
		}
		return fmt.Errorf("learner.model.layers[%d] (%s): backend %s cannot build this layer (%v); %s", i, l.Type, backendName, err, hint)
	}
	return nil
}

// backends holds the compiled-in learner backends.
var backends = reg.New[BackendInfo]("learner backend", "")

// Register makes a learner backend available by name; backends call it from
// init in the files that their build constraints select. A name registered
// twice is refused when used.
func Register(b BackendInfo) { backends.Register(b.Name, b) }

// RegisterBackend registers a backend without a Supports check.
func RegisterBackend(name, doc string, f Factory, opts ...BackendOption) {
	b := BackendInfo{Name: name, Doc: doc, New: f}
	for _, o := range opts {
		o(&b)
	}
	Register(b)
}

// extensions holds, per backend, the wrappers of RegisterExtension.
var extensions = map[string][]func(Learner) Learner{}

// RegisterExtension makes every learner that the named backend builds pass
// through wrap, which returns it with capabilities of other packages added:
// package trainers attaches its networks and training loops (weighted fits,
// the loss-prediction module, VAAL) to the torch backend's learners this
// way, so that the backend keeps only tensors and layers. Call it from init.
func RegisterExtension(backend string, wrap func(Learner) Learner) {
	extensions[backend] = append(extensions[backend], wrap)
}

// Backends returns the names of the compiled-in backends, sorted.
func Backends() []string { return backends.Names() }

// Backend returns the registered backend of that name.
func Backend(name string) (BackendInfo, bool) { return backends.Value(name) }

// DefaultBackend returns "torch" when compiled in, else "gorgonia" when
// compiled in, else the first backend, else "".
func DefaultBackend() string {
	names := Backends()
	for _, pref := range []string{"torch", "gorgonia"} {
		if slices.Contains(names, pref) {
			return pref
		}
	}
	if len(names) > 0 {
		return names[0]
	}
	return ""
}

// ResolveBackend returns the backend a config with learner.backend = name
// runs on: name itself, or the default backend when name is empty.
func ResolveBackend(name string) string {
	if name == "" {
		return DefaultBackend()
	}
	return name
}

// BuildHint says how to get a binary with the named backend compiled in.
func BuildHint(name string) string {
	switch name {
	case "torch":
		return "the torch backend (libtorch through gotch) needs a build with `-tags torch` and libtorch installed: `make build`, or `source scripts/torch-env.sh && go build -tags torch ./cmd/alrl`"
	case "gorgonia":
		return "the gorgonia backend (pure Go) is compiled into every alrl binary; `go build ./cmd/alrl` builds one"
	}
	return fmt.Sprintf("backend %q is not one of alrl's own (torch, gorgonia); import the package that registers it", name)
}

// RequireBackend returns nil when c runs on the backend want, else an error
// for config key saying that what needs that backend and how to build it.
// Code that only one backend can run (a trainer, a NAS space) calls it from
// its own validation, so that such a config fails before the run starts.
func (c Config) RequireBackend(key, what, want string) error {
	got := ResolveBackend(c.Backend)
	if got == want {
		return nil
	}
	return fmt.Errorf("%s: %s needs the %s backend (learner.backend: %s), but this run uses %q; %s",
		key, what, want, want, got, BuildHint(want))
}

func lookup(name string) (BackendInfo, error) {
	b, ok := Backend(name)
	if ok {
		return b, nil
	}
	if slices.Contains(Backends(), name) { // registered twice
		_, err := backends.Get(name)
		return b, fmt.Errorf("learner.backend: %w", err)
	}
	if len(Backends()) == 0 {
		return b, fmt.Errorf("learner.backend: no learner backend is compiled into this binary; build cmd/alrl (it always has the pure-Go gorgonia backend) or add `-tags torch` for libtorch (make build)")
	}
	return b, fmt.Errorf("learner.backend: %q is not compiled into this binary (available: %s); %s",
		name, strings.Join(Backends(), ", "), BuildHint(name))
}

// New builds a learner with the configured (or default) backend.
func New(in datasets.Inputs, numClasses int, cfg Config) (Learner, error) {
	name := ResolveBackend(cfg.Backend)
	b, err := lookup(name)
	if err != nil {
		return nil, err
	}
	if cfg.Model.Name == "torchscript" {
		// A frozen backbone: the head learns on its outputs.
		feats, err := ScriptFeatures(context.Background(), cfg.Model, in, cfg.InferenceBatch)
		if err != nil {
			return nil, err
		}
		in = feats
		cfg.Model = ModelSpec{Name: "mlp", Hidden: cfg.Model.Hidden, Dropout: cfg.Model.Dropout}
	}
	if b.LayerCheck != nil {
		arch, err := cfg.Model.Resolve(in.Shape(), numClasses)
		if err != nil {
			return nil, err
		}
		if err := CheckLayers(name, arch); err != nil {
			return nil, err
		}
	}
	build := func(cfg Config) (Learner, error) {
		l, err := b.New(in, numClasses, cfg)
		if err != nil {
			return nil, err
		}
		for _, wrap := range extensions[name] {
			l = wrap(l)
		}
		return l, nil
	}
	if cfg.Ensemble < 2 {
		return build(cfg)
	}
	single := cfg
	single.Ensemble = 0
	members := make([]Learner, 0, cfg.Ensemble)
	for i := 0; i < cfg.Ensemble; i++ {
		m, err := build(single)
		if err != nil {
			for _, p := range members {
				_ = p.Close()
			}
			return nil, fmt.Errorf("learner.ensemble: building member %d: %w", i, err)
		}
		members = append(members, m)
	}
	return NewEnsemble(members)
}
