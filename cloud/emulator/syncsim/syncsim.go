// Package syncsim is a sync-engine simulator for the tenant emulator: it
// reads on-premises AD recipients and projects them into an
// *emulator.Emulator the way Microsoft Entra Connect Sync does, so that the
// lab's tenant holds what a real hybrid tenant would.
//
// One cycle (Run):
//
//  1. Reads every user and group under each Config.Scope OU, mail-enabled
//     or not, and the mail-enabled contacts (objects under a Config.Exclude
//     DN are skipped), and the direct members of Config.LicenseGroupDN. If
//     any read fails or is incomplete nothing is applied: an incomplete read
//     must never decide that an object is gone. Of what it reads it syncs
//     what Entra Connect's out-of-box rules sync (plan.NotSynced): every
//     user and security group, and the distribution groups and contacts
//     that are mail-enabled; dynamic distribution groups are skipped.
//  2. Joins each object to its cloud twin by onPremisesImmutableId
//     (Config.SourceAnchor's plan.SourceAnchor.ImmutableID: objectGUID by
//     default; with mS-DS-ConsistencyGuid, a user's consistency GUID, and
//     while that is empty its objectGUID, which the cycle first writes back
//     into mS-DS-ConsistencyGuid in AD, as Entra Connect does before the
//     export), and creates or updates it. Cloud twins that are not
//     SyncManaged (converted to cloud management, Source of Authority) are
//     left alone, and never deleted.
//  3. Computes mail, mailNickname and proxyAddresses with proxycalc, as
//     Entra ID's ProxyCalc does (KB 3190357), for Exchange Online's
//     recipients only (plan.ExchangeRecipient): a licensed user, even
//     without mail attributes, gets a mailbox addressed from its UPN; an
//     unlicensed user without mail attributes and a security group that is
//     not mail-enabled get no address.
//  4. Reports export errors instead of writing bad data: a proxy address or
//     UPN held by another object is quarantined and an
//     AttributeValueMustBeUnique error recorded, the rest of the object is
//     synced (duplicate attribute resiliency); a new user whose UPN is taken
//     gets a placeholder UPN <prefix><4 digits>@<initial domain>. Values
//     ProxyCalc drops as malformed are recorded as DataValidationFailed.
//  5. Sets group members to the cloud ids of the members synced in the same
//     read; members outside the sync scope are dropped, as Entra Connect
//     drops references to objects it does not sync. The same goes for the
//     Exchange recipient lists of groups: owners (managedBy,
//     msExchCoManagedByLink), moderators, moderation bypass, accepted and
//     rejected senders (authOrig, dLMemSubmitPerms, unauthOrig,
//     dLMemRejectPerms) and send-on-behalf (publicDelegates); moderation,
//     sender authentication, the hidden-from-address-lists flag and
//     extensionAttribute1-15 (as CustomAttribute1-15) flow as they are.
//  6. Deletes synced cloud objects whose immutableId was not read (left
//     scope, no longer synced, moved to an excluded OU or deleted in AD):
//     users and contacts are soft-deleted, groups deleted for good, as
//     Entra ID does with security and distribution groups
//     (https://learn.microsoft.com/graph/api/group-delete). More than
//     Config.DeleteThreshold of them (Entra Connect's accidental-delete
//     prevention) makes the cycle apply nothing and fail with
//     ErrDeletionThresholdExceeded ("stopped-deletion-threshold-exceeded").
//
// All of a cycle's tenant changes are made in one emulator transaction, so
// a failed cycle applies nothing. Loop runs cycles periodically and on
// demand.
//
// # Choices where Entra Connect's behaviour is not modelled or not documented
//
//   - Of the out-of-box rules' exclusions, those plan.NotSynced lists are
//     modelled; the 250,000-member limit on groups is not.
//   - The on-premises legacyExchangeDN, which Exchange Online keeps as an
//     X500 address of the synced recipient, is not projected; nor is
//     msExchBypassModerationFromDLMembersLink (not in the lab's schema).
//   - A soft-deleted cloud twin whose object is back in scope is restored
//     (Entra ID restores on a hard match) and counted as Created.
//   - A UPN whose domain is not an accepted domain of the tenant is synced
//     as <prefix>@<initial domain>, as Entra ID does for unverified
//     suffixes; an empty UPN becomes sAMAccountName@<initial domain>.
//   - When the primary SMTP address is quarantined, the MOERA (else the
//     first remaining smtp: value) becomes the primary and mail, so the
//     object never shows another object's address.
//   - Objects whose values were quarantined are projected a second time at
//     the end of the cycle, so a value released by another object in the
//     same cycle is taken over at once rather than one cycle later.
package syncsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/cloud/emulator"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// DefaultDeleteThreshold is Entra Connect's default accidental-delete
// threshold: an export with more deletions than this is stopped.
const DefaultDeleteThreshold = 500

// Export error types and attributes recorded by the simulator.
const (
	ErrorTypeNotUnique      = "AttributeValueMustBeUnique"
	ErrorTypeDataValidation = "DataValidationFailed"

	AttrProxyAddresses    = "proxyAddresses"
	AttrUserPrincipalName = "userPrincipalName"
	AttrMail              = "mail"
)

// Errors returned by Run; test with errors.Is.
var (
	// ErrIncompleteRead means a read of AD did not finish; nothing was
	// applied.
	ErrIncompleteRead = errors.New("syncsim: AD read incomplete, nothing applied")
	// ErrDeletionThresholdExceeded means the cycle would have deleted more
	// objects than Config.DeleteThreshold; nothing was applied. The text is
	// Entra Connect's run status.
	ErrDeletionThresholdExceeded = errors.New("syncsim: stopped-deletion-threshold-exceeded")
)

// Config configures the simulator.
type Config struct {
	// Scope are the DNs of the OUs in sync scope: objects under one of them
	// are synced. At least one is required.
	Scope []string
	// Exclude are DNs never synced even when under a scope OU (an OU
	// excludes its whole subtree).
	Exclude []string
	// LicenseGroupDN is an AD group whose direct user members count as
	// licensed for Exchange Online. Empty, or a group that does not exist,
	// means nobody is licensed.
	LicenseGroupDN string
	// SourceAnchor is the sourceAnchor Entra Connect was installed with;
	// "" means plan.AnchorObjectGUID.
	SourceAnchor plan.SourceAnchor
	// DeleteThreshold is the most deletions one cycle may make; 0 means
	// DefaultDeleteThreshold, a negative value disables the guard (like
	// Disable-ADSyncExportDeletionThreshold).
	DeleteThreshold int
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Clock stamps reports; it defaults to time.Now.
	Clock func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.DeleteThreshold == 0 {
		c.DeleteThreshold = DefaultDeleteThreshold
	}
	return c
}

// Source is what the simulator reads AD through, and writes the source
// anchor back through (implemented by *adldap.Client).
type Source interface {
	// StreamSyncCandidates streams the users and groups, and the
	// mail-enabled contacts and dynamic DLs, under base.
	StreamSyncCandidates(ctx context.Context, base string, fn func(*ad.Recipient) error) (adldap.ReadResult, error)
	// ReadRecipient reads one object; an error of class retry.NotFound
	// means it does not exist.
	ReadRecipient(ctx context.Context, dn string) (*ad.Recipient, error)
	// Modify changes one object (the mS-DS-ConsistencyGuid write-back).
	Modify(ctx context.Context, dn string, changes ...ad.Change) error
}

// *adldap.Client is the production Source.
var _ Source = (*adldap.Client)(nil)

// Report describes one cycle. When the cycle fails nothing is applied and
// the change counters are zero.
type Report struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Read counts the objects in scope that Entra Connect syncs, and the
	// dynamic DLs (excluded ones not counted).
	Read int `json:"read"`
	// WrittenBack counts the users whose objectGUID the cycle wrote into
	// their empty mS-DS-ConsistencyGuid (SourceAnchor
	// mS-DS-ConsistencyGuid only).
	WrittenBack int `json:"writtenBack,omitempty"`
	// Created counts objects created (or restored from soft-deletion).
	Created int `json:"created"`
	// Updated counts objects whose attributes, licence or members changed.
	Updated int `json:"updated"`
	// Deleted counts synced objects deleted (users and contacts
	// soft-deleted, groups for good) because they were not read.
	Deleted   int `json:"deleted"`
	Unchanged int `json:"unchanged"`
	// SkippedCloudManaged counts objects whose cloud twin is not managed by
	// sync (Source of Authority converted to the cloud).
	SkippedCloudManaged int `json:"skippedCloudManaged"`
	// SkippedDynamicDL counts dynamic distribution groups, which Entra
	// Connect does not sync.
	SkippedDynamicDL int `json:"skippedDynamicDL"`
	// Excluded counts objects under a scope OU skipped by Config.Exclude.
	Excluded int `json:"excluded"`
	// DroppedMembers counts member references to objects the cycle does not
	// sync (outside the scope, excluded, not synced, dynamic DLs).
	DroppedMembers int `json:"droppedMembers"`
	// ExportErrors are the export errors the synced objects have after the
	// cycle.
	ExportErrors []emulator.ExportError `json:"exportErrors,omitempty"`
	// DeletionThresholdExceeded is set when the cycle stopped because it
	// would have deleted PendingDeletions objects, more than the threshold.
	DeletionThresholdExceeded bool `json:"deletionThresholdExceeded,omitempty"`
	PendingDeletions          int  `json:"pendingDeletions,omitempty"`
	// Complete is true when the cycle read everything and applied its
	// changes.
	Complete bool `json:"complete"`
	// Error is the cycle's error text, empty on success.
	Error string `json:"error,omitempty"`
}

// counts are the change counters of the apply phase.
type counts struct {
	created, updated, deleted, unchanged, skippedCloud, droppedMembers int
	exportErrors                                                       []emulator.ExportError
}

// Run runs one sync cycle: reads AD through src and applies the result to
// em in one transaction. On error nothing has been applied.
func Run(ctx context.Context, src Source, em *emulator.Emulator, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	log := cfg.Logger
	rep := Report{Started: cfg.Clock()}
	finish := func(err error) (Report, error) {
		rep.Finished = cfg.Clock()
		if err != nil {
			rep.Error = err.Error()
			log.Warn("sync cycle failed, nothing applied", "error", err, "read", rep.Read)
			return rep, err
		}
		rep.Complete = true
		log.Info("sync cycle finished", "read", rep.Read, "written_back", rep.WrittenBack, "created", rep.Created, "updated", rep.Updated,
			"deleted", rep.Deleted, "unchanged", rep.Unchanged, "skipped_cloud_managed", rep.SkippedCloudManaged,
			"export_errors", len(rep.ExportErrors), "duration", rep.Finished.Sub(rep.Started))
		return rep, nil
	}
	switch {
	case src == nil || em == nil:
		return finish(errors.New("syncsim: Source and Emulator are required"))
	case len(cfg.Scope) == 0:
		return finish(errors.New("syncsim: Config.Scope is empty; refusing a cycle that would delete every synced object"))
	}
	if err := ctx.Err(); err != nil {
		return finish(err)
	}
	rd, err := read(ctx, src, cfg, &rep)
	if err != nil {
		return finish(err)
	}
	if err := writeBack(ctx, src, rd, &rep); err != nil {
		return finish(err)
	}
	if err := ctx.Err(); err != nil {
		return finish(err)
	}
	var c counts
	err = em.Update(func(tx *emulator.Tx) error {
		a := newApplier(tx, cfg, rd)
		if err := a.apply(); err != nil {
			if a.pendingDeletions > 0 {
				rep.DeletionThresholdExceeded, rep.PendingDeletions = true, a.pendingDeletions
			}
			return err
		}
		c = a.counts
		return nil
	})
	if err != nil {
		return finish(err)
	}
	rep.Created, rep.Updated, rep.Deleted, rep.Unchanged = c.created, c.updated, c.deleted, c.unchanged
	rep.SkippedCloudManaged, rep.DroppedMembers, rep.ExportErrors = c.skippedCloud, c.droppedMembers, c.exportErrors
	return finish(nil)
}

// item is one object to project.
type item struct {
	r    *ad.Recipient
	iid  string // onPremisesImmutableId
	kind cloud.Kind
	// writeBack is set when the anchor is objectGUID only until the cycle
	// writes it into mS-DS-ConsistencyGuid.
	writeBack bool
}

// readSet is what a complete read produced.
type readSet struct {
	items []*item
	// byDN maps plan.DNKey of every synced object to its immutableId.
	byDN map[string]string
	// licensed holds plan.DNKey of the licence group's members.
	licensed map[string]bool
}

// read reads every scope OU and the licence group. Any error or incomplete
// read fails the whole read.
func read(ctx context.Context, src Source, cfg Config, rep *Report) (*readSet, error) {
	rd := &readSet{byDN: map[string]string{}, licensed: map[string]bool{}}
	seen := map[string]bool{}
	sc := ad.NewSyncScope(cfg.Scope, cfg.Exclude)
	for _, scope := range sc.OUs() {
		res, err := src.StreamSyncCandidates(ctx, scope, func(r *ad.Recipient) error {
			if r == nil || r.Deleted || !ad.IsUnder(r.DN, scope) {
				return nil
			}
			if plan.NotSynced(r) != "" && r.Kind != ad.KindDynamicDL {
				return nil // not an object Entra Connect syncs
			}
			if !sc.Contains(r.DN) {
				rep.Excluded++ // under an excluded OU
				return nil
			}
			kind, ok := plan.CloudKind(r.Kind)
			iid, err := cfg.SourceAnchor.ImmutableID(r)
			if err != nil {
				// Without an anchor the object cannot be joined; skipping
				// it would delete its cloud twin, so fail the read.
				return fmt.Errorf("syncsim: %s: source anchor: %w", r.DN, err)
			}
			if seen[iid] {
				return nil // read again through an overlapping scope
			}
			seen[iid] = true
			rep.Read++
			if !ok {
				rep.SkippedDynamicDL++
				return nil
			}
			rd.items = append(rd.items, &item{r: r, iid: iid, kind: kind, writeBack: cfg.SourceAnchor.WritesBack(r)})
			rd.byDN[plan.DNKey(r.DN)] = iid
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("syncsim: read %s: %w", scope, err)
		}
		if !res.Complete {
			return nil, fmt.Errorf("%w: scope %s (%d entries)", ErrIncompleteRead, scope, res.Entries)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	if cfg.LicenseGroupDN != "" {
		g, err := src.ReadRecipient(ctx, cfg.LicenseGroupDN)
		switch {
		case errors.Is(err, retry.ErrNotFound):
			cfg.Logger.Warn("licence group not found, nobody is licensed", "group", cfg.LicenseGroupDN)
		case err != nil:
			return nil, fmt.Errorf("syncsim: read licence group %s: %w", cfg.LicenseGroupDN, err)
		case g != nil:
			for _, m := range g.Members {
				rd.licensed[plan.DNKey(m)] = true
			}
		}
	}
	return rd, nil
}

// writeBack writes each user's objectGUID into its empty
// mS-DS-ConsistencyGuid, as Entra Connect does with mS-DS-ConsistencyGuid
// as the source anchor before it exports the user. The value is added, not
// replaced, so a value someone set since the read makes the write fail
// rather than be overwritten; a failed write-back fails the cycle, with
// nothing applied to the tenant.
func writeBack(ctx context.Context, src Source, rd *readSet, rep *Report) error {
	for _, it := range rd.items {
		if !it.writeBack {
			continue
		}
		raw, err := ad.GUIDBytes(it.r.GUID)
		if err != nil {
			return fmt.Errorf("syncsim: %s: objectGUID: %w", it.r.DN, err)
		}
		if err := src.Modify(ctx, it.r.DN, ad.Change{Op: ad.AddValues, Attr: "mS-DS-ConsistencyGuid", Values: []string{string(raw)}}); err != nil {
			return fmt.Errorf("syncsim: write mS-DS-ConsistencyGuid back to %s: %w", it.r.DN, err)
		}
		it.r.ConsistencyGUID, it.writeBack = it.r.GUID, false
		rep.WrittenBack++
	}
	return nil
}
