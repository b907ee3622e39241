// Package strictyaml loads experiment configuration files strictly: unknown
// keys, duplicate keys and values of the wrong type are reported with the full
// key path and source line, and command-line overrides of the form
// "a.b.c=value" can be applied to the parsed document before decoding.
//
// The intended flow is Parse, then Set for each override, then Decode into a
// struct pre-filled with defaults; Encode renders the resolved config.
package strictyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Parse parses YAML text into a document node (error mentions the source name and line).
//
// Empty input yields a document holding an empty mapping. Only a single YAML
// document is accepted.
func Parse(name string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return emptyDocument(), nil
		}
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	default:
		return nil, fmt.Errorf("%s: line %d: multiple YAML documents are not supported", name, extra.Line)
	}
	if doc.Kind != yaml.DocumentNode {
		// Not expected from yaml.v3, but keep the contract of returning a document.
		inner := doc
		doc = yaml.Node{Kind: yaml.DocumentNode, Line: inner.Line, Column: inner.Column, Content: []*yaml.Node{&inner}}
	}
	if len(doc.Content) == 0 {
		doc.Content = []*yaml.Node{newMapping()}
	}
	return &doc, nil
}

func emptyDocument() *yaml.Node {
	return &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{newMapping()}}
}

func newMapping() *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
}

func newKey(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// Set applies one command-line override "a.b.c=value" to a document node, creating mapping keys as needed.
//
// Numeric path segments index into sequences (e.g. "strategies.1.name=margin");
// on a mapping they are ordinary keys. The value is parsed as YAML, so "3",
// "0.5", "true", "[1, 2]" and "{a: 1}" have their YAML types and a plain word
// is a string; an empty value is the empty string. Nodes reached through an
// alias are copied before being modified, so the anchored original is left
// unchanged. Nodes created by Set carry line 0, which Decode reports as coming
// from a command-line override.
func Set(doc *yaml.Node, assignment string) error {
	if doc == nil {
		return errors.New("strictyaml: Set called with a nil document")
	}
	eq := strings.IndexByte(assignment, '=')
	if eq < 0 {
		return fmt.Errorf("invalid override %q: expected key.path=value", assignment)
	}
	key := strings.TrimSpace(assignment[:eq])
	raw := assignment[eq+1:]
	if key == "" {
		return fmt.Errorf("invalid override %q: empty key before '='", assignment)
	}
	value, err := parseValue(raw)
	if err != nil {
		return fmt.Errorf("invalid override %q: bad value: %v", assignment, err)
	}
	return setNode(doc, key, value, assignment)
}

// SetNode sets the value at the dotted key path (as Set does) to a node
// taken from another document, for example a sweep file's axis value; the
// node keeps its own line numbers, so decode errors point into that file.
func SetNode(doc *yaml.Node, key string, value *yaml.Node) error {
	if doc == nil {
		return errors.New("strictyaml: SetNode called with a nil document")
	}
	if value == nil || hasAlias(value) {
		return fmt.Errorf("invalid value for %s: aliases and empty values are not supported", key)
	}
	return setNode(doc, strings.TrimSpace(key), deepCopy(value), key)
}

func setNode(doc *yaml.Node, key string, value *yaml.Node, assignment string) error {
	segs := strings.Split(key, ".")
	for _, s := range segs {
		if strings.TrimSpace(s) == "" {
			return fmt.Errorf("invalid override %q: empty segment in key path %q", assignment, key)
		}
	}

	root := doc
	if doc.Kind == yaml.DocumentNode || doc.Kind == 0 {
		if doc.Kind == 0 {
			doc.Kind = yaml.DocumentNode
		}
		if len(doc.Content) == 0 {
			doc.Content = []*yaml.Node{newMapping()}
		}
		if doc.Content[0].Kind == yaml.AliasNode {
			doc.Content[0] = copyAliasTarget(doc.Content[0])
		}
		root = doc.Content[0]
	}
	if isNull(root) {
		*root = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: root.Line, Column: root.Column}
	}

	cur := root
	path := ""
	for i, seg := range segs {
		last := i == len(segs)-1
		var slot **yaml.Node
		var childPath string
		switch cur.Kind {
		case yaml.MappingNode:
			childPath = joinKey(path, seg)
			slot = mappingSlot(cur, seg)
		case yaml.SequenceNode:
			idx, err := strconv.Atoi(seg)
			if err != nil || idx < 0 || strings.HasPrefix(seg, "+") {
				return fmt.Errorf("invalid override %q: %s is a sequence; expected a non-negative index, got %q", assignment, displayPath(path), seg)
			}
			childPath = fmt.Sprintf("%s[%d]", path, idx)
			if idx >= len(cur.Content) {
				return fmt.Errorf("invalid override %q: %s: index %d out of range (sequence has %d items)", assignment, childPath, idx, len(cur.Content))
			}
			slot = &cur.Content[idx]
		default:
			return fmt.Errorf("invalid override %q: %s is %s, cannot set %q inside it", assignment, displayPath(path), describe(cur), seg)
		}
		if last {
			*slot = value
			return nil
		}
		next := *slot
		if next.Kind == yaml.AliasNode {
			next = copyAliasTarget(next)
			*slot = next
		}
		if isNull(next) {
			next = newMapping()
			*slot = next
		}
		cur = next
		path = childPath
	}
	return nil
}

// mappingSlot returns a pointer to the value slot of key in the mapping m,
// appending the key if absent. A key only present through a merge ("<<") is
// copied into m so that sibling keys of the merged value are preserved.
func mappingSlot(m *yaml.Node, key string) **yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if k.Kind == yaml.ScalarNode && k.Value == key && !isMergeKey(k) {
			return &m.Content[i+1]
		}
	}
	var val *yaml.Node
	if merged := lookupMerged(m, key, 0); merged != nil {
		val = deepCopy(merged)
	} else {
		val = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	}
	m.Content = append(m.Content, newKey(key), val)
	return &m.Content[len(m.Content)-1]
}

// lookupMerged finds key among the merge sources of mapping m.
func lookupMerged(m *yaml.Node, key string, depth int) *yaml.Node {
	if depth > 100 {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if !isMergeKey(m.Content[i]) {
			continue
		}
		v := resolveAlias(m.Content[i+1])
		var sources []*yaml.Node
		switch {
		case v == nil:
		case v.Kind == yaml.MappingNode:
			sources = []*yaml.Node{v}
		case v.Kind == yaml.SequenceNode:
			sources = v.Content
		}
		for _, s := range sources {
			s = resolveAlias(s)
			if s == nil || s.Kind != yaml.MappingNode {
				continue
			}
			for j := 0; j+1 < len(s.Content); j += 2 {
				k := s.Content[j]
				if k.Kind == yaml.ScalarNode && k.Value == key && !isMergeKey(k) {
					return s.Content[j+1]
				}
			}
			if found := lookupMerged(s, key, depth+1); found != nil {
				return found
			}
		}
	}
	return nil
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

func copyAliasTarget(n *yaml.Node) *yaml.Node {
	t := resolveAlias(n)
	if t == nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null", Line: n.Line, Column: n.Column}
	}
	return deepCopy(t)
}

// deepCopy copies n and its children; aliases inside stay aliases.
func deepCopy(n *yaml.Node) *yaml.Node {
	c := *n
	c.Anchor = ""
	if n.Kind != yaml.AliasNode && len(n.Content) > 0 {
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, ch := range n.Content {
			c.Content[i] = deepCopy(ch)
		}
	}
	return &c
}

// parseValue parses the right-hand side of an override as YAML.
func parseValue(raw string) (*yaml.Node, error) {
	if strings.TrimSpace(raw) == "" {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: strings.TrimSpace(raw)}, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(raw), &doc); err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: raw}, nil
	}
	v := doc.Content[0]
	if hasAlias(v) {
		return nil, errors.New("aliases are not supported in override values")
	}
	clearPositions(v)
	return v, nil
}

func hasAlias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		return true
	}
	for _, c := range n.Content {
		if hasAlias(c) {
			return true
		}
	}
	return false
}

func clearPositions(n *yaml.Node) {
	n.Line, n.Column = 0, 0
	n.Anchor = ""
	for _, c := range n.Content {
		clearPositions(c)
	}
}

func isNull(n *yaml.Node) bool {
	if n == nil {
		return true
	}
	if n.Kind == 0 {
		return n.IsZero()
	}
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge"
}
