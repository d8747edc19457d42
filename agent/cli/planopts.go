package cli

import (
	"context"
	"log/slog"
	"time"

	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/agent/config"
	"github.com/hybridsync/hybridsync/agent/reconciler"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// The commands build their clients and plans through agent/reconciler, as
// the service does.

func adConfig(c *config.Config, log *slog.Logger) adldap.Config {
	return reconciler.ADConfig(c, log, nil)
}

func cloudTenant(c *config.Config, log *slog.Logger, observe func(op, result string, d time.Duration)) (cloud.Tenant, error) {
	return reconciler.Tenant(c, log, reconciler.Observers{Graph: observe, Exchange: observe})
}

func buildPlan(ctx context.Context, cfg *config.Config, cfgPath string, log *slog.Logger, allowDeletes, allowChanges bool) (plan.Plan, plan.ADSnapshot, error) {
	return reconciler.BuildPlan(ctx, cfg, cfgPath, log, allowDeletes, allowChanges)
}
