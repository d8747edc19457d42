package mailflow

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// fakeAD answers the holder search (by address) and member reads.
type fakeAD struct{ objs []*ad.Recipient }

func (f *fakeAD) SearchRecipients(_ context.Context, base, filter string, fn func(*ad.Recipient) error) (adldap.ReadResult, error) {
	for _, r := range f.objs {
		match := false
		if r.Kind == ad.KindDynamicDL {
			continue
		}
		if strings.Contains(filter, "extensionAttribute1=") {
			match = r.ExtensionAttributes["extensionAttribute1"] != "" && strings.Contains(filter, r.ExtensionAttributes["extensionAttribute1"])
		} else {
			match = r.Mail != "" && strings.Contains(filter, "(mail="+r.Mail+")")
		}
		if match {
			if err := fn(r); err != nil {
				return adldap.ReadResult{}, err
			}
		}
	}
	for _, r := range f.objs {
		if r.Kind == ad.KindDynamicDL && strings.Contains(filter, "(mail="+r.Mail+")") {
			if err := fn(r); err != nil {
				return adldap.ReadResult{}, err
			}
		}
	}
	return adldap.ReadResult{Complete: true}, nil
}

func (f *fakeAD) ReadRecipient(_ context.Context, dn string) (*ad.Recipient, error) {
	for _, r := range f.objs {
		if ad.EqualDN(r.DN, dn) {
			return r, nil
		}
	}
	return nil, retry.New("fake", retry.NotFound, errors.New(dn))
}

// fakeExchange knows one cloud group with one mailbox.
type fakeExchange struct{ cloud.Exchange }

func (fakeExchange) AcceptedDomains(context.Context) ([]cloud.AcceptedDomain, error) {
	return []cloud.AcceptedDomain{{DomainName: "contoso.com"}, {DomainName: "contoso.mail.onmicrosoft.com"}}, nil
}

func (fakeExchange) GetRecipient(_ context.Context, id string) (*cloud.ExoRecipient, error) {
	if strings.EqualFold(id, "team@contoso.mail.onmicrosoft.com") {
		return &cloud.ExoRecipient{Name: "Team", ExternalDirectoryObjectID: "g1", RecipientTypeDetails: "MailUniversalDistributionGroup"}, nil
	}
	return nil, retry.New("fake", retry.NotFound, errors.New(id))
}

func (fakeExchange) GroupMembers(_ context.Context, id string) ([]cloud.ExoRecipient, error) {
	return []cloud.ExoRecipient{{Name: "Ann", ExternalDirectoryObjectID: "u1", RecipientTypeDetails: "UserMailbox"}}, nil
}

func group(dn, mail string, members ...string) *ad.Recipient {
	return &ad.Recipient{DN: dn, Name: dn, Kind: ad.KindGroup, Mail: mail, Members: members}
}

func TestResolveOnPremisesWithFakes(t *testing.T) {
	ann := &ad.Recipient{DN: "CN=Ann,DC=x", Name: "Ann", Kind: ad.KindUser, Mail: "ann@contoso.com"}
	bob := &ad.Recipient{DN: "CN=Bob,DC=x", Name: "Bob", Kind: ad.KindUser} // no mail: not a recipient
	partner := &ad.Recipient{DN: "CN=Partner,DC=x", Name: "Partner", Kind: ad.KindContact, Mail: "partner@contoso.com", TargetAddress: "SMTP:p@fabrikam.example"}
	routing := &ad.Recipient{DN: "CN=Routing,DC=x", Name: "Routing", Kind: ad.KindContact, Mail: "routing@contoso.com",
		TargetAddress: "SMTP:team@contoso.mail.onmicrosoft.com", ExtensionAttributes: map[string]string{"extensionAttribute1": "marker"}}
	lost := &ad.Recipient{DN: "CN=Lost,DC=x", Name: "Lost", Kind: ad.KindContact, Mail: "lost@contoso.com", TargetAddress: "SMTP:gone@contoso.mail.onmicrosoft.com"}
	ddl := &ad.Recipient{DN: "CN=Team,DC=x", Name: "Team", Kind: ad.KindDynamicDL, Mail: "team@contoso.com", DynamicFilter: "(extensionAttribute1=marker)"}
	a := group("CN=A,DC=x", "a@contoso.com", "CN=B,DC=x", ann.DN, bob.DN, "CN=Deleted,DC=x")
	b := group("CN=B,DC=x", "b@contoso.com", "CN=A,DC=x", partner.DN, ann.DN)
	dup1 := &ad.Recipient{DN: "CN=Dup1,DC=x", Name: "Dup1", Kind: ad.KindUser, Mail: "dup@contoso.com"}
	dup2 := &ad.Recipient{DN: "CN=Dup2,DC=x", Name: "Dup2", Kind: ad.KindUser, Mail: "dup@contoso.com"}
	r := &Resolver{AD: &fakeAD{objs: []*ad.Recipient{ann, bob, partner, routing, lost, ddl, a, b, dup1, dup2}}, Exchange: fakeExchange{}}
	ctx := context.Background()

	// Nested groups in a loop: each member once, the loop cut, the
	// mail-less user and the deleted member reported.
	res, err := r.OnPremises(ctx, "a@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	got := ids(res.Deliverable)
	if got != "p@fabrikam.example|CN=Ann,DC=x" || len(res.Problems) != 2 {
		t.Errorf("group loop: %s, problems %v", got, res.Problems)
	}
	// The dynamic DL reaches the routing contact, which reaches the cloud
	// group's member.
	res, err = r.OnPremises(ctx, "team@contoso.com")
	if err != nil || ids(res.Deliverable) != "u1" || res.Holder.Type != string(ad.KindDynamicDL) || len(res.Problems) != 0 {
		t.Errorf("dynamic DL: %+v, %v", res, err)
	}
	// A contact whose target no cloud recipient holds, in the tenant's
	// domain: mail bounces.
	if res, err := r.OnPremises(ctx, "lost@contoso.com"); err != nil || res.Delivers() || len(res.Problems) != 1 || !strings.Contains(res.Problems[0], "bounces") {
		t.Errorf("contact to nobody: %+v, %v", res, err)
	}
	// An address two objects hold is ambiguous.
	if res, err := r.OnPremises(ctx, "dup@contoso.com"); err != nil || res.Delivers() || !strings.Contains(strings.Join(res.Problems, ""), "ambiguous") {
		t.Errorf("ambiguous: %+v, %v", res, err)
	}
}

func ids(rs []Recipient) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return strings.Join(out, "|")
}
