package emulator

import (
	"fmt"
	"strings"
)

// This file holds the small OData $filter parser the Graph endpoints use.
// It accepts the subset hybridsync's clients send, following
// https://learn.microsoft.com/graph/filter-query-parameter and
// https://learn.microsoft.com/graph/aad-advanced-queries:
//
//	prop eq|ne literal, prop in ('a','b'), startsWith(prop,'x'),
//	endsWith(prop,'x'), coll/any(v:v eq 'x'), coll/any(v:startsWith(v,'x')),
//	and, or, not, parentheses; literals 'string' ('' escapes a quote),
//	true, false, null.
//
// Precedence, highest first: not, and, or (OData's). Anything else (gt, lt,
// all, arithmetic, unknown functions) is reported as unsupported, which the
// handlers turn into 400 Request_UnsupportedQuery as Graph does.

// propType is the type of a filterable property.
type propType int

const (
	typeString propType = iota
	typeBool
	typeStringColl
)

// filterSchema maps a property name (lower case) to its canonical name and
// type.
type filterSchema map[string]filterProp

type filterProp struct {
	name string
	typ  propType
	// endsWith tells whether Graph supports endsWith on the property
	// (advanced query only).
	endsWith bool
}

// filterError is a $filter the parser refused. Unsupported is true for
// well-formed expressions Graph would not run (unknown property, operator
// or function); false for syntax errors.
type filterError struct {
	Unsupported bool
	Msg         string
}

func (e *filterError) Error() string { return e.Msg }

// filterNode is a parsed expression; eval reports whether an object matches.
type filterNode interface {
	eval(get func(prop string) any, vars map[string]string) bool
}

// parsedFilter is a checked $filter.
type parsedFilter struct {
	root filterNode
	// Advanced is true when the expression needs Graph's advanced query
	// capabilities (ne, not, endsWith): ConsistencyLevel: eventual and
	// $count=true.
	Advanced bool
}

// Match reports whether the object whose properties get returns matches.
// A nil filter matches everything.
func (f *parsedFilter) Match(get func(prop string) any) bool {
	if f == nil || f.root == nil {
		return true
	}
	return f.root.eval(get, nil)
}

type litKind int

const (
	litString litKind = iota
	litBool
	litNull
)

type literal struct {
	kind litKind
	s    string
	b    bool
}

type (
	andNode struct{ l, r filterNode }
	orNode  struct{ l, r filterNode }
	notNode struct{ x filterNode }
	cmpNode struct {
		ne    bool
		prop  string // canonical property name, or a lambda variable
		isVar bool
		lit   literal
	}
	inNode struct {
		prop  string
		isVar bool
		lits  []literal
	}
	funcNode struct {
		fn    string // "startswith" or "endswith"
		prop  string
		isVar bool
		arg   string
	}
	anyNode struct {
		coll string
		v    string
		body filterNode // nil: any() (collection not empty)
	}
)

func value(get func(string) any, vars map[string]string, prop string, isVar bool) any {
	if isVar {
		return vars[prop]
	}
	return get(prop)
}

func (n andNode) eval(g func(string) any, v map[string]string) bool {
	return n.l.eval(g, v) && n.r.eval(g, v)
}
func (n orNode) eval(g func(string) any, v map[string]string) bool {
	return n.l.eval(g, v) || n.r.eval(g, v)
}
func (n notNode) eval(g func(string) any, v map[string]string) bool { return !n.x.eval(g, v) }

func litEquals(val any, lit literal) bool {
	switch x := val.(type) {
	case nil:
		return lit.kind == litNull
	case string:
		if lit.kind == litNull {
			return x == ""
		}
		return lit.kind == litString && strings.EqualFold(x, lit.s)
	case bool:
		return lit.kind == litBool && x == lit.b
	}
	return false
}

func (n cmpNode) eval(g func(string) any, v map[string]string) bool {
	eq := litEquals(value(g, v, n.prop, n.isVar), n.lit)
	return eq != n.ne
}

func (n inNode) eval(g func(string) any, v map[string]string) bool {
	val := value(g, v, n.prop, n.isVar)
	for _, l := range n.lits {
		if litEquals(val, l) {
			return true
		}
	}
	return false
}

func (n funcNode) eval(g func(string) any, v map[string]string) bool {
	s, _ := value(g, v, n.prop, n.isVar).(string)
	s, arg := strings.ToLower(s), strings.ToLower(n.arg)
	if n.fn == "endswith" {
		return strings.HasSuffix(s, arg)
	}
	return strings.HasPrefix(s, arg)
}

func (n anyNode) eval(g func(string) any, v map[string]string) bool {
	coll, _ := g(n.coll).([]string)
	if n.body == nil {
		return len(coll) > 0
	}
	inner := make(map[string]string, len(v)+1)
	for k, x := range v {
		inner[k] = x
	}
	for _, item := range coll {
		inner[n.v] = item
		if n.body.eval(g, inner) {
			return true
		}
	}
	return false
}

// token kinds
type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tLParen
	tRParen
	tComma
	tColon
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func tokenize(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{tLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tRParen, ")", i})
			i++
		case c == ',':
			toks = append(toks, token{tComma, ",", i})
			i++
		case c == ':':
			toks = append(toks, token{tColon, ":", i})
			i++
		case c == '\'':
			start := i
			lit, next, closed := scanQuoted(s, i)
			if !closed {
				return nil, &filterError{Msg: fmt.Sprintf("Invalid filter clause: unterminated string literal at position %d.", start)}
			}
			i = next
			toks = append(toks, token{tString, lit, start})
		case isIdentStart(c):
			start := i
			for i < len(s) && isIdentChar(s[i]) {
				i++
			}
			toks = append(toks, token{tIdent, s[start:i], start})
		default:
			if c >= '0' && c <= '9' || c == '-' {
				return nil, &filterError{Unsupported: true, Msg: fmt.Sprintf("Unsupported Query. Numeric literals are not supported (position %d).", i)}
			}
			return nil, &filterError{Msg: fmt.Sprintf("Invalid filter clause: syntax error at position %d in '%s'.", i, s)}
		}
	}
	toks = append(toks, token{tEOF, "", len(s)})
	return toks, nil
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$'
}

func isIdentChar(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9' || c == '/' || c == '.'
}

type filterParser struct {
	src      string
	toks     []token
	i        int
	schema   filterSchema
	vars     map[string]bool
	advanced bool
}

// parseFilter parses and type-checks expr against schema.
func parseFilter(expr string, schema filterSchema) (*parsedFilter, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, &filterError{Msg: "Invalid filter clause: the expression is empty."}
	}
	toks, err := tokenize(expr)
	if err != nil {
		return nil, err
	}
	p := &filterParser{src: expr, toks: toks, schema: schema, vars: map[string]bool{}}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.syntax(t, "unexpected '"+t.text+"'")
	}
	return &parsedFilter{root: root, Advanced: p.advanced}, nil
}

func (p *filterParser) peek() token { return p.toks[p.i] }
func (p *filterParser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *filterParser) syntax(t token, what string) error {
	return &filterError{Msg: fmt.Sprintf("Invalid filter clause: syntax error at position %d in '%s': %s.", t.pos, p.src, what)}
}

func unsupported(format string, a ...any) error {
	return &filterError{Unsupported: true, Msg: "Unsupported Query. " + fmt.Sprintf(format, a...)}
}

func (p *filterParser) isKeyword(t token, kw string) bool {
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func (p *filterParser) parseOr() (filterNode, error) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.isKeyword(p.peek(), "or") {
		p.next()
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = orNode{l, r}
	}
	return l, nil
}

func (p *filterParser) parseAnd() (filterNode, error) {
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for p.isKeyword(p.peek(), "and") {
		p.next()
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		l = andNode{l, r}
	}
	return l, nil
}

func (p *filterParser) parseUnary() (filterNode, error) {
	if p.isKeyword(p.peek(), "not") {
		p.next()
		p.advanced = true
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	}
	return p.parsePrimary()
}

func (p *filterParser) expect(k tokKind, what string) (token, error) {
	t := p.next()
	if t.kind != k {
		if t.kind == tEOF {
			return t, p.syntax(t, "expected "+what+" before the end of the expression")
		}
		return t, p.syntax(t, "expected "+what+", found '"+t.text+"'")
	}
	return t, nil
}

// operand resolves an identifier to a lambda variable or a schema property.
func (p *filterParser) operand(t token) (name string, typ propType, isVar bool, prop filterProp, err error) {
	if p.vars[t.text] {
		return t.text, typeString, true, filterProp{}, nil
	}
	fp, ok := p.schema[strings.ToLower(t.text)]
	if !ok {
		return "", 0, false, fp, unsupported("Unsupported or invalid query filter clause specified for property '%s'.", t.text)
	}
	return fp.name, fp.typ, false, fp, nil
}

func (p *filterParser) parsePrimary() (filterNode, error) {
	t := p.next()
	switch t.kind {
	case tLParen:
		x, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen, "')'"); err != nil {
			return nil, err
		}
		return x, nil
	case tIdent:
	case tString:
		return nil, unsupported("A literal on the left of an operator is not supported.")
	case tEOF:
		return nil, p.syntax(t, "unexpected end of expression")
	default:
		return nil, p.syntax(t, "unexpected '"+t.text+"'")
	}
	lower := strings.ToLower(t.text)
	// Functions.
	if p.peek().kind == tLParen && !strings.Contains(lower, "/") {
		switch lower {
		case "startswith", "endswith":
			return p.parseFunc(lower)
		default:
			return nil, unsupported("The function '%s' is not supported.", t.text)
		}
	}
	// Lambdas.
	if i := strings.LastIndex(lower, "/"); i > 0 {
		op := lower[i+1:]
		collTok := token{tIdent, t.text[:i], t.pos}
		if op == "all" {
			return nil, unsupported("The lambda operator 'all' is not supported.")
		}
		if op != "any" {
			return nil, unsupported("Navigation path '%s' is not supported.", t.text)
		}
		return p.parseAny(collTok)
	}
	name, typ, isVar, _, err := p.operand(t)
	if err != nil {
		return nil, err
	}
	opTok := p.next()
	if opTok.kind != tIdent {
		return nil, p.syntax(opTok, "expected an operator after '"+t.text+"'")
	}
	if typ == typeStringColl {
		return nil, unsupported("Property '%s' is a collection; use '%s/any(...)'.", t.text, t.text)
	}
	switch op := strings.ToLower(opTok.text); op {
	case "eq", "ne":
		if op == "ne" {
			p.advanced = true
		}
		lit, err := p.parseLiteral(typ)
		if err != nil {
			return nil, err
		}
		return cmpNode{ne: op == "ne", prop: name, isVar: isVar, lit: lit}, nil
	case "in":
		if _, err := p.expect(tLParen, "'('"); err != nil {
			return nil, err
		}
		var lits []literal
		for {
			lit, err := p.parseLiteral(typ)
			if err != nil {
				return nil, err
			}
			lits = append(lits, lit)
			n := p.next()
			if n.kind == tRParen {
				break
			}
			if n.kind != tComma {
				return nil, p.syntax(n, "expected ',' or ')'")
			}
		}
		return inNode{prop: name, isVar: isVar, lits: lits}, nil
	case "gt", "ge", "lt", "le", "has":
		return nil, unsupported("The operator '%s' is not supported.", opTok.text)
	default:
		return nil, p.syntax(opTok, "unknown operator '"+opTok.text+"'")
	}
}

func (p *filterParser) parseLiteral(typ propType) (literal, error) {
	t := p.next()
	var lit literal
	switch {
	case t.kind == tString:
		lit = literal{kind: litString, s: t.text}
	case p.isKeyword(t, "true"), p.isKeyword(t, "false"):
		lit = literal{kind: litBool, b: strings.EqualFold(t.text, "true")}
	case p.isKeyword(t, "null"):
		return literal{kind: litNull}, nil
	case t.kind == tEOF:
		return lit, p.syntax(t, "expected a literal before the end of the expression")
	default:
		return lit, p.syntax(t, "expected a literal, found '"+t.text+"'")
	}
	if typ == typeString && lit.kind != litString || typ == typeBool && lit.kind != litBool {
		return lit, &filterError{Msg: fmt.Sprintf("Invalid filter clause: the literal at position %d does not match the property type.", t.pos)}
	}
	return lit, nil
}

func (p *filterParser) parseFunc(fn string) (filterNode, error) {
	p.next() // (
	t, err := p.expect(tIdent, "a property name")
	if err != nil {
		return nil, err
	}
	name, typ, isVar, fp, err := p.operand(t)
	if err != nil {
		return nil, err
	}
	if typ != typeString {
		return nil, unsupported("The function '%s' is not supported on property '%s'.", fn, t.text)
	}
	if fn == "endswith" {
		if !isVar && !fp.endsWith {
			return nil, unsupported("The function 'endsWith' is not supported on property '%s'.", t.text)
		}
		p.advanced = true
	}
	if _, err := p.expect(tComma, "','"); err != nil {
		return nil, err
	}
	arg, err := p.expect(tString, "a string literal")
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(tRParen, "')'"); err != nil {
		return nil, err
	}
	return funcNode{fn: fn, prop: name, isVar: isVar, arg: arg.text}, nil
}

func (p *filterParser) parseAny(collTok token) (filterNode, error) {
	fp, ok := p.schema[strings.ToLower(collTok.text)]
	if !ok || fp.typ != typeStringColl {
		return nil, unsupported("Unsupported or invalid query filter clause specified for property '%s'.", collTok.text)
	}
	if _, err := p.expect(tLParen, "'('"); err != nil {
		return nil, err
	}
	if p.peek().kind == tRParen {
		p.next()
		return anyNode{coll: fp.name}, nil
	}
	v, err := p.expect(tIdent, "a lambda variable")
	if err != nil {
		return nil, err
	}
	if p.vars[v.text] {
		return nil, p.syntax(v, "lambda variable '"+v.text+"' is already in scope")
	}
	if _, err := p.expect(tColon, "':'"); err != nil {
		return nil, err
	}
	p.vars[v.text] = true
	body, err := p.parseOr()
	delete(p.vars, v.text)
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(tRParen, "')'"); err != nil {
		return nil, err
	}
	return anyNode{coll: fp.name, v: v.text, body: body}, nil
}

// scanQuoted reads the literal that opens with the quote at s[i] (' or "),
// a doubled quote standing for one, and returns its text, the index after
// the closing quote, and whether there was one. OData and OPATH quote
// alike.
func scanQuoted(s string, i int) (lit string, next int, closed bool) {
	q := s[i]
	i++
	var b strings.Builder
	for i < len(s) {
		if s[i] == q {
			if i+1 < len(s) && s[i+1] == q {
				b.WriteByte(q)
				i += 2
				continue
			}
			return b.String(), i + 1, true
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String(), i, false
}
