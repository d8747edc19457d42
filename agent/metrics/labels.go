package metrics

import (
	"github.com/hybridsync/hybridsync/cloud"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/apply"
	"github.com/hybridsync/hybridsync/reconcile/migrate"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// Other is the label value that stands for every value outside a label's
// fixed set: an operation the agent does not know, a result no client
// reports, a misspelt source. A series with it means a caller (or a client
// that gained an operation) needs this package updated; it never means a
// new series per value.
const Other = "other"

// RunKind is the kind of a reconcile run: the "kind" label of
// hybridsync_reconcile_runs_total and the "run" label of
// hybridsync_reconcile_objects_read.
type RunKind string

const (
	RunFull        RunKind = "full"
	RunIncremental RunKind = "incremental"
)

// RunResult is how a reconcile run ended.
type RunResult string

const (
	// RunSuccess: the run read both sides, planned and applied what it
	// was allowed to.
	RunSuccess RunResult = "success"
	// RunFailure: the run stopped on an error.
	RunFailure RunResult = "failure"
	// RunRefused: a safety check stopped the run before it wrote anything
	// (an incomplete read, a threshold, a stale plan).
	RunRefused RunResult = "refused"
)

// Source is a directory the agent reads.
type Source string

const (
	SourceAD    Source = "ad"
	SourceCloud Source = "cloud"
)

// ObjectKind is the kind of a directory object read. Callers map the
// cloud's "orgContact" and AD's contact class to ObjectContact.
type ObjectKind string

const (
	ObjectUser    ObjectKind = "user"
	ObjectGroup   ObjectKind = "group"
	ObjectContact ObjectKind = "contact"
)

// Values of the "api" label of the cloud request metrics.
const (
	apiGraph    = "graph"
	apiExchange = "exchange"
)

// resultThrottled is the request result the Graph and Exchange clients
// report for a request the server refused for throttling (retry.ResultOf).
const resultThrottled = "throttled"

// Subsystems whose retry.Policy reports to RetryObserver.
const (
	SubsystemAD       = "ad"
	SubsystemGraph    = "graph"
	SubsystemExchange = "exchange"
)

// MigrationState is the state of one distribution-list migration: a
// saga's state (reconcile/migrate), or one of these.
type MigrationState string

const (
	// MigrationPending: configured, not started.
	MigrationPending MigrationState = "pending"
	// MigrationOverdue: waiting past its deadline.
	MigrationOverdue MigrationState = "waiting_overdue"
	// MigrationBlocked: cannot go on for now (a directory unreachable).
	MigrationBlocked MigrationState = "blocked"
)

// MigrationStateOf is the metric state of saga s.
func MigrationStateOf(s *migrate.Saga) MigrationState {
	switch {
	case s.Waiting != nil && s.Waiting.Overdue:
		return MigrationOverdue
	case s.Blocked != "" && (s.State == migrate.StateRunning || s.State == migrate.StateWaiting):
		return MigrationBlocked
	}
	return MigrationState(s.State)
}

// set is a fixed set of label values.
type set map[string]bool

func newSet[S ~string](vs ...S) set {
	s := make(set, len(vs))
	for _, v := range vs {
		s[string(v)] = true
	}
	return s
}

// clamp returns v when it is in s, Other otherwise.
func (s set) clamp(v string) string {
	if s[v] {
		return v
	}
	return Other
}

// labelSets holds every fixed set of label values. It is built by New and
// never changed afterwards.
type labelSets struct {
	runKinds, runResults, sources, objectKinds        set
	actionResults                                     set
	findingKinds, severities                          set
	requestResults                                    set
	ldapOps, graphOps, exchangeOps                    set
	subsystems                                        set
	migrationStates, migrationSteps, migrationMethods set
}

func newLabelSets() labelSets {
	return labelSets{
		runKinds:         newSet(runKinds()...),
		runResults:       newSet(runResults()...),
		sources:          newSet(sources()...),
		objectKinds:      newSet(objectKinds()...),
		actionResults:    newSet(actionResults()...),
		findingKinds:     newSet(plan.FindingKinds()...),
		severities:       newSet(severities()...),
		requestResults:   newSet(requestResults()...),
		ldapOps:          newSet(ldapOperations()...),
		graphOps:         newSet(graphOperations()...),
		exchangeOps:      newSet(exchangeOperations()...),
		subsystems:       newSet(subsystems()...),
		migrationStates:  newSet(migrationStates()...),
		migrationSteps:   newSet(migrationSteps()...),
		migrationMethods: newSet(migrationMethods()...),
	}
}

func runKinds() []RunKind     { return []RunKind{RunFull, RunIncremental} }
func runResults() []RunResult { return []RunResult{RunSuccess, RunFailure, RunRefused} }
func sources() []Source       { return []Source{SourceAD, SourceCloud} }
func objectKinds() []ObjectKind {
	return []ObjectKind{ObjectUser, ObjectGroup, ObjectContact}
}
func severities() []plan.Severity {
	return []plan.Severity{plan.SeverityError, plan.SeverityWarning, plan.SeverityInfo}
}

// actionResults are the results of applying one action: reconcile/apply's
// Results.
func actionResults() []string {
	var out []string
	for _, r := range apply.Results() {
		out = append(out, string(r))
	}
	return out
}
func apis() []string { return []string{apiGraph, apiExchange} }
func subsystems() []string {
	return []string{SubsystemAD, SubsystemGraph, SubsystemExchange}
}
func migrationStates() []MigrationState {
	out := []MigrationState{MigrationPending, MigrationOverdue, MigrationBlocked}
	for _, s := range migrate.AllStates() {
		out = append(out, MigrationState(s))
	}
	return out
}

// requestResults are the results the ad, graph and exo clients report to
// their Observe hook: "success" or the retry class of the failure, plus
// "throttled" (see resultThrottled).
func requestResults() []string {
	out := []string{"success", resultThrottled}
	for _, c := range []retry.Class{retry.Unknown, retry.Retryable, retry.Conflict, retry.NotFound, retry.Terminal} {
		out = append(out, c.String())
	}
	return out
}

// ldapOperations are the op values adldap.Client reports to adldap.Config.Observe
// (ad/search.go searchOnce, ad/write.go through Client.write).
func ldapOperations() []string {
	return []string{"ad.Search", "ad.Add", "ad.Modify", "ad.Move", "ad.Rename", "ad.Delete"}
}

// graphOperations are the op values graph.Client reports to
// graph.Config.Observe (cloud/graph: every call of Client.do).
func graphOperations() []string {
	out := []string{
		"Members", "MembersBatch", "RevokeSignInSessions", "RevokeSignInSessionsBatch",
		"GroupSyncBehavior", "SetGroupSyncBehavior", "SetGroupSyncBehaviorBatch",
		"RegistrationDetails", "AuthMethods",
	}
	for _, verb := range []string{"List", "Get", "Delta"} {
		for _, k := range []cloud.Kind{cloud.KindUser, cloud.KindGroup, cloud.KindContact} {
			out = append(out, verb+" "+string(k))
		}
	}
	return out
}

// exchangeOperations are the cmdlets exo.Client runs (cloud/exo/exchange.go);
// exo.Config.Observe reports the cmdlet name as op.
func exchangeOperations() []string {
	return []string{
		"Get-AcceptedDomain", "Get-Recipient", "Get-DistributionGroup", "New-DistributionGroup",
		"Set-DistributionGroup", "Remove-DistributionGroup", "Get-DistributionGroupMember",
		"Add-DistributionGroupMember", "Remove-DistributionGroupMember", "Update-DistributionGroupMember",
	}
}

// migrationSteps are the steps of a distribution-list migration
// (reconcile/migrate's).
func migrationSteps() []string {
	var out []string
	for _, s := range migrate.AllSteps() {
		out = append(out, string(s))
	}
	return out
}

// migrationMethods are reconcile/migrate's methods.
func migrationMethods() []string {
	return []string{string(migrate.MethodSOA), string(migrate.MethodRecreate)}
}
