package graph

import (
	"context"
	"fmt"
	"net/http"

	"github.com/microsoftgraph/msgraph-sdk-go/contacts"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// deltaPage reads the first delta page of kind (link == "") or the page at
// link (a nextLink or a stored deltaLink).
func (c *Client) deltaPage(ctx context.Context, kind cloud.Kind, link string) (page, error) {
	var out page
	switch kind {
	case cloud.KindUser:
		b := users.NewDeltaRequestBuilderInternal(map[string]string{}, c.adapter)
		var cfg *users.DeltaRequestBuilderGetRequestConfiguration
		if link != "" {
			b = users.NewDeltaRequestBuilder(link, c.adapter)
		} else {
			cfg = &users.DeltaRequestBuilderGetRequestConfiguration{QueryParameters: &users.DeltaRequestBuilderGetQueryParameters{Select: userFields}}
		}
		resp, err := b.GetAsDeltaGetResponse(ctx, cfg)
		if err != nil {
			return out, err
		}
		for _, u := range resp.GetValue() {
			out.objects = append(out.objects, fromUser(u))
		}
		out.next, out.delta = str(resp.GetOdataNextLink()), str(resp.GetOdataDeltaLink())
	case cloud.KindGroup:
		b := groups.NewDeltaRequestBuilderInternal(map[string]string{}, c.adapter)
		var cfg *groups.DeltaRequestBuilderGetRequestConfiguration
		if link != "" {
			b = groups.NewDeltaRequestBuilder(link, c.adapter)
		} else {
			cfg = &groups.DeltaRequestBuilderGetRequestConfiguration{QueryParameters: &groups.DeltaRequestBuilderGetQueryParameters{Select: groupFields}}
		}
		resp, err := b.GetAsDeltaGetResponse(ctx, cfg)
		if err != nil {
			return out, err
		}
		for _, g := range resp.GetValue() {
			out.objects = append(out.objects, fromGroup(g))
		}
		out.next, out.delta = str(resp.GetOdataNextLink()), str(resp.GetOdataDeltaLink())
	case cloud.KindContact:
		b := contacts.NewDeltaRequestBuilderInternal(map[string]string{}, c.adapter)
		var cfg *contacts.DeltaRequestBuilderGetRequestConfiguration
		if link != "" {
			b = contacts.NewDeltaRequestBuilder(link, c.adapter)
		} else {
			cfg = &contacts.DeltaRequestBuilderGetRequestConfiguration{QueryParameters: &contacts.DeltaRequestBuilderGetQueryParameters{Select: contactFields}}
		}
		resp, err := b.GetAsDeltaGetResponse(ctx, cfg)
		if err != nil {
			return out, err
		}
		for _, ct := range resp.GetValue() {
			out.objects = append(out.objects, fromContact(ct))
		}
		out.next, out.delta = str(resp.GetOdataNextLink()), str(resp.GetOdataDeltaLink())
	default:
		return out, retry.New("graph.Delta", retry.Terminal, fmt.Errorf("unknown kind %q", kind))
	}
	return out, nil
}

// Delta streams the changes to objects of kind since deltaLink, following
// nextLink until Graph hands out the next deltaLink. An expired or unknown
// link (410 Gone, syncStateNotFound) starts a full round, reported as Full
// with the reason: the caller must then treat objects it did not see as
// unknown, not unchanged. Objects deleted since the last round carry
// Removed. Graph may replay a change; callers must be idempotent.
//
// Ref: https://learn.microsoft.com/graph/delta-query-overview
func (c *Client) Delta(ctx context.Context, kind cloud.Kind, deltaLink string, fn func(*cloud.Object) error) (cloud.DeltaResult, error) {
	op := "Delta " + string(kind)
	out := cloud.DeltaResult{Full: deltaLink == ""}
	if out.Full {
		out.Reason = "no stored delta link"
	}
	link := deltaLink
	seen := map[string]bool{}
	restarted := false
	for {
		var p page
		err := c.do(ctx, op, func(ctx context.Context) error {
			var err error
			p, err = c.deltaPage(ctx, kind, link)
			return err
		})
		out.Requests++
		if status, _ := statusOf(err); status == http.StatusGone && !restarted {
			// The sync state expired, on the stored link or on a nextLink
			// mid-round: start over, once. Objects already passed to fn
			// are passed again; callers must be idempotent anyway.
			c.cfg.Logger.Warn("graph: delta state expired; full resync", "kind", string(kind))
			requests := out.Requests
			out = cloud.DeltaResult{Full: true, Reason: "delta state expired (410 Gone): full resync", Restarted: out.Objects > 0}
			out.Requests = requests
			link, restarted = "", true
			clear(seen)
			continue
		}
		if err != nil {
			out.Complete = false
			return out, fmt.Errorf("graph.%s: round incomplete after %d objects: %w", op, out.Objects, err)
		}
		for _, o := range p.objects {
			if err := fn(o); err != nil {
				return out, err
			}
			out.Objects++
		}
		switch {
		case p.delta != "":
			out.DeltaLink, out.Complete = p.delta, true
			return out, nil
		case p.next == "":
			return out, retry.New("graph."+op, retry.Terminal, fmt.Errorf("delta page had neither nextLink nor deltaLink"))
		case seen[p.next]:
			return out, retry.New("graph."+op, retry.Terminal, fmt.Errorf("the server sent the same nextLink twice"))
		}
		seen[p.next] = true
		link = p.next
	}
}
