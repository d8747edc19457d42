package config

import (
	"fmt"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// migrationsFile is the format of the file migrations.file names: the
// groups list of the migrations section, and nothing else.
type migrationsFile struct {
	// Groups are more groups to migrate, written as in Migrations.Groups.
	Groups []MigrationGroup `yaml:"groups"`
}

// gather completes Groups before defaults and rules are applied: it sets
// the Source of the inline groups (written in the config file called name,
// whose tree is root), then reads File, if set, and appends its groups. It
// returns File's node tree (nil if File is unset or could not be parsed)
// and the problems found reading it: a file that cannot be opened is a
// problem at migrations.file of the config file; every problem inside it
// names File. A file with a problem adds no groups, so that rules do not
// report on a half-read list. An empty file holds no groups.
func (m *Migrations) gather(name string, root *yaml.Node) (*yaml.Node, []Problem) {
	const inlinePath = "migrations.groups"
	for i := range m.Groups {
		p := index(inlinePath, i)
		m.Groups[i].Source = Source{File: name, Line: lineOf(root, p), Path: p}
	}
	if m.File == "" {
		return nil, nil
	}

	const filePath = "migrations.file"
	if msg := fileProblem("file", m.File); msg != "" {
		return nil, []Problem{{Path: filePath, Message: msg,
			Hint: "a YAML file with a groups list, relative to this config file"}}
	}
	data, err := os.ReadFile(m.File)
	if err != nil {
		return nil, []Problem{{Path: filePath,
			Message: fmt.Sprintf("cannot read file %q: %v", m.File, pathErrCause(err))}}
	}
	var f migrationsFile
	doc, probs := decode(data, &f)
	if len(probs) > 0 {
		for i := range probs {
			probs[i].File = m.File
		}
		return doc, probs
	}
	for i := range f.Groups {
		p := index("groups", i)
		f.Groups[i].Source = Source{File: m.File, Line: lineOf(doc, p), Path: p}
	}
	m.Groups = append(m.Groups, f.Groups...)
	return doc, nil
}

// MigrationsFile returns the migrations file the config file at path,
// holding data, names (resolved as Load resolves it), or "" when it names
// none or does not parse: what a service watches besides the config file
// itself, read without validating the config.
func MigrationsFile(path string, data []byte) string {
	var c struct {
		Migrations struct {
			File string `yaml:"file"`
		} `yaml:"migrations"`
	}
	if yaml.Unmarshal(data, &c) != nil {
		return ""
	}
	return resolvePath(filepath.Dir(path), c.Migrations.File)
}
