package plan

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/hybridsync/hybridsync/ad"
)

// wrapWidth is the width the compact rendering wraps explanations to.
const wrapWidth = 100

// Render writes the plan as text for an admin reading it every day: the
// read status; per finding kind, its explanation and fix once, then one
// line per object (severity, name, the key values and the action); a
// one-line count of the actions; and a summary such as "Plan: 1 to
// change, 3 findings (1 error, 1 warning, 1 info)." RenderVerbose writes
// every object's full detail instead.
func (p Plan) Render(w io.Writer) error {
	bw := bufio.NewWriter(w)
	p.renderHead(bw)
	for _, k := range FindingKinds() {
		group := p.findingsOf(k)
		if len(group) == 0 {
			continue
		}
		doc := kindText(k)
		fmt.Fprintf(bw, "\n# %s (%s)\n", k, severityCounts(group))
		wrap(bw, "Why: "+doc.explanation, "  ", "       ")
		wrap(bw, "Fix: "+doc.fix, "  ", "       ")
		if doc.source != "" {
			wrap(bw, "See: "+doc.source, "  ", "       ")
		}
		// Errors first, then warnings, then info; in plan order within.
		slices.SortStableFunc(group, func(x, y Finding) int { return cmp.Compare(severityRank(x.Severity), severityRank(y.Severity)) })
		tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
		names := shortNames(group)
		for i := range group {
			values, action := group[i].line()
			fmt.Fprintf(tw, "  %s\t%s\t%s -> %s\n", group[i].Severity, oneLine(names[i]), oneLine(values), oneLine(action))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	p.renderActionCount(bw)
	p.renderTail(bw)
	return bw.Flush()
}

// RenderVerbose writes the plan with every object's full detail,
// terraform plan style: the read status, the findings grouped by kind
// (each with its object, attribute, evidence, rule, explanation and fix),
// every action's values, then the summary line.
func (p Plan) RenderVerbose(w io.Writer) error {
	bw := bufio.NewWriter(w)
	p.renderHead(bw)
	for _, k := range FindingKinds() {
		group := p.findingsOf(k)
		if len(group) == 0 {
			continue
		}
		fmt.Fprintf(bw, "\n# %s (%d)\n", k, len(group))
		for _, f := range group {
			name := f.ObjectDN
			if name == "" {
				name = "cloud object " + f.CloudID
			} else if f.CloudID != "" {
				name += " (cloud id " + f.CloudID + ")"
			}
			fmt.Fprintf(bw, "\n  [%s] %s\n", f.Severity, name)
			field(bw, "attribute", f.Attribute)
			field(bw, "evidence", f.Evidence)
			field(bw, "rule", string(f.Rule))
			field(bw, "explanation", f.Explanation)
			field(bw, "fix", f.Fix)
			if f.Action != nil {
				field(bw, "action", "~ "+string(f.Action.Kind)+" (see below)")
			}
		}
	}
	if len(p.Actions) > 0 {
		fmt.Fprintln(bw, "\nhybridsync will perform the following actions:")
		for _, a := range p.Actions {
			fmt.Fprintf(bw, "\n  # %s (%s) will be updated in place\n", a.ObjectDN, a.Kind)
			if a.NewMail != "" {
				fmt.Fprintf(bw, "  ~ mail\n      - %s\n      + %s\n", a.Mail, a.NewMail)
			}
			fmt.Fprintf(bw, "  ~ %s\n", a.Attribute)
			for _, v := range a.Delete {
				fmt.Fprintf(bw, "      - %s\n", v)
			}
			for _, v := range a.Add {
				fmt.Fprintf(bw, "      + %s\n", v)
			}
		}
	}
	p.renderTail(bw)
	return bw.Flush()
}

func (p Plan) renderHead(w io.Writer) {
	fmt.Fprintf(w, "AD read: %s. Cloud read: %s.\n", complete(p.ADComplete), complete(p.CloudComplete))
	if !p.ADComplete || !p.CloudComplete {
		fmt.Fprintln(w, "Read incomplete: no deletion is counted or proposed.")
	}
	if p.Refused != "" {
		fmt.Fprintf(w, "\nError: %s\n", p.Refused)
	}
}

func (p Plan) renderTail(w io.Writer) {
	s := p.Summary
	fmt.Fprintln(w)
	if len(p.Actions) == 0 && len(p.Findings) == 0 {
		fmt.Fprintln(w, "No changes. AD and the cloud agree.")
	}
	if s.Adds > 0 || s.Deletes > 0 {
		fmt.Fprintf(w, "Next sync: %d to create, %d to delete.\n", s.Adds, s.Deletes)
	}
	fmt.Fprintf(w, "Plan: %d to change, %s (%s, %s, %d info).\n", s.Changes,
		plural(len(p.Findings), "finding"), plural(s.Errors, "error"), plural(s.Warnings, "warning"), s.Infos)
}

// renderActionCount says in one line what the actions change: each is on
// its finding's line already. An action no finding points to (not made by
// Build) is listed on a line of its own.
func (p Plan) renderActionCount(w io.Writer) {
	if len(p.Actions) == 0 {
		return
	}
	shown := map[[2]string]bool{}
	for _, f := range p.Findings {
		if f.Action != nil {
			shown[[2]string{f.Action.ObjectDN, strings.ToLower(f.Action.ObjectGUID)}] = true
		}
	}
	var kinds []ActionKind
	count := map[ActionKind]int{}
	var unshown []Action
	for _, a := range p.Actions {
		if count[a.Kind] == 0 {
			kinds = append(kinds, a.Kind)
		}
		count[a.Kind]++
		if !shown[[2]string{a.ObjectDN, strings.ToLower(a.ObjectGUID)}] {
			unshown = append(unshown, a)
		}
	}
	var byKind []string
	for _, k := range kinds {
		byKind = append(byKind, fmt.Sprintf("%d %s", count[k], k))
	}
	fmt.Fprintf(w, "\nhybridsync will update %s in place (%s: one modify each, shown as \"~ fix\" above).\n",
		plural(len(p.Actions), "AD object"), strings.Join(byKind, ", "))
	for _, a := range unshown {
		fmt.Fprintf(w, "  ~ %s %s: %s\n", a.ObjectDN, a.Attribute, describeChange(&a))
	}
}

// findingsOf returns p's findings of kind k, in p's order.
func (p Plan) findingsOf(k FindingKind) []Finding {
	var out []Finding
	for _, f := range p.Findings {
		if f.Kind == k {
			out = append(out, f)
		}
	}
	return out
}

// severityCounts says how many findings of each severity fs holds, e.g.
// "10 warnings" or "31: 21 warnings, 10 info".
func severityCounts(fs []Finding) string {
	n := map[Severity]int{}
	for _, f := range fs {
		n[f.Severity]++
	}
	var parts []string
	for _, s := range []struct {
		sev  Severity
		word string
	}{{SeverityError, "error"}, {SeverityWarning, "warning"}} {
		if n[s.sev] > 0 {
			parts = append(parts, plural(n[s.sev], s.word))
		}
	}
	if n[SeverityInfo] > 0 {
		parts = append(parts, fmt.Sprintf("%d info", n[SeverityInfo]))
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return fmt.Sprintf("%d: %s", len(fs), strings.Join(parts, ", "))
}

func severityRank(s Severity) int {
	switch s {
	case SeverityError:
		return 0
	case SeverityWarning:
		return 1
	}
	return 2
}

// shortNames names each finding's object for its line: its Name, else
// its DN's first RDN, else its cloud id. Where two objects of fs share a
// name, their DNs tell them apart.
func shortNames(fs []Finding) []string {
	names := make([]string, len(fs))
	dns := map[string]map[string]bool{} // name -> the DNs bearing it
	for i, f := range fs {
		name := f.Name
		if name == "" && f.ObjectDN != "" {
			name, _ = ad.RDNValue(f.ObjectDN)
		}
		if name == "" {
			name = "cloud object " + f.CloudID
		}
		names[i] = name
		if dns[name] == nil {
			dns[name] = map[string]bool{}
		}
		dns[name][cmp.Or(f.ObjectDN, f.CloudID)] = true
	}
	for i, f := range fs {
		if len(dns[names[i]]) > 1 && f.ObjectDN != "" {
			names[i] = f.ObjectDN
		}
	}
	return names
}

// wrap writes text wrapped to wrapWidth columns, the first line indented
// by first and the others by rest. A word longer than the width (a URL)
// stays whole.
func wrap(w io.Writer, text, first, rest string) {
	line, indent := "", first
	for _, word := range strings.Fields(text) {
		if line != "" && len(indent)+len(line)+1+len(word) > wrapWidth {
			fmt.Fprintln(w, indent+line)
			line, indent = "", rest
		}
		if line == "" {
			line = word
		} else {
			line += " " + word
		}
	}
	if line != "" {
		fmt.Fprintln(w, indent+line)
	}
}

// oneLine keeps a cell on its line: tabwriter would end the cell at a tab,
// the line at a newline.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\t\n\r") {
		return s
	}
	return strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(s)
}

func complete(ok bool) string {
	if ok {
		return "complete"
	}
	return "INCOMPLETE"
}

func field(w io.Writer, name, value string) {
	if value == "" {
		return
	}
	fmt.Fprintf(w, "      %-12s %s\n", name+":", strings.ReplaceAll(value, "\n", " "))
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
