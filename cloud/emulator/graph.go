package emulator

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/cloud"
)

// Graph collections and their object kinds.
func collKind(coll string) (cloud.Kind, bool) {
	switch coll {
	case "users":
		return cloud.KindUser, true
	case "groups":
		return cloud.KindGroup, true
	case "contacts":
		return cloud.KindContact, true
	}
	return "", false
}

func odataType(k cloud.Kind) string {
	switch k {
	case cloud.KindUser:
		return "#microsoft.graph.user"
	case cloud.KindGroup:
		return "#microsoft.graph.group"
	case cloud.KindContact:
		return "#microsoft.graph.orgContact"
	}
	return "#microsoft.graph.directoryObject"
}

// wireCtx is what property getters need besides the object.
type wireCtx struct {
	exportErrs map[string][]ExportError
}

type propDef struct {
	name string
	typ  propType
	get  func(o *Object, c *wireCtx) any
	// def: part of the default property set (no $select).
	def bool
	// filter: usable in $filter; endsWith: endsWith allowed (advanced).
	filter, endsWith bool
}

func strOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func collOrEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// kindProps lists the properties the emulator serves for kind, in output
// order, following the v1.0 resource definitions.
func kindProps(k cloud.Kind) []propDef {
	id := propDef{name: "id", typ: typeString, def: true, filter: true, get: func(o *Object, _ *wireCtx) any { return o.ID }}
	displayName := propDef{name: "displayName", typ: typeString, def: true, filter: true, get: func(o *Object, _ *wireCtx) any { return strOrNil(o.DisplayName) }}
	mail := propDef{name: "mail", typ: typeString, def: true, filter: true, endsWith: true, get: func(o *Object, _ *wireCtx) any { return strOrNil(o.Mail) }}
	nick := propDef{name: "mailNickname", typ: typeString, filter: true, get: func(o *Object, _ *wireCtx) any { return strOrNil(o.MailNickname) }}
	proxy := propDef{name: "proxyAddresses", typ: typeStringColl, filter: true, endsWith: true, get: func(o *Object, _ *wireCtx) any { return collOrEmpty(o.ProxyAddresses) }}
	syncEnabled := propDef{name: "onPremisesSyncEnabled", typ: typeBool, filter: true, get: func(o *Object, _ *wireCtx) any {
		if o.SyncManaged() {
			return true
		}
		return nil
	}}
	immutable := propDef{name: "onPremisesImmutableId", typ: typeString, filter: true, get: func(o *Object, _ *wireCtx) any { return strOrNil(o.OnPremisesImmutableID) }}
	sid := propDef{name: "onPremisesSecurityIdentifier", typ: typeString, filter: true, get: func(o *Object, _ *wireCtx) any { return strOrNil(o.OnPremisesSecurityIdentifier) }}
	dn := propDef{name: "onPremisesDistinguishedName", typ: typeString, get: func(o *Object, _ *wireCtx) any { return strOrNil(o.OnPremisesDistinguishedName) }}
	created := propDef{name: "createdDateTime", typ: typeString, get: func(o *Object, _ *wireCtx) any { return timeOrNil(o.CreatedDateTime) }}
	provErrs := propDef{name: "onPremisesProvisioningErrors", typ: typeString, get: func(o *Object, c *wireCtx) any {
		out := []map[string]any{}
		for _, pe := range c.exportErrs[o.ID] {
			cat := pe.ErrorType
			if cat == "AttributeValueMustBeUnique" {
				cat = "PropertyConflict"
			}
			out = append(out, map[string]any{
				"category": cat, "occurredDateTime": timeOrNil(pe.Time), "propertyCausingError": pe.Attribute, "value": pe.Value,
			})
		}
		return out
	}}
	switch k {
	case cloud.KindUser:
		upn := propDef{name: "userPrincipalName", typ: typeString, def: true, filter: true, endsWith: true, get: func(o *Object, _ *wireCtx) any { return strOrNil(o.UserPrincipalName) }}
		revoked := propDef{name: "signInSessionsValidFromDateTime", typ: typeString, get: func(o *Object, _ *wireCtx) any { return timeOrNil(o.SignInSessionsValidFromDateTime) }}
		return []propDef{id, displayName, mail, upn, nick, proxy, syncEnabled, immutable, sid, dn, created, revoked, provErrs}
	case cloud.KindGroup:
		all := []propDef{id, displayName, mail, nick, proxy, syncEnabled, immutable, sid, dn, created, provErrs,
			{name: "groupTypes", typ: typeStringColl, filter: true, get: func(o *Object, _ *wireCtx) any { return collOrEmpty(o.GroupTypes) }},
			{name: "mailEnabled", typ: typeBool, filter: true, get: func(o *Object, _ *wireCtx) any { return o.MailEnabled }},
			{name: "securityEnabled", typ: typeBool, filter: true, get: func(o *Object, _ *wireCtx) any { return o.SecurityEnabled }},
		}
		for i := range all {
			all[i].def = all[i].name != "onPremisesProvisioningErrors"
		}
		return all
	case cloud.KindContact:
		all := []propDef{id, displayName, mail, nick, proxy, syncEnabled, provErrs}
		for i := range all {
			all[i].def = all[i].name != "onPremisesProvisioningErrors"
		}
		return all
	}
	return nil
}

// kindSchema is the $filter schema of kind.
func kindSchema(k cloud.Kind) filterSchema {
	s := filterSchema{}
	for _, p := range kindProps(k) {
		if p.filter {
			s[strings.ToLower(p.name)] = filterProp{name: p.name, typ: p.typ, endsWith: p.endsWith}
		}
	}
	return s
}

func propGetter(props []propDef, o *Object, c *wireCtx) func(string) any {
	return func(name string) any {
		for _, p := range props {
			if p.name == name {
				return p.get(o, c)
			}
		}
		return nil
	}
}

// selection is a parsed $select.
type selection struct {
	names   []string // canonical names; nil means the default set
	members bool     // "members" selected (groups delta)
}

func resourceName(k cloud.Kind) string {
	if k == cloud.KindContact {
		return "orgContact"
	}
	return string(k)
}

// parseSelect validates $select against kinds (one or more); members is
// allowed when allowMembers.
func parseSelect(raw string, allowMembers bool, kinds ...cloud.Kind) (selection, error) {
	var sel selection
	if strings.TrimSpace(raw) == "" {
		return sel, nil
	}
	known := map[string]string{}
	for _, k := range kinds {
		for _, p := range kindProps(k) {
			known[strings.ToLower(p.name)] = p.name
		}
	}
	sel.names = []string{"id"}
	for _, f := range strings.Split(raw, ",") {
		f = strings.TrimSpace(f)
		if allowMembers && strings.EqualFold(f, "members") {
			sel.members = true
			continue
		}
		n, ok := known[strings.ToLower(f)]
		if !ok {
			return sel, fmt.Errorf("Could not find a property named '%s' on type 'microsoft.graph.%s'.", f, resourceName(kinds[0]))
		}
		if !slices.Contains(sel.names, n) {
			sel.names = append(sel.names, n)
		}
	}
	return sel, nil
}

// render builds an object's wire form with the selected properties.
func render(o *Object, sel selection, c *wireCtx, withType bool) map[string]any {
	m := map[string]any{}
	if withType {
		m["@odata.type"] = odataType(o.Kind)
	}
	for _, p := range kindProps(o.Kind) {
		if sel.names == nil && p.def || sel.names != nil && slices.Contains(sel.names, p.name) {
			m[p.name] = p.get(o, c)
		}
	}
	return m
}

func (sel selection) contextSuffix() string {
	if sel.names == nil && !sel.members {
		return ""
	}
	n := slices.Clone(sel.names)
	if sel.members {
		n = append(n, "members")
	}
	return "(" + strings.Join(n, ",") + ")"
}

// graphRoute maps a Graph path (after the version) to a path class and a
// handler.
func (e *Emulator) graphRoute(r *http.Request, ver string, segs []string) (string, http.HandlerFunc) {
	get, post := r.Method == http.MethodGet, r.Method == http.MethodPost
	n := len(segs)
	notAllowed := func(w http.ResponseWriter, r *http.Request) {
		e.graphError(w, r, http.StatusMethodNotAllowed, "Request_BadRequest", "The HTTP method '"+r.Method+"' is not supported for this resource.")
	}
	pick := func(ok bool, h http.HandlerFunc) http.HandlerFunc {
		if ok {
			return h
		}
		return notAllowed
	}
	if n == 1 && segs[0] == "$batch" {
		return "graph.batch", pick(post, func(w http.ResponseWriter, r *http.Request) { e.handleBatch(w, r, ver) })
	}
	if n >= 1 {
		if kind, ok := collKind(segs[0]); ok {
			switch {
			case n == 1:
				return "graph.list", pick(get, func(w http.ResponseWriter, r *http.Request) { e.handleList(w, r, ver, segs[0], kind) })
			case n == 2 && (segs[1] == "delta" || segs[1] == "delta()" || segs[1] == "microsoft.graph.delta()" || segs[1] == "microsoft.graph.delta"):
				return "graph.delta", pick(get, func(w http.ResponseWriter, r *http.Request) { e.handleDelta(w, r, ver, segs[0], kind) })
			case n == 2:
				return "graph.get", pick(get, func(w http.ResponseWriter, r *http.Request) { e.handleGet(w, r, ver, segs[0], kind, segs[1]) })
			case n == 3 && kind == cloud.KindGroup && segs[2] == "members":
				return "graph.members", pick(get, func(w http.ResponseWriter, r *http.Request) { e.handleMembers(w, r, ver, segs[1]) })
			case n == 3 && kind == cloud.KindGroup && segs[2] == "onPremisesSyncBehavior" && ver == "beta":
				return "graph.soa", pick(get || r.Method == http.MethodPatch, func(w http.ResponseWriter, r *http.Request) { e.handleSyncBehavior(w, r, segs[1]) })
			case n == 3 && kind == cloud.KindUser && (segs[2] == "revokeSignInSessions" || segs[2] == "microsoft.graph.revokeSignInSessions"):
				return "graph.revoke", pick(post, func(w http.ResponseWriter, r *http.Request) { e.handleRevoke(w, r, ver, segs[1]) })
			case n == 4 && kind == cloud.KindUser && segs[2] == "authentication" && segs[3] == "methods":
				return "graph.authmethods", pick(get, func(w http.ResponseWriter, r *http.Request) { e.handleAuthMethods(w, r, ver, segs[1]) })
			}
		}
	}
	if n == 3 && segs[0] == "reports" && segs[1] == "authenticationMethods" && segs[2] == "userRegistrationDetails" {
		return "graph.reports", pick(get, func(w http.ResponseWriter, r *http.Request) { e.handleRegistrationDetails(w, r, ver) })
	}
	return "graph.other", func(w http.ResponseWriter, r *http.Request) {
		last := ""
		if n > 0 {
			last = segs[n-1]
		}
		e.graphError(w, r, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+last+"'.")
	}
}

// pageToken is the opaque $skiptoken of lists: the last id returned.
type pageToken struct {
	After string `json:"a"`
}

func encodeToken(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// linkWith returns r's URL on this server with the query parameter key set
// to val.
func linkWith(r *http.Request, key, val string) string {
	q := r.URL.Query()
	q.Del("$skiptoken")
	q.Del("$deltatoken")
	q.Set(key, val)
	return baseURL(r) + r.URL.Path + "?" + q.Encode()
}

// listQuery is a parsed list request ($select, $filter, $top, $count,
// $skiptoken).
type listQuery struct {
	sel    selection
	filter *parsedFilter
	top    int
	count  bool
	after  string
}

// parseListQuery validates the query options of a list request against
// kinds, writing the Graph error and returning false when they are bad.
func (e *Emulator) parseListQuery(w http.ResponseWriter, r *http.Request, schema filterSchema, kinds ...cloud.Kind) (listQuery, bool) {
	q := r.URL.Query()
	lq := listQuery{top: 100}
	for k := range q {
		switch k {
		case "$select", "$filter", "$top", "$count", "$skiptoken":
		case "$orderby", "$search", "$expand", "$skip", "$apply":
			e.graphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery", "The query option '"+k+"' is not supported by the tenant emulator.")
			return lq, false
		}
	}
	if len(kinds) > 0 {
		sel, err := parseSelect(q.Get("$select"), false, kinds...)
		if err != nil {
			e.graphError(w, r, http.StatusBadRequest, "Request_BadRequest", err.Error())
			return lq, false
		}
		lq.sel = sel
	}
	if t := q.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > 999 {
			e.graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "Invalid page size specified: '"+t+"'. Must be between 1 and 999 inclusive.")
			return lq, false
		}
		lq.top = n
	}
	eventual := strings.EqualFold(r.Header.Get("ConsistencyLevel"), "eventual")
	switch c := strings.ToLower(q.Get("$count")); c {
	case "", "false":
	case "true":
		if !eventual {
			e.graphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery", "$count is not supported because the 'ConsistencyLevel:eventual' header is missing. Refer to https://aka.ms/graph-docs/advanced-queries for more information")
			return lq, false
		}
		lq.count = true
	default:
		e.graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid value '"+c+"' for $count; expected true or false.")
		return lq, false
	}
	if f := q.Get("$filter"); q.Has("$filter") {
		pf, err := parseFilter(f, schema)
		if err != nil {
			var fe *filterError
			if errors.As(err, &fe) && fe.Unsupported {
				e.graphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery", fe.Msg)
			} else {
				e.graphError(w, r, http.StatusBadRequest, "BadRequest", err.Error())
			}
			return lq, false
		}
		if pf.Advanced && !(lq.count && eventual) {
			e.graphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery",
				"Operators 'ne', 'not' and 'endsWith' are supported only with advanced queries: add $count=true and the header 'ConsistencyLevel: eventual'. Refer to https://aka.ms/graph-docs/advanced-queries for more information")
			return lq, false
		}
		lq.filter = pf
	}
	if st := q.Get("$skiptoken"); st != "" {
		var pt pageToken
		if err := decodeToken(st, &pt); err != nil {
			e.graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "The $skiptoken is invalid.")
			return lq, false
		}
		lq.after = pt.After
	}
	return lq, true
}

// writePage pages the id-sorted items after lq.after and writes the Graph
// collection response.
func (e *Emulator) writePage(w http.ResponseWriter, r *http.Request, context string, ids []string, items []map[string]any, lq listQuery) {
	start, end := pageBounds(ids, lq)
	e.writePageSlice(w, r, context, ids, items[start:end], end, lq)
}

// pageBounds returns the slice of ids (sorted) the page of lq covers.
func pageBounds(ids []string, lq listQuery) (start, end int) {
	start = sort.SearchStrings(ids, lq.after)
	if lq.after != "" && start < len(ids) && ids[start] == lq.after {
		start++
	}
	return start, min(start+lq.top, len(ids))
}

// writePageSlice writes one page whose items (already rendered) end at
// index end of ids, with @odata.count and @odata.nextLink.
func (e *Emulator) writePageSlice(w http.ResponseWriter, r *http.Request, context string, ids []string, page []map[string]any, end int, lq listQuery) {
	resp := map[string]any{"@odata.context": context, "value": page}
	if lq.count {
		resp["@odata.count"] = len(ids)
	}
	if end < len(ids) {
		resp["@odata.nextLink"] = linkWith(r, "$skiptoken", encodeToken(pageToken{After: ids[end-1]}))
	}
	writeJSON(w, http.StatusOK, resp)
}

func (e *Emulator) exportErrIndex(tx *Tx) *wireCtx {
	c := &wireCtx{exportErrs: map[string][]ExportError{}}
	for _, x := range tx.s.ExportErrors {
		id := x.ObjectID
		if id == "" && x.ImmutableID != "" {
			for _, o := range tx.s.Objects {
				if o.OnPremisesImmutableID == x.ImmutableID {
					id = o.ID
					break
				}
			}
		}
		if id != "" {
			c.exportErrs[id] = append(c.exportErrs[id], x)
		}
	}
	return c
}

// handleList serves GET /{users|groups|contacts}
// (https://learn.microsoft.com/graph/api/user-list, .../group-list,
// .../orgcontact-list) with $select, $filter, $top (1..999, default 100),
// $count=true (needs ConsistencyLevel: eventual) and $skiptoken paging.
// Objects still inside Faults.VisibilityDelay are left out.
func (e *Emulator) handleList(w http.ResponseWriter, r *http.Request, ver, coll string, kind cloud.Kind) {
	lq, ok := e.parseListQuery(w, r, kindSchema(kind), kind)
	if !ok {
		return
	}
	delay := e.Faults().VisibilityDelay
	var (
		ids  []string
		page []map[string]any
		end  int
	)
	_ = e.View(func(tx *Tx) error {
		c := e.exportErrIndex(tx)
		props := kindProps(kind)
		var objs []*Object
		for _, o := range tx.objects(kind) {
			if !e.visible(o, tx.now, delay) {
				continue
			}
			if lq.filter != nil && !lq.filter.Match(propGetter(props, o, c)) {
				continue
			}
			ids = append(ids, o.ID)
			objs = append(objs, o)
		}
		// Render only the page asked for: a 30,000-object tenant is read
		// in 31 pages, not 31 renderings of everything.
		var start int
		start, end = pageBounds(ids, lq)
		for _, o := range objs[start:end] {
			page = append(page, render(o, lq.sel, c, false))
		}
		return nil
	})
	e.writePageSlice(w, r, baseURL(r)+"/"+ver+"/$metadata#"+coll+lq.sel.contextSuffix(), ids, page, end, lq)
}

// lookup finds a visible object of kind by id (or, for users, UPN).
func (e *Emulator) lookup(tx *Tx, kind cloud.Kind, key string) *Object {
	o := tx.s.Objects[key]
	if o == nil && kind == cloud.KindUser && strings.Contains(key, "@") {
		if id, ok := tx.s.upnIdx[strings.ToLower(key)]; ok {
			o = tx.s.Objects[id]
		}
	}
	if o == nil || o.Kind != kind || !e.visible(o, tx.now, e.Faults().VisibilityDelay) {
		return nil
	}
	return o
}

func (e *Emulator) notFound(w http.ResponseWriter, r *http.Request, key string) {
	e.graphError(w, r, http.StatusNotFound, "Request_ResourceNotFound",
		"Resource '"+key+"' does not exist or one of its queried reference-property objects are not present.")
}

// handleGet serves GET /{users|groups|contacts}/{id} with $select
// (https://learn.microsoft.com/graph/api/user-get). Users may also be
// addressed by userPrincipalName.
func (e *Emulator) handleGet(w http.ResponseWriter, r *http.Request, ver, coll string, kind cloud.Kind, key string) {
	sel, err := parseSelect(r.URL.Query().Get("$select"), false, kind)
	if err != nil {
		e.graphError(w, r, http.StatusBadRequest, "Request_BadRequest", err.Error())
		return
	}
	var m map[string]any
	_ = e.View(func(tx *Tx) error {
		if o := e.lookup(tx, kind, key); o != nil {
			m = render(o, sel, e.exportErrIndex(tx), false)
		}
		return nil
	})
	if m == nil {
		e.notFound(w, r, key)
		return
	}
	m["@odata.context"] = baseURL(r) + "/" + ver + "/$metadata#" + coll + sel.contextSuffix() + "/$entity"
	writeJSON(w, http.StatusOK, m)
}

// handleMembers serves GET /groups/{id}/members
// (https://learn.microsoft.com/graph/api/group-list-members): direct
// members with their @odata.type, $select, $top and paging.
func (e *Emulator) handleMembers(w http.ResponseWriter, r *http.Request, ver, groupID string) {
	kinds := []cloud.Kind{cloud.KindUser, cloud.KindGroup, cloud.KindContact}
	schema := kindSchema(cloud.KindUser)
	lq, ok := e.parseListQuery(w, r, schema, kinds...)
	if !ok {
		return
	}
	found := false
	var (
		ids  []string
		page []map[string]any
		end  int
	)
	delay := e.Faults().VisibilityDelay
	_ = e.View(func(tx *Tx) error {
		g := e.lookup(tx, cloud.KindGroup, groupID)
		if g == nil {
			return nil
		}
		found = true
		c := e.exportErrIndex(tx)
		members := slices.Sorted(slices.Values(g.Members))
		var objs []*Object
		for _, id := range members {
			o := tx.s.Objects[id]
			if o == nil || !e.visible(o, tx.now, delay) {
				continue
			}
			if lq.filter != nil && !lq.filter.Match(propGetter(kindProps(o.Kind), o, c)) {
				continue
			}
			ids = append(ids, id)
			objs = append(objs, o)
		}
		var start int
		start, end = pageBounds(ids, lq)
		for _, o := range objs[start:end] {
			page = append(page, render(o, lq.sel, c, true))
		}
		return nil
	})
	if !found {
		e.notFound(w, r, groupID)
		return
	}
	e.writePageSlice(w, r, baseURL(r)+"/"+ver+"/$metadata#directoryObjects"+lq.sel.contextSuffix(), ids, page, end, lq)
}

// deltaToken is the opaque state behind $skiptoken and $deltatoken of
// delta queries: the change-sequence window (From, To], the last id
// returned, the selection, when it was issued and the emulator instance and
// epoch it belongs to.
type deltaToken struct {
	Kind    cloud.Kind `json:"k"`
	From    uint64     `json:"f"`
	To      uint64     `json:"t"`
	After   string     `json:"a,omitempty"`
	Sel     []string   `json:"s,omitempty"`
	Members bool       `json:"m,omitempty"`
	Issued  int64      `json:"i"`
	Epoch   int        `json:"e"`
	Inst    string     `json:"n"`
}

func (e *Emulator) syncStateNotFound(w http.ResponseWriter, r *http.Request) {
	e.graphError(w, r, http.StatusGone, "syncStateNotFound",
		"The sync state generation is not found: the delta token is unknown or has expired. Start a new delta round without a token.")
}

// handleDelta serves GET /{users|groups|contacts}/delta
// (https://learn.microsoft.com/graph/delta-query-overview,
// https://learn.microsoft.com/graph/api/user-delta): pages linked by
// @odata.nextLink ($skiptoken) end with an @odata.deltaLink ($deltatoken).
// A later round returns the objects changed since, soft-deleted ones as
// {"id", "@removed": {"reason": "changed"}} and hard-deleted ones with
// reason "deleted". With $select=members, groups carry members@delta.
// $deltatoken=latest returns no objects and a deltaLink from now. Unknown
// or expired tokens (DeltaTokenLifetime) get 410 Gone, syncStateNotFound.
// The page size is 100 or the Prefer: odata.maxpagesize value (at most 999).
func (e *Emulator) handleDelta(w http.ResponseWriter, r *http.Request, ver, coll string, kind cloud.Kind) {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "$select", "$skiptoken", "$deltatoken", "$deltaToken", "$skipToken":
		default:
			if strings.HasPrefix(k, "$") {
				e.graphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery", "The query option '"+k+"' is not supported with delta queries in the tenant emulator.")
				return
			}
		}
	}
	pageSize := 100
	if n, ok := preferMaxPageSize(r); ok {
		pageSize = min(n, 999)
	}
	now := e.clock()
	delay := e.Faults().VisibilityDelay
	var tok deltaToken
	skip, dtok := first(q, "$skiptoken", "$skipToken"), first(q, "$deltatoken", "$deltaToken")
	var (
		inst  string
		epoch int
		cur   uint64
	)
	_ = e.View(func(tx *Tx) error {
		inst, epoch, cur = tx.s.InstanceID, tx.s.DeltaEpoch, tx.s.Seq
		return nil
	})
	switch {
	case skip != "":
		if decodeToken(skip, &tok) != nil || tok.Inst != inst || tok.Epoch != epoch || tok.Kind != kind {
			e.syncStateNotFound(w, r)
			return
		}
	case dtok == "latest":
		sel, err := parseSelect(q.Get("$select"), kind == cloud.KindGroup, kind)
		if err != nil {
			e.graphError(w, r, http.StatusBadRequest, "Request_BadRequest", err.Error())
			return
		}
		t := deltaToken{Kind: kind, To: cur, Sel: sel.names, Members: sel.members, Issued: now.Unix(), Epoch: epoch, Inst: inst}
		writeJSON(w, http.StatusOK, map[string]any{
			"@odata.context":   baseURL(r) + "/" + ver + "/$metadata#" + coll + sel.contextSuffix(),
			"value":            []any{},
			"@odata.deltaLink": baseURL(r) + "/" + ver + "/" + coll + "/delta?" + url.Values{"$deltatoken": {encodeToken(t)}}.Encode(),
		})
		return
	case dtok != "":
		var old deltaToken
		if decodeToken(dtok, &old) != nil || old.Inst != inst || old.Epoch != epoch || old.Kind != kind ||
			now.After(time.Unix(old.Issued, 0).Add(e.cfg.DeltaTokenLifetime)) {
			e.syncStateNotFound(w, r)
			return
		}
		tok = deltaToken{Kind: kind, From: old.To, Sel: old.Sel, Members: old.Members, Epoch: epoch, Inst: inst}
		tok.To = 0 // computed below
	default:
		sel, err := parseSelect(q.Get("$select"), kind == cloud.KindGroup, kind)
		if err != nil {
			e.graphError(w, r, http.StatusBadRequest, "Request_BadRequest", err.Error())
			return
		}
		tok = deltaToken{Kind: kind, Sel: sel.names, Members: sel.members, Epoch: epoch, Inst: inst}
	}
	sel := selection{names: tok.Sel, members: tok.Members}
	var items []map[string]any
	var lastID string
	more := false
	_ = e.View(func(tx *Tx) error {
		if skip == "" {
			// New window: up to now, but stop short of objects not yet
			// visible so the next round returns them.
			tok.To = tx.s.Seq
			for _, o := range tx.s.Objects {
				if o.Kind == kind && !o.Deleted() && !e.visible(o, tx.now, delay) && o.Seq <= tok.To {
					tok.To = o.Seq - 1
				}
			}
			if tok.To < tok.From {
				tok.To = tok.From
			}
		}
		type entry struct {
			id  string
			obj *Object
		}
		var entries []entry
		seen := map[string]bool{}
		for _, o := range tx.s.Objects {
			if o.Kind != kind || o.Seq <= tok.From || o.Seq > tok.To || o.ID <= tok.After && tok.After != "" {
				continue
			}
			if tok.From == 0 && o.Deleted() {
				continue
			}
			entries = append(entries, entry{o.ID, o})
			seen[o.ID] = true
		}
		if tok.From > 0 {
			for _, t := range tx.s.Tombstones {
				if t.Kind == kind && t.Seq > tok.From && t.Seq <= tok.To && !seen[t.ID] && (tok.After == "" || t.ID > tok.After) {
					entries = append(entries, entry{t.ID, nil})
					seen[t.ID] = true
				}
			}
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].id < entries[j].id })
		if len(entries) > pageSize {
			entries, more = entries[:pageSize], true
		}
		var memberDelta map[string][]memberChange
		if sel.members && tok.From > 0 {
			memberDelta = map[string][]memberChange{}
			for _, mc := range tx.s.MemberLog {
				if mc.Seq > tok.From && mc.Seq <= tok.To {
					memberDelta[mc.Group] = append(memberDelta[mc.Group], mc)
				}
			}
		}
		c := e.exportErrIndex(tx)
		for _, en := range entries {
			lastID = en.id
			o := en.obj
			switch {
			case o == nil:
				items = append(items, map[string]any{"@odata.type": odataType(kind), "id": en.id, "@removed": map[string]any{"reason": "deleted"}})
				continue
			case o.Deleted():
				items = append(items, map[string]any{"@odata.type": odataType(kind), "id": en.id, "@removed": map[string]any{"reason": "changed"}})
				continue
			}
			m := render(o, sel, c, true)
			if sel.members {
				m["members@delta"] = e.membersDelta(tx, o, tok.From, memberDelta[o.ID])
			}
			items = append(items, m)
		}
		return nil
	})
	resp := map[string]any{
		"@odata.context": baseURL(r) + "/" + ver + "/$metadata#" + coll + sel.contextSuffix(),
		"value":          items,
	}
	if items == nil {
		resp["value"] = []any{}
	}
	link := baseURL(r) + "/" + ver + "/" + coll + "/delta?"
	if more {
		next := tok
		next.After = lastID
		resp["@odata.nextLink"] = link + url.Values{"$skiptoken": {encodeToken(next)}}.Encode()
	} else {
		done := tok
		done.After, done.From, done.Issued = "", 0, now.Unix()
		resp["@odata.deltaLink"] = link + url.Values{"$deltatoken": {encodeToken(done)}}.Encode()
	}
	writeJSON(w, http.StatusOK, resp)
}

func (e *Emulator) membersDelta(tx *Tx, g *Object, from uint64, changes []memberChange) []map[string]any {
	out := []map[string]any{}
	typeOf := func(id string) string {
		if o := tx.s.Objects[id]; o != nil {
			return odataType(o.Kind)
		}
		return "#microsoft.graph.directoryObject"
	}
	if from == 0 {
		for _, m := range slices.Sorted(slices.Values(g.Members)) {
			out = append(out, map[string]any{"@odata.type": typeOf(m), "id": m})
		}
		return out
	}
	net := map[string]bool{} // member -> removed
	var order []string
	for _, c := range changes {
		if _, ok := net[c.Member]; !ok {
			order = append(order, c.Member)
		}
		net[c.Member] = c.Removed
	}
	sort.Strings(order)
	for _, m := range order {
		item := map[string]any{"@odata.type": typeOf(m), "id": m}
		if net[m] {
			item["@removed"] = map[string]any{"reason": "deleted"}
		}
		out = append(out, item)
	}
	return out
}

func first(q url.Values, keys ...string) string {
	for _, k := range keys {
		if v := q.Get(k); v != "" {
			return v
		}
	}
	return ""
}

// preferMaxPageSize reads Prefer: odata.maxpagesize=N.
func preferMaxPageSize(r *http.Request) (int, bool) {
	for _, h := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(h, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "odata.maxpagesize") {
				if n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(v), `"`)); err == nil && n > 0 {
					return n, true
				}
			}
		}
	}
	return 0, false
}

// batchRequest and batchResponse follow JSON batching
// (https://learn.microsoft.com/graph/json-batching).
type batchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    any               `json:"body,omitempty"`
}

// maxBatch is Graph's limit on requests in one $batch.
const maxBatch = 20

// handleBatch serves POST /$batch (https://learn.microsoft.com/graph/json-batching):
// at most 20 requests, each routed through the same handlers (and through
// fault injection, so items can be throttled one by one) in order; an item
// whose dependsOn names a failed item gets 424 Failed Dependency.
func (e *Emulator) handleBatch(w http.ResponseWriter, r *http.Request, ver string) {
	var req struct {
		Requests []batchRequest `json:"requests"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil || json.Unmarshal(body, &req) != nil {
		e.graphError(w, r, http.StatusBadRequest, "BadRequest", "Unable to deserialize content.")
		return
	}
	if len(req.Requests) == 0 {
		e.graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid batch payload format: the requests array is empty.")
		return
	}
	if len(req.Requests) > maxBatch {
		e.graphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid batch payload: the batch holds %d requests; the limit is %d.", len(req.Requests), maxBatch))
		return
	}
	ids := map[string]bool{}
	for _, it := range req.Requests {
		if it.ID == "" || ids[it.ID] || it.Method == "" || it.URL == "" {
			e.graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid batch payload: every request needs a unique id, a method and a url.")
			return
		}
		for _, d := range it.DependsOn {
			if !ids[d] {
				e.graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid batch payload: dependsOn refers to '"+d+"', which is not an earlier request in the batch.")
				return
			}
		}
		ids[it.ID] = true
	}
	status := map[string]int{}
	out := make([]batchResponse, 0, len(req.Requests))
	for _, it := range req.Requests {
		failed := ""
		for _, d := range it.DependsOn {
			if s := status[d]; s < 200 || s > 299 {
				failed = d
			}
		}
		if failed != "" {
			rec := newRecorder()
			e.graphError(rec, r, http.StatusFailedDependency, "FailedDependency", "The request depends on request '"+failed+"', which failed.")
			status[it.ID] = http.StatusFailedDependency
			out = append(out, toBatchResponse(it.ID, rec))
			continue
		}
		rec := e.runBatchItem(r, ver, it)
		status[it.ID] = rec.code
		out = append(out, toBatchResponse(it.ID, rec))
	}
	writeJSON(w, http.StatusOK, map[string]any{"responses": out})
}

func (e *Emulator) runBatchItem(outer *http.Request, ver string, it batchRequest) *recorder {
	rec := newRecorder()
	u := strings.TrimPrefix(it.URL, "/")
	for _, p := range []string{"v1.0/", "beta/"} {
		u = strings.TrimPrefix(u, p)
	}
	var body io.Reader
	if len(it.Body) > 0 {
		body = strings.NewReader(string(it.Body))
	}
	inner, err := http.NewRequestWithContext(outer.Context(), strings.ToUpper(it.Method), baseURL(outer)+"/"+ver+"/"+u, body)
	if err != nil {
		e.graphError(rec, outer, http.StatusBadRequest, "BadRequest", "Invalid request URL '"+it.URL+"'.")
		rec.code = http.StatusBadRequest
		return rec
	}
	inner.Host, inner.TLS, inner.RemoteAddr = outer.Host, outer.TLS, outer.RemoteAddr
	for k, v := range it.Headers {
		inner.Header.Set(k, v)
	}
	segs := strings.Split(strings.Trim(inner.URL.Path, "/"), "/")
	class, h := e.graphRoute(inner, ver, segs[1:])
	if class == "graph.batch" {
		e.graphError(rec, inner, http.StatusBadRequest, "BadRequest", "Nested $batch requests are not supported.")
		rec.code = http.StatusBadRequest
		return rec
	}
	class = "batch:" + class
	e.count(class, "requests")
	if !e.injectFault(rec, inner, class, svcGraph) {
		h(rec, inner)
	}
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	return rec
}

func toBatchResponse(id string, rec *recorder) batchResponse {
	br := batchResponse{ID: id, Status: rec.code, Headers: map[string]string{}}
	for k := range rec.h {
		br.Headers[k] = rec.h.Get(k)
	}
	if rec.buf.Len() > 0 {
		if strings.Contains(rec.h.Get("Content-Type"), "json") {
			br.Body = json.RawMessage(rec.buf.Bytes())
		} else {
			br.Body = rec.buf.String()
		}
	}
	return br
}

// handleSyncBehavior serves GET and PATCH /beta/groups/{id}/onPremisesSyncBehavior
// (https://learn.microsoft.com/graph/api/onpremisessyncbehavior-get?view=graph-rest-beta,
// .../onpremisessyncbehavior-update): {"isCloudManaged": bool}. Only groups
// synchronized from on-premises can be converted (400 otherwise); PATCH
// answers 204.
func (e *Emulator) handleSyncBehavior(w http.ResponseWriter, r *http.Request, groupID string) {
	if r.Method == http.MethodGet {
		var managed *bool
		_ = e.View(func(tx *Tx) error {
			if g := e.lookup(tx, cloud.KindGroup, groupID); g != nil {
				v := g.IsCloudManaged
				managed = &v
			}
			return nil
		})
		if managed == nil {
			e.notFound(w, r, groupID)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"@odata.context": baseURL(r) + "/beta/$metadata#groups('" + groupID + "')/onPremisesSyncBehavior/$entity",
			"isCloudManaged": *managed,
		})
		return
	}
	var body struct {
		IsCloudManaged *bool `json:"isCloudManaged"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil || body.IsCloudManaged == nil {
		e.graphError(w, r, http.StatusBadRequest, "BadRequest", "The request body must be {\"isCloudManaged\": true|false}.")
		return
	}
	err := e.Update(func(tx *Tx) error {
		g := tx.s.Objects[groupID]
		if g == nil || g.Kind != cloud.KindGroup || g.Deleted() {
			return ErrNotFound
		}
		return tx.SetCloudManaged(groupID, *body.IsCloudManaged)
	})
	switch {
	case errors.Is(err, ErrNotFound):
		e.notFound(w, r, groupID)
	case errors.Is(err, ErrNotSupported):
		e.graphError(w, r, http.StatusBadRequest, "Request_BadRequest",
			"The Source of Authority can be changed only for groups synchronized from on-premises; group '"+groupID+"' is cloud-only.")
	case err != nil:
		e.graphError(w, r, http.StatusInternalServerError, "InternalServerError", err.Error())
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// handleRevoke serves POST /users/{id}/revokeSignInSessions
// (https://learn.microsoft.com/graph/api/user-revokesigninsessions): it
// sets signInSessionsValidFromDateTime to now and returns {"value": true}.
func (e *Emulator) handleRevoke(w http.ResponseWriter, r *http.Request, ver, userID string) {
	err := e.Update(func(tx *Tx) error {
		u := e.lookup(tx, cloud.KindUser, userID)
		if u == nil {
			return ErrNotFound
		}
		return tx.modify(u.ID, func(o *Object) error {
			o.SignInSessionsValidFromDateTime = tx.now
			return nil
		})
	})
	if err != nil {
		e.notFound(w, r, userID)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"@odata.context": baseURL(r) + "/" + ver + "/$metadata#Edm.Boolean", "value": true})
}

// passwordMethodID is the fixed id Graph gives every user's password
// method (https://learn.microsoft.com/graph/api/resources/passwordauthenticationmethod).
const passwordMethodID = "28c10230-6103-485e-b985-444c60001490"

// handleAuthMethods serves GET /users/{id}/authentication/methods
// (https://learn.microsoft.com/graph/api/authentication-list-methods): the
// password method plus the methods set with Tx.SetAuthMethods.
func (e *Emulator) handleAuthMethods(w http.ResponseWriter, r *http.Request, ver, userID string) {
	var items []map[string]any
	found := false
	_ = e.View(func(tx *Tx) error {
		u := e.lookup(tx, cloud.KindUser, userID)
		if u == nil {
			return nil
		}
		found = true
		items = append(items, map[string]any{
			"@odata.type": "#microsoft.graph.passwordAuthenticationMethod", "id": passwordMethodID,
			"password": nil, "createdDateTime": timeOrNil(u.CreatedDateTime),
		})
		for _, m := range u.AuthMethods {
			item := map[string]any{"@odata.type": "#microsoft.graph." + m.Type, "id": m.ID}
			if m.DisplayName != "" {
				item["displayName"] = m.DisplayName
			}
			items = append(items, item)
		}
		return nil
	})
	if !found {
		e.notFound(w, r, userID)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.context": baseURL(r) + "/" + ver + "/$metadata#users('" + userID + "')/authentication/methods",
		"value":          items,
	})
}

func registrationSchema() filterSchema {
	return filterSchema{
		"id":                    {name: "id", typ: typeString},
		"userprincipalname":     {name: "userPrincipalName", typ: typeString},
		"userdisplayname":       {name: "userDisplayName", typ: typeString},
		"ismfaregistered":       {name: "isMfaRegistered", typ: typeBool},
		"ismfacapable":          {name: "isMfaCapable", typ: typeBool},
		"ispasswordlesscapable": {name: "isPasswordlessCapable", typ: typeBool},
		"methodsregistered":     {name: "methodsRegistered", typ: typeStringColl},
	}
}

// handleRegistrationDetails serves GET
// /reports/authenticationMethods/userRegistrationDetails
// (https://learn.microsoft.com/graph/api/authenticationmethodsroot-list-userregistrationdetails):
// one row per visible user, with $filter, $top and paging.
func (e *Emulator) handleRegistrationDetails(w http.ResponseWriter, r *http.Request, ver string) {
	lq, ok := e.parseListQuery(w, r, registrationSchema())
	if !ok {
		return
	}
	if r.URL.Query().Has("$select") {
		e.graphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery", "$select is not supported on this report in the tenant emulator.")
		return
	}
	delay := e.Faults().VisibilityDelay
	var ids []string
	var items []map[string]any
	_ = e.View(func(tx *Tx) error {
		for _, u := range tx.objects(cloud.KindUser) {
			if !e.visible(u, tx.now, delay) {
				continue
			}
			d := cloud.RegistrationDetail{ID: u.ID, UPN: u.UserPrincipalName, LastUpdated: u.CreatedDateTime}
			if u.Registration != nil {
				d = *u.Registration
				d.ID, d.UPN = u.ID, u.UserPrincipalName
			}
			row := map[string]any{
				"id": d.ID, "userPrincipalName": d.UPN, "userDisplayName": u.DisplayName, "userType": "member",
				"isAdmin": false, "isSsprRegistered": false, "isSsprEnabled": false, "isSsprCapable": false,
				"isMfaRegistered": d.IsMFARegistered, "isMfaCapable": d.IsMFACapable, "isPasswordlessCapable": d.IsPasswordlessCapable,
				"isSystemPreferredAuthenticationMethodEnabled": false, "systemPreferredAuthenticationMethods": []string{},
				"methodsRegistered": collOrEmpty(d.MethodsRegistered), "defaultMfaMethod": "none",
				"lastUpdatedDateTime": timeOrNil(d.LastUpdated),
			}
			if lq.filter != nil && !lq.filter.Match(func(p string) any { return row[p] }) {
				continue
			}
			ids = append(ids, u.ID)
			items = append(items, row)
		}
		return nil
	})
	e.writePage(w, r, baseURL(r)+"/"+ver+"/$metadata#reports/authenticationMethods/userRegistrationDetails", ids, items, lq)
}
