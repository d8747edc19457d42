package plan

import (
	"encoding/base64"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
)

// ADSnapshot is one read of on-premises AD.
type ADSnapshot struct {
	// Objects are the objects read: every user and group (Entra Connect
	// syncs them whether or not they are mail-enabled), and the
	// mail-enabled contacts. A read that leaves out users or security
	// groups without mail makes their cloud twins look like orphans.
	// Objects outside Scope, deleted or not synced
	// (NotSynced) may be included: they are used only to explain why a
	// cloud object has no source.
	Objects []*ad.Recipient
	// Complete is true only when every scope was read to the end.
	Complete bool
	// Licensed holds the DNs of users licensed for Exchange Online (for
	// example the members of the licence group). Keys are compared as AD
	// compares DNs, whatever their case.
	Licensed map[string]bool
	// Scope is where the sync engine synchronises objects (its OUs minus
	// the no-sync OU); the zero value is everything read.
	Scope ad.SyncScope
	// Routing are the routing contacts and on-premises dynamic lists that
	// migrations by hybridsync made (extensionAttribute1 is
	// ad.RoutingMarker), wherever they are: they are never synced, and
	// are read only to check that each dynamic list still carries its
	// cloud list's primary address.
	Routing []*ad.Recipient
}

// CloudSnapshot is one read of the tenant.
type CloudSnapshot struct {
	// Objects are users, groups and contacts; objects with Removed set are
	// ignored.
	Objects []*cloud.Object
	// Complete is true only when every listing was read to the end.
	Complete bool
	// AcceptedDomains are the tenant's accepted (verified) domains.
	AcceptedDomains []string
	// InitialDomain is the tenant's initial domain, e.g.
	// contoso.onmicrosoft.com.
	InitialDomain string
}

// Defaults for Options fields left zero.
const (
	// DefaultMaxProxyAddresses is the most proxyAddresses values planned
	// for one object. Entra Connect's LargeObject error comes at about 332
	// values on a user with few other attributes, fewer on a fuller one.
	DefaultMaxProxyAddresses = 300
	// DefaultDeleteThreshold is Entra Connect's accidental-delete default.
	DefaultDeleteThreshold = 500
	// DefaultMaxCertificateUserIDs is the most certificateUserIds values a
	// user may hold (Microsoft's "certificate user IDs" article; older
	// versions of the article said 5).
	DefaultMaxCertificateUserIDs = 10
	// MaxCertificateUserIDLen is the longest certificateUserIds value.
	MaxCertificateUserIDLen = 1024
)

// Options configure Build.
type Options struct {
	// Anchor is the source anchor Entra Connect is configured with; ""
	// means AnchorObjectGUID. Its ImmutableID is every AD object's
	// onPremisesImmutableId.
	Anchor SourceAnchor
	// CertificateUserIDs returns the values a sync rule maps to a user's
	// certificateUserIds (for example from an extension attribute). nil
	// turns the check off.
	CertificateUserIDs func(*ad.Recipient) []string
	// CertificateUserIDsAttr names the AD attribute (or rule) in findings;
	// "" means "certificateUserIds".
	CertificateUserIDsAttr string
	// MaxCertificateUserIDs: 0 means DefaultMaxCertificateUserIDs.
	MaxCertificateUserIDs int
	// MaxProxyAddresses: 0 means DefaultMaxProxyAddresses, negative turns
	// the LargeObject check off.
	MaxProxyAddresses int

	// DeleteThreshold is the most deletions a plan may count: 0 means
	// DefaultDeleteThreshold, negative turns the count limit off.
	DeleteThreshold int
	// DeletePercent is the most deletions as a percentage of the synced
	// cloud objects; 0 turns it off.
	DeletePercent float64
	// ChangeThreshold and ChangePercent (of the AD objects in scope) limit
	// the actions; 0 turns each off.
	ChangeThreshold int
	ChangePercent   float64
	// AllowDeletes and AllowChanges accept a plan over the limits.
	AllowDeletes bool
	AllowChanges bool
}

func (o Options) withDefaults() Options {
	if o.MaxProxyAddresses == 0 {
		o.MaxProxyAddresses = DefaultMaxProxyAddresses
	}
	if o.DeleteThreshold == 0 {
		o.DeleteThreshold = DefaultDeleteThreshold
	}
	if o.MaxCertificateUserIDs == 0 {
		o.MaxCertificateUserIDs = DefaultMaxCertificateUserIDs
	}
	if o.CertificateUserIDsAttr == "" {
		o.CertificateUserIDsAttr = "certificateUserIds"
	}
	if o.Anchor == "" {
		o.Anchor = AnchorObjectGUID
	}
	return o
}

// ImmutableID returns the onPremisesImmutableId Entra Connect gives an
// object anchored on objectGUID: the base64 (standard encoding) of the
// GUID's bytes; guid is in registry form.
func ImmutableID(guid string) (string, error) {
	b, err := ad.GUIDBytes(guid)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// DNKey is a map key for a DN compared as AD compares DNs.
func DNKey(dn string) string { return strings.ToLower(ad.CanonicalDN(dn)) }

// CloudKind maps the AD kinds Entra Connect syncs to the Graph kinds of
// their twins; ok is false for the kinds it does not sync (dynamic DLs).
func CloudKind(k ad.Kind) (cloud.Kind, bool) {
	switch k {
	case ad.KindUser:
		return cloud.KindUser, true
	case ad.KindGroup:
		return cloud.KindGroup, true
	case ad.KindContact:
		return cloud.KindContact, true
	}
	return "", false
}
