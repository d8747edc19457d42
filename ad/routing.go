package ad

// RoutingMarker is extensionAttribute1 of the routing contacts and
// on-premises dynamic distribution lists a migration by hybridsync makes;
// their extensionAttribute2 holds the migration's id (the migrated group's
// objectGUID).
const RoutingMarker = "hybridsync-routing"

// RoutingFilter is the msExchDynamicDLFilter of a migrated list's
// on-premises dynamic list: the routing contact of migration id, and
// nothing else. The planner reads it back to tell which routing contact
// (and so which cloud list) a dynamic list stands for.
func RoutingFilter(id string) string { return MarkerFilter(RoutingMarker, id) }

// MarkerFilter is the LDAP filter of the contacts marked with marker
// (extensionAttribute1) and key (extensionAttribute2), as migration tools
// mark their routing contacts.
func MarkerFilter(marker, key string) string {
	return "(&(objectClass=contact)(extensionAttribute1=" + EscapeFilter(marker) + ")(extensionAttribute2=" + EscapeFilter(key) + "))"
}
