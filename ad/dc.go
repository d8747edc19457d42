package ad

import (
	"errors"
	"fmt"
	"strings"
)

// DC identifies the domain controller database that answered a read or
// received a write: its NTDS Settings DN (rootDSE dsServiceName) and its
// invocationId. uSNChanged values, and the absence of a change, mean
// something only against the same DC database: another DC may not have
// replicated the change yet, and a DC restored from backup gets a new
// invocationId.
//
// Ref: https://learn.microsoft.com/windows/win32/ad/polling-for-changes-using-usnchanged
type DC struct {
	Server       string `json:"dsServiceName"`
	InvocationID string `json:"invocationId"`
}

// IsZero reports whether d names no DC.
func (d DC) IsZero() bool { return d.Server == "" && d.InvocationID == "" }

// Equal reports whether d and o are the same DC database.
func (d DC) Equal(o DC) bool {
	return !d.IsZero() && EqualDN(d.Server, o.Server) && strings.EqualFold(d.InvocationID, o.InvocationID)
}

// String names the DC for messages: the server's name and its database.
func (d DC) String() string {
	if d.IsZero() {
		return "(unknown DC)"
	}
	name := d.Server
	// CN=NTDS Settings,CN=DC1,CN=Servers,...: the server is the second RDN.
	if dn, err := ParseDN(d.Server); err == nil && len(dn.RDNs) > 1 && len(dn.RDNs[1].Attributes) > 0 {
		name = dn.RDNs[1].Attributes[0].Value
	}
	return fmt.Sprintf("%s (invocationId %s)", name, d.InvocationID)
}

// ErrDCChanged is wrapped by a directory client's error when a write was
// not sent because the client is connected to another DC than the one
// named (it failed over since the read): nothing was written.
var ErrDCChanged = errors.New("ad: the connected domain controller changed")

// ErrNotSent is wrapped by a directory client's error when a write was
// not sent at all (no DC could be reached first): nothing was written, and
// the same write may succeed later.
var ErrNotSent = errors.New("ad: the write was not sent")

// ErrOutcomeUnknown is wrapped by a directory client's error when a write
// was sent but no answer came (the connection failed mid-request, or the
// DC did not answer in time): it may or may not have been applied, or may
// still be. An error of a write that wraps none of ErrNotSent,
// ErrDCChanged and ErrOutcomeUnknown means the DC answered and applied
// nothing.
var ErrOutcomeUnknown = errors.New("ad: the outcome of the write is unknown")
