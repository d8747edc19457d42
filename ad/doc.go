// Package ad is hybridsync's model of on-premises Active Directory
// recipients: Recipient (a user, group, contact or dynamic distribution
// list with the attributes hybridsync reads), typed proxyAddresses, group
// types, objectGUID and objectSid forms, DN parsing and comparison as AD
// does it, the value-level Change of a write, and the identity of the DC
// that answered (DC). It does no I/O and links no LDAP library: the pure
// packages (reconcile/plan, reconcile/proxycalc) import it alone. The LDAP
// client that reads and writes these objects is package ad/adldap.
package ad
