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
func RoutingFilter(id string) string {
	return "(&(objectClass=contact)(extensionAttribute1=" + EscapeFilter(RoutingMarker) + ")(extensionAttribute2=" + EscapeFilter(id) + "))"
}
