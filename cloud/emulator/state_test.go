package emulator

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hybridsync/hybridsync/cloud"
)

func TestTxPutFindDelete(t *testing.T) {
	h := newHarness(t)
	e := h.e
	var userID, groupID string
	err := e.Update(func(tx *Tx) error {
		u, err := tx.Put(&Object{Kind: cloud.KindUser, DisplayName: "A", UserPrincipalName: "a@contoso.com",
			ProxyAddresses: []string{"SMTP:a@contoso.com", "smtp:alias@contoso.com"}, OnPremisesImmutableID: "immA", OnPremisesSyncEnabled: true})
		if err != nil {
			return err
		}
		userID = u.ID
		if u.ID == "" || u.Seq == 0 || u.CreatedDateTime.IsZero() {
			t.Errorf("Put did not assign id/seq/created: %+v", u)
		}
		g, err := tx.Put(&Object{Kind: cloud.KindGroup, DisplayName: "G", MailEnabled: true, Members: []string{u.ID}, OnPremisesSyncEnabled: true})
		groupID = g.ID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = e.View(func(tx *Tx) error {
		if o := tx.FindByImmutableID(cloud.KindUser, "immA"); o == nil || o.ID != userID {
			t.Errorf("FindByImmutableID = %v", o)
		}
		for _, a := range []string{"SMTP:A@CONTOSO.COM", "smtp:alias@contoso.com", "Alias@Contoso.com"} {
			if o := tx.FindByProxyAddress(a); o == nil || o.ID != userID {
				t.Errorf("FindByProxyAddress(%q) = %v", a, o)
			}
		}
		if o := tx.FindByUPN("A@contoso.COM"); o == nil || o.ID != userID {
			t.Errorf("FindByUPN = %v", o)
		}
		if n := len(tx.List(cloud.KindUser)); n != 1 {
			t.Errorf("List users = %d", n)
		}
		// Copies: changing one does not change the state.
		o := tx.Get(userID)
		o.DisplayName = "changed"
		if tx.Get(userID).DisplayName != "A" {
			t.Error("Get returned shared state")
		}
		return nil
	})

	// Uniqueness: another object with the same proxy address.
	err = e.Update(func(tx *Tx) error {
		_, err := tx.Put(&Object{Kind: cloud.KindContact, ProxyAddresses: []string{"smtp:ALIAS@contoso.com"}})
		return err
	})
	var ue *UniquenessError
	if !errors.As(err, &ue) || ue.Attribute != "ProxyAddresses" || ue.ConflictsID != userID {
		t.Errorf("duplicate proxy: err = %v", err)
	}

	// Rollback: an error undoes every change in the transaction.
	seqBefore := uint64(0)
	_ = e.View(func(tx *Tx) error { seqBefore = tx.Seq(); return nil })
	boom := errors.New("boom")
	err = e.Update(func(tx *Tx) error {
		if err := tx.Delete(userID); err != nil {
			return err
		}
		tx.RecordExportError(ExportError{ObjectID: userID, Attribute: "ProxyAddresses", ErrorType: "AttributeValueMustBeUnique"})
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	_ = e.View(func(tx *Tx) error {
		if tx.Get(userID).Deleted() || tx.Seq() != seqBefore || len(tx.ExportErrors()) != 0 {
			t.Error("rollback incomplete")
		}
		if g := tx.Get(groupID); len(g.Members) != 1 {
			t.Errorf("members after rollback = %v", g.Members)
		}
		if tx.FindByProxyAddress("alias@contoso.com") == nil {
			t.Error("index not rebuilt after rollback")
		}
		return nil
	})

	// Soft delete removes from groups; restore; hard delete.
	err = e.Update(func(tx *Tx) error {
		if err := tx.Delete(userID); err != nil {
			return err
		}
		if g := tx.Get(groupID); len(g.Members) != 0 {
			t.Errorf("soft-deleted user still a member: %v", g.Members)
		}
		if n := len(tx.ListDeleted(cloud.KindUser)); n != 1 {
			t.Errorf("ListDeleted = %d", n)
		}
		if _, err := tx.Put(tx.Get(userID)); !errors.Is(err, ErrDeleted) {
			t.Errorf("Put on deleted = %v", err)
		}
		if err := tx.Restore(userID); err != nil {
			return err
		}
		return tx.HardDelete(userID)
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = e.View(func(tx *Tx) error {
		if tx.Get(userID) != nil || tx.FindByProxyAddress("a@contoso.com") != nil {
			t.Error("hard-deleted object still present")
		}
		return nil
	})

	// Errors for bad input.
	err = e.Update(func(tx *Tx) error {
		if _, err := tx.Put(&Object{Kind: "printer"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("bad kind: %v", err)
		}
		if _, err := tx.Put(&Object{Kind: cloud.KindGroup, Members: []string{"nope"}}); !errors.Is(err, ErrInvalid) {
			t.Errorf("bad member: %v", err)
		}
		if err := tx.SetCloudManaged(groupID, true); err != nil {
			t.Errorf("SetCloudManaged on synced group: %v", err)
		}
		c, _ := tx.Put(&Object{Kind: cloud.KindGroup, DisplayName: "cloud"})
		if err := tx.SetCloudManaged(c.ID, true); !errors.Is(err, ErrNotSupported) {
			t.Errorf("SetCloudManaged on cloud group: %v", err)
		}
		if g := tx.Get(groupID); g.SyncManaged() {
			t.Error("converted group still SyncManaged")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPutUnchangedRecordsNoChange(t *testing.T) {
	h := newHarness(t)
	o := h.put(&Object{Kind: cloud.KindUser, DisplayName: "A", UserPrincipalName: "a@contoso.com"})
	again := h.put(o)
	if again.Seq != o.Seq {
		t.Errorf("Seq moved from %d to %d on an identical Put", o.Seq, again.Seq)
	}
	o.DisplayName = "B"
	if changed := h.put(o); changed.Seq == o.Seq {
		t.Error("Seq unchanged after a real change")
	}
}

func TestPersistenceRoundTrip(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tenant.json")
	cfg := Config{
		TenantID: testTenant, ClientID: testClient, ClientSecret: testSecret, InitialDomain: testDomain,
		StateFile: file, Rand: rand.New(rand.NewPCG(3, 4)), Clock: func() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) },
	}
	e1, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	err = e1.Update(func(tx *Tx) error {
		tx.AddAcceptedDomain("fabrikam.com")
		u, err := tx.Put(&Object{Kind: cloud.KindUser, DisplayName: "Persisted", UserPrincipalName: "p@fabrikam.com",
			ProxyAddresses: []string{"SMTP:p@fabrikam.com"}, OnPremisesImmutableID: "immP", OnPremisesSyncEnabled: true})
		if err != nil {
			return err
		}
		id = u.ID
		tx.RecordExportError(ExportError{ObjectID: id, Attribute: "ProxyAddresses", ErrorType: "AttributeValueMustBeUnique", Message: "dup"})
		if err := tx.SetExchangeLicense(id, true); err != nil {
			return err
		}
		return tx.SetAuthMethods(id, []cloud.AuthMethod{{Type: "microsoftAuthenticatorAuthenticationMethod", DisplayName: "Phone"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Rand = rand.New(rand.NewPCG(5, 6))
	e2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_ = e2.View(func(tx *Tx) error {
		u := tx.Get(id)
		if u == nil || u.DisplayName != "Persisted" || !u.ExchangeLicensed || len(u.AuthMethods) != 1 || u.AuthMethods[0].ID == "" {
			t.Errorf("reloaded user = %+v", u)
		}
		if tx.FindByProxyAddress("p@fabrikam.com") == nil || tx.FindByImmutableID(cloud.KindUser, "immP") == nil {
			t.Error("indexes not rebuilt on load")
		}
		if len(tx.ExportErrors()) != 1 || !tx.isAccepted("fabrikam.com") {
			t.Errorf("export errors %v, domains %v", tx.ExportErrors(), tx.AcceptedDomains())
		}
		return nil
	})
	if e1.st.InstanceID != e2.st.InstanceID {
		t.Error("instance id not persisted (delta tokens would not survive a restart)")
	}
}

// The lab's emulator seeds its random source the same way at every start
// and keeps its state across restarts: the ids it hands out after a
// restart must not be those of objects it created before.
func TestRestartNeverReusesObjectIDs(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tenant.json")
	cfg := Config{TenantID: testTenant, ClientID: testClient, ClientSecret: testSecret, InitialDomain: testDomain, StateFile: file}
	put := func(e *Emulator, name string) string {
		t.Helper()
		var id string
		if err := e.Update(func(tx *Tx) error {
			o, err := tx.Put(&Object{Kind: cloud.KindUser, DisplayName: name, UserPrincipalName: name + "@" + testDomain})
			if o != nil {
				id = o.ID
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	e1, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	first := put(e1, "first")
	e2, err := New(cfg) // the same seed: the same ids come up again
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"second", "third"} {
		if id := put(e2, name); id == first {
			t.Fatalf("the restarted emulator gave %s the id %s of an existing object", name, first)
		}
	}
	_ = e2.View(func(tx *Tx) error {
		if o := tx.Get(first); o == nil || o.DisplayName != "first" {
			t.Errorf("the first object was overwritten: %+v", o)
		}
		return nil
	})
}

func TestNewValidatesConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New(Config{}) succeeded")
	}
	if _, err := New(Config{TenantID: testTenant, ClientID: testClient, ClientSecret: "x", InitialDomain: "contoso.com"}); err == nil {
		t.Fatal("non-onmicrosoft initial domain accepted")
	}
	if _, err := New(Config{TenantID: testTenant, ClientID: testClient, ClientCertPEM: []byte("junk"), InitialDomain: testDomain}); err == nil {
		t.Fatal("junk certificate accepted")
	}
}

// Every recipient gets a LegacyExchangeDN, kept across changes of its
// alias; state saved before they had one gets one on load.
func TestLegacyExchangeDN(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state.json")
	cfg := Config{TenantID: testTenant, ClientID: testClient, ClientSecret: testSecret, InitialDomain: testDomain, StateFile: file}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	err = e.Update(func(tx *Tx) error {
		o, err := tx.Put(&Object{Kind: cloud.KindGroup, DisplayName: "Sales", MailEnabled: true, MailNickname: "sales", ProxyAddresses: []string{"SMTP:sales@contoso.com"}})
		if err != nil {
			return err
		}
		id = o.ID
		if want := LegacyExchangeDN(o); o.Exchange.LegacyExchangeDN != want || !strings.HasSuffix(want, "-sales") {
			t.Errorf("LegacyExchangeDN = %q, want %q", o.Exchange.LegacyExchangeDN, want)
		}
		o.MailNickname = "ventes"
		o.Exchange.LegacyExchangeDN = ""
		n, err := tx.Put(o)
		if err != nil {
			return err
		}
		if !strings.HasSuffix(n.Exchange.LegacyExchangeDN, "-sales") {
			t.Errorf("LegacyExchangeDN changed with the alias: %q", n.Exchange.LegacyExchangeDN)
		}
		if tx.FindByLegacyExchangeDN(strings.ToUpper(n.Exchange.LegacyExchangeDN)) == nil {
			t.Error("not found by its LegacyExchangeDN")
		}
		// Not a recipient: none.
		sec, err := tx.Put(&Object{Kind: cloud.KindGroup, DisplayName: "Servers", SecurityEnabled: true})
		if err != nil {
			return err
		}
		if sec.Exchange.LegacyExchangeDN != "" {
			t.Errorf("security group without mail has LegacyExchangeDN %q", sec.Exchange.LegacyExchangeDN)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A state file from before: the value stripped, loaded again.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(regexp.MustCompile(`"legacyExchangeDN":"[^"]*",?`).ReplaceAllString(string(b), "")), 0o600); err != nil {
		t.Fatal(err)
	}
	e2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_ = e2.View(func(tx *Tx) error {
		if o := tx.Get(id); o.Exchange.LegacyExchangeDN == "" || tx.FindByLegacyExchangeDN(o.Exchange.LegacyExchangeDN) == nil {
			t.Errorf("loaded without a LegacyExchangeDN: %+v", o.Exchange)
		}
		return nil
	})
}
