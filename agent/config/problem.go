package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with a config file, or with a file it refers
// to and that is read with it (migrations.file).
type Problem struct {
	// File is the file the problem is in when that is not the config file
	// itself: the resolved path of migrations.file. Empty means
	// ValidationError.File.
	File string
	// Line is the 1-based line of File the problem is reported at: the
	// offending key or list item, or for a missing key the key of its
	// parent mapping (1 at the top level). It is 0 only for a YAML error
	// that carries no position.
	Line int
	// Path is the dotted key path within File, such as "ad.bind.password",
	// "ad.urls[1]" or, in migrations.file, "groups[0].group". It is empty
	// for problems with the file as a whole.
	Path string
	// Message says what is wrong. It never contains a secret value.
	Message string
	// Hint, if not empty, says how to fix it.
	Hint string
}

// ValidationError reports every problem found in a config file. Load and
// Parse return it, as a *ValidationError, whenever the file cannot be used.
type ValidationError struct {
	// File is the name given to Parse (the path given to Load).
	File string
	// Problems is never empty. Those in File come first, sorted by line,
	// then path; then those in other files, sorted by file, line and path.
	Problems []Problem
}

// Error renders the problems one per line:
//
//	config FILE is invalid (N problems):
//	  FILE:LINE: PATH: MESSAGE (hint: HINT)
//
// where FILE is the problem's File, or the config file when that is empty.
// ":LINE" is left out when the line is unknown, "PATH: " when the path is
// empty and " (hint: HINT)" when there is no hint. A single problem is
// counted as "(1 problem)".
func (e *ValidationError) Error() string {
	var b strings.Builder
	noun := "problems"
	if len(e.Problems) == 1 {
		noun = "problem"
	}
	fmt.Fprintf(&b, "config %s is invalid (%d %s):", e.File, len(e.Problems), noun)
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(cmp.Or(p.File, e.File))
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
		if p.Path != "" {
			b.WriteString(p.Path)
			b.WriteString(": ")
		}
		b.WriteString(p.Message)
		if p.Hint != "" {
			fmt.Fprintf(&b, " (hint: %s)", p.Hint)
		}
	}
	return b.String()
}

// newValidationError clears the File of problems in file itself and sorts
// probs as ValidationError.Problems documents, keeping the order in which
// problems on the same key were found.
func newValidationError(file string, probs []Problem) *ValidationError {
	for i := range probs {
		if probs[i].File == file {
			probs[i].File = ""
		}
	}
	slices.SortStableFunc(probs, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Path, b.Path))
	})
	return &ValidationError{File: file, Problems: probs}
}

// problems collects the Problems found by validation. Validation code
// appends to it and never stops at the first problem.
type problems []Problem

// add records a problem at path in the config file. Its line is filled in
// later from the YAML node tree.
func (ps *problems) add(path, message, hint string) {
	*ps = append(*ps, Problem{Path: path, Message: message, Hint: hint})
}

// in runs check, which adds problems at paths within file, and records
// them as problems in file (the config file or migrations.file). Their
// lines are filled in later from that file's YAML node tree.
func (ps *problems) in(file string, check func(ps *problems)) {
	var sub problems
	check(&sub)
	for i := range sub {
		sub[i].File = file
	}
	*ps = append(*ps, sub...)
}

// key returns the path of key inside the mapping at path.
func key(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// index returns the path of item i of the list at path.
func index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}
