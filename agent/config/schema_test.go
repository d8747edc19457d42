package config

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// schemaPath is the JSON Schema of the config file, relative to this
// package.
const schemaPath = "../../configs/hybridsync.schema.json"

// TestSchemaValidatesExample validates the example config and every valid
// fixture against configs/hybridsync.schema.json, and the migrations files
// among them against its $defs/migrationsFile.
func TestSchemaValidatesExample(t *testing.T) {
	c := jsonschema.NewCompiler()
	c.AssertFormat() // not_before is checked as a date-time
	config, err := c.Compile(schemaPath)
	if err != nil {
		t.Fatalf("compile %s: %v", schemaPath, err)
	}
	groups, err := c.Compile(schemaPath + "#/$defs/migrationsFile")
	if err != nil {
		t.Fatalf("compile %s#/$defs/migrationsFile: %v", schemaPath, err)
	}

	files := []string{examplePath}
	for _, pattern := range []string{"testdata/valid*.yaml", invalidDir + "/testdata/valid*.yaml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	for _, f := range files {
		if err := config.Validate(yamlToJSON(t, f)); err != nil {
			t.Errorf("%s does not match the schema: %v", f, err)
		}
	}
	if err := groups.Validate(yamlToJSON(t, filepath.Join("testdata", "migration-groups.yaml"))); err != nil {
		t.Errorf("testdata/migration-groups.yaml does not match $defs/migrationsFile: %v", err)
	}

	// The schema is not a formality: it rejects what the loader rejects at
	// decoding.
	for _, bad := range []string{
		"ad: {urls: [ldaps://dc1], base_dn: DC=x, bind: {dn: x, password: env:P}, page_sise: 5}",
		"ad: {urls: [ldaps://dc1], base_dn: DC=x, bind: {dn: x, password: hunter2}}",
		"ad: {urls: [ldaps://dc1], base_dn: DC=x, bind: {dn: x, password: env:P}}\nreconcile: {mode: apply}",
		"ad: {urls: [ldaps://dc1], base_dn: DC=x, bind: {dn: x, password: env:P}}\nmigrations: {groups: [{group: x@example.com, not_before: tomorrow}]}",
		"ad: {urls: [ldaps://dc1], base_dn: DC=x, bind: {dn: x, password: env:P}}\nhttp: {tls: {cert_file: a.pem}}",
	} {
		var v any
		if err := yaml.Unmarshal([]byte(bad), &v); err != nil {
			t.Fatal(err)
		}
		if config.Validate(toJSON(t, v)) == nil {
			t.Errorf("the schema accepts %q", bad)
		}
	}
}

// TestSchemaMatchesExample checks that every key path of the example config
// is a property of the schema and every property of the schema is shown in
// the example, and that the schema's properties are exactly the keys of
// Config.
func TestSchemaMatchesExample(t *testing.T) {
	root := readSchema(t)
	var props []schemaProp
	schemaProps(t, root, root, "", &props)
	inSchema := map[string]bool{}
	for _, p := range props {
		inSchema[p.path] = true
	}

	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	inExample := keyPaths(&doc)
	for path := range inExample {
		if !inSchema[path] {
			t.Errorf("%s: key %s is not in %s", examplePath, path, schemaPath)
		}
	}
	for path := range inSchema {
		if !inExample[path] {
			t.Errorf("%s: property %s is not shown in %s", schemaPath, path, examplePath)
		}
	}

	inConfig := configKeys(reflect.TypeFor[Config](), "")
	for _, path := range inConfig {
		if !inSchema[path] {
			t.Errorf("config key %s is not in %s", path, schemaPath)
		}
	}
	for path := range inSchema {
		if !slices.Contains(inConfig, path) {
			t.Errorf("%s: property %s is not a config key", schemaPath, path)
		}
	}
}

// TestSchemaDefaults checks that each default the schema states is the
// one Load fills in, so that defaults.go and the schema agree. The
// defaults of migration options are left out: a group's default is
// migrations.defaults, and nosync_ou's is ad.nosync_ou.
func TestSchemaDefaults(t *testing.T) {
	cfg, err := Parse("minimal", []byte(`ad:
  urls: [ldaps://dc1.example.com]
  base_dn: DC=example,DC=com
  bind: {dn: svc@EXAMPLE.COM, password: env:P}
cloud:
  tenant_id: 3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f
  client_id: 9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d
  initial_domain: contoso.onmicrosoft.com
  credential: {client_secret: env:S}
`), "testdata")
	if err != nil {
		t.Fatal(err)
	}
	root := readSchema(t)
	var props []schemaProp
	schemaProps(t, root, root, "", &props)
	checked := 0
	for _, p := range props {
		want, ok := p.node["default"]
		if !ok || strings.Contains(p.path, "[]") || strings.HasPrefix(p.path, "migrations.") {
			continue
		}
		got, found := valueAt(reflect.ValueOf(*cfg), p.path)
		if !found {
			t.Errorf("%s: no config field for %s", schemaPath, p.path)
			continue
		}
		if s, ok := want.(string); ok && p.node["$ref"] == "#/$defs/duration" {
			if d, err := time.ParseDuration(s); err == nil {
				want = formatDuration(d) // "60s" is "1m"
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: default of %s is %#v, but Load fills in %#v", schemaPath, p.path, want, got)
		}
		checked++
	}
	if checked < 30 {
		t.Errorf("checked only %d defaults; is the schema walked?", checked)
	}
}

// schemaProp is a property of the schema: its key path (list items written
// "[]") and its schema.
type schemaProp struct {
	path string
	node map[string]any
}

// readSchema reads the schema as plain JSON values.
func readSchema(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(data, &root); err != nil {
		t.Fatalf("%s: %v", schemaPath, err)
	}
	return root
}

// schemaProps appends the properties below node, following local $refs
// and the branches of anyOf, allOf and oneOf.
func schemaProps(t *testing.T, root, node map[string]any, prefix string, out *[]schemaProp) {
	t.Helper()
	node = resolveRef(t, root, node)
	if props, ok := node["properties"].(map[string]any); ok {
		for name, p := range props {
			pm, ok := p.(map[string]any)
			if !ok {
				t.Fatalf("%s: property %s is not an object", schemaPath, key(prefix, name))
			}
			path := key(prefix, name)
			*out = append(*out, schemaProp{path: path, node: pm})
			schemaProps(t, root, pm, path, out)
		}
	}
	if items, ok := node["items"].(map[string]any); ok {
		schemaProps(t, root, items, prefix+"[]", out)
	}
	for _, k := range []string{"anyOf", "allOf", "oneOf"} {
		subs, _ := node[k].([]any)
		for _, s := range subs {
			if sm, ok := s.(map[string]any); ok {
				schemaProps(t, root, sm, prefix, out)
			}
		}
	}
}

// resolveRef follows node's local $ref ("#/a/b"), if any, to the schema it
// names.
func resolveRef(t *testing.T, root, node map[string]any) map[string]any {
	t.Helper()
	for range 10 {
		ref, ok := node["$ref"].(string)
		if !ok {
			return node
		}
		ptr, ok := strings.CutPrefix(ref, "#/")
		if !ok {
			t.Fatalf("%s: $ref %q is not local", schemaPath, ref)
		}
		var cur any = root
		for _, seg := range strings.Split(ptr, "/") {
			seg = strings.NewReplacer("~1", "/", "~0", "~").Replace(seg)
			m, _ := cur.(map[string]any)
			cur = m[seg]
		}
		next, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("%s: $ref %q names nothing", schemaPath, ref)
		}
		node = next
	}
	t.Fatalf("%s: $ref chain too long", schemaPath)
	return nil
}

// valueAt returns the value of the config field at the dotted key path as
// JSON would hold it: durations as strings such as "5m", numbers as
// float64, lists as []any. found is false if no field has that path.
func valueAt(v reflect.Value, path string) (value any, found bool) {
	for _, seg := range strings.Split(path, ".") {
		for v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		f, ok := fieldByKey(v.Type(), seg)
		if !ok {
			return nil, false
		}
		v = v.FieldByIndex(f.Index)
	}
	return jsonValue(v), true
}

func jsonValue(v reflect.Value) any {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if d, ok := v.Interface().(Duration); ok {
		return formatDuration(d.Duration)
	}
	switch v.Kind() {
	case reflect.Slice:
		out := []any{}
		for i := range v.Len() {
			out = append(out, jsonValue(v.Index(i)))
		}
		return out
	case reflect.Int:
		return float64(v.Int())
	case reflect.Float64:
		return v.Float()
	case reflect.Bool:
		return v.Bool()
	case reflect.String:
		return v.String()
	}
	return v.Interface()
}

// yamlToJSON reads a YAML file as the JSON values the schema validates.
func yamlToJSON(t *testing.T, file string) any {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return toJSON(t, v)
}

// toJSON converts a decoded YAML value to JSON values, by way of JSON.
func toJSON(t *testing.T, v any) any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return out
}
