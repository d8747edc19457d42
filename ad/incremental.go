package ad

import (
	"context"
	"fmt"
	"strconv"

	"github.com/hybridsync/hybridsync/reconcile/retry"
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

// ReadWatermark reads the connected DC's identity and highestCommittedUSN.
func (c *Client) ReadWatermark(ctx context.Context) (Watermark, error) {
	const op = "ad.ReadWatermark"
	root, err := c.searchAll(ctx, SearchRequest{rootDSE: true, Scope: ScopeBase, Filter: "(objectClass=*)",
		Attributes: []string{"dsServiceName", "highestCommittedUSN"}})
	if err != nil {
		return Watermark{}, fmt.Errorf("%s: read rootDSE: %w", op, err)
	}
	if len(root) != 1 {
		return Watermark{}, retry.New(op, retry.Terminal, fmt.Errorf("rootDSE returned %d entries", len(root)))
	}
	w := Watermark{Server: root[0].GetAttributeValue("dsServiceName")}
	if w.USN, err = strconv.ParseInt(root[0].GetAttributeValue("highestCommittedUSN"), 10, 64); err != nil {
		return Watermark{}, retry.New(op, retry.Terminal, fmt.Errorf("rootDSE highestCommittedUSN: %w", err))
	}
	ntds, err := c.searchAll(ctx, SearchRequest{BaseDN: w.Server, Scope: ScopeBase, Filter: "(objectClass=*)",
		Attributes: []string{"invocationId"}})
	if err != nil {
		return Watermark{}, fmt.Errorf("%s: read %s: %w", op, w.Server, err)
	}
	if len(ntds) != 1 {
		return Watermark{}, retry.New(op, retry.Terminal, fmt.Errorf("%s returned %d entries", w.Server, len(ntds)))
	}
	if w.InvocationID, err = GUIDString(ntds[0].GetRawAttributeValue("invocationId")); err != nil {
		return Watermark{}, retry.New(op, retry.Terminal, fmt.Errorf("%s invocationId: %w", w.Server, err))
	}
	return w, nil
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

// StreamChanges streams the mail-enabled recipients changed since since,
// then the tombstones of recipients deleted since then (Recipient.Deleted,
// carrying DN and objectGUID). With no watermark, or one from another DC or
// another database of the same DC (invocationId changed), it streams every
// recipient instead and says so (Full, Reason); deletions then follow from
// the complete set, not from tombstones.
//
// The next watermark is read before the search, so a change made during the
// read is seen again next time rather than missed.
func (c *Client) StreamChanges(ctx context.Context, base string, since *Watermark, fn func(*Recipient) error) (IncrementalResult, error) {
	const op = "ad.StreamChanges"
	now, err := c.ReadWatermark(ctx)
	if err != nil {
		return IncrementalResult{}, fmt.Errorf("%s: %w", op, err)
	}
	out := IncrementalResult{Next: now}
	switch {
	case since == nil:
		out.Full, out.Reason = true, "no watermark"
	case !EqualDN(since.Server, now.Server):
		out.Full, out.Reason = true, fmt.Sprintf("watermark is from DC %s, connected to %s", since.Server, now.Server)
	case since.InvocationID != now.InvocationID:
		out.Full, out.Reason = true, fmt.Sprintf("DC database changed (invocationId %s, was %s)", now.InvocationID, since.InvocationID)
	case since.USN > now.USN:
		out.Full, out.Reason = true, fmt.Sprintf("watermark USN %d is ahead of the DC's %d", since.USN, now.USN)
	}
	if out.Full {
		out.ReadResult, err = c.StreamRecipients(ctx, base, fn)
		return out, err
	}
	changed := GE("uSNChanged", strconv.FormatInt(since.USN+1, 10))
	res, err := c.streamRecipients(ctx, SearchRequest{BaseDN: base, Filter: And(MailEnabledFilter(), changed), Attributes: RecipientAttributes()}, fn)
	out.ReadResult = res
	if err != nil {
		return out, err
	}
	// Tombstones lose most attributes (mail among them), so match by class.
	tomb, err := c.streamRecipients(ctx, SearchRequest{
		BaseDN:      base,
		Filter:      And(Eq("isDeleted", "TRUE"), changed, recipientClassFilter),
		Attributes:  RecipientAttributes(),
		ShowDeleted: true,
	}, fn)
	out.Entries += tomb.Entries
	out.Pages += tomb.Pages
	out.Complete = res.Complete && tomb.Complete
	return out, err
}
