package plan

import "slices"

// Narrow returns the plan with only the findings and actions whose object
// keep accepts (dn and guid as the finding names them; either may be
// empty), with the finding counts and the change count recounted. Adds,
// Deletes and the limits they were checked against stay those of the whole
// read: like Entra Connect's accidental-delete guard, the limits protect
// the whole sync scope, not the part being looked at. The fingerprint is
// kept; apply compares actions one by one.
func (p Plan) Narrow(keep func(dn, guid string) bool) Plan {
	out := p
	out.Findings = nil
	out.Actions = nil
	out.Summary = Summary{ByKind: map[FindingKind]int{}, Adds: p.Summary.Adds, Deletes: p.Summary.Deletes}
	for _, act := range p.Actions {
		if keep(act.ObjectDN, act.ObjectGUID) {
			out.Actions = append(out.Actions, act)
		}
	}
	for _, f := range p.Findings {
		if !keep(f.ObjectDN, f.ObjectGUID) {
			continue
		}
		if f.Action != nil {
			i := slices.IndexFunc(out.Actions, func(a Action) bool { return a.ObjectGUID == f.Action.ObjectGUID })
			if i >= 0 {
				f.Action = &out.Actions[i]
			}
		}
		out.Findings = append(out.Findings, f)
		out.Summary.ByKind[f.Kind]++
		switch f.Severity {
		case SeverityError:
			out.Summary.Errors++
		case SeverityWarning:
			out.Summary.Warnings++
		default:
			out.Summary.Infos++
		}
	}
	out.Summary.Changes = len(out.Actions)
	return out
}
