package adldap

import (
	"context"
	"errors"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// ReadMembers streams the recipients under the configured base DN that
// are direct members of the group at groupDN (memberOf=groupDN), in one
// paged search: a 65,000-member group's members are read in 65 pages of
// 1,000 rather than 65,000 reads. Members the search cannot return
// (outside the base DN, in another domain) are the caller's to read one
// by one. A search that ends before its last page is an error.
func (c *Client) ReadMembers(ctx context.Context, groupDN string, fn func(*ad.Recipient) error) error {
	const op = "ad.ReadMembers"
	res, err := c.SearchRecipients(ctx, "", Eq("memberOf", groupDN), fn)
	if err != nil {
		return err
	}
	if !res.Complete {
		return retry.New(op, retry.Retryable, errors.New("the search for the group's members ended before its last page"))
	}
	return nil
}
