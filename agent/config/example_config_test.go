package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// examplePath is the documented example config, relative to this package.
const examplePath = "../../configs/hybridsync.example.yaml"

// TestExampleConfigLoads loads configs/hybridsync.example.yaml after moving
// its /etc/hybridsync/ files into a temporary directory and creating them:
// a real certificate and key for the cloud certificate's file:, a real CA
// certificate for other *.pem files, a list of one group for *.yaml (the
// migrations file) and a placeholder for the others.
func TestExampleConfigLoads(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join("testdata", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	appCert, err := os.ReadFile(filepath.Join("testdata", "app.pem"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	// Files referenced by values, not by comments.
	ref := regexp.MustCompile(`/etc/hybridsync/([A-Za-z0-9._-]+)`)
	var created []string
	for line := range strings.Lines(string(data)) {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range ref.FindAllStringSubmatch(line, -1) {
			content := []byte("placeholder secret\n")
			switch {
			case strings.HasSuffix(m[1], ".yaml"): // migrations.file
				content = []byte("groups:\n  - group: support@example.com\n")
			case strings.HasPrefix(strings.TrimSpace(line), "file:"): // cloud.credential.certificate
				content = appCert
			case strings.HasSuffix(m[1], ".pem"):
				content = ca
			}
			if err := os.WriteFile(filepath.Join(dir, m[1]), content, 0o600); err != nil {
				t.Fatal(err)
			}
			created = append(created, m[1])
		}
	}
	if len(created) == 0 {
		t.Fatal("the example references no /etc/hybridsync/ files; update this test")
	}

	moved := strings.ReplaceAll(string(data), "/etc/hybridsync/", filepath.ToSlash(dir)+"/")
	path := filepath.Join(dir, "hybridsync.yaml")
	if err := os.WriteFile(path, []byte(moved), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("example config (files %v) does not load:\n%v", created, err)
	}
	if got, err := cfg.AD.Bind.Password.Resolve(); err != nil || got != "placeholder secret" {
		t.Errorf("example password reference resolves to %q, %v", got, err)
	}
	if cfg.Cloud.IsZero() {
		t.Errorf("example has no cloud section")
	}
	if got, want := filepath.Clean(cfg.Cloud.Credential.Certificate.File), filepath.Join(dir, "app.pem"); got != want {
		t.Errorf("example certificate file = %q, want %q", got, want)
	}
	var groups []string
	for _, g := range cfg.Migrations.Groups {
		groups = append(groups, g.Group)
	}
	if want := []string{"sales@example.com", "{6f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f}", "support@example.com"}; !slices.Equal(groups, want) {
		t.Errorf("example migration groups = %q, want %q (inline, then the file's)", groups, want)
	}
}

// TestExampleConfigHasEveryKey checks that the example shows every key the
// loader accepts, so that new keys get documented.
func TestExampleConfigHasEveryKey(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	present := keyPaths(&doc)
	for _, path := range configKeys(reflect.TypeFor[Config](), "") {
		if !present[path] {
			t.Errorf("%s: key %s is not shown", examplePath, path)
		}
	}
}

// keyPaths returns the dotted path of every key in the parsed document
// doc, with list indexes written "[]" (so "a.b[2].c" is "a.b[].c").
func keyPaths(doc *yaml.Node) map[string]bool {
	listIndex := regexp.MustCompile(`\[\d+\]`)
	present := map[string]bool{}
	walk(documentRoot(doc), "", func(path string, k, _ *yaml.Node) bool {
		if k != nil {
			present[listIndex.ReplaceAllString(path, "[]")] = true
		}
		return true
	})
	return present
}

// configKeys lists the dotted paths of every key under struct type t; the
// keys of the items of a list of mappings are under "PATH[]".
func configKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for f := range fields(t) {
		path := key(prefix, yamlName(f))
		keys = append(keys, path)
		ft := f.Type
		if ft.Kind() == reflect.Slice {
			ft, path = ft.Elem(), path+"[]"
		}
		if ft.Kind() == reflect.Struct && !isScalarStruct(ft) {
			keys = append(keys, configKeys(ft, path)...)
		}
	}
	return keys
}
