package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written in the config file as a Go duration
// string such as "30s" or "5m".
type Duration struct{ time.Duration }

// UnmarshalYAML decodes a Go duration string. A bad value is reported as a
// *yaml.TypeError, so that decoding carries on and every problem in the file
// is reported together.
func (d *Duration) UnmarshalYAML(value *yaml.Node) error {
	// Worded like yaml.v3's own type errors so that typeProblem rewords it.
	if value.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{
			fmt.Sprintf("line %d: cannot unmarshal %s into config.Duration", value.Line, value.ShortTag()),
		}}
	}
	v, err := time.ParseDuration(value.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{
			fmt.Sprintf("line %d: cannot unmarshal %s `%s` into config.Duration", value.Line, value.ShortTag(), value.Value),
		}}
	}
	d.Duration = v
	return nil
}

// MarshalYAML encodes the duration as a Go duration string.
func (d Duration) MarshalYAML() (any, error) {
	return d.String(), nil
}

// Time is a time.Time written in the config file as an RFC 3339 time such
// as "2025-07-01T18:00:00Z" or "2025-07-01T20:00:00+02:00". The zero Time
// means unset.
type Time struct{ time.Time }

// UnmarshalYAML decodes an RFC 3339 time, quoted or not; "" is the zero
// Time. A bad value is reported as a *yaml.TypeError, like a bad Duration.
func (t *Time) UnmarshalYAML(value *yaml.Node) error {
	if value.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{
			fmt.Sprintf("line %d: cannot unmarshal %s into config.Time", value.Line, value.ShortTag()),
		}}
	}
	if value.Value == "" {
		t.Time = time.Time{}
		return nil
	}
	v, err := time.Parse(time.RFC3339, value.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{
			fmt.Sprintf("line %d: cannot unmarshal %s `%s` into config.Time", value.Line, value.ShortTag(), value.Value),
		}}
	}
	t.Time = v
	return nil
}

// MarshalYAML encodes the time in RFC 3339 form, and the zero Time as null.
func (t Time) MarshalYAML() (any, error) {
	if t.IsZero() {
		return nil, nil
	}
	return t.Format(time.RFC3339), nil
}

// decode parses data into out, a pointer to a struct whose yaml tags
// describe the file (*Config, or *migrationsFile for migrations.file). It
// returns the document's node tree, used to find the line of each problem,
// and every syntax, structure, unknown-key and type problem found. The tree
// is nil when the file could not be parsed; it is nil with no problems when
// the file is empty (no document, or only null), which the caller judges.
func decode(data []byte, out any) (*yaml.Node, []Problem) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, []Problem{syntaxProblem(err, data)}
	}
	root := documentRoot(&doc)
	if root == nil || root.ShortTag() == "!!null" {
		return nil, nil
	}

	var probs []Problem
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		probs = append(probs, syntaxProblem(err, data))
	default:
		if n := documentRoot(&next); n != nil && n.ShortTag() != "!!null" {
			probs = append(probs, Problem{
				Line:    n.Line,
				Message: "the file holds more than one YAML document",
				Hint:    `remove the "---" separator and merge the documents`,
			})
		}
	}

	// yaml.v3 only honours KnownFields in Decoder.Decode, not in
	// Node.Decode, so the bytes are decoded a second time.
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(out); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, msg := range te.Errors {
				probs = append(probs, typeProblem(root, reflect.TypeOf(out).Elem(), msg))
			}
		} else {
			probs = append(probs, syntaxProblem(err, data))
		}
	}
	return &doc, probs
}

func emptyProblem() Problem {
	return Problem{
		Line:    1,
		Message: "the config is empty",
		Hint:    "set at least ad.urls, ad.base_dn and ad.bind",
	}
}

// syntaxProblem turns a yaml.v3 parse error ("yaml: line N: MESSAGE") into
// a Problem. data is the file, used to spot tab indentation.
func syntaxProblem(err error, data []byte) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line, rest := splitLine(msg)
	p := Problem{Line: line, Message: "invalid YAML: " + rest}
	if lines := bytes.Split(data, []byte("\n")); line > 0 && line <= len(lines) &&
		bytes.HasPrefix(bytes.TrimLeft(lines[line-1], " "), []byte("\t")) {
		p.Hint = "indent with spaces; YAML does not allow tabs"
	}
	return p
}

// splitLine splits "line N: REST" into N and REST. Without the prefix it
// returns 0 and msg.
func splitLine(msg string) (int, string) {
	after, ok := strings.CutPrefix(msg, "line ")
	if !ok {
		return 0, msg
	}
	num, rest, ok := strings.Cut(after, ": ")
	if !ok {
		return 0, msg
	}
	line, err := strconv.Atoi(num)
	if err != nil {
		return 0, msg
	}
	return line, rest
}

// typeProblem turns one yaml.TypeError entry into a Problem, finding its
// path in the node tree and rewording yaml.v3's messages, which name Go
// types, in the terms of the config file. rootType is the struct type the
// file was decoded into.
func typeProblem(root *yaml.Node, rootType reflect.Type, msg string) Problem {
	line, rest := splitLine(msg)

	if name, ok := between(rest, "field ", " not found in type "); ok {
		path := findKey(root, line, name)
		p := Problem{Line: line, Path: path, Message: fmt.Sprintf("unknown key %q", name)}
		if keys := knownKeys(rootType, parentPath(path)); len(keys) > 0 {
			p.Hint = "valid keys here: " + strings.Join(keys, ", ")
		}
		return p
	}

	if quoted, first, ok := cutDuplicate(rest); ok {
		name, err := strconv.Unquote(quoted)
		if err != nil {
			name = quoted
		}
		return Problem{
			Line:    line,
			Path:    findKey(root, line, name),
			Message: fmt.Sprintf("duplicate key %q (first set at line %s)", name, first),
			Hint:    "keep only one of them",
		}
	}

	if body, ok := strings.CutPrefix(rest, "cannot unmarshal "); ok {
		if i := strings.LastIndex(body, " into "); i >= 0 {
			tag, value, _ := strings.Cut(body[:i], " ")
			path, n := findValue(root, line, tag)
			if n != nil && n.Kind == yaml.ScalarNode {
				value = n.Value // yaml.v3 cuts values to 10 characters
			}
			got := describeValue(tag, value)
			if path == "" && n != nil && n.Kind == yaml.ScalarNode {
				// The whole file is one value: not a config file at all,
				// perhaps a key or a secret, so do not quote it.
				got = "a single value"
			}
			return Problem{
				Line:    line,
				Path:    path,
				Message: fmt.Sprintf("must be %s, got %s", describeGoType(body[i+len(" into "):]), got),
			}
		}
	}

	path, _ := findValue(root, line, "")
	return Problem{Line: line, Path: path, Message: rest}
}

// between returns the part of s after prefix and before sep.
func between(s, prefix, sep string) (string, bool) {
	after, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return "", false
	}
	v, _, ok := strings.Cut(after, sep)
	return v, ok
}

// cutDuplicate parses yaml.v3's `mapping key "K" already defined at line N`.
func cutDuplicate(s string) (quoted, line string, ok bool) {
	after, ok := strings.CutPrefix(s, "mapping key ")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndex(after, " already defined at line ")
	if i < 0 {
		return "", "", false
	}
	return after[:i], after[i+len(" already defined at line "):], true
}

// describeGoType names, in config-file terms, the Go type yaml.v3 failed to
// decode into.
func describeGoType(goType string) string {
	switch goType {
	case "int":
		return "an integer"
	case "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "string", "config.SecretRef":
		return "a string"
	case "[]string":
		return "a list of strings"
	case "config.Duration":
		return `a duration such as "30s" or "5m"`
	case "config.Time":
		return `an RFC 3339 time such as "2025-07-01T18:00:00Z"`
	}
	if strings.HasPrefix(goType, "[]") {
		return "a list"
	}
	if strings.HasPrefix(goType, "config.") {
		return "a mapping"
	}
	return "a value of type " + goType
}

// describeValue renders a scalar value, quoted and cut to
// maxValueLen characters, or the kind of a collection.
func describeValue(tag, value string) string {
	const maxValueLen = 40
	switch tag {
	case "!!seq":
		return "a list"
	case "!!map":
		return "a mapping"
	}
	v := strings.TrimSuffix(strings.TrimPrefix(value, "`"), "`")
	if r := []rune(v); len(r) > maxValueLen {
		v = string(r[:maxValueLen]) + "..."
	}
	return strconv.Quote(v)
}

// documentRoot returns the top node of a parsed document, or nil.
func documentRoot(doc *yaml.Node) *yaml.Node {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	return deref(doc.Content[0])
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// walk calls visit for every mapping entry (with its key node) and every
// list item (with a nil key) below n, parents before children, in document
// order. It stops when visit returns false.
func walk(n *yaml.Node, path string, visit func(path string, key, value *yaml.Node) bool) bool {
	switch n = deref(n); n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := key(path, k.Value)
			if !visit(p, k, v) || !walk(v, p, visit) {
				return false
			}
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p := index(path, i)
			if !visit(p, nil, item) || !walk(item, p, visit) {
				return false
			}
		}
	}
	return true
}

// findKey returns the path of the mapping key named name on line.
func findKey(root *yaml.Node, line int, name string) string {
	var found string
	walk(root, "", func(path string, k, _ *yaml.Node) bool {
		if k != nil && k.Line == line && k.Value == name {
			found = path
			return false
		}
		return true
	})
	return found
}

// findValue returns the path of, and the first value on line whose tag is
// tag (any tag if tag is empty). The path is empty if the root is that value;
// the node is nil if nothing matched.
func findValue(root *yaml.Node, line int, tag string) (string, *yaml.Node) {
	matches := func(n *yaml.Node) bool {
		n = deref(n)
		return n.Line == line && (tag == "" || n.ShortTag() == tag)
	}
	if matches(root) && root.Kind != yaml.MappingNode {
		return "", root
	}
	var (
		found string
		node  *yaml.Node
	)
	walk(root, "", func(path string, _, v *yaml.Node) bool {
		if matches(v) {
			found, node = path, deref(v)
			return false
		}
		return true
	})
	return found, node
}

// lineOf returns the line to report a problem at path on: the line of the
// key (or list item) at path; if it is missing, the line of its nearest
// present ancestor's key; 1 if nothing on the path is present.
func lineOf(doc *yaml.Node, path string) int {
	line := 1
	if doc == nil {
		return line
	}
	n := documentRoot(doc)
	for _, seg := range splitPath(path) {
		if n == nil {
			break
		}
		var next *yaml.Node
		switch {
		case seg.key != "" && n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg.key {
					line, next = n.Content[i].Line, deref(n.Content[i+1])
					break
				}
			}
		case seg.key == "" && n.Kind == yaml.SequenceNode && seg.index < len(n.Content):
			next = deref(n.Content[seg.index])
			line = next.Line
		}
		if next == nil {
			break
		}
		n = next
	}
	return line
}

// segment is one step of a path: a mapping key, or a list index when key
// is empty.
type segment struct {
	key   string
	index int
}

// splitPath splits "ad.sync_ous[2].x" into ad, sync_ous, [2], x.
func splitPath(path string) []segment {
	var segs []segment
	if path == "" {
		return segs
	}
	for part := range strings.SplitSeq(path, ".") {
		name, rest, _ := strings.Cut(part, "[")
		segs = append(segs, segment{key: name})
		for rest != "" {
			num, after, _ := strings.Cut(rest, "]")
			i, err := strconv.Atoi(num)
			if err != nil {
				break
			}
			segs = append(segs, segment{index: i})
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return segs
}

// parentPath returns the path of the mapping that holds path.
func parentPath(path string) string {
	if i := strings.LastIndex(path, "."); i >= 0 {
		return path[:i]
	}
	return ""
}

// knownKeys lists the keys allowed in the mapping at path, in declaration
// order, by following the yaml tags of struct type t (Config for the
// config file).
func knownKeys(t reflect.Type, path string) []string {
	for _, seg := range splitPath(path) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if seg.key == "" {
			continue
		}
		if t.Kind() != reflect.Struct {
			return nil
		}
		f, ok := fieldByKey(t, seg.key)
		if !ok {
			return nil
		}
		t = f.Type
	}
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || isScalarStruct(t) {
		return nil
	}
	var keys []string
	for f := range fields(t) {
		keys = append(keys, yamlName(f))
	}
	return keys
}

// isScalarStruct reports whether struct type t is written as one scalar
// (a Duration or a Time), not as a mapping.
func isScalarStruct(t reflect.Type) bool {
	return t == reflect.TypeFor[Duration]() || t == reflect.TypeFor[Time]()
}

// fields yields the exported fields of struct type t that YAML decodes as
// keys, in declaration order. The fields of an inline struct (tag
// ",inline") are yielded in its place.
func fields(t reflect.Type) func(yield func(reflect.StructField) bool) {
	return func(yield func(reflect.StructField) bool) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || yamlName(f) == "-" {
				continue
			}
			if isInline(f) {
				for inner := range fields(f.Type) {
					if !yield(inner) {
						return
					}
				}
				continue
			}
			if !yield(f) {
				return
			}
		}
	}
}

// isInline reports whether f is a struct whose keys yaml.v3 reads as keys
// of the enclosing mapping.
func isInline(f reflect.StructField) bool {
	_, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return f.Type.Kind() == reflect.Struct && slices.Contains(strings.Split(opts, ","), "inline")
}

func fieldByKey(t reflect.Type, name string) (reflect.StructField, bool) {
	for f := range fields(t) {
		if yamlName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// yamlName is the key yaml.v3 uses for field f.
func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}
