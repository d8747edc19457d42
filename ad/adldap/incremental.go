package adldap

import (
	"context"
	"fmt"
	"strconv"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// Watermark marks how far a reader has seen one DC's changes. uSNChanged is
// a per-DC counter, so a watermark is only meaningful against the same DC
// database: Server is the DC's NTDS Settings DN (rootDSE dsServiceName) and
// InvocationID identifies its database (it changes when the DC is restored
// from backup, so old USNs may be reused).
//
// Ref: https://learn.microsoft.com/windows/win32/ad/polling-for-changes-using-usnchanged
type Watermark struct {
	Server       string `json:"server"`
	InvocationID string `json:"invocationId"`
	USN          int64  `json:"highestCommittedUSN"`
}

// rootDSE holds what incremental reads need from the root DSE.
type rootDSE struct {
	server, domainNC string
	usn              int64
}

func (c *Client) readRootDSE(ctx context.Context) (rootDSE, error) {
	const op = "ad.readRootDSE"
	root, err := c.searchAll(ctx, SearchRequest{rootDSE: true, Scope: ScopeBase, Filter: "(objectClass=*)",
		Attributes: []string{"dsServiceName", "highestCommittedUSN", "defaultNamingContext"}})
	if err != nil {
		return rootDSE{}, fmt.Errorf("%s: %w", op, err)
	}
	if len(root) != 1 {
		return rootDSE{}, retry.New(op, retry.Terminal, fmt.Errorf("rootDSE returned %d entries", len(root)))
	}
	out := rootDSE{server: root[0].GetAttributeValue("dsServiceName"), domainNC: root[0].GetAttributeValue("defaultNamingContext")}
	if out.usn, err = strconv.ParseInt(root[0].GetAttributeValue("highestCommittedUSN"), 10, 64); err != nil {
		return rootDSE{}, retry.New(op, retry.Terminal, fmt.Errorf("rootDSE highestCommittedUSN: %w", err))
	}
	return out, nil
}

// ReadWatermark reads the connected DC's identity and highestCommittedUSN.
// Both reads must come from the same DC: if the client fails over between
// them the result is a retryable error.
func (c *Client) ReadWatermark(ctx context.Context) (Watermark, error) {
	w, _, err := c.readWatermark(ctx)
	return w, err
}

func (c *Client) readWatermark(ctx context.Context) (Watermark, rootDSE, error) {
	const op = "ad.ReadWatermark"
	root, err := c.readRootDSE(ctx)
	if err != nil {
		return Watermark{}, rootDSE{}, fmt.Errorf("%s: %w", op, err)
	}
	url := c.ServerURL()
	w := Watermark{Server: root.server, USN: root.usn}
	ntds, err := c.searchAll(ctx, SearchRequest{BaseDN: w.Server, Scope: ScopeBase, Filter: "(objectClass=*)",
		Attributes: []string{"invocationId"}})
	if err != nil {
		return Watermark{}, rootDSE{}, fmt.Errorf("%s: read %s: %w", op, w.Server, err)
	}
	if len(ntds) != 1 {
		return Watermark{}, rootDSE{}, retry.New(op, retry.Terminal, fmt.Errorf("%s returned %d entries", w.Server, len(ntds)))
	}
	if now := c.ServerURL(); now != url {
		return Watermark{}, rootDSE{}, retry.New(op, retry.Retryable, fmt.Errorf("connected DC changed from %s to %s while reading the watermark", url, now))
	}
	if w.InvocationID, err = ad.GUIDString(ntds[0].GetRawAttributeValue("invocationId")); err != nil {
		return Watermark{}, rootDSE{}, retry.New(op, retry.Terminal, fmt.Errorf("%s invocationId: %w", w.Server, err))
	}
	return w, root, nil
}

// IncrementalResult is the outcome of StreamChanges.
type IncrementalResult struct {
	ReadResult
	// Full is true when the read was a full read (no usable watermark).
	Full bool `json:"full"`
	// Reason says why a full read was done.
	Reason string `json:"reason,omitempty"`
	// Next is the watermark to store once the caller has processed every
	// recipient; it is only valid when the read was complete.
	Next Watermark `json:"next"`
}

// StreamChanges streams what changed since since, in two parts:
//
//  1. every user, group, contact and dynamic DL of the domain whose
//     uSNChanged is newer than the watermark, whether or not it is still
//     mail-enabled or under base: an object that was mail-disabled or moved
//     out of base changed too, and the caller must see it leave its scope
//     (Recipient.InScope tells);
//  2. the tombstones of such objects deleted since then (Recipient.Deleted,
//     with DN, objectGUID and LastKnownParent), read from the domain's
//     Deleted Objects container, since AD moves them out of base.
//
// With no watermark, or one from another DC or another database of the same
// DC (invocationId changed), it streams every sync candidate under base
// instead (StreamSyncCandidates) and says so (Full, Reason): deletions then
// follow from the complete set. The whole read must come from one DC, since USNs are per DC:
// if the client fails over mid-read the result is a retryable error.
//
// The next watermark is read before the searches, so a change made during
// the read is seen again next time rather than missed.
//
// Ref: https://learn.microsoft.com/windows/win32/ad/polling-for-changes-using-usnchanged
func (c *Client) StreamChanges(ctx context.Context, base string, since *Watermark, fn func(*ad.Recipient) error) (IncrementalResult, error) {
	const op = "ad.StreamChanges"
	now, root, err := c.readWatermark(ctx)
	if err != nil {
		return IncrementalResult{}, fmt.Errorf("%s: %w", op, err)
	}
	server := c.ServerURL()
	out := IncrementalResult{Next: now}
	switch {
	case since == nil:
		out.Full, out.Reason = true, "no watermark"
	case !ad.EqualDN(since.Server, now.Server):
		out.Full, out.Reason = true, fmt.Sprintf("watermark is from DC %s, connected to %s", since.Server, now.Server)
	case since.InvocationID != now.InvocationID:
		out.Full, out.Reason = true, fmt.Sprintf("DC database changed (invocationId %s, was %s)", now.InvocationID, since.InvocationID)
	case since.USN > now.USN:
		out.Full, out.Reason = true, fmt.Sprintf("watermark USN %d is ahead of the DC's %d", since.USN, now.USN)
	}
	sameDC := func(res ReadResult) error {
		if res.Server != server {
			return retry.New(op, retry.Retryable, fmt.Errorf("connected DC changed from %s to %s during an incremental read; USNs are per DC", server, res.Server))
		}
		return nil
	}
	if out.Full {
		out.ReadResult, err = c.StreamSyncCandidates(ctx, base, fn)
		if err == nil {
			err = sameDC(out.ReadResult)
		}
		if err != nil {
			out.Complete = false
		}
		return out, err
	}
	changed := GE("uSNChanged", strconv.FormatInt(since.USN+1, 10))
	res, err := c.streamRecipients(ctx, SearchRequest{BaseDN: root.domainNC, Filter: And(recipientClassFilter, changed), Attributes: RecipientAttributes()}, fn)
	if err == nil {
		err = sameDC(res)
	}
	out.ReadResult = res
	if err != nil {
		out.Complete = false
		return out, err
	}
	// Tombstones keep objectClass but lose objectCategory (MS-ADTS
	// §3.1.1.5.5.1.2), so match by class alone, and leave computers out.
	tomb, err := c.streamRecipients(ctx, SearchRequest{
		BaseDN:      root.domainNC,
		Filter:      And(Eq("isDeleted", "TRUE"), changed, tombstoneClassFilter),
		Attributes:  append(RecipientAttributes(), "lastKnownParent"),
		ShowDeleted: true,
	}, fn)
	if err == nil {
		err = sameDC(tomb)
	}
	out.Entries += tomb.Entries
	out.Pages += tomb.Pages
	out.Complete = res.Complete && tomb.Complete && err == nil
	return out, err
}

// tombstoneClassFilter matches deleted users (not computers), groups,
// contacts and dynamic DLs by objectClass alone.
var tombstoneClassFilter = And(
	Or(Eq("objectClass", "user"), Eq("objectClass", "group"), Eq("objectClass", "contact"), Eq("objectClass", "msExchDynamicDistributionList")),
	Not(Eq("objectClass", "computer")),
)
