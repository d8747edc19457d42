package cli

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func runCLI(t testing.TB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "hybridsync ") {
		t.Fatalf("code %d out %q", code, out)
	}
}

// commandPaths lists every command of the tree, hidden ones included.
func commandPaths(c *cobra.Command, prefix []string) [][]string {
	out := [][]string{prefix}
	for _, sub := range c.Commands() {
		if sub.Name() == "help" || sub.Name() == "completion" {
			continue
		}
		out = append(out, commandPaths(sub, append(slices.Clone(prefix), sub.Name()))...)
	}
	return out
}

func TestHelpOnEveryCommand(t *testing.T) {
	paths := commandPaths((&app{}).rootCmd(), nil)
	if len(paths) < 20 {
		t.Fatalf("only %d commands found", len(paths))
	}
	for _, path := range paths {
		t.Run(strings.Join(append([]string{"hybridsync"}, path...), " "), func(t *testing.T) {
			code, out, _ := runCLI(t, append(path, "--help")...)
			if code != 0 || !strings.Contains(out, "Usage:") {
				t.Fatalf("code %d, output %q", code, out)
			}
		})
	}
}

func TestMissingRequiredFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ad", "export"}, "--config is required"},
		{[]string{"config", "validate"}, "--config is required"},
		{[]string{"plan"}, "--config is required"},
		{[]string{"apply"}, "--config is required"},
		{[]string{"journal", "list"}, "--config is required"},
		{[]string{"journal", "show", "X"}, "--config is required"},
		{[]string{"undo", "X"}, "--config is required"},
		{[]string{"run"}, "--config is required"},
	} {
		code, _, errOut := runCLI(t, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: code %d stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestUnknownCommandFails(t *testing.T) {
	code, _, errOut := runCLI(t, "ad", "frobnicate")
	if code == 0 {
		t.Fatalf("unknown subcommand exited 0: %q", errOut)
	}
}

func TestPlanJSONAndVerboseExclude(t *testing.T) {
	code, _, errOut := runCLI(t, "plan", "-c", "unused.yaml", "--json", "--verbose")
	if code != 1 || !strings.Contains(errOut, "[json verbose]") {
		t.Errorf("plan --json --verbose: code %d stderr %q; want 1 and the two flags named", code, errOut)
	}
}
