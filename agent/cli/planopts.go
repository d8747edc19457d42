package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/agent/config"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// planOptions are the plan.Options the config's reconcile section asks for,
// with the command line's overrides.
func planOptions(cfg *config.Config, allowDeletes, allowChanges bool) (plan.Options, error) {
	r := cfg.Reconcile
	o := plan.Options{
		DeletePercent:   float64(r.Limits.MaxDeletePercent),
		ChangeThreshold: r.Limits.MaxChanges,
		ChangePercent:   float64(r.Limits.MaxChangePercent),
		AllowDeletes:    allowDeletes,
		AllowChanges:    allowChanges,
	}
	if r.Limits.MaxDeletes != nil {
		switch n := *r.Limits.MaxDeletes; {
		case n < 0:
			o.DeleteThreshold = -1
		case n > 0:
			o.DeleteThreshold = n
		}
		// 0 (no deletes at all) is checked by checkNoDeletes: plan counts
		// 0 as its default.
	}
	if strings.EqualFold(r.SourceAnchor, config.SourceAnchorConsistencyGUID) {
		return o, fmt.Errorf("reconcile.source_anchor %s: this version reads only objectGUID as the source anchor", r.SourceAnchor)
	}
	if attr := r.CertificateUserIDsAttribute; attr != "" {
		key, ok := extensionAttribute(attr)
		if !ok {
			return o, fmt.Errorf("reconcile.certificate_user_ids_attribute %s: this version reads certificateUserIds sources from extensionAttribute1 to extensionAttribute15 only", attr)
		}
		o.CertificateUserIDsAttr = key
		o.CertificateUserIDs = func(rc *ad.Recipient) []string {
			if v := rc.ExtensionAttributes[key]; v != "" {
				return []string{v}
			}
			return nil
		}
	}
	return o, nil
}

// extensionAttribute returns the canonical extensionAttributeN name.
func extensionAttribute(attr string) (string, bool) {
	for i := 1; i <= 15; i++ {
		name := fmt.Sprintf("extensionAttribute%d", i)
		if strings.EqualFold(attr, name) {
			return name, true
		}
	}
	return "", false
}

// errNoDeletes is the refusal of reconcile.limits.max_deletes: 0.
var errNoDeletes = errors.New("reconcile.limits.max_deletes is 0 (no deletes at all)")

func checkNoDeletes(cfg *config.Config, p plan.Plan, allowDeletes bool) error {
	if m := cfg.Reconcile.Limits.MaxDeletes; m != nil && *m == 0 && p.Summary.Deletes > 0 && !allowDeletes {
		return fmt.Errorf("%w: %w, and the next sync would delete %d cloud objects (--allow-deletes accepts it)", plan.ErrLimitExceeded, errNoDeletes, p.Summary.Deletes)
	}
	return nil
}

// inScope returns the reconcile.scope predicate over a plan's findings:
// an object is in scope when it lies under one of scope.ous, is of one of
// scope.kinds and has its mail in one of scope.domains (each only when
// set). Objects the AD read does not hold (cloud orphans) are judged by
// their DN alone.
func inScope(cfg *config.Config, as plan.ADSnapshot) func(dn, guid string) bool {
	sc := cfg.Reconcile.Scope
	allKinds := len(sc.Kinds) == 0 || len(sc.Kinds) == 3
	if len(sc.OUs) == 0 && allKinds && len(sc.Domains) == 0 {
		return nil
	}
	byGUID := make(map[string]*ad.Recipient, len(as.Objects))
	for _, r := range as.Objects {
		byGUID[strings.ToLower(r.GUID)] = r
	}
	return func(dn, guid string) bool {
		r := byGUID[strings.ToLower(guid)]
		if r != nil {
			dn = r.DN
		}
		if len(sc.OUs) > 0 && (dn == "" || !slices.ContainsFunc(sc.OUs, func(ou string) bool { return ad.IsUnder(dn, ou) })) {
			return false
		}
		if r == nil {
			return true
		}
		if !allKinds && !slices.Contains(sc.Kinds, string(r.Kind)) {
			return false
		}
		if len(sc.Domains) > 0 {
			_, dom, _ := strings.Cut(strings.ToLower(r.Mail), "@")
			return slices.Contains(sc.Domains, dom)
		}
		return true
	}
}

// buildPlan reads both sides and builds the plan the config asks for,
// narrowed to reconcile.scope. A *plan.LimitError is returned with the
// plan (whose Refused says why); any other error without one.
func buildPlan(ctx context.Context, cfg *config.Config, cfgPath string, log *slog.Logger, allowDeletes, allowChanges bool) (plan.Plan, plan.ADSnapshot, error) {
	opts, err := planOptions(cfg, allowDeletes, allowChanges)
	if err != nil {
		return plan.Plan{}, plan.ADSnapshot{}, err
	}
	as, cs, err := snapshots(ctx, cfg, log)
	if err != nil {
		return plan.Plan{}, as, err
	}
	if len(as.Objects) == 0 {
		return plan.Plan{}, as, fmt.Errorf("no mail-enabled recipient under %s: check ad.sync_ous and ad.base_dn in %s", strings.Join(as.Scope, "; "), cfgPath)
	}
	p, err := plan.Build(as, cs, opts)
	if err != nil && !errors.Is(err, plan.ErrLimitExceeded) {
		return p, as, err
	}
	if err == nil {
		if err = checkNoDeletes(cfg, p, allowDeletes); err != nil {
			p.Refused = err.Error()
		}
	}
	if keep := inScope(cfg, as); keep != nil {
		p = p.Narrow(keep)
	}
	return p, as, err
}
