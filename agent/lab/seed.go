package lab

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
)

// Manifest records what the seed created, so tests and demos can find
// objects by role instead of hard-coding names.
type Manifest struct {
	Seed     uint64 `json:"seed"`
	Size     int    `json:"size"`
	RootOU   string `json:"rootOU"`
	SyncOU   string `json:"syncOU"`
	NoSyncOU string `json:"noSyncOU"`
	TestsOU  string `json:"testsOU"`
	// SyncTestsOU is in the tenant emulator's sync scope, like SyncOU, but
	// holds no seeded objects: tests that need synced objects create their
	// own OU under it, so they never change what SyncOU holds.
	SyncTestsOU string `json:"syncTestsOU"`
	MailDomain  string `json:"mailDomain"`

	BigDL        string   `json:"bigDL"`
	BigDLMembers int      `json:"bigDLMembers"`
	NestedDLs    []string `json:"nestedDLs"` // level 1, 2, 3
	CycleDLs     []string `json:"cycleDLs"`
	ManagedDL    string   `json:"managedDL"`
	ModeratedDL  string   `json:"moderatedDL"`
	RestrictedDL string   `json:"restrictedDL"`
	MailSecurity string   `json:"mailEnabledSecurityGroup"`
	// LicenseGroup is the group whose members count as licensed for
	// Exchange Online in the tenant emulator.
	LicenseGroup  string   `json:"licenseGroup"`
	Licensed      []string `json:"licensed"`
	DynamicDL     string   `json:"dynamicDL"`
	X500OnlyUsers []string `json:"x500OnlyUsers"`
	RemoteMailbox string   `json:"remoteMailbox"`
	SpecialNames  []string `json:"specialNames"` // DNs of objects with LDAP-special characters
	NoSyncObjects []string `json:"noSyncObjects"`

	// Distribution lists a migration can move (all in the sync scope, every
	// member, owner, moderator and restricted sender a synced mail
	// recipient): ManagedDL, ModeratedDL, RestrictedDL above, and SpecialDL,
	// whose name holds a comma, a plus, quotes, an ampersand, parentheses
	// and non-ASCII letters.
	SpecialDL string `json:"specialDL"`
	// Groups a migration must refuse, each for one reason (DNs):
	// MailSecurity above is a mail-enabled security group (migrated as
	// such, or refused where only distribution lists are allowed).
	DomainLocalDL       string `json:"domainLocalDL"`       // a mail-enabled domain-local group
	NotMailEnabledGroup string `json:"notMailEnabledGroup"` // a universal distribution group without mail attributes
	ProtectedDL         string `json:"protectedDL"`         // protected from accidental deletion
	OrphanMemberDL      string `json:"orphanMemberDL"`      // has OrphanMember, which has no cloud twin
	OrphanMember        string `json:"orphanMember"`        // a mail user outside the sync scope
	ForeignDomainDL     string `json:"foreignDomainDL"`     // holds ForeignAddress
	ForeignAddress      string `json:"foreignAddress"`      // an address in a domain the tenant does not accept
	NestedDL            string `json:"nestedDL"`            // NestedDLs[0]: has a mail-enabled child group

	// Hybrid mail flow as a migration leaves it: a cloud-only list
	// (CloudDL, its primary address; lab up makes it in the tenant with the
	// real Exchange client, with CloudDLMembers), an on-premises routing
	// contact whose targetAddress is the list's routing address, and an
	// on-premises dynamic DL holding the list's address whose filter
	// matches that contact only.
	CloudDL         string   `json:"cloudDL"`
	CloudDLName     string   `json:"cloudDLName"`
	CloudDLAlias    string   `json:"cloudDLAlias"`
	CloudDLMembers  []string `json:"cloudDLMembers"` // addresses of synced mailbox users
	RoutingContact  string   `json:"routingContact"`
	HybridDynamicDL string   `json:"hybridDynamicDL"`

	// Recipients counts mail-enabled recipients (what `ad export` prints).
	Recipients int `json:"recipients"`
	Objects    int `json:"objects"`
}

// seeder creates objects with bounded concurrency over one LDAP connection
// (go-ldap multiplexes requests), which roughly doubles the rate of
// one-at-a-time adds against Samba.
type seeder struct {
	c      *adldap.Client
	rng    *rand.Rand
	domain string
	upn    string // the AD DNS domain, for internal UPNs
	m      *Manifest
}

type entry struct {
	dn    string
	attrs []ad.Attribute
}

// addAll adds entries with workers concurrent Adds. It returns the first
// Add's error, or ctx's if ctx ended before every entry was added.
func (s *seeder) addAll(ctx context.Context, entries []entry, workers int) error {
	ch := make(chan entry)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range ch {
				if err := s.c.Add(ctx, e.dn, e.attrs); err != nil {
					once.Do(func() { first = fmt.Errorf("lab: seed %s: %w", e.dn, err); cancel() })
				}
			}
		}()
	}
	for _, e := range entries {
		select {
		case ch <- e:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(ch)
	wg.Wait()
	s.m.Objects += len(entries)
	if first == nil {
		// Cancelled from outside: some entries were never sent.
		first = ctx.Err()
	}
	return first
}

func attr(name string, values ...string) ad.Attribute {
	return ad.Attribute{Name: name, Values: values}
}

var firstNames = []string{"Ada", "Bjørn", "Chloé", "Dmitri", "Esther", "Farid", "Grace", "Hiro", "Ingrid", "José",
	"Kwame", "Lena", "Mateo", "Nadia", "Oscar", "Priya", "Quinn", "Rosa", "Søren", "Tomás", "Uma", "Viktor",
	"Wen", "Ximena", "Yusuf", "Zoë"}
var lastNames = []string{"Abbott", "Berg", "Castillo", "Dubois", "Eriksen", "Fischer", "García", "Hansen",
	"Ito", "Jansen", "Kowalski", "Larsen", "Müller", "Nakamura", "O'Brien", "Petrov", "Quispe", "Rossi",
	"Schmidt", "Tanaka", "Umar", "Varga", "Walsh", "Xu", "Yilmaz", "Zhang"}

// asciiFold maps the few non-ASCII letters of the name lists to ASCII for
// addresses; display names keep them.
func asciiFold(s string) string {
	r := strings.NewReplacer("ø", "o", "é", "e", "á", "a", "í", "i", "ü", "u", "ë", "e", "'", "", "Ø", "O", "ó", "o")
	return strings.ToLower(r.Replace(s))
}

type person struct {
	given, sn, alias string
}

func (s *seeder) person(i int) person {
	g := firstNames[s.rng.IntN(len(firstNames))]
	l := lastNames[s.rng.IntN(len(lastNames))]
	return person{g, l, fmt.Sprintf("%s.%s%d", asciiFold(g), asciiFold(l), i)}
}

func userEntry(parent, cn string, p person, extra ...ad.Attribute) entry {
	dn := ad.ChildDN("CN", cn, parent)
	attrs := []ad.Attribute{
		attr("objectClass", "top", "person", "organizationalPerson", "user"),
		attr("sAMAccountName", samName(p.alias)),
		attr("givenName", p.given),
		attr("sn", p.sn),
		attr("displayName", p.given+" "+p.sn),
		// A disabled normal account: mail objects need no password.
		attr("userAccountControl", "514"),
	}
	return entry{dn, append(attrs, extra...)}
}

// samName fits an alias into sAMAccountName's 20 characters, keeping the
// unique numeric tail.
func samName(alias string) string {
	a := strings.NewReplacer(".", "", "-", "").Replace(alias)
	if len(a) <= 20 {
		return a
	}
	i := len(a)
	for i > 0 && a[i-1] >= '0' && a[i-1] <= '9' {
		i--
	}
	tail := a[i:]
	return a[:20-len(tail)] + tail
}

// Seed populates the lab deterministically from seed: the same seed and
// size give the same names, addresses and memberships. size is the number
// of bulk users (at least 5,000, so one DL has 5,000+ members); the default
// lab uses the minimum.
func Seed(ctx context.Context, c *adldap.Client, baseDN, mailDomain, adDomain string, seed uint64, size int) (*Manifest, error) {
	if size < 5000 {
		size = 5000
	}
	s := &seeder{
		c:      c,
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		domain: mailDomain,
		upn:    adDomain,
		m:      &Manifest{Seed: seed, Size: size, MailDomain: mailDomain},
	}
	m := s.m
	m.RootOU = ad.ChildDN("OU", "HybridSync Lab", baseDN)
	m.SyncOU = ad.ChildDN("OU", "Sync", m.RootOU)
	m.NoSyncOU = ad.ChildDN("OU", "NoSync", m.RootOU)
	m.TestsOU = ad.ChildDN("OU", "Tests", m.RootOU)
	m.SyncTestsOU = ad.ChildDN("OU", "Sync Tests", m.RootOU)
	usersOU := ad.ChildDN("OU", "Users", m.SyncOU)
	bulkOU := ad.ChildDN("OU", "Bulk", m.SyncOU)
	groupsOU := ad.ChildDN("OU", "Groups", m.SyncOU)
	contactsOU := ad.ChildDN("OU", "Contacts", m.SyncOU)
	specialOU := ad.ChildDN("OU", "R&D, Europe (Zoë+Ops)", m.SyncOU)
	ou := func(dn, name string) entry {
		return entry{dn, []ad.Attribute{attr("objectClass", "top", "organizationalUnit"), attr("ou", name)}}
	}
	if err := s.addAll(ctx, []entry{ou(m.RootOU, "HybridSync Lab")}, 1); err != nil {
		return nil, err
	}
	if err := s.addAll(ctx, []entry{ou(m.SyncOU, "Sync"), ou(m.NoSyncOU, "NoSync"), ou(m.TestsOU, "Tests"), ou(m.SyncTestsOU, "Sync Tests")}, 1); err != nil {
		return nil, err
	}
	if err := s.addAll(ctx, []entry{ou(usersOU, "Users"), ou(bulkOU, "Bulk"), ou(groupsOU, "Groups"),
		ou(contactsOU, "Contacts"), ou(specialOU, "R&D, Europe (Zoë+Ops)")}, 1); err != nil {
		return nil, err
	}

	dom := mailDomain
	var users []entry
	var staff []string // DNs of named users, for group roles
	// mailStaff are the named users that are mail recipients (all but the
	// sixth without mail attributes), for the lists a migration moves;
	// mailboxMail the addresses of the licensed mailbox users.
	var mailStaff, mailboxMail []string
	recipients := 0
	// Named users: the variations an admin meets.
	for i := 0; i < 60; i++ {
		p := s.person(i)
		cn := p.given + " " + p.sn + " " + strconv.Itoa(i)
		var extra []ad.Attribute
		switch i % 6 {
		case 0: // standard synced mailbox user: UPN = primary address
			extra = []ad.Attribute{
				attr("userPrincipalName", p.alias+"@"+dom), attr("mail", p.alias+"@"+dom), attr("mailNickname", p.alias),
				attr("proxyAddresses", "SMTP:"+p.alias+"@"+dom, "smtp:"+samName(p.alias)+"@"+dom),
			}
		case 1: // UPN differs from mail (internal AD suffix)
			extra = []ad.Attribute{
				attr("userPrincipalName", samName(p.alias)+"@"+s.upn), attr("mail", p.alias+"@"+dom), attr("mailNickname", p.alias),
				attr("proxyAddresses", "SMTP:"+p.alias+"@"+dom),
			}
		case 2: // mail-only user whose proxyAddresses hold only an x500 value, as Exchange hybrid writes back
			extra = []ad.Attribute{
				attr("userPrincipalName", p.alias+"@"+dom), attr("mail", p.alias+"@"+dom),
				attr("proxyAddresses", fmt.Sprintf("x500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=%016x-%s", s.rng.Uint64(), samName(p.alias))),
			}
		case 3: // mail only, no proxyAddresses
			extra = []ad.Attribute{attr("userPrincipalName", p.alias+"@"+dom), attr("mail", p.alias+"@"+dom)}
		case 4: // SIP, X400 and an address in a domain the tenant does not accept
			extra = []ad.Attribute{
				attr("userPrincipalName", p.alias+"@"+dom), attr("mail", p.alias+"@"+dom), attr("mailNickname", p.alias),
				attr("proxyAddresses", "SMTP:"+p.alias+"@"+dom, "sip:"+p.alias+"@"+dom,
					"X400:c=US;a= ;p=HybridSync;o=Exchange;s="+asciiFold(p.sn)+";g="+asciiFold(p.given)+";",
					"smtp:"+p.alias+"@acquired-legacy.test"),
				attr("extensionAttribute1", "Dept-"+strconv.Itoa(i%4)),
			}
		case 5: // no mail attributes: not a recipient
			extra = []ad.Attribute{attr("userPrincipalName", p.alias+"@"+s.upn)}
		}
		if i%6 != 5 {
			recipients++
		}
		e := userEntry(usersOU, cn, p, extra...)
		users = append(users, e)
		staff = append(staff, e.dn)
		if i%6 != 5 {
			mailStaff = append(mailStaff, e.dn)
		}
		if i%6 == 0 {
			mailboxMail = append(mailboxMail, p.alias+"@"+dom)
		}
		if i%6 == 2 {
			m.X500OnlyUsers = append(m.X500OnlyUsers, e.dn)
		}
	}
	// A remote mailbox (already migrated to Exchange Online).
	rp := person{"Rémy", "Cloud", "remy.cloud"}
	remote := userEntry(usersOU, "Rémy Cloud (remote mailbox)", rp,
		attr("userPrincipalName", rp.alias+"@"+dom), attr("mail", rp.alias+"@"+dom), attr("mailNickname", rp.alias),
		attr("proxyAddresses", "SMTP:"+rp.alias+"@"+dom, "smtp:"+rp.alias+"@hslab.mail.onmicrosoft.com"),
		attr("targetAddress", "SMTP:"+rp.alias+"@hslab.mail.onmicrosoft.com"),
		attr("msExchRecipientTypeDetails", "2147483648"), attr("msExchRecipientDisplayType", "-2147483642"),
		attr("msExchRemoteRecipientType", "4"))
	users = append(users, remote)
	m.RemoteMailbox = remote.dn
	recipients++
	// Users with LDAP-special characters in their names.
	for i, name := range []string{`Smith, John (Sales)*`, `Back\slash + Plus`, `Zoë "Quoted" Ångström`, `#Hash; Semi<colon>`} {
		alias := fmt.Sprintf("special%d", i)
		e := userEntry(specialOU, name, person{"Special", strconv.Itoa(i), alias},
			attr("userPrincipalName", alias+"@"+dom), attr("mail", alias+"@"+dom), attr("mailNickname", alias),
			attr("proxyAddresses", "SMTP:"+alias+"@"+dom))
		users = append(users, e)
		m.SpecialNames = append(m.SpecialNames, e.dn)
		recipients++
	}
	// Out of sync scope.
	for i := 0; i < 5; i++ {
		p := s.person(1000 + i)
		e := userEntry(m.NoSyncOU, "NoSync "+p.given+" "+strconv.Itoa(i), p,
			attr("userPrincipalName", p.alias+"@"+dom), attr("mail", p.alias+"@"+dom), attr("mailNickname", p.alias),
			attr("proxyAddresses", "SMTP:"+p.alias+"@"+dom))
		users = append(users, e)
		m.NoSyncObjects = append(m.NoSyncObjects, e.dn)
		recipients++
	}
	if err := s.addAll(ctx, users, 4); err != nil {
		return nil, err
	}

	// Bulk users: the membership of the big DL.
	var bulk []entry
	var bulkDNs []string
	for i := 0; i < size; i++ {
		p := s.person(i)
		alias := fmt.Sprintf("bulk%06d", i)
		e := userEntry(bulkOU, fmt.Sprintf("Bulk %s %s %06d", p.given, p.sn, i), person{p.given, p.sn, alias},
			attr("userPrincipalName", alias+"@"+dom), attr("mail", alias+"@"+dom), attr("mailNickname", alias),
			attr("proxyAddresses", "SMTP:"+alias+"@"+dom))
		bulk = append(bulk, e)
		bulkDNs = append(bulkDNs, e.dn)
	}
	recipients += len(bulk)
	if err := s.addAll(ctx, bulk, 4); err != nil {
		return nil, err
	}

	// Contacts.
	var contacts []entry
	var contactDNs []string
	for i := 0; i < 12; i++ {
		p := s.person(2000 + i)
		ext := asciiFold(p.given) + "." + asciiFold(p.sn) + "@fabrikam.test"
		dn := ad.ChildDN("CN", fmt.Sprintf("%s %s (Fabrikam) %d", p.given, p.sn, i), contactsOU)
		contacts = append(contacts, entry{dn, []ad.Attribute{
			attr("objectClass", "top", "person", "organizationalPerson", "contact"),
			attr("displayName", p.given+" "+p.sn+" (Fabrikam)"),
			attr("mail", ext), attr("mailNickname", fmt.Sprintf("fabrikam-%d", i)),
			attr("targetAddress", "SMTP:"+ext), attr("proxyAddresses", "SMTP:"+ext),
		}})
		contactDNs = append(contactDNs, dn)
		recipients++
	}
	if err := s.addAll(ctx, contacts, 4); err != nil {
		return nil, err
	}

	// Groups.
	const (
		universalDistribution   = "8"
		domainLocalDistribution = "4"
		universalSecurity       = "-2147483640"
		globalSecurity          = "-2147483646"
	)
	group := func(parent, name, alias, gtype string, members []string, extra ...ad.Attribute) entry {
		attrs := []ad.Attribute{
			attr("objectClass", "top", "group"),
			attr("sAMAccountName", samName(alias)),
			attr("groupType", gtype),
			attr("displayName", name),
		}
		if alias != "" && gtype != globalSecurity {
			attrs = append(attrs, attr("mail", alias+"@"+dom), attr("mailNickname", alias),
				attr("proxyAddresses", "SMTP:"+alias+"@"+dom))
			recipients++
		}
		if len(members) > 0 {
			attrs = append(attrs, attr("member", members...))
		}
		return entry{ad.ChildDN("CN", name, parent), append(attrs, extra...)}
	}
	pick := func(n int) []string {
		out := make([]string, 0, n)
		for _, i := range s.rng.Perm(len(staff))[:n] {
			out = append(out, staff[i])
		}
		return out
	}
	pickMail := func(n int) []string {
		out := make([]string, 0, n)
		for _, i := range s.rng.Perm(len(mailStaff))[:n] {
			out = append(out, mailStaff[i])
		}
		return out
	}
	big := group(groupsOU, "All Staff", "allstaff", universalDistribution, append(append([]string{}, bulkDNs...), staff...))
	m.BigDL, m.BigDLMembers = big.dn, len(bulkDNs)+len(staff)
	l3 := group(groupsOU, "DL Level 3", "dl-level3", universalDistribution, pick(5))
	l2 := group(groupsOU, "DL Level 2", "dl-level2", universalDistribution, append(pick(3), l3.dn))
	l1 := group(groupsOU, "DL Level 1", "dl-level1", universalDistribution, append(pick(3), l2.dn))
	m.NestedDLs = []string{l1.dn, l2.dn, l3.dn}
	m.NestedDL = l1.dn
	mesg := group(groupsOU, "Finance Team", "finance", universalSecurity, pick(8))
	m.MailSecurity = mesg.dn
	admins := group(groupsOU, "Server Admins", "serveradmins", globalSecurity, pick(3))
	// Exchange Online licences: the standard, UPN-differs and SIP/X400
	// users, and half of the mail-only ones (so both halves of KB 3190357,
	// before and after a licence, exist in the lab).
	for i, dn := range staff {
		if k := i % 6; k == 0 || k == 1 || k == 4 || (k == 3 && i%12 == 3) {
			m.Licensed = append(m.Licensed, dn)
		}
	}
	licence := group(groupsOU, "Exchange Online Licensed", "exo-licensed", globalSecurity, m.Licensed)
	m.LicenseGroup = licence.dn
	managed := group(groupsOU, "Project Phoenix", "phoenix", universalDistribution, pickMail(10),
		attr("managedBy", staff[0]), attr("msExchCoManagedByLink", staff[6], staff[12]))
	m.ManagedDL = managed.dn
	moderated := group(groupsOU, "Announcements", "announcements", universalDistribution, pickMail(12),
		attr("managedBy", staff[0]),
		attr("msExchEnableModeration", "TRUE"), attr("msExchModeratedByLink", staff[6]),
		attr("msExchBypassModerationLink", staff[12]))
	m.ModeratedDL = moderated.dn
	special := group(specialOU, `Sales, EMEA (All)* \ Ops+QA`, "sales-emea", universalDistribution, pick(4))
	nonASCII := group(specialOU, "Équipe Zürich Straße", "equipe-zurich", universalDistribution, pick(4))
	m.SpecialNames = append(m.SpecialNames, special.dn, nonASCII.dn)
	specialDL := group(specialOU, `Ventes & Marketing, "Zoë" (Nord+Sud)`, "ventes-marketing", universalDistribution, pickMail(5))
	m.SpecialDL = specialDL.dn
	m.SpecialNames = append(m.SpecialNames, specialDL.dn)
	// Bad input for a migration, one reason each.
	domainLocal := group(groupsOU, "Local Facilities", "local-facilities", domainLocalDistribution, pickMail(3))
	m.DomainLocalDL = domainLocal.dn
	unmailed := entry{ad.ChildDN("CN", "Unmailed Distribution Group", groupsOU), []ad.Attribute{
		attr("objectClass", "top", "group"), attr("sAMAccountName", "unmailed-dl"), attr("groupType", universalDistribution),
		attr("displayName", "Unmailed Distribution Group"), attr("member", pickMail(3)...),
	}}
	m.NotMailEnabledGroup = unmailed.dn
	protected := group(groupsOU, "Legal Hold", "legal-hold", universalDistribution, pickMail(3))
	m.ProtectedDL = protected.dn
	m.OrphanMember = m.NoSyncObjects[0]
	orphan := group(groupsOU, "Regional Partners", "regional-partners", universalDistribution, append(pickMail(3), m.OrphanMember))
	m.OrphanMemberDL = orphan.dn
	m.ForeignAddress = "acquired-sales@acquired-legacy.test"
	foreign := withProxyAddresses(group(groupsOU, "Acquired Sales", "acquired-sales", universalDistribution, pickMail(3)),
		"SMTP:acquired-sales@"+dom, "smtp:"+m.ForeignAddress)
	m.ForeignDomainDL = foreign.dn
	nosyncDL := group(m.NoSyncOU, "NoSync Local DL", "nosync-dl", universalDistribution, m.NoSyncObjects)
	m.NoSyncObjects = append(m.NoSyncObjects, nosyncDL.dn)
	// Members first (the restricted DL and the cycle need their peers).
	first := []entry{l3, mesg, admins, licence, managed, moderated, special, nonASCII, specialDL, domainLocal, unmailed,
		protected, orphan, foreign, nosyncDL, big}
	if err := s.addAll(ctx, first, 4); err != nil {
		return nil, err
	}
	if err := s.addAll(ctx, []entry{l2}, 1); err != nil {
		return nil, err
	}
	restricted := group(groupsOU, "Executives", "executives", universalDistribution, pickMail(6),
		attr("authOrig", staff[0], staff[6]), attr("unauthOrig", staff[18]),
		attr("dLMemSubmitPerms", mesg.dn), attr("dLMemRejectPerms", l3.dn),
		attr("publicDelegates", staff[24]), attr("msExchRequireAuthToSendTo", "TRUE"),
		attr("msExchHideFromAddressLists", "TRUE"), attr("extensionAttribute10", "restricted"))
	m.RestrictedDL = restricted.dn
	cycleA := group(groupsOU, "DL Cycle A", "dl-cycle-a", universalDistribution, pick(2))
	if err := s.addAll(ctx, []entry{l1, restricted, cycleA}, 3); err != nil {
		return nil, err
	}
	cycleB := group(groupsOU, "DL Cycle B", "dl-cycle-b", universalDistribution, append(pick(2), cycleA.dn))
	if err := s.addAll(ctx, []entry{cycleB}, 1); err != nil {
		return nil, err
	}
	if err := c.Modify(ctx, cycleA.dn, ad.Change{Op: ad.AddValues, Attr: "member", Values: []string{cycleB.dn}}); err != nil {
		return nil, fmt.Errorf("lab: seed cycle: %w", err)
	}
	m.CycleDLs = []string{cycleA.dn, cycleB.dn}
	// A dynamic DL over the sync OU's mail users.
	ddl, err := c.CreateDynamicDL(ctx, groupsOU, adldap.DynamicDL{
		Name: "All Synced Mail Users", DisplayName: "All Synced Mail Users",
		Mail: "all-synced@" + dom, MailNickname: "all-synced",
		ProxyAddresses: []string{"SMTP:all-synced@" + dom},
		Filter:         adldap.And(adldap.Eq("objectCategory", "person"), adldap.Eq("objectClass", "user"), adldap.Present("mail")),
		BaseDN:         m.SyncOU,
	})
	if err != nil {
		return nil, fmt.Errorf("lab: seed dynamic DL: %w", err)
	}
	m.DynamicDL = ddl
	recipients++
	m.Objects += 2
	if err := c.SetProtectedFromDeletion(ctx, protected.dn, true); err != nil {
		return nil, fmt.Errorf("lab: seed protected group: %w", err)
	}
	if err := s.seedHybridMailFlow(ctx, groupsOU, mailboxMail[:3]); err != nil {
		return nil, err
	}
	recipients += 2
	m.Recipients = recipients
	return m, nil
}

// hybridMarker is the extensionAttribute1 value of the lab's routing
// contact, which its dynamic DL's filter matches.
const hybridMarker = "hybridsync-routing"

// seedHybridMailFlow creates the on-premises half of a migrated list with
// hybrid mail flow: the routing contact, targeting the cloud list's routing
// address, and the dynamic DL holding the list's own address, whose filter
// matches that contact only (as DLConversionV2's Enable-HybridMailflow
// leaves them). The cloud list is made at lab up (seedCloud).
func (s *seeder) seedHybridMailFlow(ctx context.Context, parent string, members []string) error {
	m := s.m
	m.CloudDLName, m.CloudDLAlias = "Cloud Team", "cloud-team"
	m.CloudDL, m.CloudDLMembers = m.CloudDLAlias+"@"+s.domain, members
	routing := m.CloudDLAlias + "@" + strings.TrimSuffix(initialDomain, ".onmicrosoft.com") + ".mail.onmicrosoft.com"
	contactMail := m.CloudDLAlias + "-routing@" + s.domain
	ct, err := s.c.CreateContact(ctx, parent, adldap.Contact{
		Name: m.CloudDLName + " (routing contact)", DisplayName: m.CloudDLName + " (routing contact)",
		Mail: contactMail, MailNickname: m.CloudDLAlias + "-routing", TargetAddress: "SMTP:" + routing,
		ProxyAddresses: []string{"SMTP:" + contactMail}, HiddenFromAddressLists: true,
		ExtensionAttributes: map[int]string{1: hybridMarker, 2: m.CloudDLAlias},
	})
	if err != nil {
		return fmt.Errorf("lab: seed routing contact: %w", err)
	}
	m.RoutingContact = ct
	ddl, err := s.c.CreateDynamicDL(ctx, parent, adldap.DynamicDL{
		Name: m.CloudDLName, DisplayName: m.CloudDLName, Mail: m.CloudDL, MailNickname: m.CloudDLAlias,
		ProxyAddresses:   []string{"SMTP:" + m.CloudDL},
		Filter:           adldap.And(adldap.Eq("objectClass", "contact"), adldap.Eq("extensionAttribute1", hybridMarker), adldap.Eq("extensionAttribute2", m.CloudDLAlias)),
		BaseDN:           parent,
		LegacyExchangeDN: "/o=HybridSync Lab/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=" + m.CloudDLAlias,
	})
	if err != nil {
		return fmt.Errorf("lab: seed hybrid dynamic DL: %w", err)
	}
	m.HybridDynamicDL = ddl
	m.Objects += 2
	return nil
}

// withProxyAddresses replaces an entry's proxyAddresses.
func withProxyAddresses(e entry, values ...string) entry {
	for i, a := range e.attrs {
		if a.Name == "proxyAddresses" {
			e.attrs[i] = attr("proxyAddresses", values...)
			return e
		}
	}
	e.attrs = append(e.attrs, attr("proxyAddresses", values...))
	return e
}
