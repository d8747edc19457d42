//go:build labkill

// This test kills the lab's domain controller, so it is built only with
// -tags labkill and run last by the README's test command.

package adldap_test

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/agent/lab"
	"github.com/hybridsync/hybridsync/agent/lab/labtest"
	"github.com/hybridsync/hybridsync/internal/retry"
)

func TestDCKilledMidSearch(t *testing.T) {
	l := labtest.Get(t)
	data, err := os.ReadFile(l.Env[lab.EnvPidFile])
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.Fields(string(data))[0])
	if err != nil {
		t.Fatal(err)
	}
	cfg := noRetry(l.ADConfig())
	cfg.PageSize = 100
	cfg.Timeout = 5 * time.Second
	c := l.ClientWith(t, cfg)
	n := 0
	res, err := c.Search(ctxT(t), adldap.SearchRequest{BaseDN: bulkOU(l.Manifest), Filter: adldap.Eq("objectClass", "user"),
		Attributes: []string{"mail", "proxyAddresses"}}, func(*ldap.Entry) error {
		n++
		if n == 250 {
			// The DC dies between pages 3 and 4.
			if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
				t.Errorf("kill samba: %v", err)
			}
		}
		return nil
	})
	if err == nil || res.Complete {
		t.Fatalf("search survived the DC's death: res %+v err %v", res, err)
	}
	if res.Entries >= l.Manifest.Size {
		t.Fatalf("all %d entries arrived although the DC died after 250", res.Entries)
	}
	if !strings.Contains(err.Error(), "incomplete") {
		t.Fatalf("error %q does not say the read is incomplete", err)
	}
	t.Logf("read stopped after %d entries: %v", res.Entries, err)
	// With the only DC gone, the next request fails, retryably, naming it.
	_, err = c.ReadRecipient(ctxT(t), l.Manifest.BigDL)
	if err == nil || retry.ClassOf(err) != retry.Retryable || !strings.Contains(err.Error(), l.Env[lab.EnvLDAPURL]) {
		t.Fatalf("request with the DC down: %v (class %v)", err, retry.ClassOf(err))
	}
}
