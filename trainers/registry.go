package trainers

import (
	"fmt"
	"slices"
	"strings"

	"github.com/alrl/alrl/datasets"
	"github.com/alrl/alrl/envs"
	reg "github.com/alrl/alrl/internal/registry"
	"github.com/alrl/alrl/learner"
)

// Config is the `trainer:` section of an experiment config (and the optional
// per-strategy override).
type Config struct {
	Name    string         `yaml:"name"`    // registered trainer; "" = supervised
	Options map[string]any `yaml:"options"` // trainer options, see `alrl list trainers`
}

// ID returns the trainer's name, "supervised" when none is set.
func (c Config) ID() string {
	if c.Name == "" {
		return "supervised"
	}
	return c.Name
}

// Option documents one option a trainer accepts.
type Option struct {
	Name    string
	Default any
	Doc     string
}

// Setup is what a trainer may know about its run besides each round's data:
// the inputs and model, for caches of pre-trained weights.
type Setup struct {
	Inputs     datasets.Inputs // label-free inputs of the data set (their pool rows key caches)
	Seed       uint64          // the run seed
	Pool       []int           // the pool indices
	NumClasses int             // C
	Learner    learner.Config  // the learner's config (its model keys caches)
}

// Info describes a registered trainer.
type Info struct {
	Name        string
	Description string // one line, naming the paper
	Options     []Option
	// Needs lists the learner capabilities the trainer uses; a learner
	// without them is rejected before the run starts. A trainer whose needs
	// depend on its options also implements Needer.
	Needs []learner.Capability
	// Trains lists capabilities that only this trainer makes meaningful
	// (e.g. vaal_scores); a strategy needing one requires this trainer.
	Trains []learner.Capability
	New    func(opts Options, s Setup) (envs.Trainer, error)
}

// registry holds the trainers; plugins join it from init.
var registry = reg.New[Info]("trainer", "")

// Register adds a trainer to the registry; call it from init. Registering a
// name twice makes Lookup of that name fail.
func Register(info Info) { registry.Register(info.Name, info) }

// Names returns the registered trainer names, sorted.
func Names() []string { return registry.Names() }

// Lookup returns the registration of name ("" = supervised).
func Lookup(name string) (Info, error) {
	if name == "" {
		name = "supervised"
	}
	return registry.Get(name)
}

// TrainedBy returns the trainer that trains capability c, or "".
func TrainedBy(c learner.Capability) string {
	by := ""
	registry.Each(func(name string, info Info) {
		if by == "" && slices.Contains(info.Trains, c) {
			by = name
		}
	})
	return by
}

// New builds the configured trainer; unknown options and options of the
// wrong type are errors naming them.
func New(c Config, s Setup) (envs.Trainer, error) {
	info, err := Lookup(c.Name)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	names := make([]string, 0, len(info.Options))
	for _, o := range info.Options {
		known[o.Name] = true
		names = append(names, o.Name)
	}
	for k := range c.Options {
		if !known[k] {
			list := "none"
			if len(names) > 0 {
				list = strings.Join(names, ", ")
			}
			return nil, fmt.Errorf("trainer %s: unknown option %q (known options: %s)", info.Name, k, list)
		}
	}
	o := Options{trainer: info.Name, values: c.Options, defaults: map[string]any{}}
	for _, opt := range info.Options {
		o.defaults[opt.Name] = opt.Default
	}
	t, err := info.New(o, s)
	if err != nil {
		return nil, fmt.Errorf("trainer %s: %w", info.Name, err)
	}
	return t, nil
}

// Validate checks the name and options without a run (New on an empty Setup).
func (c Config) Validate() error {
	_, err := New(c, Setup{})
	return err
}

// Options gives typed access to a trainer's configured options, falling back
// to the registered defaults. Errors name the option as trainer.options.NAME.
type Options struct {
	trainer  string
	values   map[string]any
	defaults map[string]any
}

func (o Options) raw(name string) any {
	if v, ok := o.values[name]; ok && v != nil {
		return v
	}
	return o.defaults[name]
}

func (o Options) bad(name, want string) error {
	return fmt.Errorf("option %s: expected %s, got %v", name, want, o.raw(name))
}

// Int returns an integer option.
func (o Options) Int(name string) (int, error) {
	switch v := o.raw(name).(type) {
	case int:
		return v, nil
	case int64:
		return int(v), nil
	case uint64:
		return int(v), nil
	case float64:
		if v == float64(int(v)) {
			return int(v), nil
		}
	}
	return 0, o.bad(name, "an integer")
}

// Float returns a numeric option.
func (o Options) Float(name string) (float64, error) {
	switch v := o.raw(name).(type) {
	case float64:
		return v, nil
	case int:
		return float64(v), nil
	case int64:
		return float64(v), nil
	case uint64:
		return float64(v), nil
	}
	return 0, o.bad(name, "a number")
}

// String returns a string option.
func (o Options) String(name string) (string, error) {
	if v, ok := o.raw(name).(string); ok {
		return v, nil
	}
	return "", o.bad(name, "a string")
}

// Bool returns a boolean option.
func (o Options) Bool(name string) (bool, error) {
	if v, ok := o.raw(name).(bool); ok {
		return v, nil
	}
	return false, o.bad(name, "true or false")
}

// Ints returns a list-of-integers option.
func (o Options) Ints(name string) ([]int, error) {
	switch v := o.raw(name).(type) {
	case []int:
		return append([]int(nil), v...), nil
	case []any:
		out := make([]int, len(v))
		for i, e := range v {
			switch x := e.(type) {
			case int:
				out[i] = x
			case int64:
				out[i] = int(x)
			case uint64:
				out[i] = int(x)
			case float64:
				if x != float64(int(x)) {
					return nil, o.bad(name, "a list of integers")
				}
				out[i] = int(x)
			default:
				return nil, o.bad(name, "a list of integers")
			}
		}
		return out, nil
	case nil:
		return nil, nil
	}
	return nil, o.bad(name, "a list of integers")
}

// reader collects the first error of a series of option reads.
type reader struct {
	o   Options
	err error
}

func (r *reader) int(name string) int {
	v, err := r.o.Int(name)
	if r.err == nil {
		r.err = err
	}
	return v
}

func (r *reader) float(name string) float64 {
	v, err := r.o.Float(name)
	if r.err == nil {
		r.err = err
	}
	return v
}

func (r *reader) str(name string) string {
	v, err := r.o.String(name)
	if r.err == nil {
		r.err = err
	}
	return v
}

func (r *reader) boolean(name string) bool {
	v, err := r.o.Bool(name)
	if r.err == nil {
		r.err = err
	}
	return v
}

func (r *reader) ints(name string) []int {
	v, err := r.o.Ints(name)
	if r.err == nil {
		r.err = err
	}
	return v
}

// Needer is implemented by trainers whose needed capabilities depend on
// their options.
type Needer interface {
	Needs() []learner.Capability
}

// NeedsOf returns every capability trainer t (registered as info) needs.
func NeedsOf(info Info, t envs.Trainer) []learner.Capability {
	out := append([]learner.Capability(nil), info.Needs...)
	if n, ok := t.(Needer); ok {
		out = append(out, n.Needs()...)
	}
	return out
}
