// Package adldap is hybridsync's client for on-premises Active Directory over
// LDAP v3.
//
// It dials domain controllers over LDAPS or StartTLS with certificate
// verification, binds simply or with Kerberos (GSSAPI), fails over across
// several DCs and re-dials after network errors. Reads are streamed page by
// page (RFC 2696 paged results, at most 1,000 entries a page) and always say
// whether they were complete, because a partial read must never be mistaken
// for the whole directory. Large multi-valued attributes are completed with
// ranged retrieval as described in Microsoft's "Attribute Range Retrieval"
// (https://learn.microsoft.com/windows/win32/adsi/attribute-range-retrieval).
// Writes change individual values so that concurrent edits survive, and every
// LDAP result code is mapped to a retry class (internal/retry).
//
// Filters and DNs are escaped exactly once, in this package, where they are
// built: callers pass raw values.
package adldap
