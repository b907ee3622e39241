package strategies

import (
	"errors"
	"fmt"
	"strings"

	reg "github.com/alrl/alrl/internal/registry"
)

// Option documents one option a strategy accepts.
type Option struct {
	Name    string
	Default any
	Doc     string
}

// Info describes a registered strategy.
type Info struct {
	Name        string
	Description string // one line
	Options     []Option
	New         func(opts Options) (Strategy, error)
}

// registry holds the strategies; plugins join it from init.
var registry = reg.New[Info]("strategy", " (a strategy in your own package joins with a blank import)")

// Register adds a strategy to the registry; call it from init. Registering a
// name twice makes Lookup of that name fail with an error.
func Register(info Info) { registry.Register(info.Name, info) }

// Names returns the registered strategy names, sorted.
func Names() []string { return registry.Names() }

// Lookup returns the registration of name.
func Lookup(name string) (Info, error) { return registry.Get(name) }

// New builds the named strategy with options; unknown options are an error
// that lists the known ones.
func New(name string, opts map[string]any) (Strategy, error) {
	info, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, o := range info.Options {
		known[o.Name] = true
	}
	for k := range opts {
		if !known[k] {
			names := make([]string, 0, len(info.Options))
			for _, o := range info.Options {
				names = append(names, o.Name)
			}
			list := "none"
			if len(names) > 0 {
				list = strings.Join(names, ", ")
			}
			return nil, &ConfigError{Path: "options." + k, Err: fmt.Errorf("strategy %s has no option %q (known options: %s)", name, k, list)}
		}
	}
	o := Options{strategy: name, values: opts, defaults: map[string]any{}}
	for _, opt := range info.Options {
		o.defaults[opt.Name] = opt.Default
	}
	s, err := info.New(o)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			return nil, err // already located by its path below this strategy
		}
		return nil, fmt.Errorf("strategy %s: %w", name, err)
	}
	return s, nil
}

// Options gives typed access to a strategy's configured options, falling back
// to the registered defaults.
type Options struct {
	strategy string
	values   map[string]any
	defaults map[string]any
}

func (o Options) raw(name string) any {
	if v, ok := o.values[name]; ok && v != nil {
		return v
	}
	return o.defaults[name]
}

// Value returns an option's raw value as configured (or its registered
// default): YAML mappings arrive as map[string]any and sequences as []any, so
// a composite strategy can read a nested strategy config and pass it to
// NewNested.
func (o Options) Value(name string) any { return o.raw(name) }

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
	return 0, fmt.Errorf("option %s: expected an integer, got %v", name, o.raw(name))
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
	return 0, fmt.Errorf("option %s: expected a number, got %v", name, o.raw(name))
}

// String returns a string option.
func (o Options) String(name string) (string, error) {
	if v, ok := o.raw(name).(string); ok {
		return v, nil
	}
	return "", fmt.Errorf("option %s: expected a string, got %v", name, o.raw(name))
}

// Bool returns a boolean option.
func (o Options) Bool(name string) (bool, error) {
	if v, ok := o.raw(name).(bool); ok {
		return v, nil
	}
	return false, fmt.Errorf("option %s: expected true or false, got %v", name, o.raw(name))
}
