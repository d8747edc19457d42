package apply

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/internal/clock"
	"github.com/hybridsync/hybridsync/internal/retry"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// Verification is what the tenant showed for one applied action.
type Verification struct {
	Action plan.Action `json:"action"`
	// Verified is true when the cloud twin's mail is the action's mail and
	// its proxyAddresses hold it as the primary ("SMTP:" + mail).
	Verified bool `json:"verified"`
	// Seen describes the cloud object as last read ("" when not found).
	Seen string `json:"seen,omitempty"`
}

// VerifyOptions bound Verify's wait.
type VerifyOptions struct {
	// Timeout is the longest wait for the next sync cycle; it should cover
	// one sync interval (Entra Connect's default is 30 minutes).
	Timeout time.Duration
	// Interval is the time between reads of the tenant (jittered by up to
	// 10%); 0 means 30 seconds.
	Interval time.Duration
	// Clock times the waits; nil means the system clock.
	Clock clock.Clock
}

// Verify waits, up to opts.Timeout, until the tenant shows each applied
// action's mail as its object's primary address: the proof that the fix
// reached the cloud through a sync cycle. Each round reads only the
// objects not yet verified, one filtered listing each
// (proxyAddresses/any(p:p eq 'SMTP:...'), the literal built with
// cloud.Quote). A user's twin is the holder whose onPremisesImmutableId is
// the outcome's ImmutableID (computed by Apply, with the configured source
// anchor, from the object it wrote); another holder of the address is not
// it. It returns every action's verification;
// an error means ctx ended or a read failed in a way retrying will not fix
// (a retryable failure only skips that object's round).
func Verify(ctx context.Context, t cloud.Tenant, applied []Outcome, opts VerifyOptions) ([]Verification, error) {
	if opts.Interval <= 0 {
		opts.Interval = 30 * time.Second
	}
	after := clock.Or(opts.Clock).After
	out := make([]Verification, len(applied))
	for i, o := range applied {
		out[i].Action = o.Action
	}
	// The deadline also cancels a round in flight.
	deadline := after(opts.Timeout)
	vctx, cancel := context.WithCancel(ctx)
	defer cancel()
	expired := make(chan struct{})
	go func() {
		select {
		case <-deadline:
			close(expired)
			cancel()
		case <-vctx.Done():
		}
	}()
	for {
		// A timer and a cancellation can be ready together: never start a
		// round after ctx ended.
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("verify: %w", err)
		}
		left := 0
		for i, o := range applied {
			if out[i].Verified {
				continue
			}
			v, err := verifyOne(vctx, t, o)
			switch {
			case err == nil:
			case ctx.Err() != nil:
				return out, fmt.Errorf("verify: %w", ctx.Err())
			case vctx.Err() != nil:
				return out, nil // the deadline passed mid-round
			case retry.ClassOf(err) == retry.Retryable:
				// The tenant is busy or away: try again next round.
				left++
				continue
			default:
				return out, err
			}
			out[i] = v
			if !v.Verified {
				left++
			}
		}
		if left == 0 {
			return out, nil
		}
		wait := opts.Interval + time.Duration(rand.Int64N(int64(opts.Interval/10)+1))
		select {
		case <-ctx.Done():
			return out, fmt.Errorf("verify: %w", ctx.Err())
		case <-expired:
			return out, nil
		case <-after(wait):
		}
	}
}

func verifyOne(ctx context.Context, t cloud.Tenant, o Outcome) (Verification, error) {
	v := Verification{Action: o.Action}
	if o.Action.Kind == plan.ActionMigratedListAddress {
		// An on-premises dynamic list is never synced: the write itself
		// was the fix, and there is no cloud twin to show it.
		v.Verified, v.Seen = true, "not synced: an on-premises dynamic list"
		return v, nil
	}
	primary := "SMTP:" + o.Action.Mail
	filter := "proxyAddresses/any(p:p eq " + cloud.Quote(primary) + ")"
	// Graph shows onPremisesImmutableId on users only.
	anchor := ""
	if o.Kind == ad.KindUser || o.Kind == "" {
		anchor = o.ImmutableID
	}
	kind, ok := plan.CloudKind(o.Kind)
	if !ok {
		kind = cloud.KindUser
	}
	_, err := t.List(ctx, kind, cloud.ListOptions{Filter: filter}, func(c *cloud.Object) error {
		if anchor != "" && c.OnPremisesImmutableID != "" && c.OnPremisesImmutableID != anchor {
			return nil // another object holds the address: not our twin
		}
		v.Seen = fmt.Sprintf("%s %s mail=%s", c.Kind, c.ID, c.Mail)
		for _, p := range c.ProxyAddresses {
			// "SMTP:" marks the primary exactly; the address itself is
			// compared as Exchange does, whatever its case.
			if addr, ok := strings.CutPrefix(p, "SMTP:"); ok && strings.EqualFold(addr, o.Action.Mail) && strings.EqualFold(c.Mail, o.Action.Mail) {
				v.Verified = true
			}
		}
		return nil
	})
	if err != nil {
		return v, fmt.Errorf("verify %s in the tenant: %w", o.Action.ObjectDN, err)
	}
	return v, nil
}
