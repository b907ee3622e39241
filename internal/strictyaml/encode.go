package strictyaml

import (
	"bytes"
	"encoding"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

var (
	marshalerType     = reflect.TypeFor[yaml.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// maxEncodeDepth guards against pointer cycles in Encode.
const maxEncodeDepth = 200

// Encode renders v (the resolved config) as YAML text, using the same yaml tags.
//
// Only fields Decode would accept are written (tagged, exported, inline
// structs and maps merged), in declaration order; map keys are sorted;
// time.Duration values are written as strings such as "1m30s"; nil pointers,
// slices and maps are written as null so that decoding the output over the
// same defaults reproduces v. Fields tagged omitempty are left out when empty.
func Encode(v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	var node *yaml.Node
	if !rv.IsValid() {
		node = nullNode()
	} else {
		// Copy into addressable memory so pointer-receiver marshalers are found.
		p := reflect.New(rv.Type())
		p.Elem().Set(rv)
		var err error
		if node, err = encodeValue(p.Elem(), "", 0); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{node}}); err != nil {
		return nil, fmt.Errorf("strictyaml: encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("strictyaml: encode: %w", err)
	}
	return buf.Bytes(), nil
}

func nullNode() *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
}

// encodeLeaf lets yaml.v3 render a value it knows how to marshal.
func encodeLeaf(x any, path string) (*yaml.Node, error) {
	var n yaml.Node
	if err := n.Encode(x); err != nil {
		return nil, fmt.Errorf("strictyaml: encode %s: %w", displayPath(path), err)
	}
	return &n, nil
}

func encodeValue(v reflect.Value, path string, depth int) (*yaml.Node, error) {
	if depth > maxEncodeDepth {
		return nil, fmt.Errorf("strictyaml: encode %s: value nested too deeply (pointer cycle?)", displayPath(path))
	}
	t := v.Type()
	if t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface {
		if t.Implements(marshalerType) || t.Implements(textMarshalerType) || t == timeType {
			return encodeLeaf(v.Interface(), path)
		}
		if v.CanAddr() {
			pt := reflect.PointerTo(t)
			if pt.Implements(marshalerType) || pt.Implements(textMarshalerType) {
				return encodeLeaf(v.Addr().Interface(), path)
			}
		}
	}
	if t == durationType {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: time.Duration(v.Int()).String()}, nil
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nullNode(), nil
		}
		e := v.Elem()
		if t.Kind() == reflect.Interface {
			c := reflect.New(e.Type()).Elem()
			c.Set(e)
			e = c
		}
		return encodeValue(e, path, depth+1)
	case reflect.Struct:
		m := newMapping()
		if err := encodeStructInto(m, v, path, depth); err != nil {
			return nil, err
		}
		return m, nil
	case reflect.Map:
		if v.IsNil() {
			return nullNode(), nil
		}
		m := newMapping()
		if err := encodeMapInto(m, v, path, depth); err != nil {
			return nil, err
		}
		return m, nil
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && v.IsNil() {
			return nullNode(), nil
		}
		s := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i := 0; i < v.Len(); i++ {
			c, err := encodeValue(v.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1)
			if err != nil {
				return nil, err
			}
			s.Content = append(s.Content, c)
		}
		return s, nil
	case reflect.Float32, reflect.Float64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: formatFloat(v.Float(), t.Bits())}, nil
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return encodeLeaf(v.Interface(), path)
	default:
		return nil, fmt.Errorf("strictyaml: encode %s: unsupported Go type %s", displayPath(path), t)
	}
}

func encodeStructInto(m *yaml.Node, v reflect.Value, path string, depth int) error {
	info, err := structInfoFor(v.Type())
	if err != nil {
		return err
	}
	for _, f := range info.ordered {
		fv, ok := fieldForRead(v, f.index)
		if !ok {
			continue // field of a nil inline pointer
		}
		if f.omitEmpty && isEmpty(fv) {
			continue
		}
		childPath := joinKey(path, f.name)
		c, err := encodeValue(fv, childPath, depth+1)
		if err != nil {
			return err
		}
		m.Content = append(m.Content, newKey(f.name), c)
	}
	if info.inlineMap != nil {
		mv, ok := fieldForRead(v, info.inlineMap)
		if ok && !mv.IsNil() {
			return encodeMapInto(m, mv, path, depth)
		}
	}
	return nil
}

func encodeMapInto(m *yaml.Node, v reflect.Value, path string, depth int) error {
	type entry struct {
		key  *yaml.Node
		sort string
		val  reflect.Value
	}
	var entries []entry
	iter := v.MapRange()
	for iter.Next() {
		k := iter.Key()
		var kn *yaml.Node
		if k.Kind() == reflect.String {
			kn = newKey(k.String())
		} else {
			kc := reflect.New(k.Type()).Elem()
			kc.Set(k)
			var err error
			if kn, err = encodeValue(kc, path, depth+1); err != nil {
				return err
			}
			if kn.Kind != yaml.ScalarNode {
				return fmt.Errorf("strictyaml: encode %s: map key of type %s is not a scalar", displayPath(path), k.Type())
			}
		}
		val := reflect.New(iter.Value().Type()).Elem()
		val.Set(iter.Value())
		entries = append(entries, entry{kn, kn.Value, val})
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].sort < entries[j].sort })
	for _, e := range entries {
		c, err := encodeValue(e.val, joinKey(path, e.key.Value), depth+1)
		if err != nil {
			return err
		}
		m.Content = append(m.Content, e.key, c)
	}
	return nil
}

// fieldForRead follows index through embedded pointers without allocating.
func fieldForRead(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

// isEmpty reports whether v counts as empty for omitempty.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map, reflect.String, reflect.Array:
		return v.Len() == 0
	}
	return v.IsZero()
}

// formatFloat renders f so that it reads back as a float (never as an integer).
func formatFloat(f float64, bits int) string {
	switch {
	case math.IsInf(f, 1):
		return ".inf"
	case math.IsInf(f, -1):
		return "-.inf"
	case math.IsNaN(f):
		return ".nan"
	}
	s := strconv.FormatFloat(f, 'g', -1, bits)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}
