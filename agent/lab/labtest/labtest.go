// Package labtest connects tests to the lab that the README's test command
// starts (hybridsync lab up). The command exports HYBRIDSYNC_LAB_ENV (the
// path of the lab's lab.env) and HYBRIDSYNC_REQUIRE_LAB=1; under it a test
// that needs the lab fails when the lab is missing, it is never skipped.
// Run outside that command (plain `go test ./...`) such tests skip and say
// how to run them.
package labtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/agent/lab"
)

// Lab is the lab as a test sees it.
type Lab struct {
	Env      map[string]string
	State    *lab.State
	Manifest *lab.Manifest
}

// Get returns the lab or ends the test: Fatal when the lab is required,
// Skip otherwise.
func Get(t testing.TB) *Lab {
	t.Helper()
	path := os.Getenv("HYBRIDSYNC_LAB_ENV")
	if path == "" {
		if os.Getenv("HYBRIDSYNC_REQUIRE_LAB") == "1" || os.Getenv("CI") != "" {
			t.Fatal("HYBRIDSYNC_LAB_ENV is not set: this test needs the Samba lab; run the README's test command (scripts/test.sh)")
		}
		t.Skip("needs the Samba lab: run scripts/test.sh, or `hybridsync lab up --dir D` and HYBRIDSYNC_LAB_ENV=D/lab.env go test ./...")
	}
	env, err := lab.ReadEnvFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := lab.LoadState(env[lab.EnvDir])
	if err != nil {
		t.Fatal(err)
	}
	if st.Manifest == nil {
		t.Fatalf("lab in %s was never seeded", st.Dir)
	}
	return &Lab{Env: env, State: st, Manifest: st.Manifest}
}

// ADConfig returns an administrator's LDAPS config for the lab.
func (l *Lab) ADConfig() adldap.Config { return l.State.ADConfig() }

// Client dials the lab as administrator; the client is closed at cleanup.
func (l *Lab) Client(t testing.TB) *adldap.Client {
	t.Helper()
	return l.ClientWith(t, l.ADConfig())
}

// ClientWith dials with cfg; the client is closed at cleanup.
func (l *Lab) ClientWith(t testing.TB, cfg adldap.Config) *adldap.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := adldap.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("dial lab: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var unsafe = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// OU creates an OU of the test's own under the lab's Tests OU, named after
// the test plus a random suffix so that parallel packages and reruns never
// collide, and deletes it with everything in it at cleanup.
func (l *Lab) OU(t testing.TB) string {
	t.Helper()
	return l.ouUnder(t, l.Manifest.TestsOU)
}

// SyncedOU is OU, but in the tenant emulator's sync scope (under the lab's
// Sync Tests OU): objects created there reach the tenant at the next sync
// cycle (lab.TriggerSync).
func (l *Lab) SyncedOU(t testing.TB) string {
	t.Helper()
	if l.Manifest.SyncTestsOU == "" {
		t.Fatal("this lab has no Sync Tests OU: provision a new one")
	}
	return l.ouUnder(t, l.Manifest.SyncTestsOU)
}

func (l *Lab) ouUnder(t testing.TB, parent string) string {
	t.Helper()
	c := l.Client(t)
	name := unsafe.ReplaceAllString(t.Name(), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name += "-" + hex.EncodeToString(b[:])
	ctx := context.Background()
	dn, err := c.CreateOU(ctx, parent, name)
	if err != nil {
		t.Fatalf("create test OU: %v", err)
	}
	t.Cleanup(func() {
		if err := DeleteTree(context.Background(), c, dn); err != nil {
			t.Errorf("clean up %s: %v", dn, err)
		}
	})
	return dn
}

// restrictionLinks maps the back-link attributes of the delivery
// restriction links to their forward links. Samba refuses to delete an
// object such a link points at ("Failed to remove backlink of authOrigBL
// when deleting ..."), where Active Directory removes the link, so
// DeleteTree removes these links first.
func restrictionLinks() map[string]string {
	return map[string]string{
		"authOrigBL": "authOrig", "unauthOrigBL": "unauthOrig",
		"dLMemSubmitPermsBL": "dLMemSubmitPerms", "dLMemRejectPermsBL": "dLMemRejectPerms",
	}
}

// DeleteTree deletes dn and everything below it, deepest entries first.
func DeleteTree(ctx context.Context, c *adldap.Client, dn string) error {
	var dns []string
	type link struct{ from, attr, to string }
	var links []link
	attrs := []string{"1.1"}
	backLinks := restrictionLinks()
	for bl := range backLinks {
		attrs = append(attrs, bl)
	}
	_, err := c.Search(ctx, adldap.SearchRequest{BaseDN: dn, Filter: "(objectClass=*)", Attributes: attrs},
		func(e *ldap.Entry) error {
			dns = append(dns, e.DN)
			for bl, fwd := range backLinks {
				for _, from := range e.GetAttributeValues(bl) {
					links = append(links, link{from: from, attr: fwd, to: e.DN})
				}
			}
			return nil
		})
	if err != nil {
		return err
	}
	for _, l := range links {
		if err := c.Modify(ctx, l.from, ad.Change{Op: ad.DeleteValues, Attr: l.attr, Values: []string{l.to}}); err != nil {
			return err
		}
	}
	// More RDNs first: children before parents.
	slices.SortFunc(dns, func(a, b string) int { return strings.Count(b, ",") - strings.Count(a, ",") })
	for _, d := range dns {
		if err := c.Delete(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// WriteConfig writes a hybridsync.yaml for the lab with the given ad
// section overrides applied by the caller's text, returning its path.
func WriteConfig(t testing.TB, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hybridsync.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// ManifestJSON returns the manifest as JSON, for failure messages.
func (l *Lab) ManifestJSON() string {
	b, _ := json.MarshalIndent(l.Manifest, "", "  ")
	return string(b)
}

// OtherCA writes a CA certificate unrelated to the lab's and returns its
// path: a DC certificate must not verify against it.
func OtherCA(t testing.TB) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "not the lab CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
