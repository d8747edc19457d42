package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hybridsync/hybridsync/agent/setup"
	"github.com/hybridsync/hybridsync/agent/snapshot"
	"github.com/hybridsync/hybridsync/reconcile/apply"
	"github.com/hybridsync/hybridsync/reconcile/journal"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// journalLockTimeout is how long a command waits for another hybridsync
// (the service in the middle of a write, say) to release the journal.
const journalLockTimeout = 5 * time.Second

// printRecovered says what recovery settled.
func (a *app) printRecovered(rep journal.RecoverReport) {
	for _, id := range rep.Done {
		fmt.Fprintf(a.stderr, "recovered: entry %s had been applied before the interruption; recorded as done\n", id)
	}
	for _, id := range rep.NotApplied {
		fmt.Fprintf(a.stderr, "recovered: entry %s had not reached AD before the interruption; recorded as failed, nothing to undo\n", id)
	}
	for _, id := range rep.RolledBack {
		fmt.Fprintf(a.stderr, "recovered: entry %s was rolled back\n", id)
	}
	for _, s := range rep.Superseded {
		fmt.Fprintf(a.stderr, "recovered: entry %s is superseded: %v\n", s.ID, s.Err)
	}
	for _, u := range rep.Unresolved {
		fmt.Fprintf(a.stderr, "not settled: entry %s: %v\n", u.ID, u.Err)
	}
}

// readPlanFile decodes a plan saved by `plan -o`, strictly.
func readPlanFile(path string) (plan.Plan, error) {
	var p plan.Plan
	data, err := os.ReadFile(path)
	if err != nil {
		return p, fmt.Errorf("read the plan file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("%s is not a plan saved by `hybridsync plan -o`: %w", path, err)
	}
	if dec.More() {
		return p, fmt.Errorf("%s is not a plan saved by `hybridsync plan -o`: data after the plan", path)
	}
	if p.Fingerprint == "" {
		return p, fmt.Errorf("%s is not a plan saved by `hybridsync plan -o`: it has no fingerprint", path)
	}
	for i, act := range p.Actions {
		switch {
		case act.Kind != plan.ActionDualWritePrimary && act.Kind != plan.ActionMigratedListAddress:
			return p, fmt.Errorf("%s: action %d has kind %q; this version applies only %q and %q", path, i+1, act.Kind,
				plan.ActionDualWritePrimary, plan.ActionMigratedListAddress)
		case act.ObjectGUID == "" || act.ObjectDN == "":
			return p, fmt.Errorf("%s: action %d names no object (objectGUID and objectDN are required)", path, i+1)
		case act.Attribute != "proxyAddresses":
			return p, fmt.Errorf("%s: action %d on %s changes %q; only proxyAddresses is applied", path, i+1, act.ObjectDN, act.Attribute)
		case len(act.Add) == 0 && len(act.Delete) == 0:
			return p, fmt.Errorf("%s: action %d on %s changes nothing", path, i+1, act.ObjectDN)
		}
	}
	if p.Refused != "" {
		return p, fmt.Errorf("%s was refused when it was made (%s): make a new plan", path, p.Refused)
	}
	return p, nil
}

// sameAction reports whether two actions make the same change from the
// same state.
func sameAction(x, y plan.Action) bool {
	norm := func(v []string) []string { v = slices.Clone(v); slices.Sort(v); return v }
	return x.Kind == y.Kind && strings.EqualFold(x.ObjectGUID, y.ObjectGUID) && x.USNChanged == y.USNChanged &&
		x.Mail == y.Mail && x.Attribute == y.Attribute &&
		slices.Equal(norm(x.Add), norm(y.Add)) && slices.Equal(norm(x.Delete), norm(y.Delete)) &&
		slices.Equal(norm(x.BeforeProxyAddresses), norm(y.BeforeProxyAddresses))
}

// approvedActions returns the saved plan's actions after checking each
// against a fresh plan: an action the fresh plan no longer proposes, or
// proposes from another state, makes the saved plan stale.
func approvedActions(saved, fresh plan.Plan, path string) ([]plan.Action, []plan.Action, error) {
	byGUID := map[string]plan.Action{}
	for _, act := range fresh.Actions {
		byGUID[strings.ToLower(act.ObjectGUID)] = act
	}
	var stale []string
	for _, act := range saved.Actions {
		now, ok := byGUID[strings.ToLower(act.ObjectGUID)]
		switch {
		case !ok:
			stale = append(stale, fmt.Sprintf("%s: the fix is no longer proposed (fixed or changed since)", act.ObjectDN))
		case act.USNChanged != now.USNChanged:
			stale = append(stale, fmt.Sprintf("%s: changed since the plan (uSNChanged %d, now %d)", act.ObjectDN, act.USNChanged, now.USNChanged))
		case !sameAction(act, now):
			stale = append(stale, fmt.Sprintf("%s: the fix proposed now differs from the saved one", act.ObjectDN))
		}
		delete(byGUID, strings.ToLower(act.ObjectGUID))
	}
	if len(stale) > 0 {
		return nil, nil, fmt.Errorf("%w: %s was made against a different state, nothing written: %s. Run `hybridsync plan -o FILE` again",
			plan.ErrStale, path, strings.Join(stale, "; "))
	}
	var extra []plan.Action
	for _, act := range fresh.Actions {
		if _, ok := byGUID[strings.ToLower(act.ObjectGUID)]; ok {
			extra = append(extra, act)
		}
	}
	return saved.Actions, extra, nil
}

// withAllow is l with --allow-changes.
func withAllow(l apply.ChangeLimit, allow setup.Allow) apply.ChangeLimit {
	l.Allow = allow.Changes
	return l
}

// applyReport is `apply --json`'s output.
type applyReport struct {
	RunID         string               `json:"runID"`
	Outcomes      []applyOutcome       `json:"outcomes"`
	Held          []apply.Hold         `json:"held,omitempty"`
	Verifications []apply.Verification `json:"verifications,omitempty"`
	NotInPlan     int                  `json:"notInSavedPlan,omitempty"`
}

type applyOutcome struct {
	apply.Outcome
	Error string `json:"error,omitempty"`
}

func (a *app) applyCmd() *cobra.Command {
	var (
		cfgPath                    string
		autoApprove, asJSON        bool
		allowDeletes, allowChanges bool
		verifyTimeout, verifyEvery time.Duration
	)
	cmd := &cobra.Command{
		Use:   "apply -c CONFIG [PLANFILE]",
		Short: "Carry out the safe fixes of a saved plan (or, with --auto-approve, of a fresh one) and verify them in the cloud",
		Long: `Applies the fixes that are safe to automate (today: the dual-write fix that
makes proxyAddresses follow a changed mail, keeping the old primary as a
secondary), only from a plan saved with ` + "`hybridsync plan -o PLANFILE`" + ` or with
--auto-approve.

Before writing, apply finishes or rolls back writes an earlier run left
without an outcome, reads both sides again, and refuses a saved plan whose
actions no longer match (a stale plan): nothing is written then. Each write
is one value-level LDAP modify, journalled in the state directory with the
object's before-image, so ` + "`hybridsync undo ID`" + ` can restore it. Then apply waits
(--verify-timeout) for the next sync cycle to show each fix in the tenant.

Exit codes: 0 every fix applied (and verified), 2 a usage error, 1 anything
else.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlag("config", cfgPath); err != nil {
				return err
			}
			planPath := ""
			if len(args) == 1 {
				planPath = args[0]
			}
			switch {
			case planPath == "" && !autoApprove:
				return &exitError{1, errors.New("apply: not approved, nothing written: give the plan file saved by `hybridsync plan -o PLANFILE`, or --auto-approve to apply a fresh plan")}
			case planPath != "" && autoApprove:
				return &exitError{2, errors.New("apply: give a plan file or --auto-approve, not both")}
			}
			var saved plan.Plan
			if planPath != "" {
				var err error
				if saved, err = readPlanFile(planPath); err != nil {
					return fmt.Errorf("apply: %w; nothing written", err)
				}
			}
			st, err := a.setup(cfgPath, setup.Observers{})
			if err != nil {
				return err
			}
			if !st.HasCloud {
				return fmt.Errorf("apply: %s has no cloud section: apply plans against the tenant", cfgPath)
			}
			if st.Staging {
				return fmt.Errorf("apply: %s sets staging: true, so the agent writes nothing; nothing written", cfgPath)
			}
			return a.runApply(cmd.Context(), st, planPath, saved, setup.Allow{Deletes: allowDeletes, Changes: allowChanges},
				apply.VerifyOptions{Timeout: verifyTimeout, Interval: verifyEvery}, asJSON)
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file")
	cmd.Flags().BoolVar(&autoApprove, "auto-approve", false, "apply a fresh plan without a saved plan file")
	cmd.Flags().BoolVar(&allowDeletes, "allow-deletes", false, "accept a plan whose deletions exceed the configured limits")
	cmd.Flags().BoolVar(&allowChanges, "allow-changes", false, "accept a plan whose changes exceed the configured limits")
	cmd.Flags().DurationVar(&verifyTimeout, "verify-timeout", 45*time.Minute, "how long to wait for the next sync cycle to show each fix in the tenant; 0 skips verification")
	cmd.Flags().DurationVar(&verifyEvery, "verify-interval", 30*time.Second, "time between reads of the tenant while verifying")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the outcome as JSON")
	return cmd
}

func (a *app) runApply(ctx context.Context, st *setup.Setup, planPath string, saved plan.Plan, allow setup.Allow, vopts apply.VerifyOptions, asJSON bool) error {
	dir, err := st.DialAD(ctx)
	if err != nil {
		return fmt.Errorf("apply: %w; nothing written", err)
	}
	defer dir.Close()
	j, err := st.OpenJournal(true)
	if err != nil {
		return fmt.Errorf("apply: %w; nothing written", err)
	}
	// Closed before the (long) verification, so that the service and
	// `journal list` are not locked out meanwhile; Close is idempotent.
	defer j.Close()
	tenant, err := st.Tenant()
	if err != nil {
		return fmt.Errorf("apply: %w; nothing written", err)
	}
	fresh, _, err := snapshot.BuildPlan(ctx, st, dir, tenant, allow)
	if err != nil {
		return fmt.Errorf("apply: %w; nothing written", err)
	}
	actions, extra := fresh.Actions, []plan.Action(nil)
	fingerprint := fresh.Fingerprint
	if planPath != "" {
		if actions, extra, err = approvedActions(saved, fresh, planPath); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		fingerprint = saved.Fingerprint
	}
	approval := apply.AutoApproved
	if planPath != "" {
		approval = apply.ApprovedPlan
	}
	applier := st.Applier(dir, j, "apply", a.failpoint)
	applier.OnRecover = a.printRecovered
	run, aerr := applier.Run(ctx, apply.Request{Actions: actions, Fingerprint: fingerprint, Approval: approval,
		Limit: withAllow(st.Limit, allow)})
	rep := applyReport{RunID: run.RunID, NotInPlan: len(extra), Held: run.Held}
	if aerr != nil && len(run.Outcomes) == 0 {
		// Refused before anything was written.
		return aerr
	}
	for _, h := range run.Held {
		if !asJSON {
			fmt.Fprintf(a.stdout, "  %-11s %s: %s\n", apply.Held, h.Action.ObjectDN, h.Reason)
		}
	}
	if len(run.Outcomes) == 0 {
		if asJSON {
			return writeJSON(a.stdout, rep)
		}
		if len(actions) == 0 {
			fmt.Fprintln(a.stdout, "Nothing to apply: the plan proposes no fix.")
		} else {
			fmt.Fprintf(a.stdout, "Nothing applied: the %d proposed fixes are held (see above).\n", len(run.Held))
		}
		return nil
	}
	outcomes := run.Outcomes
	var applied []apply.Outcome
	failed := 0
	for _, o := range outcomes {
		ao := applyOutcome{Outcome: o}
		if o.Err != nil {
			ao.Error = o.Err.Error()
		}
		rep.Outcomes = append(rep.Outcomes, ao)
		if o.Result == apply.Applied {
			applied = append(applied, o)
		} else {
			failed++
		}
		if !asJSON {
			line := fmt.Sprintf("  %-11s %s", o.Result, o.Action.ObjectDN)
			if o.EntryID != "" {
				line += "  (journal " + o.EntryID + ")"
			}
			if o.Err != nil {
				line += ": " + o.Err.Error()
			}
			fmt.Fprintln(a.stdout, line)
		}
	}
	if !asJSON {
		fmt.Fprintf(a.stdout, "Apply: %d applied, %d not applied (run %s).\n", len(applied), failed, rep.RunID)
		if len(extra) > 0 {
			fmt.Fprintf(a.stdout, "%d more fixes are proposed now that were not in %s: run plan again to review them.\n", len(extra), planPath)
		}
	}
	_ = j.Close()
	_ = dir.Close()
	unverified := 0
	if aerr == nil && len(applied) > 0 && vopts.Timeout > 0 {
		if !asJSON {
			fmt.Fprintf(a.stdout, "Waiting up to %s for the next sync cycle to show the fixes in the tenant...\n", vopts.Timeout)
		}
		vs, verr := apply.Verify(ctx, tenant, applied, vopts)
		rep.Verifications = vs
		for _, v := range vs {
			if !v.Verified {
				unverified++
			}
			if !asJSON {
				state := "verified"
				if !v.Verified {
					state = "unverified"
				}
				fmt.Fprintf(a.stdout, "  %-11s %s: SMTP:%s %s\n", state, v.Action.ObjectDN, cmpOr(v.Action.NewMail, v.Action.Mail), orDash(v.Seen))
			}
		}
		if verr != nil {
			aerr = verr
		}
	}
	if asJSON {
		if err := writeJSON(a.stdout, rep); err != nil {
			return err
		}
	}
	switch {
	case aerr != nil:
		return aerr
	case failed > 0:
		return fmt.Errorf("apply: %d of %d fixes were not applied (see above; `hybridsync journal list` shows what was written)", failed, len(actions))
	case unverified > 0:
		return fmt.Errorf("apply: %d fixes are written to AD but not yet visible in the tenant after %s: check that the sync engine ran (its export errors name the object), then run `hybridsync plan`", unverified, vopts.Timeout)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "(not found in the tenant)"
	}
	return "(" + s + ")"
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
