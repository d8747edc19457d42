package emulator

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// parseOPath parses the subset of Exchange's OPATH -Filter syntax
// (https://learn.microsoft.com/powershell/exchange/recipient-filters)
// hybridsync sends to Get-Recipient and Get-DistributionGroup:
//
//	Property -eq|-ne|-like|-notlike 'value', combined with -and, -or, -not
//	and parentheses; values in single or double quotes ('' and "" escape),
//	or $true, $false, $null.
//
// Properties: EmailAddresses (matches any proxy address; a value without a
// prefix matches the SMTP address part), PrimarySmtpAddress, Alias, Name,
// DisplayName, RecipientType, RecipientTypeDetails,
// ExternalDirectoryObjectId, Guid, IsDirSynced,
// HiddenFromAddressListsEnabled, ForwardingAddress (the target's id; for
// -eq $null and -ne $null), CustomAttribute1..15. Comparisons ignore
// case; -like takes * wildcards.
func parseOPath(s string) (func(*Object) bool, error) {
	toks, err := opathTokens(s)
	if err != nil {
		return nil, err
	}
	p := &opathParser{toks: toks}
	m, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.i].s)
	}
	return m, nil
}

type opathTok struct {
	s      string
	quoted bool
}

func opathTokens(s string) ([]opathTok, error) {
	var out []opathTok
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(' || c == ')':
			out = append(out, opathTok{s: string(c)})
			i++
		case c == '\'' || c == '"':
			lit, next, closed := scanQuoted(s, i)
			if !closed {
				return nil, errors.New("unterminated quoted string")
			}
			i = next
			out = append(out, opathTok{s: lit, quoted: true})
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '(' && s[j] != ')' {
				j++
			}
			out = append(out, opathTok{s: s[i:j]})
			i = j
		}
	}
	return out, nil
}

type opathParser struct {
	toks []opathTok
	i    int
}

func (p *opathParser) peekOp(op string) bool {
	return p.i < len(p.toks) && !p.toks[p.i].quoted && strings.EqualFold(p.toks[p.i].s, op)
}

func (p *opathParser) or() (func(*Object) bool, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peekOp("-or") {
		p.i++
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		ll := l
		l = func(o *Object) bool { return ll(o) || r(o) }
	}
	return l, nil
}

func (p *opathParser) and() (func(*Object) bool, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.peekOp("-and") {
		p.i++
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		ll := l
		l = func(o *Object) bool { return ll(o) && r(o) }
	}
	return l, nil
}

func (p *opathParser) unary() (func(*Object) bool, error) {
	if p.peekOp("-not") {
		p.i++
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return func(o *Object) bool { return !x(o) }, nil
	}
	if p.peekOp("(") {
		p.i++
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.peekOp(")") {
			return nil, errors.New("missing ')'")
		}
		p.i++
		return x, nil
	}
	if p.i+3 > len(p.toks) {
		return nil, errors.New("incomplete comparison")
	}
	prop, op, val := p.toks[p.i], p.toks[p.i+1], p.toks[p.i+2]
	p.i += 3
	if prop.quoted || op.quoted {
		return nil, fmt.Errorf("expected a property and an operator at %q", prop.s)
	}
	get, err := opathProp(prop.s)
	if err != nil {
		return nil, err
	}
	want := val.s
	isNull := false
	if !val.quoted {
		switch strings.ToLower(want) {
		case "$true":
			want = "true"
		case "$false":
			want = "false"
		case "$null":
			isNull = true
		default:
			return nil, fmt.Errorf("the value %q must be quoted", val.s)
		}
	}
	var cmp func(have string) bool
	switch strings.ToLower(op.s) {
	case "-eq", "-ne":
		cmp = func(have string) bool {
			if isNull {
				return have == ""
			}
			return strings.EqualFold(have, want)
		}
	case "-like", "-notlike":
		pat := strings.ToLower(want)
		cmp = func(have string) bool {
			ok, _ := path.Match(pat, strings.ToLower(have))
			return ok
		}
	default:
		return nil, fmt.Errorf("the operator %q is not supported", op.s)
	}
	negate := strings.EqualFold(op.s, "-ne") || strings.EqualFold(op.s, "-notlike")
	isEmail := strings.EqualFold(prop.s, "EmailAddresses")
	return func(o *Object) bool {
		found := false
		for _, h := range get(o) {
			if isEmail && !strings.Contains(want, ":") {
				if pre, addr, ok := strings.Cut(h, ":"); ok && strings.EqualFold(pre, "smtp") {
					h = addr
				}
			}
			if cmp(h) {
				found = true
				break
			}
		}
		return found != negate
	}, nil
}

// opathProp returns the values of an OPATH property.
func opathProp(name string) (func(*Object) []string, error) {
	one := func(f func(*Object) string) func(*Object) []string {
		return func(o *Object) []string { return []string{f(o)} }
	}
	switch strings.ToLower(name) {
	case "emailaddresses":
		return func(o *Object) []string { return o.ProxyAddresses }, nil
	case "primarysmtpaddress", "windowsemailaddress":
		return one((*Object).PrimarySMTPAddress), nil
	case "alias", "mailnickname":
		return one(func(o *Object) string { return o.MailNickname }), nil
	case "name":
		return one((*Object).ExchangeName), nil
	case "displayname":
		return one(func(o *Object) string { return o.DisplayName }), nil
	case "recipienttypedetails":
		return one((*Object).RecipientTypeDetails), nil
	case "recipienttype":
		return one(func(o *Object) string { return recipientType(o.RecipientTypeDetails()) }), nil
	case "externaldirectoryobjectid", "guid":
		return one(func(o *Object) string { return o.ID }), nil
	case "isdirsynced":
		return one(func(o *Object) string { return strconv.FormatBool(o.SyncManaged()) }), nil
	case "forwardingaddress":
		return one(func(o *Object) string { return o.Exchange.ForwardingAddress }), nil
	case "hiddenfromaddresslistsenabled":
		return one(func(o *Object) string { return strconv.FormatBool(o.Exchange.HiddenFromAddressListsEnabled) }), nil
	}
	if n, ok := strings.CutPrefix(strings.ToLower(name), "customattribute"); ok {
		if i, err := strconv.Atoi(n); err == nil && i >= 1 && i <= 15 {
			return one(func(o *Object) string { return o.Exchange.CustomAttributes[i-1] }), nil
		}
	}
	return nil, fmt.Errorf("the property %q is not supported in the tenant emulator's filters", name)
}
