package cloud

import "strings"

// Quote returns s as an OData string literal for a $filter: wrapped in
// single quotes, with every single quote doubled (OData ABNF, SQUOTE-in-
// string). Build every filter literal with it, once.
func Quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
