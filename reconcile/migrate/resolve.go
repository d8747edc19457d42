package migrate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// bulkResolveMin is the number of addresses from which the cloud
// recipients are found by one listing of the tenant's recipients
// (Get-Recipient -ResultSize Unlimited, 1,000 a page) rather than one
// Get-Recipient call each: a 65,000-member list would otherwise take
// 65,000 calls (hours at a few hundred milliseconds each), where the
// listing of a 100,000-recipient tenant takes 100.
const bulkResolveMin = 1000

// MemberReader is what a Directory may also do (*adldap.Client does):
// stream the direct members of a group in one paged search.
type MemberReader interface {
	ReadMembers(ctx context.Context, groupDN string, fn func(*ad.Recipient) error) error
}

// resolveAll resolves each distinct DN of dns to its cloud recipient: it
// reads the on-premises recipient, then finds the cloud recipient by its
// primary SMTP address. The result is keyed by ad.CanonicalDN. A DN that
// does not exist on premises, or whose address no cloud recipient holds,
// gets a Ref without Cloud (reported as unresolved by the caller).
//
// A recipient that stands for a group migrated before (its original, or
// its routing contact: migratedAs over migrated) resolves to the cloud list
// that migration made.
//
// When the group (at groupDN) has bulkResolveMin members or more and the
// directory is a MemberReader, its members are read with one paged search
// first; the DNs that search did not return (owners and senders who are
// not members, members in another domain) are read one by one.
func (e *Env) resolveAll(ctx context.Context, groupDN string, members int, dns []string, migrated []*Saga) (map[string]Ref, error) {
	refs := make(map[string]Ref, len(dns))
	if mr, ok := e.Dir.(MemberReader); ok && members >= bulkResolveMin {
		wanted := make(map[string]string, len(dns)) // the DN as listed, by canonical DN
		for _, dn := range dns {
			wanted[ad.CanonicalDN(dn)] = dn
		}
		err := mr.ReadMembers(ctx, groupDN, func(r *ad.Recipient) error {
			key := ad.CanonicalDN(r.DN)
			if dn, ok := wanted[key]; ok {
				refs[key] = refOf(dn, r)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("migrate: read the members of %s: %w", groupDN, err)
		}
	}
	for _, dn := range dns {
		key := ad.CanonicalDN(dn)
		if _, ok := refs[key]; ok {
			continue
		}
		ref, err := e.readRef(ctx, dn)
		if err != nil {
			return nil, err
		}
		refs[key] = ref
	}
	// The keys needing a cloud lookup, by lower-cased address.
	byAddr := map[string][]string{}
	for key, ref := range refs {
		if s := migratedAs(migrated, ref.ID, ref.DN); s != nil && ref.ID != "" {
			refs[key] = Ref{DN: ref.DN, ID: s.ID, Cloud: s.Made.CloudListID, Address: s.Capture.Primary, Group: true, Migrated: true}
			continue
		}
		if ref.Address != "" {
			a := strings.ToLower(ref.Address)
			byAddr[a] = append(byAddr[a], key)
		}
	}
	found := func(addr, cloudID string) {
		for _, key := range byAddr[addr] {
			ref := refs[key]
			ref.Cloud = cloudID
			refs[key] = ref
		}
	}
	if len(byAddr) < bulkResolveMin {
		for addr := range byAddr {
			x, err := e.Exchange.GetRecipient(ctx, addr)
			switch {
			case retry.ClassOf(err) == retry.NotFound:
				continue
			case err != nil:
				return nil, fmt.Errorf("migrate: find the cloud recipient of %s: %w", addr, err)
			}
			found(addr, cmpOr(x.ExternalDirectoryObjectID, x.GUID))
		}
		return refs, nil
	}
	if err := e.listRecipientsByAddress(ctx, byAddr, found); err != nil {
		return nil, err
	}
	return refs, nil
}

// listRecipientsByAddress streams every recipient of the tenant and calls
// found for each wanted address (a key of want) one of them holds, as its
// primary or as an smtp: address, as Get-Recipient -Identity would find
// it. A listing cut short is an error: an address missing from an
// incomplete listing would be reported unresolved wrongly.
func (e *Env) listRecipientsByAddress(ctx context.Context, want map[string][]string, found func(addr, cloudID string)) error {
	done := make(map[string]bool, len(want))
	res, err := e.Exchange.ListRecipients(ctx, "", func(x *cloud.ExoRecipient) error {
		id := cmpOr(x.ExternalDirectoryObjectID, x.GUID)
		match := func(addr string) {
			addr = strings.ToLower(strings.TrimSpace(addr))
			if _, ok := want[addr]; ok && !done[addr] && id != "" {
				done[addr] = true
				found(addr, id)
			}
		}
		match(x.PrimarySMTPAddress)
		for _, a := range x.EmailAddresses {
			if p, addr, ok := strings.Cut(a, ":"); ok && strings.EqualFold(p, "smtp") {
				match(addr)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate: list the tenant's recipients to resolve %d addresses: %w", len(want), err)
	}
	if !res.Complete {
		return retry.New("migrate.resolve", retry.Retryable, errors.New("the listing of the tenant's recipients ended before its last page"))
	}
	return nil
}

// readRef reads the on-premises recipient at dn.
func (e *Env) readRef(ctx context.Context, dn string) (Ref, error) {
	ref := Ref{DN: dn}
	r, err := e.Dir.ReadRecipient(ctx, dn)
	if err != nil {
		if retry.ClassOf(err) == retry.NotFound {
			return ref, nil
		}
		return ref, fmt.Errorf("migrate: read %s: %w", dn, err)
	}
	return refOf(dn, r), nil
}

// refOf is the Ref of the recipient r read at dn, its cloud recipient not
// looked up yet.
func refOf(dn string, r *ad.Recipient) Ref {
	return Ref{DN: dn, ID: strings.ToLower(r.GUID), Address: primaryOf(r), Group: r.Kind == ad.KindGroup && r.MailEnabled()}
}
