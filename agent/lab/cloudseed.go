package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hybridsync/hybridsync/agent/config"
	"github.com/hybridsync/hybridsync/agent/setup"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/retry"
)

// Tenant returns the lab's tenant through the product's own clients
// (msgraph-sdk-go and the Exchange Online client, built by agent/setup from
// the lab's hybridsync.yaml).
func (s *State) Tenant(log *slog.Logger) (cloud.Tenant, error) {
	path := s.Env()[EnvConfig]
	cfg, err := config.Load(path)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	st, err := setup.New(cfg, path, log, setup.Observers{})
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	t, err := st.Tenant()
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	return t, nil
}

// seedCloud makes the tenant's half of the lab's hybrid mail flow, once:
// the cloud-only list Manifest.CloudDL with its members, created with the
// Exchange Online client (which gives it its routing address, the target
// of the seeded routing contact). It needs the first sync cycle done (the
// members are synced users). Labs seeded before the list existed have no
// CloudDL and get nothing.
func seedCloud(ctx context.Context, s *State, log *slog.Logger) error {
	m := s.Manifest
	if m == nil || m.CloudDL == "" {
		return nil
	}
	t, err := s.Tenant(log)
	if err != nil {
		return err
	}
	ex := t.Exchange()
	_, err = ex.GetRecipient(ctx, m.CloudDL)
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, retry.ErrNotFound):
		return fmt.Errorf("lab: look for the cloud list %s: %w", m.CloudDL, err)
	}
	if _, err := ex.NewDistributionGroup(ctx, cloud.NewDistributionGroup{Name: m.CloudDLName, DisplayName: m.CloudDLName, Alias: m.CloudDLAlias,
		PrimarySMTPAddress: m.CloudDL, Type: "Distribution", Members: m.CloudDLMembers}); err != nil {
		return fmt.Errorf("lab: create the cloud list %s: %w", m.CloudDL, err)
	}
	log.Info("lab: cloud-only list created in the tenant", "name", m.CloudDLName, "members", len(m.CloudDLMembers))
	return nil
}
