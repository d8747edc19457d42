package plan

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Render writes the plan as text, terraform plan style: the read status,
// the findings grouped by kind (each with its object, attribute, evidence,
// rule, explanation and fix), the actions, then a one-line summary such as
// "Plan: 1 to change, 3 findings (1 error, 1 warning, 1 info)."
func (p Plan) Render(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "AD read: %s. Cloud read: %s.\n", complete(p.ADComplete), complete(p.CloudComplete))
	if !p.ADComplete || !p.CloudComplete {
		fmt.Fprintln(bw, "Read incomplete: no deletion is counted or proposed.")
	}
	if p.Refused != "" {
		fmt.Fprintf(bw, "\nError: %s\n", p.Refused)
	}

	for _, k := range FindingKinds() {
		var group []Finding
		for _, f := range p.Findings {
			if f.Kind == k {
				group = append(group, f)
			}
		}
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
			fmt.Fprintf(bw, "  ~ %s\n", a.Attribute)
			for _, v := range a.Delete {
				fmt.Fprintf(bw, "      - %s\n", v)
			}
			for _, v := range a.Add {
				fmt.Fprintf(bw, "      + %s\n", v)
			}
		}
	}

	s := p.Summary
	fmt.Fprintln(bw)
	if len(p.Actions) == 0 && len(p.Findings) == 0 {
		fmt.Fprintln(bw, "No changes. AD and the cloud agree.")
	}
	if s.Adds > 0 || s.Deletes > 0 {
		fmt.Fprintf(bw, "Next sync: %d to create, %d to delete.\n", s.Adds, s.Deletes)
	}
	fmt.Fprintf(bw, "Plan: %d to change, %s (%s, %s, %d info).\n", s.Changes,
		plural(len(p.Findings), "finding"), plural(s.Errors, "error"), plural(s.Warnings, "warning"), s.Infos)
	return bw.Flush()
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
