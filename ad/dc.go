package ad

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/internal/retry"
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

// ErrDCChanged is wrapped by the errors of FindByGUIDOnDC and ModifyOnDC
// when the client failed over to another DC: nothing was written.
var ErrDCChanged = errors.New("ad: the connected domain controller changed")

// connected returns the live connection and its number, dialling if need be.
func (c *Client) connected(ctx context.Context) (conn, uint64, error) {
	cn, err := c.connection(ctx)
	if err != nil {
		return nil, 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != cn {
		return nil, 0, retry.New("ad.connect", retry.Retryable, fmt.Errorf("%w while connecting", ErrDCChanged))
	}
	return cn, c.gen, nil
}

func (c *Client) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// ConnectedDC returns the identity of the DC the client is connected to,
// dialling if need be. It is read once per connection (two base reads:
// the rootDSE and the DC's NTDS Settings object).
func (c *Client) ConnectedDC(ctx context.Context) (DC, error) {
	_, dc, _, err := c.connectedDC(ctx)
	return dc, err
}

func (c *Client) connectedDC(ctx context.Context) (conn, DC, uint64, error) {
	const op = "ad.ConnectedDC"
	cn, gen, err := c.connected(ctx)
	if err != nil {
		return nil, DC{}, 0, fmt.Errorf("%s: %w", op, err)
	}
	c.mu.Lock()
	if c.dcGen == gen && !c.dc.IsZero() {
		dc := c.dc
		c.mu.Unlock()
		return cn, dc, gen, nil
	}
	c.mu.Unlock()
	w, _, err := c.readWatermark(ctx)
	if err != nil {
		return nil, DC{}, 0, fmt.Errorf("%s: %w", op, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.conn != cn {
		return nil, DC{}, 0, retry.New(op, retry.Retryable, fmt.Errorf("%w while reading its identity", ErrDCChanged))
	}
	c.dc, c.dcGen = DC{Server: w.Server, InvocationID: w.InvocationID}, gen
	return cn, c.dc, gen, nil
}

// FindByGUIDOnDC is FindByGUID, also saying which DC answered. A failover
// during the read is a retryable error wrapping ErrDCChanged. A NotFound
// error comes with the DC that did not find the object.
func (c *Client) FindByGUIDOnDC(ctx context.Context, guid string) (*Recipient, DC, error) {
	const op = "ad.FindByGUIDOnDC"
	_, dc, gen, err := c.connectedDC(ctx)
	if err != nil {
		return nil, DC{}, err
	}
	r, err := c.FindByGUID(ctx, guid)
	if c.generation() != gen {
		return nil, DC{}, retry.New(op, retry.Retryable, fmt.Errorf("%w during the read of objectGUID %s", ErrDCChanged, guid))
	}
	if err != nil {
		return nil, dc, err
	}
	return r, dc, nil
}

// ModifyOnDC is Modify, sent only to the DC dc: when the client is
// connected to another one (it failed over since dc answered the read the
// change was planned from), nothing is sent and the error, a Conflict
// wrapping ErrDCChanged, says so. An outcome that is unknown (the
// connection failed mid-request, or the DC did not answer within the
// timeout) is a Conflict too; see write.
func (c *Client) ModifyOnDC(ctx context.Context, dc DC, dn string, changes ...Change) error {
	const op = "ad.Modify"
	req, err := modifyRequest(dn, changes)
	if err != nil {
		return err
	}
	start := time.Now()
	cn, now, _, err := c.connectedDC(ctx)
	if err != nil {
		c.observe(op, start, err)
		return fmt.Errorf("%s: %w", op, err)
	}
	if !now.Equal(dc) {
		err := retry.New(op, retry.Conflict, fmt.Errorf("%w: %s was read from %s, the client is now connected to %s; nothing sent", ErrDCChanged, dn, dc, now))
		c.observe(op, start, err)
		return err
	}
	return c.writeOn(op, start, cn, func(cn conn) error {
		if err := cn.Modify(req); err != nil {
			return fmt.Errorf("modify %s: %w", dn, err)
		}
		return nil
	})
}
