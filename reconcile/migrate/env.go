package migrate

import (
	"context"
	"log/slog"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/clock"
	"github.com/hybridsync/hybridsync/internal/failpoint"
	"github.com/hybridsync/hybridsync/reconcile/journal"
)

// Directory is what a migration needs of on-premises AD (*adldap.Client
// has it). Write errors say what happened with ad.ErrNotSent,
// ad.ErrDCChanged and ad.ErrOutcomeUnknown.
type Directory interface {
	FindByGUIDOnDC(ctx context.Context, guid string) (*ad.Recipient, ad.DC, error)
	ReadRecipient(ctx context.Context, dn string) (*ad.Recipient, error)
	FindByAddress(ctx context.Context, addr string) (*ad.Recipient, error)
	Move(ctx context.Context, dn, newParent string) (string, error)
	Modify(ctx context.Context, dn string, changes ...ad.Change) error
	Add(ctx context.Context, dn string, attrs []ad.Attribute) error
	Delete(ctx context.Context, dn string) error
	// ProtectedFromDeletion reports whether the object's DACL denies
	// Everyone the right to delete it (Active Directory Users and
	// Computers' "Protect object from accidental deletion").
	ProtectedFromDeletion(ctx context.Context, dn string) (bool, error)
	// MemberGroups returns the mail-enabled groups that are direct
	// members of the group at dn (a batch's nesting), or an error: never
	// a list cut short.
	MemberGroups(ctx context.Context, dn string) ([]*ad.Recipient, error)
	// SearchDNs returns the DNs of the objects under the base DN that an
	// LDAP filter matches; an incomplete read is an error.
	SearchDNs(ctx context.Context, filter string) ([]string, error)
	// ReadAttributes reads the named attributes of one object.
	ReadAttributes(ctx context.Context, dn string, attrs ...string) (map[string][]string, error)
}

// Graph is what a migration needs of Microsoft Graph (cloud.Tenant has
// it).
type Graph interface {
	List(ctx context.Context, kind cloud.Kind, opts cloud.ListOptions, fn func(*cloud.Object) error) (cloud.ReadResult, error)
	Get(ctx context.Context, kind cloud.Kind, id string) (*cloud.Object, error)
	Lookup(ctx context.Context, kind cloud.Kind, id string) (*cloud.Object, error)
	GroupSyncBehavior(ctx context.Context, groupID string) (cloud.SyncBehavior, error)
	SetGroupSyncBehavior(ctx context.Context, groupID string, b cloud.SyncBehavior) error
}

// Exchange is what a migration needs of Exchange Online (cloud.Exchange
// has it).
type Exchange interface {
	AcceptedDomains(ctx context.Context) ([]cloud.AcceptedDomain, error)
	GetRecipient(ctx context.Context, identity string) (*cloud.ExoRecipient, error)
	ListRecipients(ctx context.Context, filter string, fn func(*cloud.ExoRecipient) error) (cloud.ReadResult, error)
	GetDistributionGroup(ctx context.Context, identity string) (*cloud.DistributionGroup, error)
	NewDistributionGroup(ctx context.Context, g cloud.NewDistributionGroup) (*cloud.DistributionGroup, error)
	SetDistributionGroup(ctx context.Context, identity string, ch cloud.GroupChanges) error
	RemoveDistributionGroup(ctx context.Context, identity string) error
	GroupMembers(ctx context.Context, identity string) ([]cloud.ExoRecipient, error)
	ReplaceGroupMembers(ctx context.Context, identity string, members []string) error
	ListDistributionGroups(ctx context.Context, filter string, fn func(*cloud.DistributionGroup) error) (cloud.ReadResult, error)
	ChangeGroupRecipients(ctx context.Context, identity, param string, add, remove []string) error
	AddGroupMember(ctx context.Context, identity, member string) error
	RemoveGroupMember(ctx context.Context, identity, member string) error
	GetMailbox(ctx context.Context, identity string) (*cloud.Mailbox, error)
	ListMailboxes(ctx context.Context, filter string, fn func(*cloud.Mailbox) error) (cloud.ReadResult, error)
	SetMailboxForwarding(ctx context.Context, identity, to string) error
	RecipientPermissions(ctx context.Context, identity, trustee string) ([]cloud.RecipientPermission, error)
	GrantSendAs(ctx context.Context, identity, trustee string) error
	RevokeSendAs(ctx context.Context, identity, trustee string) error
}

// SyncTrigger starts a delta sync cycle of the sync engine (a configured
// command); it returns once the cycle was asked for (or ran). nil means
// the saga waits for the engine's own schedule.
type SyncTrigger interface {
	Trigger(ctx context.Context) error
}

// Observer hears what the engine does, for metrics and logs; every method
// may be left nil.
type Observer struct {
	// Step is told when a step ends: outcome is "done", "failed" or
	// "compensated".
	Step func(m Method, st Step, outcome string, d time.Duration)
	// SyncWait is told when a sync wait ends (timedOut: it passed its
	// deadline first).
	SyncWait func(st Step, d time.Duration, timedOut bool)
	// Progress is told every change of the saga's position or wait.
	Progress func(s *Saga)
}

// Env is what the engine works with. Dir, Graph, Exchange and Journal are
// required.
type Env struct {
	Dir      Directory
	Graph    Graph
	Exchange Exchange
	// Sync triggers a sync cycle; nil waits for the engine's schedule.
	Sync    SyncTrigger
	Journal *journal.Journal
	// Scope is the sync engine's scope, to check the no-sync OU against.
	Scope ad.SyncScope
	// InitialDomain is the tenant's initial domain (contoso.onmicrosoft.com).
	InitialDomain string
	// RoutingDomain is the domain of the routing addresses; "" derives
	// contoso.mail.onmicrosoft.com from InitialDomain.
	RoutingDomain string
	// Wait bounds each sync wait; Poll is the first interval between reads
	// while waiting (doubling up to maxPoll). Zero means 45 minutes and 5
	// seconds.
	Wait, Poll time.Duration
	// SettleAfter is how long a write with an unknown outcome is given
	// before a re-read that does not show it settles it as not applied.
	// Zero means two minutes.
	SettleAfter time.Duration
	Clock       clock.Clock
	// Failpoint is called at the failpoints (crash tests); nil in
	// production.
	Failpoint failpoint.Hook
	Logger    *slog.Logger
	Observe   Observer
	// Once makes Run look once at what a wait waits for, and return
	// ErrWaiting when it is not there yet, instead of polling: the
	// service runs its migrations this way, every poll interval, so that
	// it holds the journal only briefly.
	Once bool
	// hold, when set, stops Run before a step it holds (errHeld): a wave
	// brings every saga to its sync wait before asking for the cycle.
	hold func(Step) bool
}

func (e *Env) clock() clock.Clock { return clock.Or(e.Clock) }

func (e *Env) log() *slog.Logger {
	if e.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Logger
}

func (e *Env) wait() time.Duration {
	if e.Wait <= 0 {
		return 45 * time.Minute
	}
	return e.Wait
}

func (e *Env) poll() time.Duration {
	if e.Poll <= 0 {
		return 5 * time.Second
	}
	return e.Poll
}

func (e *Env) settleAfter() time.Duration {
	if e.SettleAfter <= 0 {
		return 2 * time.Minute
	}
	return e.SettleAfter
}

// routingDomain is the domain of the tenant's routing addresses.
func (e *Env) routingDomain() string {
	if e.RoutingDomain != "" {
		return e.RoutingDomain
	}
	if base, ok := cutSuffixFold(e.InitialDomain, ".onmicrosoft.com"); ok {
		return base + ".mail.onmicrosoft.com"
	}
	return e.InitialDomain
}
