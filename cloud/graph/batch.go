package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"

	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// maxBatch is Graph's limit of requests per $batch
// (https://learn.microsoft.com/graph/json-batching).
const maxBatch = 20

type batchRequest struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Body    any               `json:"body,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// sendBatch sends reqs (ids must be unique) to base + "/$batch" in
// requests of at most 20 and returns the final response of each item.
// Graph throttles $batch items one by one: items answered 429, 503 or 504
// are sent again in a later round, after the largest Retry-After among
// them, for at most Retry.MaxAttempts rounds; their last answer is
// returned. The $batch request itself goes through the client's retry
// loop. Only use it for idempotent requests (GETs, PATCHes that set a
// value, revokeSignInSessions).
func (c *Client) sendBatch(ctx context.Context, op, base string, reqs []batchRequest) (map[string]batchResponse, int, error) {
	out := make(map[string]batchResponse, len(reqs))
	requests := 0
	pending := reqs
	clk := c.clock()
	for round := 1; len(pending) > 0; round++ {
		var again []batchRequest
		var wait time.Duration
		for start := 0; start < len(pending); start += maxBatch {
			chunk := pending[start:min(start+maxBatch, len(pending))]
			body := struct {
				Requests []batchRequest `json:"requests"`
			}{chunk}
			var resp struct {
				Responses []batchResponse `json:"responses"`
			}
			err := c.do(ctx, op, func(ctx context.Context) error {
				return c.rawJSON(ctx, abs.POST, base+"/$batch", body, &resp)
			})
			requests++
			if err != nil {
				return nil, requests, fmt.Errorf("graph.%s: %w", op, err)
			}
			byID := make(map[string]batchRequest, len(chunk))
			for _, r := range chunk {
				byID[r.ID] = r
			}
			for _, r := range resp.Responses {
				req, ok := byID[r.ID]
				if !ok {
					return nil, requests, retry.New("graph."+op, retry.Terminal, fmt.Errorf("$batch answered unknown item id %q", r.ID))
				}
				delete(byID, r.ID)
				out[r.ID] = r
				if r.Status == http.StatusTooManyRequests || r.Status == http.StatusServiceUnavailable || r.Status == http.StatusGatewayTimeout {
					again = append(again, req)
					if d := retry.ParseRetryAfter(headerValue(r.Headers, "Retry-After"), clk.Now()); d > wait {
						wait = d
					}
				}
			}
			if len(byID) > 0 {
				return nil, requests, retry.New("graph."+op, retry.Terminal, fmt.Errorf("$batch left %d of %d items unanswered", len(byID), len(chunk)))
			}
		}
		if len(again) == 0 || round >= c.cfg.Retry.MaxAttempts {
			return out, requests, nil
		}
		pending = again
		if wait <= 0 {
			wait = c.cfg.Retry.Backoff(round)
		}
		if c.cfg.Retry.MaxRetryAfter > 0 && wait > c.cfg.Retry.MaxRetryAfter {
			return out, requests, nil
		}
		if err := retry.Sleep(ctx, clk, wait); err != nil {
			return nil, requests, fmt.Errorf("graph.%s: %w", op, err)
		}
	}
	return out, requests, nil
}

// itemError turns a failed batch item into a classified error.
func itemError(op string, r batchResponse, now time.Time) error {
	if r.Status < 400 {
		return nil
	}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &body)
	msg := fmt.Errorf("HTTP %d: %s: %s", r.Status, body.Error.Code, body.Error.Message)
	switch {
	case r.Status == http.StatusTooManyRequests || r.Status >= 500:
		e := retry.New(op, retry.Retryable, msg)
		e.RetryAfter = retry.ParseRetryAfter(headerValue(r.Headers, "Retry-After"), now)
		return e
	case r.Status == http.StatusNotFound:
		return retry.New(op, retry.NotFound, msg)
	case r.Status == http.StatusConflict || r.Status == http.StatusPreconditionFailed:
		return retry.New(op, retry.Conflict, msg)
	default:
		return retry.New(op, retry.Terminal, msg)
	}
}

type memberPage struct {
	Value []struct {
		ID   string `json:"id"`
		Type string `json:"@odata.type"`
	} `json:"value"`
	Next string `json:"@odata.nextLink"`
}

// membersBatch reads the members of many groups: the first page of each
// in $batch requests of 20, then each group's further pages alone.
func (c *Client) membersBatch(ctx context.Context, groupIDs []string) (map[string][]cloud.Member, int, error) {
	const op = "MembersBatch"
	reqs := make([]batchRequest, len(groupIDs))
	for i, id := range groupIDs {
		reqs[i] = batchRequest{ID: strconv.Itoa(i), Method: "GET",
			URL: "/groups/" + url.PathEscape(id) + "/members?$select=id&$top=" + strconv.Itoa(c.cfg.PageSize)}
	}
	resps, requests, err := c.sendBatch(ctx, op, c.v1, reqs)
	if err != nil {
		return nil, requests, err
	}
	out := make(map[string][]cloud.Member, len(groupIDs))
	for i, gid := range groupIDs {
		r := resps[strconv.Itoa(i)]
		if r.Status == http.StatusNotFound {
			// Deleted between its page and this read: it has no members
			// to report, and its absence shows in the next listing.
			out[gid] = nil
			continue
		}
		if err := itemError("graph."+op, r, c.clock().Now()); err != nil {
			return nil, requests, fmt.Errorf("members of group %s: %w", gid, err)
		}
		var p memberPage
		if err := json.Unmarshal(r.Body, &p); err != nil {
			return nil, requests, retry.New("graph."+op, retry.Terminal, fmt.Errorf("members of group %s: %w", gid, err))
		}
		for _, m := range p.Value {
			out[gid] = append(out[gid], cloud.Member{ID: m.ID, Kind: kindOfODataType(m.Type)})
		}
		if p.Next != "" {
			rest, n, err := c.membersFrom(ctx, gid, p.Next)
			requests += n
			if err != nil {
				return nil, requests, err
			}
			out[gid] = append(out[gid], rest...)
		}
	}
	return out, requests, nil
}

// RevokeSignInSessionsBatch revokes the sign-in sessions of many users in
// $batch requests of 20, retrying throttled items, and returns each user's
// error (no entry: revoked).
//
// Ref: https://learn.microsoft.com/graph/api/user-revokesigninsessions
func (c *Client) RevokeSignInSessionsBatch(ctx context.Context, userIDs []string) (map[string]error, error) {
	const op = "RevokeSignInSessionsBatch"
	reqs := make([]batchRequest, len(userIDs))
	for i, id := range userIDs {
		reqs[i] = batchRequest{ID: strconv.Itoa(i), Method: "POST", URL: "/users/" + url.PathEscape(id) + "/revokeSignInSessions",
			Body: map[string]any{}, Headers: map[string]string{"Content-Type": "application/json"}}
	}
	resps, _, err := c.sendBatch(ctx, op, c.v1, reqs)
	if err != nil {
		return nil, err
	}
	out := map[string]error{}
	for i, id := range userIDs {
		if err := itemError("graph."+op, resps[strconv.Itoa(i)], c.clock().Now()); err != nil {
			out[id] = fmt.Errorf("revoke sessions of %s: %w", id, err)
		}
	}
	return out, nil
}

// SetGroupSyncBehaviorBatch sets the Source of Authority of many groups
// (beta) in $batch requests of 20 and returns each group's error.
func (c *Client) SetGroupSyncBehaviorBatch(ctx context.Context, changes map[string]cloud.SyncBehavior) (map[string]error, error) {
	const op = "SetGroupSyncBehaviorBatch"
	ids := make([]string, 0, len(changes))
	for id := range changes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	reqs := make([]batchRequest, len(ids))
	for i, id := range ids {
		reqs[i] = batchRequest{ID: strconv.Itoa(i), Method: "PATCH", URL: "/groups/" + url.PathEscape(id) + "/onPremisesSyncBehavior",
			Body: changes[id], Headers: map[string]string{"Content-Type": "application/json"}}
	}
	resps, _, err := c.sendBatch(ctx, op, c.beta, reqs)
	if err != nil {
		return nil, err
	}
	out := map[string]error{}
	for i, id := range ids {
		if err := itemError("graph."+op, resps[strconv.Itoa(i)], c.clock().Now()); err != nil {
			out[id] = fmt.Errorf("set source of authority of %s: %w", id, err)
		}
	}
	return out, nil
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}
