package cloud

import (
	"context"
	"errors"
	"fmt"

	"github.com/hybridsync/hybridsync/internal/retry"
)

// FindGroupBySID returns the group whose onPremisesSecurityIdentifier is
// sid: the cloud twin Entra Connect made of the on-premises group with that
// objectSid. The twin stays findable this way after a Source of Authority
// conversion (it keeps the value, with onPremisesSyncEnabled no longer
// true). It lists groups with the $filter
// onPremisesSecurityIdentifier eq '<sid>', which Graph supports on groups
// (https://learn.microsoft.com/graph/api/resources/group#properties). No
// match is a retry.NotFound error; more than one, or a listing cut short,
// a retry.Terminal one.
func FindGroupBySID(ctx context.Context, t Tenant, sid string) (*Object, error) {
	op := fmt.Sprintf("find group by onPremisesSecurityIdentifier %s", sid)
	if sid == "" {
		return nil, retry.New(op, retry.Terminal, errors.New("no SID given"))
	}
	var found []*Object
	res, err := t.List(ctx, KindGroup, ListOptions{Filter: "onPremisesSecurityIdentifier eq " + Quote(sid)}, func(o *Object) error {
		found = append(found, o)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if !res.Complete {
		return nil, retry.New(op, retry.Terminal, errors.New("the listing ended before its last page"))
	}
	switch len(found) {
	case 0:
		return nil, retry.New(op, retry.NotFound, errors.New("no group has it"))
	case 1:
		return found[0], nil
	}
	return nil, retry.New(op, retry.Terminal, fmt.Errorf("%d groups have it (%s, %s, ...)", len(found), found[0].ID, found[1].ID))
}
