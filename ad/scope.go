package ad

import "github.com/hybridsync/hybridsync/internal/lower"

// SyncScope is where a sync engine synchronises objects: under one of its
// OUs (anywhere, when there are none) and not under an excluded OU (the
// no-sync OU). It is the one place hybridsync decides it: the config's
// checks, the reads, the planner and the lab's simulated Entra Connect all
// ask it. Build it with NewSyncScope.
type SyncScope struct {
	ous, exclude           []string
	ousPlain, excludePlain []bool // IsPlainDN of each, computed once
}

// NewSyncScope returns the scope of the OUs ous (none: everything) minus
// the subtrees exclude.
func NewSyncScope(ous, exclude []string) SyncScope {
	s := SyncScope{ous: ous, exclude: exclude, ousPlain: make([]bool, len(ous)), excludePlain: make([]bool, len(exclude))}
	for i, ou := range ous {
		s.ousPlain[i] = IsPlainDN(ou)
	}
	for i, ex := range exclude {
		s.excludePlain[i] = IsPlainDN(ex)
	}
	return s
}

// OUs returns the OUs of the scope (none: everything).
func (s SyncScope) OUs() []string { return s.ous }

// Exclude returns the excluded subtrees.
func (s SyncScope) Exclude() []string { return s.exclude }

// Contains reports whether an object at dn is in the scope.
func (s SyncScope) Contains(dn string) bool { return s.WhyNot(dn, IsPlainDN(dn)) == "" }

// WhyNot returns "" when an object at dn is in the scope, else why not;
// plain is IsPlainDN(dn), passed by callers that know it already.
func (s SyncScope) WhyNot(dn string, plain bool) string {
	if len(s.ous) > 0 {
		in := false
		for i, ou := range s.ous {
			if under(dn, plain, ou, s.ousPlain[i]) {
				in = true
				break
			}
		}
		if !in {
			return "it is outside the sync scope OUs"
		}
	}
	for i, ex := range s.exclude {
		if under(dn, plain, ex, s.excludePlain[i]) {
			return "it is under the excluded " + ex
		}
	}
	return ""
}

// under is IsUnder(dn, base); plain and basePlain say whether each is a
// plain DN, when the comparison needs no parsing.
func under(dn string, plain bool, base string, basePlain bool) bool {
	if !plain || !basePlain {
		return IsUnder(dn, base)
	}
	switch n, m := len(dn), len(base); {
	case n == m:
		return lower.Equal(dn, base)
	case n > m:
		return dn[n-m-1] == ',' && lower.Equal(dn[n-m:], base)
	}
	return false
}
