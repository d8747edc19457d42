package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with a config file.
type Problem struct {
	// Line is the 1-based line the problem is reported at: the offending
	// key or list item, or for a missing key the key of its parent mapping
	// (1 at the top level). It is 0 only for a YAML error that carries no
	// position.
	Line int
	// Path is the dotted key path, such as "ad.bind.password" or
	// "ad.urls[1]". It is empty for problems with the file as a whole.
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
	// Problems is never empty; it is sorted by line, then path.
	Problems []Problem
}

// Error renders the problems one per line:
//
//	config FILE is invalid (N problems):
//	  FILE:LINE: PATH: MESSAGE (hint: HINT)
//
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
		b.WriteString(e.File)
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

// newValidationError sorts probs by line, then path, keeping the order in
// which problems on the same key were found.
func newValidationError(file string, probs []Problem) *ValidationError {
	slices.SortStableFunc(probs, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Path, b.Path))
	})
	return &ValidationError{File: file, Problems: probs}
}

// problems collects the Problems found by validation. Validation code
// appends to it and never stops at the first problem.
type problems []Problem

// add records a problem at path. Its line is filled in later from the YAML
// node tree.
func (ps *problems) add(path, message, hint string) {
	*ps = append(*ps, Problem{Path: path, Message: message, Hint: hint})
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
