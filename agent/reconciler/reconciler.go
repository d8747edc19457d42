// Package reconciler connects the config file to the product packages:
// it builds the AD and cloud clients a config describes, reads both sides
// into plan snapshots (in full, or incrementally between full reads), and
// builds the plan with the config's limits and scope. The CLI and the
// service (agent/daemon) share it, so a plan means the same thing in both.
package reconciler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/agent/config"
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/cloud/auth"
	"github.com/hybridsync/hybridsync/cloud/exo"
	"github.com/hybridsync/hybridsync/cloud/graph"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// ADConfig turns the file's AD section into the client's config; observe
// (may be nil) is told about every LDAP request.
func ADConfig(c *config.Config, log *slog.Logger, observe func(op, result string, d time.Duration)) adldap.Config {
	a := c.AD
	method := adldap.BindSimple
	if a.Bind.Method == "kerberos" {
		method = adldap.BindKerberos
	}
	pw := a.Bind.Password
	return adldap.Config{
		URLs:           a.URLs,
		BaseDN:         a.BaseDN,
		CAFile:         a.TLS.CAFile,
		ServerName:     a.TLS.ServerName,
		StartTLS:       a.TLS.UseStartTLS(),
		MinTLSVersion:  a.TLS.MinTLSVersion(),
		Method:         method,
		BindDN:         a.Bind.DN,
		Password:       pw.Resolve,
		AllowPlaintext: a.Bind.AllowPlaintext,
		Principal:      a.Bind.Kerberos.Principal,
		Realm:          a.Bind.Kerberos.Realm,
		Keytab:         a.Bind.Kerberos.Keytab,
		Krb5Conf:       a.Bind.Kerberos.Krb5Conf,
		SPN:            a.Bind.Kerberos.SPN,
		PageSize:       a.PageSize,
		Timeout:        a.Timeout.Duration,
		Logger:         log,
		Observe:        observe,
	}
}

// Observers receive one call per request of each client; any may be nil.
type Observers struct {
	Graph, Exchange func(op, result string, d time.Duration)
	// GraphRetry and ExchangeRetry are called before each retry wait.
	GraphRetry, ExchangeRetry func(attempt int, wait time.Duration, err error)
}

// session builds the azidentity session the config's cloud section
// describes.
func session(c *config.Config) (*auth.Session, error) {
	if c.Cloud.IsZero() {
		return nil, errors.New("the config has no cloud section")
	}
	cc := c.Cloud
	ac := auth.Config{
		TenantID: cc.TenantID, ClientID: cc.ClientID, Cloud: auth.Cloud(cc.NationalCloud),
		Override: auth.Endpoints{Authority: cc.Endpoints.Authority, Graph: cc.Endpoints.Graph, Exchange: cc.Endpoints.Exchange},
		CAFile:   cc.CAFile, Timeout: cc.Timeout.Duration,
	}
	if cc.Credential.ClientSecret != "" {
		ac.ClientSecret = cc.Credential.ClientSecret.Resolve
	} else {
		file := cc.Credential.Certificate.File
		ac.Certificate = func() ([]byte, error) { return os.ReadFile(file) }
		if cc.Credential.Certificate.Password != "" {
			ac.CertificatePassword = cc.Credential.Certificate.Password.Resolve
		}
	}
	return auth.NewSession(ac)
}

// CheckTokens asks the token endpoint for a Graph and an Exchange token
// with the config's credential: what `config validate` calls reachability
// of the tenant. It returns the token endpoint's authority.
func CheckTokens(ctx context.Context, c *config.Config) (string, error) {
	sess, err := session(c)
	if err != nil {
		return "", err
	}
	for _, scope := range []string{sess.Scopes.GraphScope(), sess.Scopes.ExchangeScope()} {
		if _, err := sess.Token(ctx, scope); err != nil {
			return sess.Endpoints.Authority, fmt.Errorf("token for %s: %w", scope, err)
		}
	}
	return sess.Endpoints.Authority, nil
}

// Tenant builds the Graph and Exchange clients from the config's cloud
// section.
func Tenant(c *config.Config, log *slog.Logger, obs Observers) (cloud.Tenant, error) {
	sess, err := session(c)
	if err != nil {
		return nil, err
	}
	cc := c.Cloud
	// Exchange cmdlets may run for up to 15 minutes on the server: the
	// Exchange client keeps its own (longer) timeout over the session's
	// transport, which trusts the configured CAs.
	ex, err := exo.New(exo.Config{
		BaseURL: sess.Endpoints.Exchange, TenantID: cc.TenantID, InitialDomain: cc.InitialDomain,
		HTTPClient: &http.Client{Transport: sess.HTTPClient.Transport, Timeout: exchangeTimeout},
		Logger:     log, Observe: obs.Exchange, Retry: policy(obs.ExchangeRetry),
		Token: func(ctx context.Context) (string, error) { return sess.Token(ctx, sess.Scopes.ExchangeScope()) },
	})
	if err != nil {
		return nil, err
	}
	return graph.New(graph.Config{Session: sess, Exchange: ex, Logger: log, Observe: obs.Graph, Retry: policy(obs.GraphRetry)})
}

// policy is the default retry policy reporting to onRetry, or nil (the
// client's default) when onRetry is nil.
func policy(onRetry func(attempt int, wait time.Duration, err error)) *retry.Policy {
	if onRetry == nil {
		return nil
	}
	p := retry.DefaultPolicy()
	p.OnRetry = onRetry
	return &p
}

// exchangeTimeout bounds one Exchange admin API request: the service lets
// a cmdlet run for up to 15 minutes, as ExchangeOnlineManagement v3 allows.
const exchangeTimeout = 16 * time.Minute

// Read reads both sides for a plan: every user and group (mail-enabled or
// not: Entra Connect syncs users and security groups without mail too, and
// a read without them would make their cloud twins look like deletions)
// and every mail-enabled contact under the config's sync OUs (the base DN
// when none) except the no-sync OU, and every user, group and contact of
// the tenant, with the tenant's accepted domains and which users are
// Exchange Online mailboxes (the "licensed" half of KB 3190357, read from
// Get-Recipient).
func Read(ctx context.Context, cfg *config.Config, log *slog.Logger) (plan.ADSnapshot, plan.CloudSnapshot, error) {
	var (
		as plan.ADSnapshot
		cs plan.CloudSnapshot
	)
	c, err := adldap.Dial(ctx, ADConfig(cfg, log, nil))
	if err != nil {
		return as, cs, err
	}
	defer c.Close()
	as.Scope = cfg.AD.SyncOUs
	if len(as.Scope) == 0 {
		as.Scope = []string{cfg.AD.BaseDN}
	}
	if cfg.AD.NoSyncOU != "" {
		as.Exclude = []string{cfg.AD.NoSyncOU}
	}
	as.Complete = true
	for _, base := range as.Scope {
		res, err := c.StreamSyncCandidates(ctx, base, func(r *ad.Recipient) error {
			if cfg.AD.NoSyncOU != "" && ad.IsUnder(r.DN, cfg.AD.NoSyncOU) {
				return nil
			}
			as.Objects = append(as.Objects, r)
			return nil
		})
		if err != nil {
			return as, cs, fmt.Errorf("read AD under %s: %w", base, err)
		}
		as.Complete = as.Complete && res.Complete
	}
	tenant, err := Tenant(cfg, log, Observers{})
	if err != nil {
		return as, cs, err
	}
	cs.Complete = true
	for _, kind := range []cloud.Kind{cloud.KindUser, cloud.KindGroup, cloud.KindContact} {
		res, err := tenant.List(ctx, kind, cloud.ListOptions{}, func(o *cloud.Object) error {
			cs.Objects = append(cs.Objects, o)
			return nil
		})
		if err != nil {
			return as, cs, fmt.Errorf("read the tenant's %ss: %w", kind, err)
		}
		cs.Complete = cs.Complete && res.Complete
	}
	ex, err := readExchange(ctx, tenant)
	if err != nil {
		return as, cs, err
	}
	cs.AcceptedDomains, cs.InitialDomain = ex.domains, cfg.Cloud.InitialDomain
	cs.Complete = cs.Complete && ex.complete
	anchor, err := SourceAnchor(cfg)
	if err != nil {
		return as, cs, err
	}
	as.Licensed = licensed(as.Objects, cs.Objects, ex.mailboxes, anchor)
	return as, cs, nil
}

// exchangeFacts are what a plan needs from Exchange Online besides Graph.
type exchangeFacts struct {
	// domains are the tenant's accepted domains.
	domains []string
	// mailboxes holds the Entra object ids of the Exchange Online
	// mailboxes (the "licensed" half of KB 3190357).
	mailboxes map[string]bool
	// complete is false when the recipient listing was cut short.
	complete bool
}

// readExchange reads the accepted domains and which users are mailboxes.
func readExchange(ctx context.Context, tenant cloud.Tenant) (exchangeFacts, error) {
	var f exchangeFacts
	ds, err := tenant.Exchange().AcceptedDomains(ctx)
	if err != nil {
		return f, fmt.Errorf("read accepted domains: %w", err)
	}
	for _, d := range ds {
		f.domains = append(f.domains, d.DomainName)
	}
	f.mailboxes = map[string]bool{}
	res, err := tenant.Exchange().ListRecipients(ctx, "", func(r *cloud.ExoRecipient) error {
		if strings.HasSuffix(r.RecipientTypeDetails, "Mailbox") {
			f.mailboxes[r.ExternalDirectoryObjectID] = true
		}
		return nil
	})
	if err != nil {
		return f, fmt.Errorf("read Exchange recipients: %w", err)
	}
	f.complete = res.Complete
	return f, nil
}

// PlanOptions are the plan.Options the config's reconcile section asks for,
// with the command line's overrides.
func PlanOptions(cfg *config.Config, allowDeletes, allowChanges bool) (plan.Options, error) {
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
	anchor, err := SourceAnchor(cfg)
	if err != nil {
		return o, err
	}
	o.Anchor = anchor
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

// SourceAnchor is the source anchor reconcile.source_anchor names: every
// user of the anchor (the plan's join, the licence lookup, apply's
// verification) takes it from here.
func SourceAnchor(cfg *config.Config) (plan.SourceAnchor, error) {
	a, err := plan.ParseSourceAnchor(cfg.Reconcile.SourceAnchor)
	if err != nil {
		return "", fmt.Errorf("reconcile.source_anchor: %w", err)
	}
	return a, nil
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

// Scope returns the reconcile.scope predicate over a plan's findings:
// an object is in scope when it lies under one of scope.ous, is of one of
// scope.kinds and has its mail in one of scope.domains (each only when
// set). Objects the AD read does not hold (cloud orphans) are judged by
// their DN alone.
func Scope(cfg *config.Config, as plan.ADSnapshot) func(dn, guid string) bool {
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

// BuildPlan reads both sides and builds the plan the config asks for,
// narrowed to reconcile.scope. A *plan.LimitError is returned with the
// plan (whose Refused says why); any other error without one.
func BuildPlan(ctx context.Context, cfg *config.Config, cfgPath string, log *slog.Logger, allowDeletes, allowChanges bool) (plan.Plan, plan.ADSnapshot, error) {
	opts, err := PlanOptions(cfg, allowDeletes, allowChanges)
	if err != nil {
		return plan.Plan{}, plan.ADSnapshot{}, err
	}
	as, cs, err := Read(ctx, cfg, log)
	if err != nil {
		return plan.Plan{}, as, err
	}
	if len(as.Objects) == 0 {
		return plan.Plan{}, as, fmt.Errorf("no user, group or contact under %s: check ad.sync_ous and ad.base_dn in %s", strings.Join(as.Scope, "; "), cfgPath)
	}
	return finishPlan(cfg, as, cs, opts, allowDeletes)
}

// finishPlan builds the plan of two snapshots and applies the config's
// no-deletes limit and scope.
func finishPlan(cfg *config.Config, as plan.ADSnapshot, cs plan.CloudSnapshot, opts plan.Options, allowDeletes bool) (plan.Plan, plan.ADSnapshot, error) {
	keep := Scope(cfg, as)
	if keep != nil && !slices.ContainsFunc(as.Objects, func(r *ad.Recipient) bool { return keep(r.DN, r.GUID) }) {
		sc := cfg.Reconcile.Scope
		return plan.Plan{}, as, fmt.Errorf("reconcile.scope (ous %s; kinds %s; domains %s) matches none of the %d objects read: check it against ad.sync_ous",
			orAll(sc.OUs), orAll(sc.Kinds), orAll(sc.Domains), len(as.Objects))
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
	if keep != nil {
		p = p.Narrow(keep)
	}
	return p, as, err
}

func orAll(v []string) string {
	if len(v) == 0 {
		return "all"
	}
	return strings.Join(v, ", ")
}
