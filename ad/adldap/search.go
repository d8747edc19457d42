package adldap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/hybridsync/hybridsync/internal/retry"
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
	// SDFlags, when not zero, adds the LDAP_SERVER_SD_FLAGS_OID control
	// with these SECURITY_INFORMATION flags, so that nTSecurityDescriptor
	// holds only those parts (MS-ADTS §3.1.1.3.4.1.11).
	SDFlags int32
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

// callbackError marks an error returned by the caller's callback, so it is
// passed back unchanged and never retried.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }
func (e *callbackError) Unwrap() error { return e.err }

// Search streams the entries matching req to fn, page by page (RFC 2696,
// page size Config.PageSize). Memory use is bounded by two pages whatever
// the size of the directory. It returns when the search completes, fn
// returns an error, ctx ends, or the server or network fails; only in the
// first case is ReadResult.Complete true.
//
// A server or network failure before any entry reached fn is retried
// (re-dialling) under Config.Retry. After entries reached fn nothing is
// retried here, since fn has seen a prefix of the result: the error says the
// read is incomplete, keeps the cause's class, and the caller restarts the
// read. An error from fn is returned as it is, never retried.
func (c *Client) Search(ctx context.Context, req SearchRequest, fn func(*ldap.Entry) error) (ReadResult, error) {
	const op = "ad.Search"
	var (
		res     ReadResult
		partial error
	)
	err := retry.Do(ctx, *c.cfg.Retry, op, func(ctx context.Context) error {
		res = ReadResult{}
		err := c.searchOnce(ctx, req, fn, &res)
		var cb *callbackError
		if errors.As(err, &cb) || (err != nil && res.Entries > 0) {
			// Stop retry.Do from replaying the prefix into fn.
			partial = err
			return nil
		}
		return err
	})
	var cb *callbackError
	switch {
	case errors.As(partial, &cb):
		err = cb.err
	case partial != nil:
		err = fmt.Errorf("%s: read incomplete after %d entries in %d pages: %w", op, res.Entries, res.Pages, partial)
	}
	if err != nil {
		res.Complete = false
		return res, err
	}
	return res, nil
}

// pageResult is one drained page.
type pageResult struct {
	entries []*ldap.Entry
	cookie  []byte
	err     error
}

func (c *Client) searchOnce(ctx context.Context, req SearchRequest, fn func(*ldap.Entry) error, res *ReadResult) (err error) {
	const op = "ad.Search"
	start := time.Now()
	defer func() {
		var cb *callbackError
		if !errors.As(err, &cb) {
			c.observe(op, start, err)
		}
	}()
	cn, err := c.connection(ctx)
	if err != nil {
		return err
	}
	res.Server = c.ServerURL()
	base := req.BaseDN
	if base == "" && !req.rootDSE {
		base = c.cfg.BaseDN
	}
	// Pages are pipelined: page N+1 is requested before fn sees page N,
	// so the DC works while the caller does. Each page is drained in
	// full, into a buffer that holds a whole page, before fn sees any of
	// it. go-ldap hands every reply on a connection to one goroutine that
	// waits (up to the request timeout, then drops the packet) for each
	// request's reader; a callback that makes its own request (ranged
	// retrieval) while a page is still arriving into a full buffer would
	// block that goroutine. With room for the whole page it never blocks.
	fetch := func(pageCtx context.Context, cookie []byte) ldap.Response {
		paging := ldap.NewControlPaging(uint32(c.cfg.PageSize))
		paging.SetCookie(cookie)
		controls := []ldap.Control{paging}
		if req.ShowDeleted {
			controls = append(controls, ldap.NewControlMicrosoftShowDeleted())
		}
		if req.SDFlags != 0 {
			controls = append(controls, &ldap.ControlMicrosoftSDFlags{Criticality: true, ControlValue: req.SDFlags})
		}
		sr := ldap.NewSearchRequest(base, req.Scope.ldap(), ldap.NeverDerefAliases, 0, 0, false,
			req.Filter, req.Attributes, controls)
		return cn.SearchAsync(pageCtx, sr, c.cfg.PageSize+2)
	}
	// Each page gets its own context; starting the next page (or
	// returning) cancels the previous one, ending its goroutine.
	cancelPage := context.CancelFunc(func() {})
	defer func() { cancelPage() }()
	request := func(cookie []byte) ldap.Response {
		cancelPage()
		pageCtx, cancel := context.WithCancel(ctx)
		cancelPage = cancel
		return fetch(pageCtx, cookie)
	}
	resp := request(nil)
	for {
		page := c.drain(ctx, cn, resp, req, base, res.Pages+1)
		if page.err != nil {
			return page.err
		}
		var next ldap.Response
		if len(page.cookie) > 0 {
			next = request(page.cookie)
		}
		for _, e := range page.entries {
			if err := fn(e); err != nil {
				return &callbackError{err}
			}
			res.Entries++
		}
		res.Pages++
		if next == nil {
			res.Complete = true
			return nil
		}
		resp = next
	}
}

// drain reads one page to its end and decides whether it ended well.
func (c *Client) drain(ctx context.Context, cn conn, resp ldap.Response, req SearchRequest, base string, pageNo int) pageResult {
	const op = "ad.Search"
	var (
		done bool
		out  = pageResult{entries: make([]*ldap.Entry, 0, c.cfg.PageSize)}
		ctls []ldap.Control
	)
	for resp.Next() {
		if e := resp.Entry(); e != nil {
			out.entries = append(out.entries, e)
			continue
		}
		if resp.Referral() != "" {
			// Referrals to other partitions are not followed: the
			// configured base DN is one domain.
			continue
		}
		// An entry-less, referral-less result is SearchResultDone (go-ldap
		// passes it on only when it carries controls).
		done = true
		ctls = resp.Controls()
	}
	if err := resp.Err(); err != nil {
		err = fmt.Errorf("search %q under %q (page %d): %w", req.Filter, base, pageNo, err)
		if isNetworkError(err) || cn.IsClosing() {
			// Packet read failures are not always typed; a closing
			// connection says what happened.
			c.drop(cn)
			err = retry.New(op, retry.Retryable, err)
		}
		return pageResult{err: classify(op, err)}
	}
	if err := ctx.Err(); err != nil {
		// SearchAsync reports cancellation as a clean end.
		return pageResult{err: retry.New(op, retry.Terminal, fmt.Errorf("search %q cancelled on page %d: %w", req.Filter, pageNo, err))}
	}
	if !done && (cn.IsClosing() || req.Scope != ScopeBase) {
		// go-ldap ends the stream silently both when the connection is
		// already closing and after a SearchResultDone without controls.
		// A paged subtree or one-level search always ends with the paging
		// control (RFC 2696 §3), so a silent end there is a failure; a
		// base-scope read (the rootDSE answers without it) is one only if
		// the connection is going away.
		c.drop(cn)
		return pageResult{err: retry.New(op, retry.Retryable, fmt.Errorf("search %q: connection closed before the server finished page %d", req.Filter, pageNo))}
	}
	if pc, ok := ldap.FindControl(ctls, ldap.ControlTypePaging).(*ldap.ControlPaging); ok {
		out.cookie = pc.Cookie
	}
	return out
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
