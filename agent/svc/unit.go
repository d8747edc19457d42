package svc

import (
	_ "embed"
	"fmt"
	"strings"
)

// unitTemplate is the systemd unit, in kardianos/service's template syntax
// (its SystemdScript option). It uses only the four substitutions that
// Unit reproduces.
//
//go:embed hybridsync.service.tmpl
var unitTemplate string

// UnitTemplate returns the systemd unit template: kardianos/service's
// SystemdScript option.
func UnitTemplate() string { return unitTemplate }

// Unit returns the systemd unit for s (defaults applied, see WithDefaults)
// exactly as kardianos/service writes it on install: the template with the
// description, the executable, the arguments and the user filled in the way
// kardianos/service fills them. The .deb ships its output. It fails when s
// does not pass Check.
func Unit(s Spec) (string, error) {
	if err := s.Check("linux"); err != nil {
		return "", err
	}
	return renderUnit(s)
}

// renderUnit fills in the template for s without checking s.
func renderUnit(s Spec) (string, error) {
	var args strings.Builder
	for _, a := range Arguments(s.ConfigPath) {
		// kardianos/service's "cmd" function.
		args.WriteString(` "` + strings.ReplaceAll(a, `"`, `\"`) + `"`)
	}
	out := strings.NewReplacer(
		"{{Description}}", Description,
		// kardianos/service's "cmdEscape" function.
		"{{Path | cmdEscape}}", strings.ReplaceAll(s.Executable, " ", `\x20`),
		"{{range Arguments}} {{. | cmd}}{{end}}", args.String(),
		"{{UserName}}", s.User,
	).Replace(unitTemplate)
	if i := strings.Index(out, "{{"); i >= 0 {
		line := out[i:]
		if j := strings.IndexByte(line, '\n'); j >= 0 {
			line = line[:j]
		}
		return "", fmt.Errorf("service unit: the template uses an action Unit cannot render: %s", line)
	}
	return out, nil
}
