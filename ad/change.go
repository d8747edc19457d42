package ad

// ChangeOp is the kind of a value-level change (RFC 4511 §4.6).
type ChangeOp int

const (
	// AddValues adds the listed values; it fails with a conflict if one
	// is already there, so a concurrent add is noticed, not duplicated.
	AddValues ChangeOp = iota
	// DeleteValues removes the listed values (all values when none are
	// listed); it fails with a conflict if a listed value is already gone.
	DeleteValues
	// ReplaceValues sets the attribute to exactly the listed values. Use
	// it for single-valued attributes only: on a multi-valued attribute it
	// overwrites concurrent edits.
	ReplaceValues
)

// Change is one attribute change in a Modify.
type Change struct {
	Op     ChangeOp
	Attr   string
	Values []string
}

// Attribute is one attribute of a new entry.
type Attribute struct {
	Name   string
	Values []string
}
