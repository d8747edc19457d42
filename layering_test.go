package main

import (
	"os/exec"
	"strings"
	"testing"
)

// goListDeps returns the packages pkgs link, for GOOS, with the build
// tags given.
func goListDeps(t *testing.T, goos, tags string, pkgs ...string) []string {
	t.Helper()
	args := []string{"list", "-deps", "-f", "{{.ImportPath}}"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, pkgs...)...)
	cmd.Env = append(cmd.Environ(), "GOOS="+goos, "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, out)
	}
	return strings.Fields(string(out))
}

func linked(deps []string, forbidden ...string) []string {
	var bad []string
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") {
				bad = append(bad, d)
			}
		}
	}
	return bad
}

// The release binary (and so the .deb and the .msi) carries no tenant
// emulator with its OAuth authority, no sync simulator, no Samba
// provisioning and no test hook: those are in the development build only
// (-tags lab) and in tests.
func TestReleaseBuildLinksNoLabAndNoTestHook(t *testing.T) {
	forbidden := []string{
		"github.com/hybridsync/hybridsync/agent/lab",
		"github.com/hybridsync/hybridsync/cloud/emulator",
		"github.com/hybridsync/hybridsync/internal/failpoint/failpointtest",
	}
	for _, goos := range []string{"linux", "windows"} {
		if bad := linked(goListDeps(t, goos, "", "."), forbidden...); len(bad) > 0 {
			t.Errorf("the %s release build links %v", goos, bad)
		}
	}
	// The development build does have the lab (so the check above means
	// something).
	if dev := linked(goListDeps(t, "linux", "lab", "."), forbidden[0]); len(dev) == 0 {
		t.Error("the lab build does not link agent/lab")
	}
}

// The pure packages import the AD model only: no LDAP client, no Kerberos,
// no Graph SDK.
func TestPurePackagesLinkNoIO(t *testing.T) {
	deps := goListDeps(t, "linux", "", "./reconcile/plan", "./reconcile/proxycalc")
	if bad := linked(deps,
		"github.com/go-ldap/ldap/v3", "github.com/jcmturner/gokrb5/v8", "github.com/microsoftgraph/msgraph-sdk-go",
		"github.com/hybridsync/hybridsync/ad/adldap", "net/http"); len(bad) > 0 {
		t.Errorf("reconcile/plan and reconcile/proxycalc link %v", bad)
	}
	// The migration saga reaches the directories through interfaces of its
	// own; it keeps its position in the journal's file.
	if bad := linked(goListDeps(t, "linux", "", "./reconcile/migrate"),
		"github.com/go-ldap/ldap/v3", "github.com/jcmturner/gokrb5/v8", "github.com/microsoftgraph/msgraph-sdk-go",
		"github.com/Azure/azure-sdk-for-go/sdk/azidentity", "github.com/hybridsync/hybridsync/ad/adldap", "net/http"); len(bad) > 0 {
		t.Errorf("reconcile/migrate links %v", bad)
	}
}
