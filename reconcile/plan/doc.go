// Package plan compares a snapshot of on-premises AD with a snapshot of the
// Microsoft 365 tenant and proposes what to fix, the way terraform plan
// does: findings that explain themselves (the object, the attribute, the
// evidence, the ProxyCalc rule and a suggested fix) and the few actions
// that are safe to apply automatically. Everything here is pure: no I/O, no
// clock, no randomness; the same snapshots give the same plan, byte for
// byte.
//
// # Join
//
// JoinSnapshots joins AD objects in sync scope to their cloud twins the way
// Microsoft Entra Connect Sync does: by onPremisesImmutableId, the base64
// of the source anchor (objectGUID by default, mS-DS-ConsistencyGuid when
// Options.Anchor says so), and for groups by onPremisesSecurityIdentifier
// when the anchor finds nothing. It reports AD objects in scope with no
// twin, synced cloud objects with no AD source (orphans, which the next
// sync deletes) and joins whose object types differ.
//
// # Findings
//
//   - MailNotPrimary: AD mail is not the (only) SMTP: value of
//     proxyAddresses, so ProxyCalc reads proxyAddresses and the cloud keeps
//     the old primary (KB 3190357: an SMTP: value of proxyAddresses always
//     wins over mail). It happens to a user that had only mail once
//     Exchange hybrid has written an x500 value back to proxyAddresses: a
//     later change to mail no longer reaches the cloud. The fix is the one
//     automatic action: dual-write the new primary into proxyAddresses and
//     keep the old one as a secondary.
//   - AddressDropped: values ProxyCalc discards (reserved domains, legacy
//     types, malformed, domain not accepted), from proxycalc.Result.Dropped.
//   - DuplicateAddress: the same SMTP address on two AD objects, or on an AD
//     object and a cloud-only object: AttributeValueMustBeUnique before the
//     export fails.
//   - LargeObject: more proxyAddresses values than Options.MaxProxyAddresses.
//   - CertificateUserIDFormat: certificateUserIds values that break the
//     case-sensitive X509:<...> formats (Entra rejects the export with
//     DataValidationFailed; "Mapping to the certificateUserIds attribute in
//     Microsoft Entra ID",
//     https://learn.microsoft.com/en-us/entra/identity/authentication/concept-certificate-based-authentication-certificateuserids).
//   - AddressDrift: predicted and actual cloud addresses differ and nothing
//     above explains it.
//   - UPNSecondaryByDesign: the UPN is a secondary cloud address; an
//     informational explanation, never drift.
//   - MissingInCloud, MissingInAD, TypeMismatch, AnchorInvalid: the join.
//   - MigratedListAddress: a list migrated by hybridsync whose cloud
//     primary address was changed in Exchange Online while its on-premises
//     dynamic list (ADSnapshot.Routing) still carries the old one. The fix
//     is the second automatic action: the dynamic list takes the cloud's
//     primary address in mail and proxyAddresses, the old one kept as a
//     secondary. See migrated.go for how the dynamic list is tied to its
//     cloud list without the migration's journal.
//
// # Limits
//
// Like Entra Connect's accidental-delete prevention, Build refuses a plan
// whose deletions (synced cloud objects the next sync will delete) or
// changes exceed Options' counts or percentages, unless allowed
// explicitly; a plan built from an incomplete read never counts or proposes
// a deletion.
package plan
