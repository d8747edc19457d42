package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"

	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/reconcile/retry"
)

// maxBatch is Graph's limit of requests per $batch
// (https://learn.microsoft.com/graph/json-batching).
const maxBatch = 20

type batchRequest struct {
	ID     string `json:"id"`
	Method string `json:"method"`
	URL    string `json:"url"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

type memberPage struct {
	Value []struct {
		ID   string `json:"id"`
		Type string `json:"@odata.type"`
	} `json:"value"`
	Next string `json:"@odata.nextLink"`
}

// membersBatch reads the members of many groups with $batch, 20 groups per
// request, then follows each group's nextLink alone. Items throttled or
// unavailable inside a batch (Graph throttles items one by one) are sent
// again in the next round after the largest Retry-After among them, within
// the client's retry bound; any other item failure fails the read.
func (c *Client) membersBatch(ctx context.Context, groupIDs []string) (map[string][]cloud.Member, int, error) {
	const op = "MembersBatch"
	out := make(map[string][]cloud.Member, len(groupIDs))
	next := map[string]string{}
	requests := 0
	pending := append([]string(nil), groupIDs...)
	clock := c.cfg.Retry.Clock
	if clock == nil {
		clock = retry.SystemClock{}
	}
	for round := 1; len(pending) > 0; round++ {
		if round > c.cfg.Retry.MaxAttempts {
			return nil, requests, retry.New("graph."+op, retry.Retryable, fmt.Errorf("members of %d groups still throttled after %d rounds", len(pending), round-1))
		}
		var again []string
		var wait time.Duration
		for start := 0; start < len(pending); start += maxBatch {
			chunk := pending[start:min(start+maxBatch, len(pending))]
			body := struct {
				Requests []batchRequest `json:"requests"`
			}{}
			for i, id := range chunk {
				body.Requests = append(body.Requests, batchRequest{ID: strconv.Itoa(i), Method: "GET",
					URL: "/groups/" + id + "/members?$select=id&$top=" + strconv.Itoa(c.cfg.PageSize)})
			}
			var resp struct {
				Responses []batchResponse `json:"responses"`
			}
			err := c.do(ctx, op, func(ctx context.Context) error {
				return c.rawJSON(ctx, abs.POST, c.v1+"/$batch", body, &resp)
			})
			requests++
			if err != nil {
				return nil, requests, fmt.Errorf("graph.%s: %w", op, err)
			}
			seen := 0
			for _, r := range resp.Responses {
				i, err := strconv.Atoi(r.ID)
				if err != nil || i < 0 || i >= len(chunk) {
					return nil, requests, retry.New("graph."+op, retry.Terminal, fmt.Errorf("$batch answered unknown item id %q", r.ID))
				}
				seen++
				gid := chunk[i]
				switch {
				case r.Status == http.StatusTooManyRequests || r.Status == http.StatusServiceUnavailable || r.Status == http.StatusGatewayTimeout:
					again = append(again, gid)
					if s, err := strconv.Atoi(headerValue(r.Headers, "Retry-After")); err == nil && time.Duration(s)*time.Second > wait {
						wait = time.Duration(s) * time.Second
					}
				case r.Status >= 400:
					class := retry.Terminal
					if r.Status == http.StatusNotFound {
						class = retry.NotFound
					}
					return nil, requests, retry.New("graph."+op, class, fmt.Errorf("members of group %s: HTTP %d: %s", gid, r.Status, strings.TrimSpace(string(r.Body))))
				default:
					var p memberPage
					if err := json.Unmarshal(r.Body, &p); err != nil {
						return nil, requests, retry.New("graph."+op, retry.Terminal, fmt.Errorf("members of group %s: %w", gid, err))
					}
					for _, m := range p.Value {
						out[gid] = append(out[gid], cloud.Member{ID: m.ID, Kind: kindOfODataType(m.Type)})
					}
					if p.Next != "" {
						next[gid] = p.Next
					}
				}
			}
			if seen != len(chunk) {
				return nil, requests, retry.New("graph."+op, retry.Terminal, fmt.Errorf("$batch answered %d of %d items", seen, len(chunk)))
			}
		}
		pending = again
		if len(pending) > 0 {
			if wait <= 0 {
				wait = c.cfg.Retry.Backoff(round)
			}
			select {
			case <-ctx.Done():
				return nil, requests, ctx.Err()
			case <-clock.After(wait):
			}
		}
	}
	for gid, link := range next {
		rest, n, err := c.membersFrom(ctx, gid, link)
		requests += n
		if err != nil {
			return nil, requests, err
		}
		out[gid] = append(out[gid], rest...)
	}
	return out, requests, nil
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}
