package exo

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// changeMembers runs an Add- or Remove-DistributionGroupMember (change) for
// each member, at most Config.MemberConcurrency at once, and returns the
// members whose membership already was as asked ("is already a member",
// "isn't a member"), which count as done, in the order given. At the
// first other failure, an unknown outcome included (a Conflict: re-read,
// then call again), it hands out no further member, lets the calls in
// flight finish (cancelling them would leave more outcomes unknown) and
// returns that failure, saying how many members were done.
//
// Each call goes through Invoke, so a throttled call waits for its
// Retry-After; the client's throttle gate (see Client.holdForThrottle)
// makes the other workers wait with it instead of piling on more
// requests the service will refuse.
func (c *Client) changeMembers(ctx context.Context, cmdlet, identity string, members []string, change func(ctx context.Context, identity, member string) error) (asAsked []string, err error) {
	if len(members) == 0 {
		return nil, nil
	}
	verb := "adding"
	if cmdlet == cmdRemoveGroupMember {
		verb = "removing"
	}
	var (
		mu       sync.Mutex
		next     int
		done     int
		asked    []int
		firstErr error
	)
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr != nil || next >= len(members) {
			return 0, false
		}
		if err := ctx.Err(); err != nil {
			firstErr = fmt.Errorf("exo %s %q: stopped after %d of %d members: %w", cmdlet, identity, done, len(members), err)
			return 0, false
		}
		i := next
		next++
		return i, true
	}
	workers := min(max(c.cfg.MemberConcurrency, 1), len(members))
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i, ok := take()
				if !ok {
					return
				}
				err := change(ctx, identity, members[i])
				mu.Lock()
				switch {
				case err == nil:
					done++
				case isMembershipAsAsked(err):
					done++
					asked = append(asked, i)
				case firstErr == nil:
					firstErr = fmt.Errorf("%s members: %d of %d done, stopped at member %d: %w", verb, done, len(members), i+1, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(asked)
	for _, i := range asked {
		asAsked = append(asAsked, members[i])
	}
	return asAsked, firstErr
}
