package adldap

import (
	"context"
	"fmt"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// connected returns the live connection and its number, dialling if need be.
func (c *Client) connected(ctx context.Context) (conn, uint64, error) {
	cn, err := c.connection(ctx)
	if err != nil {
		return nil, 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != cn {
		return nil, 0, retry.New("ad.connect", retry.Retryable, fmt.Errorf("%w while connecting", ad.ErrDCChanged))
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
func (c *Client) ConnectedDC(ctx context.Context) (ad.DC, error) {
	_, dc, _, err := c.connectedDC(ctx)
	return dc, err
}

func (c *Client) connectedDC(ctx context.Context) (conn, ad.DC, uint64, error) {
	const op = "ad.ConnectedDC"
	cn, gen, err := c.connected(ctx)
	if err != nil {
		return nil, ad.DC{}, 0, fmt.Errorf("%s: %w", op, err)
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
		return nil, ad.DC{}, 0, fmt.Errorf("%s: %w", op, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.conn != cn {
		return nil, ad.DC{}, 0, retry.New(op, retry.Retryable, fmt.Errorf("%w while reading its identity", ad.ErrDCChanged))
	}
	c.dc, c.dcGen = ad.DC{Server: w.Server, InvocationID: w.InvocationID}, gen
	return cn, c.dc, gen, nil
}

// FindByGUIDOnDC is FindByGUID, also saying which DC answered. A failover
// during the read is a retryable error wrapping ErrDCChanged. A NotFound
// error comes with the DC that did not find the object.
func (c *Client) FindByGUIDOnDC(ctx context.Context, guid string) (*ad.Recipient, ad.DC, error) {
	const op = "ad.FindByGUIDOnDC"
	_, dc, gen, err := c.connectedDC(ctx)
	if err != nil {
		return nil, ad.DC{}, err
	}
	r, err := c.FindByGUID(ctx, guid)
	if c.generation() != gen {
		return nil, ad.DC{}, retry.New(op, retry.Retryable, fmt.Errorf("%w during the read of objectGUID %s", ad.ErrDCChanged, guid))
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
func (c *Client) ModifyOnDC(ctx context.Context, dc ad.DC, dn string, changes ...ad.Change) error {
	const op = "ad.Modify"
	req, err := modifyRequest(dn, changes)
	if err != nil {
		return err
	}
	start := time.Now()
	cn, now, _, err := c.connectedDC(ctx)
	if err != nil {
		c.observe(op, start, err)
		return fmt.Errorf("%s: %w: %w", op, ad.ErrNotSent, err)
	}
	if !now.Equal(dc) {
		err := retry.New(op, retry.Conflict, fmt.Errorf("%w: %s was read from %s, the client is now connected to %s; nothing sent", ad.ErrDCChanged, dn, dc, now))
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
