package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hybridsync/hybridsync/agent/lab/labtest"
)

// dirNames lists the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

func TestExportOutputCommitAndAbort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.jsonl")
	a := &app{stdout: io.Discard}

	// Abort: nothing appears.
	w, _, abort, err := a.openExportOutput(path)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(w, `{"partial":true}`)
	abort()
	if got := dirNames(t, dir); len(got) != 0 {
		t.Fatalf("after abort the directory holds %q, want nothing", got)
	}

	// Commit: the file appears whole, without its temporary.
	w, commit, _, err := a.openExportOutput(path)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(w, `{"n":1}`)
	if err := commit(); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"out.jsonl"}) {
		t.Fatalf("after commit the directory holds %q, want [out.jsonl]", got)
	}

	// Abort of a second export leaves the first one as it was.
	w, _, abort, err = a.openExportOutput(path)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(w, `{"partial":true}`)
	abort()
	if data, _ := os.ReadFile(path); string(data) != "{\"n\":1}\n" {
		t.Fatalf("aborted export changed the previous one to %q", data)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"out.jsonl"}) {
		t.Fatalf("after abort the directory holds %q, want [out.jsonl]", got)
	}
}

// A failed export (here: no DC reachable) leaves neither FILE nor a
// temporary file.
func TestADExportFailureLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "hybridsync.yaml")
	yaml := fmt.Sprintf("ad:\n  urls: [\"ldaps://127.0.0.1:1\"]\n  base_dn: DC=x\n  tls:\n    ca_file: %q\n  bind:\n    dn: CN=a,DC=x\n    password: %q\n  timeout: 5s\n",
		labtest.OtherCA(t), "file:"+pw)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	outDir := t.TempDir()
	code, _, errOut := runCLI(t, "ad", "export", "-c", cfg, "-o", filepath.Join(outDir, "export.jsonl"))
	if code == 0 {
		t.Fatalf("export to an unreachable DC exited 0: %s", errOut)
	}
	if got := dirNames(t, outDir); len(got) != 0 {
		t.Fatalf("failed export left %q", got)
	}
}
