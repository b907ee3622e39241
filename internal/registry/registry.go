// Package registry is the one plugin registry behind strategies, trainers
// and learner backends: values registered by name from init functions. A
// name registered twice is remembered, and looking it up is then an error
// (init functions cannot return one), so two plugins never silently
// replace each other.
package registry

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Registry holds values of one kind by name; its zero value is not usable, use New.
type Registry[T any] struct {
	kind string // "strategy", "trainer", ...: the noun in errors
	hint string // appended to the unknown-name error
	mu   sync.RWMutex
	vals map[string]T
	dups map[string]int
}

// New returns an empty registry of kind; hint ends its unknown-name error.
func New[T any](kind, hint string) *Registry[T] {
	return &Registry[T]{kind: kind, hint: hint, vals: map[string]T{}, dups: map[string]int{}}
}

// Register adds v under name; a second registration of name makes Get fail.
func (r *Registry[T]) Register(name string, v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.vals[name]; ok {
		r.dups[name]++
	}
	r.vals[name] = v
}

// Names returns the registered names, sorted.
func (r *Registry[T]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.vals))
	for n := range r.vals {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Value returns the value of name and whether it is registered exactly once.
func (r *Registry[T]) Value(name string) (T, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	v, ok := r.vals[name]
	return v, ok && r.dups[name] == 0
}

// Get returns the value of name, or an error naming the registered ones
// (unknown name) or the clash (a name registered twice).
func (r *Registry[T]) Get(name string) (T, error) {
	r.mu.RLock()
	v, ok := r.vals[name]
	dup := r.dups[name] > 0
	r.mu.RUnlock()
	switch {
	case !ok:
		return v, fmt.Errorf("unknown %s %q; registered: %s%s", r.kind, name, strings.Join(r.Names(), ", "), r.hint)
	case dup:
		return v, fmt.Errorf("%s %q is registered more than once; rename one of the plugins", r.kind, name)
	}
	return v, nil
}

// Each calls f on every registered value, in name order.
func (r *Registry[T]) Each(f func(name string, v T)) {
	for _, n := range r.Names() {
		r.mu.RLock()
		v := r.vals[n]
		r.mu.RUnlock()
		f(n, v)
	}
}
