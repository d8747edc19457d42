// Package migrate moves one on-premises distribution list to Exchange
// Online as a saga: a fixed list of idempotent steps, each journalled, that
// a crash at any point resumes, and that compensates back to the starting
// state when a step can no longer succeed.
//
// # Two paths
//
// Source of Authority (SOA, the path of Microsoft's group SOA conversion):
// the synced group itself becomes cloud-managed. Steps: capture, convert
// (PATCH onPremisesSyncBehavior isCloudManaged), await-cloud-managed
// (Graph no longer synced, Exchange IsDirSynced false), routing-address (the
// tenant routing address on the list), routing-contact (an on-premises
// contact targeting it) and contact-member (the contact joins the
// on-premises group, so on-premises senders still reach the cloud list, as
// DLConversionV3 does; the group's members stay, since a mail-enabled
// security group may still grant access on premises), verify. The list keeps its addresses throughout: no mail-flow window.
//
// Recreate (DLConversionV2's path, made safe): capture (with every object
// that names the group, in both directories), create (the cloud
// list under a temporary name, with members, owners, moderation,
// restrictions, hidden flag and custom attributes), repoint-cloud-references
// (the new list joins every cloud-only list that names the synced twin, and
// mailboxes forwarding to the twin forward to it), move (the on-premises
// group to its no-sync OU), await-twin-deleted (a triggered sync cycle
// deletes the synced twin; the addresses move the moment that is visible),
// take-addresses (the real name, alias, addresses, x500 values of both
// legacyExchangeDNs and the tenant routing address), routing-contact,
// retire (the original mail-disabled with a marker), dynamic-list (an
// on-premises dynamic list with the original name and addresses whose
// filter reaches only the routing contact; dynamic lists are not synced),
// repoint-references (on-premises objects that named the group name the
// routing contact), verify, and delete-original unless the original is
// kept.
//
// # Hybrid mail flow after the fact
//
// PlanHybridFlow and ApplyHybridFlow (hybridflow.go) give a list already
// in Exchange Online, migrated by any tool, the routing contact and the
// dynamic list the recreate path makes, with the same attributes and
// filter, adopting what DLConversionV2 left rather than duplicating it.
//
// # Crash safety
//
// The saga (group, path, step, deadline, captured before-images, what it
// made) is a journal record, rewritten at every step boundary. Every write
// is a journal entry: intent and before-image first, marked sent, outcome
// after. A restart settles the saga's pending entries from what the
// directories show (a write never sent did not happen; one sent is done if
// its effect is visible, not done once the target has had time to show
// it), then re-runs the current step, which first checks whether its effect
// is already in place. A step that fails for good (a terminal error) makes
// the saga compensate: the steps done are undone in reverse order, each
// undo journalled, until both directories are back at the before-images.
// Waits for the sync engine are bounded by a deadline; past it the saga
// says it is waiting too long, and waits on, resumable.
//
// # Address changes after the move
//
// ChangeAddress changes a migrated list's primary address and alias in
// both directories (the cloud list, then the on-premises dynamic list and
// the routing contact where it carries the old address), recorded in the
// saga first and journalled write by write under a run id of its own;
// when the on-premises write fails the cloud write is undone. A rollback
// names the changes it would discard (CloudChanges), undoes the recreate
// path's take-addresses while the list holds any of the group's
// addresses, and gives an SOA list back its addresses before handing it
// back to the sync engine.
package migrate
