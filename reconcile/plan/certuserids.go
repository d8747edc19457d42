package plan

import (
	"fmt"
	"strings"
)

// certPrefix is the case-sensitive prefix of every certificateUserIds value.
const certPrefix = "X509:"

// certTags are the mapping tags that may follow the prefix.
var certTags = []string{"<PN>", "<RFC822>", "<SKI>", "<SHA1-PUKEY>", "<S>", "<I>"}

// CertificateUserIDFormats lists the accepted formats, for messages.
const CertificateUserIDFormats = "X509:<PN>principal name, X509:<RFC822>address, X509:<SKI>key id, " +
	"X509:<SHA1-PUKEY>hash, X509:<S>subject, X509:<I>issuer<S>subject, X509:<I>issuer<SR>serial number"

// CheckCertificateUserID checks one certificateUserIds value against the
// formats in Microsoft's "certificate user IDs" article: the prefix
// "X509:" and a mapping tag, both case-sensitive, then a non-empty value;
// <I> (issuer) must be followed by <S> (subject) or <SR> (serial number);
// at most MaxCertificateUserIDLen characters. It returns "" when v is
// valid, else the problem and, when only the case of the prefix or tags is
// wrong, the corrected value (else "").
func CheckCertificateUserID(v string) (problem, fixed string) {
	if len(v) > MaxCertificateUserIDLen {
		return fmt.Sprintf("is %d characters long, more than %d", len(v), MaxCertificateUserIDLen), ""
	}
	var probs []string
	rest := v
	switch {
	case strings.HasPrefix(v, certPrefix):
		rest = v[len(certPrefix):]
	case len(v) >= len(certPrefix) && strings.EqualFold(v[:len(certPrefix)], certPrefix):
		probs = append(probs, fmt.Sprintf("starts with %q instead of %q (case-sensitive)", v[:len(certPrefix)], certPrefix))
		rest = v[len(certPrefix):]
	default:
		return fmt.Sprintf("does not start with %q", certPrefix), ""
	}
	tag, body, tagProb, ok := cutTag(rest, certTags)
	if !ok {
		return fmt.Sprintf("has no mapping tag after %s (want one of %s)", certPrefix, strings.Join(certTags, ", ")), ""
	}
	if tagProb != "" {
		probs = append(probs, tagProb)
	}
	out := certPrefix + tag
	if tag == "<I>" {
		// Issuer, then <SR> or <S>; <SR> is looked for first since "<S"
		// starts both.
		low := strings.ToLower(body)
		i, second := strings.Index(low, "<sr>"), "<SR>"
		if i < 0 {
			i, second = strings.Index(low, "<s>"), "<S>"
		}
		if i < 0 {
			return "has <I> (issuer) without <S> (subject) or <SR> (serial number)", ""
		}
		issuer, got, tail := body[:i], body[i:i+len(second)], body[i+len(second):]
		if got != second {
			probs = append(probs, fmt.Sprintf("writes %s as %s (case-sensitive)", second, got))
		}
		if issuer == "" || tail == "" {
			return fmt.Sprintf("has an empty issuer or %s value", second), ""
		}
		out += issuer + second + tail
	} else {
		if body == "" {
			return fmt.Sprintf("has nothing after %s%s", certPrefix, tag), ""
		}
		out += body
	}
	if len(probs) == 0 {
		return "", ""
	}
	return strings.Join(probs, "; "), out
}

// cutTag reads a "<...>" tag at the start of s and matches it to tags:
// exactly (prob "") or ignoring case (prob says so). tag is the canonical
// spelling.
func cutTag(s string, tags []string) (tag, rest, prob string, ok bool) {
	if !strings.HasPrefix(s, "<") {
		return "", "", "", false
	}
	end := strings.IndexByte(s, '>')
	if end < 0 {
		return "", "", "", false
	}
	got := s[:end+1]
	for _, t := range tags {
		if got == t {
			return t, s[end+1:], "", true
		}
	}
	for _, t := range tags {
		if strings.EqualFold(got, t) {
			return t, s[end+1:], fmt.Sprintf("writes the tag %s as %s (case-sensitive)", t, got), true
		}
	}
	return "", "", "", false
}
