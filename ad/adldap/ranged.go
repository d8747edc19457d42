package adldap

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/hybridsync/hybridsync/internal/retry"
)

// maxRangeRestarts bounds how often a ranged read starts over because the
// object changed (uSNChanged moved) between chunks.
const maxRangeRestarts = 3

// rangeInfo is a parsed "attr;range=low-high" attribute description.
type rangeInfo struct {
	low  int
	high int // -1 for "*": the last chunk
}

// parseRangedName reports whether name is attr;range=low-high (matched
// case-insensitively, as AD may echo another case) and parses the bounds.
func parseRangedName(name, attr string) (rangeInfo, bool, error) {
	prefix := attr + ";range="
	if len(name) < len(prefix) || !strings.EqualFold(name[:len(prefix)], prefix) {
		return rangeInfo{}, false, nil
	}
	lo, hi, ok := strings.Cut(name[len(prefix):], "-")
	if !ok {
		return rangeInfo{}, true, fmt.Errorf("bad range in attribute %q", name)
	}
	low, err := strconv.Atoi(lo)
	if err != nil || low < 0 {
		return rangeInfo{}, true, fmt.Errorf("bad range low bound in attribute %q", name)
	}
	if hi == "*" {
		return rangeInfo{low: low, high: -1}, true, nil
	}
	high, err := strconv.Atoi(hi)
	if err != nil || high < low {
		return rangeInfo{}, true, fmt.Errorf("bad range high bound in attribute %q", name)
	}
	return rangeInfo{low: low, high: high}, true, nil
}

// rangedAttribute finds attr's values in e, plain or ranged. ranged is nil
// when the attribute came back plain (or not at all). A ranged description
// wins over a plain one if a server sends both.
func rangedAttribute(e *ldap.Entry, attr string) (values []string, ranged *rangeInfo, err error) {
	var plain []string
	for _, a := range e.Attributes {
		if strings.EqualFold(a.Name, attr) {
			plain = a.Values
			continue
		}
		ri, ok, err := parseRangedName(a.Name, attr)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			return a.Values, &ri, nil
		}
	}
	return plain, nil, nil
}

// RangedValues reads every value of a multi-valued attribute of one object
// by explicit ranged retrieval: attr;range=0-*, then from the last high
// bound + 1, until the server answers with a high bound of "*". If the
// object's uSNChanged moves between chunks the read starts over (at most
// three times), so the values returned are one consistent version.
//
// Ref: https://learn.microsoft.com/windows/win32/adsi/attribute-range-retrieval
func (c *Client) RangedValues(ctx context.Context, dn, attr string) ([]string, error) {
	const op = "ad.RangedValues"
	for restart := 0; ; restart++ {
		vals, changed, err := c.rangedFrom(ctx, dn, attr, nil, 0, "")
		if err != nil {
			return nil, err
		}
		if !changed {
			return vals, nil
		}
		if restart >= maxRangeRestarts {
			return nil, retry.New(op, retry.Retryable, fmt.Errorf("%s of %s kept changing during ranged retrieval", attr, dn))
		}
	}
}

// completeRanged finishes an attribute the server ranged on its own in a
// search reply (real AD answers a plain "member" request with
// member;range=0-1499 for large groups). first holds the values received,
// ri their range, usn the entry's uSNChanged from the same reply.
func (c *Client) completeRanged(ctx context.Context, dn, attr string, first []string, ri rangeInfo, usn string) ([]string, error) {
	if ri.high < 0 {
		return first, nil
	}
	vals, changed, err := c.rangedFrom(ctx, dn, attr, first, ri.high+1, usn)
	if err != nil {
		return nil, err
	}
	if !changed {
		return vals, nil
	}
	// The object changed since the search page: read it whole again.
	return c.RangedValues(ctx, dn, attr)
}

// rangedFrom reads attr;range=low-* chunks, appending to acc, until the last
// chunk. It reports changed=true when uSNChanged differed from usn (or
// between chunks), in which case the values are discarded.
func (c *Client) rangedFrom(ctx context.Context, dn, attr string, acc []string, low int, usn string) ([]string, bool, error) {
	const op = "ad.RangedValues"
	for {
		req := SearchRequest{
			BaseDN:     dn,
			Scope:      ScopeBase,
			Filter:     "(objectClass=*)",
			Attributes: []string{fmt.Sprintf("%s;range=%d-*", attr, low), "uSNChanged"},
		}
		entries, err := c.searchAll(ctx, req)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %s of %s from %d: %w", op, attr, dn, low, err)
		}
		if len(entries) != 1 {
			return nil, false, retry.New(op, retry.NotFound, fmt.Errorf("%s vanished during ranged retrieval", dn))
		}
		e := entries[0]
		now := e.GetAttributeValue("uSNChanged")
		if usn != "" && now != usn {
			return nil, true, nil
		}
		usn = now
		vals, ri, err := rangedAttribute(e, attr)
		if err != nil {
			return nil, false, retry.New(op, retry.Terminal, err)
		}
		if ri == nil {
			// No ranged answer: from 0, a server that does not range (or
			// no values at all); past 0, no values beyond what we have,
			// unless the server ignored the range and sent everything.
			if low > 0 && len(vals) > 0 {
				return nil, false, retry.New(op, retry.Terminal, fmt.Errorf("asked for %s of %s from %d, server answered with the whole attribute", attr, dn, low))
			}
			return append(acc, vals...), false, nil
		}
		if ri.low != low {
			return nil, false, retry.New(op, retry.Terminal, fmt.Errorf("asked for %s of %s from %d, server answered from %d", attr, dn, low, ri.low))
		}
		acc = append(acc, vals...)
		if ri.high < 0 {
			return acc, false, nil
		}
		low = ri.high + 1
	}
}
