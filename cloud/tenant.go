// Package cloud is the one interface the rest of hybridsync uses for the
// Microsoft 365 tenant: Entra ID directory objects read through Microsoft
// Graph, group Source of Authority, sign-in session revocation, MFA
// registration, and the Exchange Online recipient cmdlets.
//
// Implementations: cloud/graph (msgraph-sdk-go, the only package importing
// it) with cloud/exo (the Exchange Online admin REST endpoint), and the
// in-memory fakes tests build. cloud/emulator serves the same wire protocols
// over HTTPS so the real implementations can be tested end to end.
//
// Every error an implementation returns is classified with internal/retry
// (retryable, conflict, not found, terminal), the same classes as package ad.
package cloud

import (
	"context"
	"time"
)

// Kind is the kind of a directory object.
type Kind string

const (
	KindUser    Kind = "user"
	KindGroup   Kind = "group"
	KindContact Kind = "orgContact"
)

// GroupType tells Entra's four group flavours apart
// (https://learn.microsoft.com/graph/api/resources/groups-overview).
type GroupType string

const (
	// GroupMicrosoft365: groupTypes contains "Unified".
	GroupMicrosoft365 GroupType = "microsoft365"
	// GroupSecurity: securityEnabled, not mailEnabled.
	GroupSecurity GroupType = "security"
	// GroupMailEnabledSecurity: securityEnabled and mailEnabled, not Unified.
	GroupMailEnabledSecurity GroupType = "mailEnabledSecurity"
	// GroupDistribution: mailEnabled, not securityEnabled, not Unified.
	GroupDistribution GroupType = "distribution"
)

// ClassifyGroup derives the GroupType from Graph's flags.
func ClassifyGroup(groupTypes []string, mailEnabled, securityEnabled bool) GroupType {
	for _, t := range groupTypes {
		if t == "Unified" {
			return GroupMicrosoft365
		}
	}
	switch {
	case mailEnabled && securityEnabled:
		return GroupMailEnabledSecurity
	case mailEnabled:
		return GroupDistribution
	default:
		return GroupSecurity
	}
}

// Object is a user, group or organisational contact as Entra ID holds it.
type Object struct {
	Kind           Kind     `json:"type"`
	ID             string   `json:"id"`
	DisplayName    string   `json:"displayName,omitempty"`
	Mail           string   `json:"mail,omitempty"`
	MailNickname   string   `json:"mailNickname,omitempty"`
	UPN            string   `json:"userPrincipalName,omitempty"`
	ProxyAddresses []string `json:"proxyAddresses,omitempty"`

	// Synchronisation from on-premises AD.
	OnPremisesSyncEnabled bool   `json:"onPremisesSyncEnabled,omitempty"`
	OnPremisesImmutableID string `json:"onPremisesImmutableId,omitempty"`
	OnPremisesSID         string `json:"onPremisesSecurityIdentifier,omitempty"`
	OnPremisesDN          string `json:"onPremisesDistinguishedName,omitempty"`

	// Groups only.
	GroupType       GroupType `json:"groupType,omitempty"`
	GroupTypes      []string  `json:"groupTypes,omitempty"`
	MailEnabled     bool      `json:"mailEnabled,omitempty"`
	SecurityEnabled bool      `json:"securityEnabled,omitempty"`
	// Members is filled only when asked for (ListOptions.Members).
	Members []Member `json:"members,omitempty"`

	// Removed is set on delta results for objects deleted (or moved out
	// of what the caller may read) since the last round.
	Removed *Removal `json:"@removed,omitempty"`
}

// Removal is Graph's "@removed" annotation on a delta result.
type Removal struct {
	// Reason is "changed" (soft-deleted, restorable for 30 days) or
	// "deleted" (gone for good).
	Reason string `json:"reason"`
}

// Member is one direct member of a group.
type Member struct {
	ID   string `json:"id"`
	Kind Kind   `json:"type"`
}

// ListOptions shape a listing.
type ListOptions struct {
	// Members fills Object.Members for groups (their first member pages
	// are read 20 groups per $batch request).
	Members bool
	// Filter is an OData $filter expression, already built with Quote for
	// its literals. Empty lists everything.
	Filter string
}

// ReadResult says how a listing ended. Complete is true only when every
// page was read: a listing cut short must never be used to decide that an
// object is gone.
type ReadResult struct {
	Complete bool `json:"complete"`
	Objects  int  `json:"objects"`
	Requests int  `json:"requests"`
}

// DeltaResult is the outcome of one delta round.
type DeltaResult struct {
	ReadResult
	// DeltaLink is the link to store for the next round; valid only when
	// the round was complete.
	DeltaLink string `json:"deltaLink"`
	// Full is true when the round started from scratch: no stored link, or
	// the stored one had expired (HTTP 410, syncStateNotFound), in which
	// case the caller must treat objects it did not see as unknown rather
	// than unchanged.
	Full   bool   `json:"full"`
	Reason string `json:"reason,omitempty"`
	// Restarted is true when the round started over part way (the link
	// expired mid-round): objects passed to the callback before the
	// restart may be stale or deleted since, and a caller that builds a
	// full picture from the round must read it again from scratch.
	Restarted bool `json:"restarted,omitempty"`
}

// SyncBehavior is a group's Source of Authority setting
// (onPremisesSyncBehavior, beta): IsCloudManaged true means the sync
// engine no longer writes the group and it is managed in the cloud.
type SyncBehavior struct {
	IsCloudManaged bool `json:"isCloudManaged"`
}

// RegistrationDetail is one row of the authentication methods
// userRegistrationDetails report.
type RegistrationDetail struct {
	ID                    string    `json:"id"`
	UPN                   string    `json:"userPrincipalName"`
	IsMFACapable          bool      `json:"isMfaCapable"`
	IsMFARegistered       bool      `json:"isMfaRegistered"`
	IsPasswordlessCapable bool      `json:"isPasswordlessCapable"`
	MethodsRegistered     []string  `json:"methodsRegistered"`
	LastUpdated           time.Time `json:"lastUpdatedDateTime"`
}

// AuthMethod is one of a user's registered authentication methods.
type AuthMethod struct {
	ID string `json:"id"`
	// Type is the Graph resource type without its namespace, e.g.
	// "microsoftAuthenticatorAuthenticationMethod", "phoneAuthenticationMethod".
	Type        string `json:"type"`
	DisplayName string `json:"displayName,omitempty"`
}

// Tenant is what hybridsync needs from the cloud.
type Tenant interface {
	// List streams every object of kind to fn, following paging, and says
	// whether the listing completed.
	List(ctx context.Context, kind Kind, opts ListOptions, fn func(*Object) error) (ReadResult, error)
	// Get reads one object by id; a not-found answer is re-read a few
	// times first (an object created moments ago may not show yet).
	Get(ctx context.Context, kind Kind, id string) (*Object, error)
	// Lookup reads one object by id once, a not-found answer reported at
	// once: for checks waiting for a deletion.
	Lookup(ctx context.Context, kind Kind, id string) (*Object, error)
	// Members lists a group's direct members.
	Members(ctx context.Context, groupID string) ([]Member, error)
	// Delta streams the changes to objects of kind since deltaLink ("" for
	// a first, full round).
	Delta(ctx context.Context, kind Kind, deltaLink string, fn func(*Object) error) (DeltaResult, error)

	// GroupSyncBehavior reads a group's Source of Authority.
	GroupSyncBehavior(ctx context.Context, groupID string) (SyncBehavior, error)
	// SetGroupSyncBehavior converts a synced group to cloud management
	// (true) or hands it back to the sync engine (false).
	SetGroupSyncBehavior(ctx context.Context, groupID string, b SyncBehavior) error

	// SetGroupSyncBehaviorBatch does SetGroupSyncBehavior for many groups,
	// grouped in $batch requests, and returns each failed group's error.
	SetGroupSyncBehaviorBatch(ctx context.Context, changes map[string]SyncBehavior) (map[string]error, error)

	// RevokeSignInSessions invalidates a user's refresh tokens and session
	// cookies.
	RevokeSignInSessions(ctx context.Context, userID string) error
	// RevokeSignInSessionsBatch does RevokeSignInSessions for many users,
	// grouped in $batch requests, and returns each failed user's error.
	RevokeSignInSessionsBatch(ctx context.Context, userIDs []string) (map[string]error, error)
	// RegistrationDetails streams the userRegistrationDetails report.
	RegistrationDetails(ctx context.Context, fn func(*RegistrationDetail) error) (ReadResult, error)
	// AuthMethods lists a user's registered authentication methods.
	AuthMethods(ctx context.Context, userID string) ([]AuthMethod, error)

	// Exchange is the tenant's Exchange Online organisation.
	Exchange() Exchange
}
