package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

// A config's version covers the groups file it names: editing that file is
// a new version; a config rejected because its groups file is missing is
// tried again once the file appears, with the config file untouched.
func TestVersionFollowsTheGroupsFile(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hybridsync.yaml")
	groups := filepath.Join(dir, "groups.yaml")
	if err := os.WriteFile(cfgPath, []byte("migrations:\n  file: groups.yaml\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, rejected, err := load(cfgPath)
	if err == nil || rejected == "" {
		t.Fatalf("load with the groups file missing: version %q, err %v", rejected, err)
	}
	if v, err := fileVersion(cfgPath); err != nil || v != rejected {
		t.Fatalf("fileVersion %q (%v), want the rejected %q: the same files", v, err, rejected)
	}
	if err := os.WriteFile(groups, []byte("groups: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	created, err := fileVersion(cfgPath)
	if err != nil || created == rejected {
		t.Fatalf("the groups file appeared and the version stayed %q (%v)", created, err)
	}
	if err := os.WriteFile(groups, []byte("groups:\n  - group: sales@example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if edited, err := fileVersion(cfgPath); err != nil || edited == created {
		t.Fatalf("the groups file was edited and the version stayed %q (%v)", edited, err)
	}
}
