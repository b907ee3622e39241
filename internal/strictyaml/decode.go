package strictyaml

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// FieldError is one problem found by Decode, located by key path and source line.
type FieldError struct {
	Path   string // key path such as "strategies[1].name"; empty for the document root
	Line   int    // 1-based source line; 0 for values set by a command-line override
	Column int    // 1-based source column; 0 when unknown
	Msg    string // what is wrong
	Hint   string // optional extra text appended after the location
}

// Error formats the problem as "path: message (line N); hint".
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.Line)
	} else {
		b.WriteString(" (from command-line override)")
	}
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// maxSteps bounds the work done when aliases expand a document.
const maxSteps = 10_000_000

var (
	unmarshalerType     = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	durationType        = reflect.TypeFor[time.Duration]()
	timeType            = reflect.TypeFor[time.Time]()
)

// Decode decodes the node into out (a non-nil pointer to a struct already filled with defaults).
//
// Keys absent from the YAML, and null values, keep their defaults. Unknown
// keys, duplicate keys and wrong types are all collected and returned together
// (errors.Join of *FieldError, sorted by line), each naming the full key path.
// Mappings decoded into structs and maps update the existing value key by key;
// sequences replace the default slice. Integer fields accept integral floats
// such as 1e6 but reject 1.5 and out-of-range values; time.Duration fields take
// strings like "90s". Fields typed any (or map[string]any) receive yaml.v3's
// plain decoding. Types implementing yaml.Unmarshaler are honoured, as are
// encoding.TextUnmarshaler types given a scalar.
func Decode(node *yaml.Node, out any) error {
	rv := reflect.ValueOf(out)
	if !rv.IsValid() || rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("strictyaml: Decode needs a non-nil pointer, got %T", out)
	}
	if node == nil {
		return nil
	}
	if node.Kind == yaml.DocumentNode {
		if len(node.Content) == 0 {
			return nil
		}
		node = node.Content[0]
	}
	d := &decoder{active: map[*yaml.Node]bool{}}
	d.decode(node, rv.Elem(), "")
	if d.fatal != nil {
		return d.fatal
	}
	if len(d.errs) == 0 {
		return nil
	}
	sort.SliceStable(d.errs, func(i, j int) bool {
		a, b := d.errs[i], d.errs[j]
		la, lb := a.Line, b.Line
		if la == 0 {
			la = math.MaxInt
		}
		if lb == 0 {
			lb = math.MaxInt
		}
		if la != lb {
			return la < lb
		}
		return a.Column < b.Column
	})
	errs := make([]error, len(d.errs))
	for i, e := range d.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

type decoder struct {
	errs   []*FieldError
	fatal  error // a problem with the Go types, not the YAML
	active map[*yaml.Node]bool
	steps  int
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{Path: path, Line: n.Line, Column: n.Column, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if d.fatal != nil {
		return
	}
	d.steps++
	if d.steps > maxSteps {
		d.fatal = errors.New("strictyaml: document too large after alias expansion")
		return
	}
	if n.Kind == yaml.AliasNode {
		t := n.Alias
		if t == nil {
			d.errorf(n, path, "alias *%s refers to an unknown anchor", n.Value)
			return
		}
		if d.active[t] {
			d.errorf(n, path, "alias *%s refers to a value that contains itself", n.Value)
			return
		}
		d.active[t] = true
		d.decode(t, v, path)
		delete(d.active, t)
		return
	}
	if isNull(n) {
		return
	}
	t := v.Type()

	if t.Kind() != reflect.Pointer && v.CanAddr() {
		pt := reflect.PointerTo(t)
		if pt.Implements(unmarshalerType) {
			if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
				d.errorf(n, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
			}
			return
		}
		if t == timeType {
			if n.Kind != yaml.ScalarNode {
				d.errorf(n, path, "expected a timestamp, got %s", describe(n))
				return
			}
			var tm time.Time
			if err := n.Decode(&tm); err != nil {
				d.errorf(n, path, "expected a timestamp, got %s", describe(n))
				return
			}
			v.Set(reflect.ValueOf(tm))
			return
		}
		if n.Kind == yaml.ScalarNode && pt.Implements(textUnmarshalerType) {
			if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
				d.errorf(n, path, "invalid value %s: %v", describe(n), err)
			}
			return
		}
	}

	switch t.Kind() {
	case reflect.Pointer:
		nv := reflect.New(t.Elem())
		if !v.IsNil() {
			nv.Elem().Set(v.Elem()) // copy so shared defaults are never modified
		}
		d.decode(n, nv.Elem(), path)
		v.Set(nv)
	case reflect.Interface:
		if t.NumMethod() != 0 {
			d.fatal = fmt.Errorf("strictyaml: %s: unsupported interface type %s", displayPath(path), t)
			return
		}
		var x any
		if err := n.Decode(&x); err != nil {
			d.errorf(n, path, "%s", cleanYAMLError(err))
			return
		}
		if x == nil {
			return
		}
		v.Set(reflect.ValueOf(x))
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "expected a sequence, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Array:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "expected a sequence, got %s", describe(n))
			return
		}
		if len(n.Content) != t.Len() {
			d.errorf(n, path, "expected a sequence of exactly %d items, got %d", t.Len(), len(n.Content))
			return
		}
		a := reflect.New(t).Elem()
		a.Set(v)
		for i, c := range n.Content {
			d.decode(c, a.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(a)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, path, "expected a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.errorf(n, path, "expected a boolean (true or false), got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if t == durationType {
			d.decodeDuration(n, v, path)
			return
		}
		d.decodeInt(n, v, path)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		d.decodeInt(n, v, path)
	case reflect.Float32, reflect.Float64:
		var f float64
		tag := n.ShortTag()
		if n.Kind != yaml.ScalarNode || (tag != "!!float" && tag != "!!int") || n.Decode(&f) != nil {
			d.errorf(n, path, "expected a number, got %s", describe(n))
			return
		}
		if !math.IsInf(f, 0) && v.OverflowFloat(f) {
			d.errorf(n, path, "%s is out of range for %s", n.Value, t)
			return
		}
		v.SetFloat(f)
	default:
		d.fatal = fmt.Errorf("strictyaml: %s: unsupported Go type %s", displayPath(path), t)
	}
}

func (d *decoder) decodeDuration(n *yaml.Node, v reflect.Value, path string) {
	const want = `expected a duration such as "90s" or "1h30m", got %s`
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, want, describe(n))
		return
	}
	switch n.ShortTag() {
	case "!!str":
		dur, err := time.ParseDuration(strings.TrimSpace(n.Value))
		if err != nil {
			d.errorf(n, path, want, describe(n))
			return
		}
		v.SetInt(int64(dur))
	case "!!int":
		var x any
		if n.Decode(&x) == nil && x == 0 {
			v.SetInt(0)
			return
		}
		d.errorf(n, path, want+" (a unit is required)", describe(n))
	default:
		d.errorf(n, path, want, describe(n))
	}
}

func (d *decoder) decodeInt(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	unsigned := t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uintptr
	want := "an integer"
	if unsigned {
		want = "a non-negative integer"
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "expected %s, got %s", want, describe(n))
		return
	}
	var x any
	tag := n.ShortTag()
	if (tag != "!!int" && tag != "!!float") || n.Decode(&x) != nil {
		d.errorf(n, path, "expected %s, got %s", want, describe(n))
		return
	}
	var (
		i64   int64
		u64   uint64
		isNeg bool
		big   bool // does not fit int64 but fits uint64
	)
	switch x := x.(type) {
	case int:
		i64 = int64(x)
	case int64:
		i64 = x
	case uint64:
		u64, big = x, true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || x != math.Trunc(x) {
			d.errorf(n, path, "expected %s, got %s", want, n.Value)
			return
		}
		switch {
		case x >= -(1<<63) && x < 1<<63:
			i64 = int64(x)
		case x >= 0 && x < 1<<64:
			u64, big = uint64(x), true
		default:
			d.errorf(n, path, "%s is out of range for %s", n.Value, t)
			return
		}
	default:
		d.errorf(n, path, "expected %s, got %s", want, describe(n))
		return
	}
	isNeg = !big && i64 < 0
	if unsigned {
		if isNeg {
			d.errorf(n, path, "expected %s, got %s", want, n.Value)
			return
		}
		if !big {
			u64 = uint64(i64)
		}
		if v.OverflowUint(u64) {
			d.errorf(n, path, "%s is out of range for %s", n.Value, t)
			return
		}
		v.SetUint(u64)
		return
	}
	if big || v.OverflowInt(i64) {
		d.errorf(n, path, "%s is out of range for %s", n.Value, t)
		return
	}
	v.SetInt(i64)
}

// pair is one key/value entry of a mapping after merge keys are applied.
type pair struct {
	key *yaml.Node
	val *yaml.Node
}

// pairs returns the entries of mapping n, applying "<<" merge keys (explicit
// keys win, earlier merge sources win over later ones) and reporting duplicate
// or non-scalar keys when report is set.
func (d *decoder) pairs(n *yaml.Node, path string, report bool, depth int) []pair {
	var own, merged []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if isMergeKey(k) {
			merged = append(merged, d.mergeSources(val, path, report, depth)...)
			continue
		}
		rk := resolveAlias(k)
		if rk == nil || rk.Kind != yaml.ScalarNode {
			if report {
				d.errorf(k, path, "mapping keys must be scalars, got %s", describe(k))
			}
			continue
		}
		if first, dup := seen[rk.Value]; dup {
			if report {
				d.errs = append(d.errs, &FieldError{Path: joinKey(path, rk.Value), Line: k.Line, Column: k.Column,
					Msg: fmt.Sprintf("duplicate key (first defined on line %d)", first.Line)})
			}
			continue
		}
		seen[rk.Value] = k
		own = append(own, pair{rk, val})
	}
	out := make([]pair, 0, len(own)+len(merged))
	for _, p := range merged {
		if _, ok := seen[p.key.Value]; ok {
			continue
		}
		seen[p.key.Value] = p.key
		out = append(out, p)
	}
	return append(out, own...)
}

func (d *decoder) mergeSources(val *yaml.Node, path string, report bool, depth int) []pair {
	if depth > 100 {
		d.errorf(val, path, "merge keys nested too deeply")
		return nil
	}
	src := resolveAlias(val)
	if src == nil {
		d.errorf(val, path, "merge value refers to an unknown or cyclic alias")
		return nil
	}
	switch src.Kind {
	case yaml.MappingNode:
		return d.pairs(src, path, false, depth+1)
	case yaml.SequenceNode:
		var out []pair
		seen := map[string]bool{}
		for _, c := range src.Content {
			rc := resolveAlias(c)
			if rc == nil || rc.Kind != yaml.MappingNode {
				d.errorf(c, path, "merge (<<) sequence items must be mappings, got %s", describe(c))
				continue
			}
			for _, p := range d.pairs(rc, path, false, depth+1) {
				if !seen[p.key.Value] {
					seen[p.key.Value] = true
					out = append(out, p)
				}
			}
		}
		return out
	default:
		d.errorf(val, path, "merge (<<) value must be a mapping or a sequence of mappings, got %s", describe(val))
		return nil
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	info, err := structInfoFor(v.Type())
	if err != nil {
		d.fatal = err
		return
	}
	var inlineMap reflect.Value
	for _, p := range d.pairs(n, path, true, 0) {
		name := p.key.Value
		childPath := joinKey(path, name)
		f, ok := info.fields[name]
		if !ok {
			if info.inlineMap != nil {
				if !inlineMap.IsValid() {
					inlineMap = d.prepareMap(fieldByIndex(v, info.inlineMap))
				}
				d.decodeMapEntry(p, inlineMap, path)
				continue
			}
			known := "(none)"
			if len(info.names) > 0 {
				known = strings.Join(info.names, ", ")
			}
			d.errs = append(d.errs, &FieldError{Path: childPath, Line: p.key.Line, Column: p.key.Column,
				Msg: "unknown key", Hint: "known keys: " + known})
			continue
		}
		d.decode(p.val, fieldByIndex(v, f.index), childPath)
	}
}

// prepareMap replaces the map in m with a copy (allocating it if nil) and returns it.
func (d *decoder) prepareMap(m reflect.Value) reflect.Value {
	nm := reflect.MakeMapWithSize(m.Type(), m.Len())
	iter := m.MapRange()
	for iter.Next() {
		nm.SetMapIndex(iter.Key(), iter.Value())
	}
	m.Set(nm)
	return nm
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	m := d.prepareMap(v)
	for _, p := range d.pairs(n, path, true, 0) {
		d.decodeMapEntry(p, m, path)
	}
}

func (d *decoder) decodeMapEntry(p pair, m reflect.Value, path string) {
	t := m.Type()
	childPath := joinKey(path, p.key.Value)
	k := reflect.New(t.Key()).Elem()
	if t.Key().Kind() == reflect.String {
		k.SetString(p.key.Value)
	} else {
		before := len(d.errs)
		d.decode(p.key, k, childPath)
		if len(d.errs) > before || d.fatal != nil {
			return
		}
	}
	e := reflect.New(t.Elem()).Elem()
	if old := m.MapIndex(k); old.IsValid() {
		e.Set(old)
	}
	d.decode(p.val, e, childPath)
	m.SetMapIndex(k, e)
}

// fieldByIndex is like reflect.Value.FieldByIndex but allocates (copies of)
// embedded struct pointers on the way.
func fieldByIndex(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			nv := reflect.New(v.Type().Elem())
			if !v.IsNil() {
				nv.Elem().Set(v.Elem())
			}
			v.Set(nv)
			v = nv.Elem()
		}
		v = v.Field(x)
	}
	return v
}

type fieldInfo struct {
	name      string
	index     []int
	omitEmpty bool
}

type structInfo struct {
	fields    map[string]fieldInfo
	ordered   []fieldInfo // declaration order, inline fields expanded
	names     []string    // sorted known keys
	inlineMap []int       // index of an inline map[string]T field, or nil
}

var structCache sync.Map // reflect.Type -> *structInfo

// structInfoFor computes the yaml keys of struct type t.
func structInfoFor(t reflect.Type) (*structInfo, error) {
	if c, ok := structCache.Load(t); ok {
		return c.(*structInfo), nil
	}
	info := &structInfo{fields: map[string]fieldInfo{}}
	if err := collectFields(t, nil, info, map[reflect.Type]bool{t: true}); err != nil {
		return nil, err
	}
	for name := range info.fields {
		info.names = append(info.names, name)
	}
	sort.Strings(info.names)
	structCache.Store(t, info)
	return info, nil
}

func collectFields(t reflect.Type, prefix []int, info *structInfo, visiting map[reflect.Type]bool) error {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("yaml")
		if !ok || tag == "-" {
			continue
		}
		parts := strings.Split(tag, ",")
		name := parts[0]
		var inline, omitEmpty bool
		for _, opt := range parts[1:] {
			switch opt {
			case "inline":
				inline = true
			case "omitempty":
				omitEmpty = true
			case "flow", "":
			default:
				return fmt.Errorf("strictyaml: field %s.%s: unsupported yaml tag option %q", t, f.Name, opt)
			}
		}
		index := append(append([]int(nil), prefix...), i)
		if inline {
			ft := f.Type
			switch {
			case ft.Kind() == reflect.Struct || (ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct):
				if ft.Kind() == reflect.Pointer {
					if !f.IsExported() {
						return fmt.Errorf("strictyaml: field %s.%s: inline pointer field must be exported", t, f.Name)
					}
					ft = ft.Elem()
				} else if !f.IsExported() && !f.Anonymous {
					continue
				}
				if visiting[ft] {
					return fmt.Errorf("strictyaml: field %s.%s: recursive inline struct %s", t, f.Name, ft)
				}
				visiting[ft] = true
				if err := collectFields(ft, index, info, visiting); err != nil {
					return err
				}
				delete(visiting, ft)
			case ft.Kind() == reflect.Map && ft.Key().Kind() == reflect.String && f.IsExported():
				if info.inlineMap != nil {
					return fmt.Errorf("strictyaml: struct %s has more than one inline map", t)
				}
				info.inlineMap = index
			default:
				return fmt.Errorf("strictyaml: field %s.%s: inline needs a struct, struct pointer or map[string]T, got %s", t, f.Name, ft)
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if _, dup := info.fields[name]; dup {
			return fmt.Errorf("strictyaml: struct %s: duplicate yaml key %q (field %s)", t, name, f.Name)
		}
		fi := fieldInfo{name: name, index: index, omitEmpty: omitEmpty}
		info.fields[name] = fi
		info.ordered = append(info.ordered, fi)
	}
	return nil
}

// describe renders a node for "got ..." messages.
func describe(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.AliasNode:
		if t := resolveAlias(n); t != nil {
			return describe(t)
		}
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	case yaml.ScalarNode:
		s := n.Value
		if len(s) > 60 {
			s = s[:57] + "..."
		}
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!int", "!!float", "!!bool":
			return s
		default:
			return strconv.Quote(s)
		}
	}
	return "an empty node"
}

// joinKey appends a mapping key to a path, quoting keys that would be ambiguous.
func joinKey(path, key string) string {
	if key == "" || strings.ContainsAny(key, ".[]\"' \t\n") {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func displayPath(path string) string {
	if path == "" {
		return "the document root"
	}
	return path
}

func cleanYAMLError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.Join(te.Errors, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}
