package ad

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/hybridsync/hybridsync/reconcile/retry"
)

// Scope of a search.
type Scope int

const (
	ScopeSubtree Scope = iota
	ScopeOneLevel
	ScopeBase
)

func (s Scope) ldap() int {
	switch s {
	case ScopeBase:
		return ldap.ScopeBaseObject
	case ScopeOneLevel:
		return ldap.ScopeSingleLevel
	default:
		return ldap.ScopeWholeSubtree
	}
}

// SearchRequest is one streamed search. Filter must already be a valid
// RFC 4515 filter: build it with the helpers in filter.go, which escape.
type SearchRequest struct {
	BaseDN     string
	Scope      Scope
	Filter     string
	Attributes []string
	// rootDSE searches the root DSE (the empty DN) instead of the default
	// base when BaseDN is empty.
	rootDSE bool
	// ShowDeleted adds the LDAP_SERVER_SHOW_DELETED_OID control so
	// tombstones are returned too.
	ShowDeleted bool
}

// ReadResult says how a streamed read ended.
type ReadResult struct {
	// Complete is true only when every page was received and the server
	// ended the search with success. A read that is not complete must
	// never be used to decide that an object is gone.
	Complete bool `json:"complete"`
	Entries  int  `json:"entries"`
	Pages    int  `json:"pages"`
	// Server is the URL of the DC that answered.
	Server string `json:"server"`
}

// errStop lets a callback end a search early without it being an error of
// the search itself.
var errStop = errors.New("stop")

// Search streams the entries matching req to fn, one page at a time (RFC
// 2696, page size Config.PageSize). Memory use does not grow with the
// directory. It returns when the search completes, fn returns an error, ctx
// ends, or the server or network fails; only in the first case is
// ReadResult.Complete true.
//
// A failure before any entry was delivered is retried (re-dialling after a
// network error) under Config.Retry. A failure after entries were delivered
// is not retried here, since the callback has seen a prefix of the result;
// the error says how far the read got and the caller restarts it.
func (c *Client) Search(ctx context.Context, req SearchRequest, fn func(*ldap.Entry) error) (ReadResult, error) {
	const op = "ad.Search"
	var (
		res     ReadResult
		partial error
	)
	err := retry.Do(ctx, *c.cfg.Retry, op, func(ctx context.Context) error {
		res = ReadResult{}
		err := c.searchOnce(ctx, req, fn, &res)
		if err != nil && res.Entries > 0 {
			// Never let retry.Do replay the prefix into fn: stop here and
			// let the caller restart the read. The cause keeps its class.
			partial = err
			return nil
		}
		return err
	})
	if partial != nil {
		err = fmt.Errorf("%s: read incomplete after %d entries in %d pages: %w", op, res.Entries, res.Pages, partial)
	}
	if err != nil {
		res.Complete = false
		return res, err
	}
	return res, nil
}

func (c *Client) searchOnce(ctx context.Context, req SearchRequest, fn func(*ldap.Entry) error, res *ReadResult) error {
	const op = "ad.Search"
	start := time.Now()
	cn, err := c.connection(ctx)
	if err != nil {
		c.observe(op, start, err)
		return err
	}
	res.Server = c.ServerURL()
	base := req.BaseDN
	if base == "" && !req.rootDSE {
		base = c.cfg.BaseDN
	}
	paging := ldap.NewControlPaging(uint32(c.cfg.PageSize))
	controls := []ldap.Control{paging}
	if req.ShowDeleted {
		controls = append(controls, ldap.NewControlMicrosoftShowDeleted())
	}
	for {
		if err := ctx.Err(); err != nil {
			err = retry.New(op, retry.Terminal, fmt.Errorf("read incomplete after %d entries: %w", res.Entries, err))
			c.observe(op, start, err)
			return err
		}
		sr := ldap.NewSearchRequest(base, req.Scope.ldap(), ldap.NeverDerefAliases, 0, 0, false,
			req.Filter, req.Attributes, controls)
		// The page is drained before fn sees any of it. go-ldap delivers
		// every connection's replies from one goroutine that waits (up to
		// the request timeout, then drops the packet) for each request's
		// reader; a callback that issues its own request (ranged
		// retrieval) or stalls while the page is still arriving would
		// block that goroutine. Memory stays bounded by the page size.
		resp := cn.SearchAsync(ctx, sr, c.cfg.PageSize+1)
		var (
			done     bool
			respCtls []ldap.Control
			page     = make([]*ldap.Entry, 0, c.cfg.PageSize)
		)
		for resp.Next() {
			if e := resp.Entry(); e != nil {
				page = append(page, e)
				continue
			}
			if resp.Referral() != "" {
				// Referrals to other partitions are not followed: the
				// configured base DN is one domain.
				continue
			}
			// An entry-less, referral-less result is SearchResultDone
			// (sent only when it carries controls).
			done = true
			respCtls = resp.Controls()
		}
		if err := resp.Err(); err != nil {
			err = fmt.Errorf("search %q under %q (page %d): %w", req.Filter, base, res.Pages+1, err)
			if isNetworkError(err) || cn.IsClosing() {
				// Packet read failures are not always typed; a closing
				// connection says what happened.
				c.drop(cn)
				err = retry.New(op, retry.Retryable, err)
			}
			err = classify(op, err)
			c.observe(op, start, err)
			return err
		}
		if err := ctx.Err(); err != nil {
			// SearchAsync reports cancellation as a clean end.
			err = retry.New(op, retry.Terminal, fmt.Errorf("read incomplete after %d entries: %w", res.Entries, err))
			c.observe(op, start, err)
			return err
		}
		if !done && (cn.IsClosing() || req.Scope != ScopeBase) {
			// go-ldap ends the stream silently both when the connection
			// is already closing and after a SearchResultDone without
			// controls. A paged subtree or one-level search always ends
			// with the paging control (RFC 2696 §3), so a silent end
			// there is a failure; a base-scope read (the rootDSE answers
			// without it) is one only if the connection is going away.
			c.drop(cn)
			err := retry.New(op, retry.Retryable, fmt.Errorf("search %q: connection closed before the server finished page %d", req.Filter, res.Pages+1))
			c.observe(op, start, err)
			return err
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				if errors.Is(err, errStop) {
					c.observe(op, start, nil)
					return nil
				}
				return err
			}
			res.Entries++
		}
		res.Pages++
		pc, _ := ldap.FindControl(respCtls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if pc == nil || len(pc.Cookie) == 0 {
			res.Complete = true
			c.observe(op, start, nil)
			return nil
		}
		paging.SetCookie(pc.Cookie)
	}
}

// searchAll runs a small bounded search and returns its entries. Use it for
// base-scope reads and lookups expected to match a handful of entries.
func (c *Client) searchAll(ctx context.Context, req SearchRequest) ([]*ldap.Entry, error) {
	var out []*ldap.Entry
	_, err := c.Search(ctx, req, func(e *ldap.Entry) error {
		out = append(out, e)
		return nil
	})
	return out, err
}
