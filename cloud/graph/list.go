package graph

import (
	"context"
	"fmt"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/contacts"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// page is one page of a listing, whatever the kind.
type page struct {
	objects []*cloud.Object
	next    string
	delta   string
}

// advanced reports whether a $filter needs Graph's advanced query
// capabilities (ConsistencyLevel: eventual with $count=true):
// https://learn.microsoft.com/graph/aad-advanced-queries.
func advanced(filter string) bool {
	f := strings.ToLower(filter)
	return strings.Contains(f, "endswith(") || strings.Contains(f, " ne ") || strings.Contains(f, "not(") || strings.Contains(f, "not ")
}

func (c *Client) headers(filter string) *abs.RequestHeaders {
	h := abs.NewRequestHeaders()
	if advanced(filter) {
		h.Add("ConsistencyLevel", "eventual")
	}
	return h
}

// fetchPage reads the first page of kind (next == "") or the page at next.
func (c *Client) fetchPage(ctx context.Context, kind cloud.Kind, opts cloud.ListOptions, next string) (page, error) {
	top := int32(c.cfg.PageSize)
	var filter *string
	if opts.Filter != "" {
		filter = &opts.Filter
	}
	var count *bool
	if advanced(opts.Filter) {
		t := true
		count = &t
	}
	var out page
	switch kind {
	case cloud.KindUser:
		b := users.NewUsersRequestBuilderInternal(map[string]string{}, c.adapter)
		if next != "" {
			b = users.NewUsersRequestBuilder(next, c.adapter)
		}
		resp, err := b.Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
			Headers:         c.headers(opts.Filter),
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: userFields, Top: &top, Filter: filter, Count: count},
		})
		if err != nil {
			return out, err
		}
		for _, u := range resp.GetValue() {
			out.objects = append(out.objects, fromUser(u))
		}
		out.next = str(resp.GetOdataNextLink())
	case cloud.KindGroup:
		b := groups.NewGroupsRequestBuilderInternal(map[string]string{}, c.adapter)
		if next != "" {
			b = groups.NewGroupsRequestBuilder(next, c.adapter)
		}
		resp, err := b.Get(ctx, &groups.GroupsRequestBuilderGetRequestConfiguration{
			Headers:         c.headers(opts.Filter),
			QueryParameters: &groups.GroupsRequestBuilderGetQueryParameters{Select: groupFields, Top: &top, Filter: filter, Count: count},
		})
		if err != nil {
			return out, err
		}
		for _, g := range resp.GetValue() {
			out.objects = append(out.objects, fromGroup(g))
		}
		out.next = str(resp.GetOdataNextLink())
	case cloud.KindContact:
		b := contacts.NewContactsRequestBuilderInternal(map[string]string{}, c.adapter)
		if next != "" {
			b = contacts.NewContactsRequestBuilder(next, c.adapter)
		}
		resp, err := b.Get(ctx, &contacts.ContactsRequestBuilderGetRequestConfiguration{
			Headers:         c.headers(opts.Filter),
			QueryParameters: &contacts.ContactsRequestBuilderGetQueryParameters{Select: contactFields, Top: &top, Filter: filter, Count: count},
		})
		if err != nil {
			return out, err
		}
		for _, ct := range resp.GetValue() {
			out.objects = append(out.objects, fromContact(ct))
		}
		out.next = str(resp.GetOdataNextLink())
	default:
		return out, retry.New("graph.List", retry.Terminal, fmt.Errorf("unknown kind %q", kind))
	}
	return out, nil
}

// List streams every object of kind to fn, page by page.
//
// Ref: https://learn.microsoft.com/graph/api/user-list
func (c *Client) List(ctx context.Context, kind cloud.Kind, opts cloud.ListOptions, fn func(*cloud.Object) error) (cloud.ReadResult, error) {
	op := "List " + string(kind)
	var res cloud.ReadResult
	next := ""
	seen := map[string]bool{}
	for {
		var p page
		err := c.do(ctx, op, func(ctx context.Context) error {
			var err error
			p, err = c.fetchPage(ctx, kind, opts, next)
			return err
		})
		res.Requests++
		if err != nil {
			return res, fmt.Errorf("graph.%s: listing incomplete after %d objects: %w", op, res.Objects, err)
		}
		if opts.Members && kind == cloud.KindGroup && len(p.objects) > 0 {
			ids := make([]string, len(p.objects))
			for i, o := range p.objects {
				ids[i] = o.ID
			}
			members, n, err := c.membersBatch(ctx, ids)
			res.Requests += n
			if err != nil {
				return res, fmt.Errorf("graph.%s: listing incomplete after %d objects: %w", op, res.Objects, err)
			}
			for _, o := range p.objects {
				o.Members = members[o.ID]
			}
		}
		for _, o := range p.objects {
			if err := fn(o); err != nil {
				return res, err
			}
			res.Objects++
		}
		if p.next == "" {
			res.Complete = true
			return res, nil
		}
		if seen[p.next] {
			return res, retry.New("graph."+op, retry.Terminal, fmt.Errorf("the server sent the same nextLink twice: %s", p.next))
		}
		seen[p.next] = true
		next = p.next
	}
}

// Get reads one object. A not-found answer is re-read a few times before
// it is reported, since Graph may not yet show an object created moments
// ago (https://learn.microsoft.com/graph/best-practices-concept#handling-expected-errors).
func (c *Client) Get(ctx context.Context, kind cloud.Kind, id string) (*cloud.Object, error) {
	op := "Get " + string(kind)
	for attempt := 0; ; attempt++ {
		out, err := c.getOnce(ctx, op, kind, id)
		if retry.ClassOf(err) != retry.NotFound || attempt >= c.cfg.NotFoundRetries {
			if err != nil && retry.ClassOf(err) == retry.NotFound {
				return nil, retry.New("graph."+op, retry.NotFound, fmt.Errorf("%s %s not found after %d reads: %w", kind, id, attempt+1, err))
			}
			return out, err
		}
		if serr := retry.Sleep(ctx, c.clock(), time.Second<<attempt); serr != nil {
			return nil, fmt.Errorf("graph.%s %s: %w (last error: %v)", op, id, serr, err)
		}
	}
}

// Lookup reads one object once: a not-found answer is reported at once,
// for a check that waits for an object to be deleted and must see the
// deletion the moment Graph shows it.
func (c *Client) Lookup(ctx context.Context, kind cloud.Kind, id string) (*cloud.Object, error) {
	return c.getOnce(ctx, "Get "+string(kind), kind, id)
}

// getOnce is one read of an object (retried only as the client's retry
// policy retries any request).
func (c *Client) getOnce(ctx context.Context, op string, kind cloud.Kind, id string) (*cloud.Object, error) {
	var out *cloud.Object
	err := c.do(ctx, op, func(ctx context.Context) error {
		switch kind {
		case cloud.KindUser:
			u, err := users.NewUserItemRequestBuilderInternal(map[string]string{"user%2Did": id}, c.adapter).Get(ctx,
				&users.UserItemRequestBuilderGetRequestConfiguration{QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: userFields}})
			if err != nil {
				return err
			}
			out = fromUser(u)
		case cloud.KindGroup:
			g, err := groups.NewGroupItemRequestBuilderInternal(map[string]string{"group%2Did": id}, c.adapter).Get(ctx,
				&groups.GroupItemRequestBuilderGetRequestConfiguration{QueryParameters: &groups.GroupItemRequestBuilderGetQueryParameters{Select: groupFields}})
			if err != nil {
				return err
			}
			out = fromGroup(g)
		case cloud.KindContact:
			ct, err := contacts.NewOrgContactItemRequestBuilderInternal(map[string]string{"orgContact%2Did": id}, c.adapter).Get(ctx,
				&contacts.OrgContactItemRequestBuilderGetRequestConfiguration{QueryParameters: &contacts.OrgContactItemRequestBuilderGetQueryParameters{Select: contactFields}})
			if err != nil {
				return err
			}
			out = fromContact(ct)
		default:
			return retry.New("graph."+op, retry.Terminal, fmt.Errorf("unknown kind %q", kind))
		}
		return nil
	})
	return out, err
}

// Members lists a group's direct members (id and kind).
//
// Ref: https://learn.microsoft.com/graph/api/group-list-members
func (c *Client) Members(ctx context.Context, groupID string) ([]cloud.Member, error) {
	out, _, err := c.membersFrom(ctx, groupID, "")
	return out, err
}

// membersFrom lists members from the first page (next == "") or from a
// nextLink, and counts its requests.
func (c *Client) membersFrom(ctx context.Context, groupID, next string) ([]cloud.Member, int, error) {
	const op = "Members"
	top := int32(c.cfg.PageSize)
	var out []cloud.Member
	requests := 0
	seen := map[string]bool{}
	for {
		var (
			items []cloud.Member
			link  string
		)
		err := c.do(ctx, op, func(ctx context.Context) error {
			b := groups.NewItemMembersRequestBuilderInternal(map[string]string{"group%2Did": groupID}, c.adapter)
			var cfg *groups.ItemMembersRequestBuilderGetRequestConfiguration
			if next != "" {
				b = groups.NewItemMembersRequestBuilder(next, c.adapter)
			} else {
				cfg = &groups.ItemMembersRequestBuilderGetRequestConfiguration{
					QueryParameters: &groups.ItemMembersRequestBuilderGetQueryParameters{Select: []string{"id"}, Top: &top},
				}
			}
			resp, err := b.Get(ctx, cfg)
			if err != nil {
				return err
			}
			items = items[:0]
			for _, m := range resp.GetValue() {
				items = append(items, cloud.Member{ID: str(m.GetId()), Kind: kindOfODataType(str(m.GetOdataType()))})
			}
			link = str(resp.GetOdataNextLink())
			return nil
		})
		requests++
		if err != nil {
			return nil, requests, fmt.Errorf("graph.%s %s: %w", op, groupID, err)
		}
		out = append(out, items...)
		if link == "" {
			return out, requests, nil
		}
		if seen[link] {
			return nil, requests, retry.New("graph."+op, retry.Terminal, fmt.Errorf("members of %s: the server sent the same nextLink twice", groupID))
		}
		seen[link] = true
		next = link
	}
}
