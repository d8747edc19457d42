package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// examplePath is the documented example config, relative to this package.
const examplePath = "../../configs/hybridsync.example.yaml"

// TestExampleConfigLoads loads configs/hybridsync.example.yaml after moving
// its /etc/hybridsync/ files into a temporary directory and creating them:
// a real certificate and key for the cloud certificate's file:, a real CA
// certificate for other *.pem files and a placeholder for the others.
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
	present := map[string]bool{}
	walk(documentRoot(&doc), "", func(path string, k, _ *yaml.Node) bool {
		if k != nil {
			present[path] = true
		}
		return true
	})
	for _, path := range configKeys(reflect.TypeFor[Config](), "") {
		if !present[path] {
			t.Errorf("%s: key %s is not shown", examplePath, path)
		}
	}
}

// configKeys lists the dotted paths of every key under struct type t.
func configKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for f := range fields(t) {
		path := key(prefix, yamlName(f))
		keys = append(keys, path)
		ft := f.Type
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[Duration]() {
			keys = append(keys, configKeys(ft, path)...)
		}
	}
	return keys
}
