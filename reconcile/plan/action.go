package plan

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
)

// ActionKind names an automatic fix.
type ActionKind string

// ActionDualWritePrimary makes AD mail the primary SMTP address in
// proxyAddresses and keeps the old primary as a secondary.
const ActionDualWritePrimary ActionKind = "ad.dual-write-primary"

// ActionMigratedListAddress gives a migrated list's on-premises dynamic
// list the cloud list's primary address (NewMail), keeping the old one as
// a secondary: mail and proxyAddresses in one modify.
const ActionMigratedListAddress ActionKind = "ad.migrated-list-address"

// ErrStale is wrapped by Action.Check and Action.Apply when the object has
// changed since the plan read it.
var ErrStale = errors.New("plan: object changed since the plan was made")

// Action is one value-level change to one AD object's proxyAddresses.
// Apply it as one LDAP modify, deleting before adding (Changes): AD
// compares proxyAddresses values case-insensitively, so "SMTP:a@x" must be
// deleted before "smtp:a@x" can be added.
type Action struct {
	Kind       ActionKind `json:"kind"`
	ObjectDN   string     `json:"objectDN"`
	ObjectGUID string     `json:"objectGUID"`
	// Attribute is "proxyAddresses".
	Attribute string `json:"attribute"`
	// Delete and Add are exact values.
	Delete []string `json:"delete,omitempty"`
	Add    []string `json:"add,omitempty"`
	// Mail is the mail value the action makes primary (or, with NewMail,
	// the mail value it replaces).
	Mail string `json:"mail"`
	// NewMail, when set, replaces Mail (ActionMigratedListAddress).
	NewMail string `json:"newMail,omitempty"`
	// BeforeProxyAddresses and USNChanged are the values read, to refuse a
	// stale plan.
	BeforeProxyAddresses []string `json:"beforeProxyAddresses"`
	USNChanged           int64    `json:"uSNChanged"`
}

// Changes returns the LDAP modify for the action: delete, then add. When
// the action names the mail it was planned from, the modify also deletes
// and re-adds that value of mail: AD applies a modify atomically, so it
// refuses the whole write (noSuchAttribute) if mail changed since it was
// read, instead of making a stale address primary.
func (a Action) Changes() []ad.Change {
	var out []ad.Change
	switch {
	case a.NewMail != "":
		// Deleting the planned value asserts it, as below.
		if a.Mail != "" {
			out = append(out, ad.Change{Op: ad.DeleteValues, Attr: "mail", Values: []string{a.Mail}})
		}
		out = append(out, ad.Change{Op: ad.AddValues, Attr: "mail", Values: []string{a.NewMail}})
	case a.Mail != "":
		out = append(out,
			ad.Change{Op: ad.DeleteValues, Attr: "mail", Values: []string{a.Mail}},
			ad.Change{Op: ad.AddValues, Attr: "mail", Values: []string{a.Mail}})
	}
	if len(a.Delete) > 0 {
		out = append(out, ad.Change{Op: ad.DeleteValues, Attr: a.Attribute, Values: slices.Clone(a.Delete)})
	}
	if len(a.Add) > 0 {
		out = append(out, ad.Change{Op: ad.AddValues, Attr: a.Attribute, Values: slices.Clone(a.Add)})
	}
	return out
}

// Check reports, wrapping ErrStale, whether r is no longer the object the
// action was planned from: another object, another uSNChanged, mail or
// proxyAddresses.
func (a Action) Check(r *ad.Recipient) error {
	switch {
	case r == nil:
		return fmt.Errorf("%w: %s not read", ErrStale, a.ObjectDN)
	case !strings.EqualFold(r.GUID, a.ObjectGUID):
		return fmt.Errorf("%w: %s has objectGUID %s, the plan has %s", ErrStale, a.ObjectDN, r.GUID, a.ObjectGUID)
	case r.USNChanged != a.USNChanged:
		return fmt.Errorf("%w: %s has uSNChanged %d, the plan read %d", ErrStale, a.ObjectDN, r.USNChanged, a.USNChanged)
	case r.Mail != a.Mail:
		return fmt.Errorf("%w: %s mail is %q, the plan read %q", ErrStale, a.ObjectDN, r.Mail, a.Mail)
	}
	now, before := r.ProxyAddresses.Raw(), slices.Clone(a.BeforeProxyAddresses)
	slices.Sort(now)
	slices.Sort(before)
	if !slices.Equal(now, before) {
		return fmt.Errorf("%w: %s proxyAddresses changed", ErrStale, a.ObjectDN)
	}
	return nil
}

// Apply returns a copy of r with the action applied in memory, as AD would
// apply it (uSNChanged is incremented); r is not modified. It fails,
// wrapping ErrStale, when Check does.
func (a Action) Apply(r *ad.Recipient) (*ad.Recipient, error) {
	if err := a.Check(r); err != nil {
		return nil, err
	}
	vals := slices.DeleteFunc(r.ProxyAddresses.Raw(), func(v string) bool { return slices.Contains(a.Delete, v) })
	vals = append(vals, a.Add...)
	out := *r
	out.ProxyAddresses = ad.ParseProxyAddresses(vals)
	if a.NewMail != "" {
		out.Mail = a.NewMail
	}
	out.USNChanged++
	return &out, nil
}
