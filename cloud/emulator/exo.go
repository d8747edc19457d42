package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hybridsync/hybridsync/cloud"
)

// This file serves the Exchange Online admin API that the
// ExchangeOnlineManagement v3 module uses: POST
// /adminapi/beta/{tenantId}/InvokeCommand with
// {"CmdletInput":{"CmdletName":...,"Parameters":{...}}}
// (https://learn.microsoft.com/powershell/exchange/exchange-online-powershell-v2).
// Results come as {"@odata.context","value":[...],"@odata.nextLink"}; a
// client follows nextLink by POSTing the same body to it. Cmdlet failures
// use the admin API's error envelope, whose details[0].message is
// "<id>|<exception type>|<text>" with Exchange's own texts.

// exoError is a cmdlet failure.
type exoError struct {
	status int
	typ    string
	msg    string
}

func (e *exoError) Error() string { return e.typ + ": " + e.msg }

const (
	typNotFound      = "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
	typAmbiguous     = "Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException"
	typRecipientTask = "Microsoft.Exchange.Management.Tasks.RecipientTaskException"
	typProxyExists   = "Microsoft.Exchange.Data.Directory.ProxyAddressExistsException"
	typNameExists    = "Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException"
	typMemberExists  = "Microsoft.Exchange.Management.Tasks.MemberAlreadyExistsException"
	typMemberMissing = "Microsoft.Exchange.Management.Tasks.MemberNotFoundException"
	typParamBinding  = "Microsoft.Exchange.AdminApi.CommandInvocation.ParameterBindingException"
	typParamSet      = "Microsoft.Exchange.AdminApi.CommandInvocation.AmbiguousParameterSetException"
	typNoCmdlet      = "Microsoft.Exchange.AdminApi.CommandInvocation.CommandNotFoundException"
	typValidation    = "Microsoft.Exchange.Data.DataValidationException"
)

func badRequest(typ, format string, a ...any) *exoError {
	return &exoError{status: http.StatusBadRequest, typ: typ, msg: fmt.Sprintf(format, a...)}
}

func (e *Emulator) errNotFound(identity string) *exoError {
	return &exoError{status: http.StatusNotFound, typ: typNotFound, msg: fmt.Sprintf(
		"The operation couldn't be performed because object '%s' couldn't be found on '%s'.", identity, e.cfg.ExchangeServer)}
}

// errSynced is Exchange's refusal to change an object whose source of
// authority is on-premises.
func errSynced(cmdlet, param string, o *Object) *exoError {
	name := o.ExchangeName()
	return badRequest(typRecipientTask,
		"The operation on group \"%s\" failed because it's out of the current user's write scope. The action '%s', '%s', can't be performed on the object '%s' because the object is being synchronized from your on-premises organization. This action should be performed on the object in your on-premises organization.",
		name, cmdlet, param, name)
}

func (e *Emulator) writeExoError(w http.ResponseWriter, xe *exoError) {
	code := "BadRequest"
	id := ""
	if xe.status == http.StatusNotFound {
		code, id = "NotFound", "Ex6F9304"
	}
	writeJSON(w, xe.status, map[string]any{"error": map[string]any{
		"code":    code,
		"message": "Error executing cmdlet",
		"details": []map[string]any{{"code": "Client", "target": "", "message": id + "|" + xe.typ + "|" + xe.msg}},
		"innererror": map[string]any{
			"message": "Error executing cmdlet", "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException", "stacktrace": "",
			"internalexception": map[string]any{"message": xe.msg, "type": xe.typ, "stacktrace": ""},
		},
	}})
}

// params are a cmdlet's parameters, looked up case-insensitively.
type params struct {
	cmdlet string
	m      map[string]json.RawMessage
	names  map[string]string // lower -> as sent
}

func (p params) has(name string) bool {
	_, ok := p.m[strings.ToLower(name)]
	return ok
}

func (p params) raw(name string) (json.RawMessage, bool) {
	r, ok := p.m[strings.ToLower(name)]
	if ok && string(r) == "null" {
		return nil, true
	}
	return r, ok
}

func (p params) bindErr(name, why string) *exoError {
	return badRequest(typParamBinding, "Cannot bind parameter '%s' to the target. %s", name, why)
}

func (p params) str(name string) (string, bool, *exoError) {
	r, ok := p.raw(name)
	if !ok || r == nil {
		return "", ok, nil
	}
	var s string
	if err := json.Unmarshal(r, &s); err != nil {
		var n json.Number
		if json.Unmarshal(r, &n) == nil {
			return n.String(), true, nil
		}
		return "", true, p.bindErr(name, "The value is not a string.")
	}
	return s, true, nil
}

func (p params) boolean(name string) (bool, bool, *exoError) {
	r, ok := p.raw(name)
	if !ok || r == nil {
		return false, ok, nil
	}
	var b bool
	if err := json.Unmarshal(r, &b); err != nil {
		var s string
		if json.Unmarshal(r, &s) == nil {
			switch strings.ToLower(strings.TrimPrefix(s, "$")) {
			case "true":
				return true, true, nil
			case "false":
				return false, true, nil
			}
		}
		return false, true, p.bindErr(name, "The value is not a Boolean.")
	}
	return b, true, nil
}

func decodeStrings(r json.RawMessage) ([]string, bool) {
	if r == nil {
		return nil, true
	}
	var one string
	if json.Unmarshal(r, &one) == nil {
		return []string{one}, true
	}
	var many []string
	if json.Unmarshal(r, &many) == nil {
		return many, true
	}
	return nil, false
}

func (p params) strs(name string) ([]string, bool, *exoError) {
	r, ok := p.raw(name)
	if !ok {
		return nil, false, nil
	}
	v, good := decodeStrings(r)
	if !good {
		return nil, true, p.bindErr(name, "The value is not a string or an array of strings.")
	}
	return v, true, nil
}

// multi reads a multi-valued parameter given either as an array (replace)
// or as the hashtable form {"Add": [...], "Remove": [...]}.
func (p params) multi(name string) (replace []string, add []string, remove []string, isSet bool, xe *exoError) {
	r, ok := p.raw(name)
	if !ok {
		return nil, nil, nil, false, nil
	}
	if v, good := decodeStrings(r); good {
		return v, nil, nil, true, nil
	}
	var ht map[string]json.RawMessage
	if json.Unmarshal(r, &ht) != nil {
		return nil, nil, nil, true, p.bindErr(name, "The value is not an array or a hashtable with Add and Remove.")
	}
	replace = nil
	for k, v := range ht {
		if k == "@odata.type" {
			// The REST spelling of a PowerShell hashtable carries its
			// type ("#Exchange.GenericHashTable"), as exo.AddRemove
			// sends it.
			continue
		}
		vals, good := decodeStrings(v)
		if !good {
			return nil, nil, nil, true, p.bindErr(name, "The hashtable values must be strings or arrays of strings.")
		}
		switch strings.ToLower(k) {
		case "add", "+":
			add = append(add, vals...)
		case "remove", "-":
			remove = append(remove, vals...)
		default:
			return nil, nil, nil, true, p.bindErr(name, fmt.Sprintf("The hashtable key '%s' is not Add or Remove.", k))
		}
	}
	if add == nil {
		add = []string{}
	}
	return nil, add, remove, true, nil
}

// isCommonParam reports whether k (lower case) is a parameter every cmdlet
// accepts and the emulator ignores.
func isCommonParam(k string) bool {
	switch k {
	case "confirm", "erroraction", "warningaction", "verbose", "whatif", "debug", "informationaction", "bypasssecuritygroupmanagercheck":
		return true
	}
	return false
}

func (p params) only(allowed ...string) *exoError {
	for k := range p.m {
		if isCommonParam(k) {
			continue
		}
		if !slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, k) }) {
			return badRequest(typParamSet, "Parameter set cannot be resolved using the specified named parameters. Invalid cmdlet parameters specified. %s", p.names[k])
		}
	}
	return nil
}

// exoResult is what a cmdlet returns: rows and, for reads, whether they
// page.
type exoResult struct {
	rows     []map[string]any
	keys     []string // sort keys of rows, for paging
	warnings []string
}

// handleInvokeCommand serves POST /adminapi/beta/{tenant}/InvokeCommand.
// It requires the X-AnchorMailbox header (400 without it), pages Get-*
// results (1000 rows, or Prefer: odata.maxpagesize=N) and runs write
// cmdlets in one transaction.
func (e *Emulator) handleInvokeCommand(w http.ResponseWriter, r *http.Request) {
	if tenant := r.PathValue("tenant"); !e.tenantOK(tenant) {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{"code": "NotFound", "message": "Tenant '" + tenant + "' not found."}})
		return
	}
	if r.Header.Get("X-AnchorMailbox") == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"code": "BadRequest",
			"message": "The X-AnchorMailbox header is required, e.g. 'UPN:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@" + e.initialDomain + "'."}})
		return
	}
	var body struct {
		CmdletInput struct {
			CmdletName string                     `json:"CmdletName"`
			Parameters map[string]json.RawMessage `json:"Parameters"`
		} `json:"CmdletInput"`
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil || json.Unmarshal(b, &body) != nil || body.CmdletInput.CmdletName == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"code": "BadRequest", "message": "Invalid Operation: the body must be {\"CmdletInput\":{\"CmdletName\":...,\"Parameters\":{...}}}."}})
		return
	}
	p := params{cmdlet: body.CmdletInput.CmdletName, m: map[string]json.RawMessage{}, names: map[string]string{}}
	for k, v := range body.CmdletInput.Parameters {
		p.m[strings.ToLower(k)] = v
		p.names[strings.ToLower(k)] = k
	}
	after := ""
	if st := r.URL.Query().Get("$skiptoken"); st != "" {
		var pt pageToken
		if decodeToken(st, &pt) != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"code": "BadRequest", "message": "The $skiptoken is invalid."}})
			return
		}
		after = pt.After
	}
	res, xe := e.runCmdlet(p)
	if xe != nil {
		e.writeExoError(w, xe)
		return
	}
	pageSize := 1000
	if n, ok := preferMaxPageSize(r); ok {
		pageSize = n
		w.Header().Set("Preference-Applied", "odata.maxpagesize="+strconv.Itoa(n))
	}
	rows := res.rows
	resp := map[string]any{
		"@odata.context":               baseURL(r) + "/adminapi/beta/" + r.PathValue("tenant") + "/$metadata#Collection(Exchange.GenericHashTable)",
		"adminapi.warnings@odata.type": "#Collection(String)",
		"@adminapi.warnings":           append([]string{}, res.warnings...),
	}
	if res.keys != nil {
		start := sort.SearchStrings(res.keys, after)
		if after != "" && start < len(res.keys) && res.keys[start] == after {
			start++
		}
		end := min(start+pageSize, len(rows))
		if end < len(rows) {
			resp["@odata.nextLink"] = baseURL(r) + r.URL.Path + "?$skiptoken=" + encodeToken(pageToken{After: res.keys[end-1]})
		}
		rows = rows[start:end]
	}
	if rows == nil {
		rows = []map[string]any{}
	}
	resp["value"] = rows
	writeJSON(w, http.StatusOK, resp)
}

func (e *Emulator) runCmdlet(p params) (exoResult, *exoError) {
	var res exoResult
	var xe *exoError
	read := func(fn func(tx *Tx) (exoResult, *exoError)) {
		_ = e.View(func(tx *Tx) error { res, xe = fn(tx); return nil })
	}
	write := func(fn func(tx *Tx) (exoResult, *exoError)) {
		err := e.Update(func(tx *Tx) error {
			res, xe = fn(tx)
			if xe != nil {
				return xe
			}
			return nil
		})
		if err != nil && xe == nil {
			xe = &exoError{status: http.StatusInternalServerError, typ: "System.Exception", msg: err.Error()}
		}
	}
	switch strings.ToLower(p.cmdlet) {
	case "get-accepteddomain":
		read(e.getAcceptedDomain(p))
	case "get-recipient":
		read(e.getRecipient(p))
	case "get-distributiongroup":
		read(e.getDistributionGroup(p))
	case "get-distributiongroupmember":
		read(e.getDistributionGroupMember(p))
	case "new-distributiongroup":
		write(e.newDistributionGroup(p))
	case "set-distributiongroup":
		write(e.setDistributionGroup(p))
	case "remove-distributiongroup":
		write(e.removeDistributionGroup(p))
	case "add-distributiongroupmember":
		write(e.changeMember(p, true))
	case "remove-distributiongroupmember":
		write(e.changeMember(p, false))
	case "update-distributiongroupmember":
		write(e.updateDistributionGroupMember(p))
	case "get-mailbox":
		read(e.getMailbox(p))
	case "set-mailbox":
		write(e.setMailbox(p))
	case "get-recipientpermission":
		read(e.getRecipientPermission(p))
	case "add-recipientpermission":
		write(e.changeRecipientPermission(p, true))
	case "remove-recipientpermission":
		write(e.changeRecipientPermission(p, false))
	default:
		return res, badRequest(typNoCmdlet, "The term '%s' is not recognized as a name of a cmdlet, function, script file, or executable program.", p.cmdlet)
	}
	return res, xe
}

// --- recipients ---------------------------------------------------------

func recipientType(details string) string {
	if details == "GroupMailbox" {
		return "MailUniversalDistributionGroup"
	}
	return details
}

func isDL(o *Object) bool {
	d := o.RecipientTypeDetails()
	return d == "MailUniversalDistributionGroup" || d == "MailUniversalSecurityGroup"
}

func (e *Emulator) isRecipient(o *Object) bool {
	return !o.Deleted() && o.RecipientTypeDetails() != ""
}

// addressKeys returns the lower-cased proxy addresses an identity may
// name: "smtp:a@b" for a bare address, "x500:/o=..." for a bare
// LegacyExchangeDN, the identity itself when it has a prefix.
func addressKeys(identity string) []string {
	k := strings.ToLower(identity)
	switch {
	case strings.HasPrefix(k, "/"):
		return []string{"x500:" + k}
	case strings.Contains(k, ":"):
		return []string{k}
	case strings.Contains(k, "@"):
		return []string{"smtp:" + k}
	}
	return nil
}

// resolve finds the one recipient identity names (Name, alias, email or
// proxy address with or without its smtp:/x500: prefix, LegacyExchangeDN,
// GUID / ExternalDirectoryObjectId, on-premises DN), among
// objects accepted by keep. forRead applies the visibility delay.
func (e *Emulator) resolve(tx *Tx, identity string, keep func(*Object) bool, forRead bool) (*Object, *exoError) {
	id := strings.TrimSpace(identity)
	delay := e.Faults().VisibilityDelay
	ok := func(o *Object) bool {
		return o != nil && e.isRecipient(o) && (keep == nil || keep(o)) && (!forRead || e.visible(o, tx.now, delay))
	}
	if o := tx.s.Objects[strings.ToLower(id)]; ok(o) {
		return o, nil
	}
	if o := tx.s.Objects[id]; ok(o) {
		return o, nil
	}
	for _, k := range addressKeys(id) {
		if oid, found := tx.s.proxyIdx[k]; found && ok(tx.s.Objects[oid]) {
			return tx.s.Objects[oid], nil
		}
		if dn, isX500 := strings.CutPrefix(k, "x500:"); isX500 {
			if oid, found := tx.s.legacyIdx[dn]; found && ok(tx.s.Objects[oid]) {
				return tx.s.Objects[oid], nil
			}
		}
	}
	var matches []*Object
	for _, o := range tx.objects("") {
		if !ok(o) {
			continue
		}
		if strings.EqualFold(o.MailNickname, id) || strings.EqualFold(o.ExchangeName(), id) ||
			o.OnPremisesDistinguishedName != "" && strings.EqualFold(o.OnPremisesDistinguishedName, id) {
			matches = append(matches, o)
		}
	}
	switch len(matches) {
	case 0:
		return nil, e.errNotFound(identity)
	case 1:
		return matches[0], nil
	}
	return nil, badRequest(typAmbiguous, "The operation couldn't be performed because '%s' matches multiple entries.", identity)
}

func names(tx *Tx, ids []string) []string {
	out := []string{}
	for _, id := range ids {
		if o := tx.s.Objects[id]; o != nil {
			out = append(out, o.ExchangeName())
		}
	}
	return out
}

func recipientRow(o *Object) map[string]any {
	d := o.RecipientTypeDetails()
	row := map[string]any{
		"Identity": o.ExchangeName(), "Guid": o.ID, "ExternalDirectoryObjectId": o.ID,
		"Name": o.ExchangeName(), "DisplayName": o.DisplayName, "Alias": o.MailNickname,
		"PrimarySmtpAddress": o.PrimarySMTPAddress(), "EmailAddresses": collOrEmpty(o.ProxyAddresses),
		"RecipientType": recipientType(d), "RecipientTypeDetails": d,
		"IsDirSynced": o.SyncManaged(), "HiddenFromAddressListsEnabled": o.Exchange.HiddenFromAddressListsEnabled,
		"LegacyExchangeDN": o.Exchange.LegacyExchangeDN,
	}
	if o.Kind == cloud.KindUser {
		row["WindowsLiveID"] = o.UserPrincipalName
	}
	for i, v := range o.Exchange.CustomAttributes {
		row["CustomAttribute"+strconv.Itoa(i+1)] = v
	}
	return row
}

func groupRow(tx *Tx, o *Object) map[string]any {
	row := recipientRow(o)
	gt := "Universal"
	if o.SecurityEnabled {
		gt = "Universal, SecurityEnabled"
	}
	x := &o.Exchange
	row["GroupType"] = gt
	row["ManagedBy"] = names(tx, x.ManagedBy)
	row["ModerationEnabled"] = x.ModerationEnabled
	row["ModeratedBy"] = names(tx, x.ModeratedBy)
	row["BypassModerationFromSendersOrMembers"] = names(tx, x.BypassModerationFromSendersOrMembers)
	row["AcceptMessagesOnlyFromSendersOrMembers"] = names(tx, x.AcceptMessagesOnlyFromSendersOrMembers)
	row["RejectMessagesFromSendersOrMembers"] = names(tx, x.RejectMessagesFromSendersOrMembers)
	row["GrantSendOnBehalfTo"] = names(tx, x.GrantSendOnBehalfTo)
	row["RequireSenderAuthenticationEnabled"] = x.RequireSenderAuthenticationEnabled
	return row
}

// resultSize reads -ResultSize: "Unlimited" or a positive number (default
// 1000, as Exchange's).
func resultSize(p params) (int, *exoError) {
	s, ok, xe := p.str("ResultSize")
	if xe != nil || !ok || s == "" {
		return 1000, xe
	}
	if strings.EqualFold(s, "Unlimited") {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, p.bindErr("ResultSize", fmt.Sprintf("Cannot convert value \"%s\" to type \"Microsoft.Exchange.Data.Unlimited`1[System.UInt32]\".", s))
	}
	return n, nil
}

// listRows builds paged rows from objects (sorted by id), applying
// -ResultSize with Exchange's warning when it cuts the list.
func listRows(objs []*Object, size int, row func(*Object) map[string]any) exoResult {
	res := exoResult{keys: []string{}}
	for _, o := range objs {
		if size >= 0 && len(res.rows) == size {
			res.warnings = append(res.warnings, fmt.Sprintf("By default only the first %d items are returned. Use the ResultSize parameter to specify the number of items returned. To return all items, specify \"-ResultSize Unlimited\".", size))
			break
		}
		res.rows = append(res.rows, row(o))
		res.keys = append(res.keys, o.ID)
	}
	return res
}

func (e *Emulator) getAcceptedDomain(p params) func(*Tx) (exoResult, *exoError) {
	return func(tx *Tx) (exoResult, *exoError) {
		if xe := p.only("Identity"); xe != nil {
			return exoResult{}, xe
		}
		ident, _, xe := p.str("Identity")
		if xe != nil {
			return exoResult{}, xe
		}
		var res exoResult
		for _, d := range tx.s.Domains {
			if ident != "" && !strings.EqualFold(ident, d.DomainName) {
				continue
			}
			res.rows = append(res.rows, map[string]any{
				"Identity": d.DomainName, "Name": d.DomainName, "DomainName": d.DomainName, "DomainType": d.DomainType,
				"Default": d.Default, "InitialDomain": d.InitialDomain, "IsValid": true,
			})
		}
		if ident != "" && len(res.rows) == 0 {
			return res, e.errNotFound(ident)
		}
		return res, nil
	}
}

func (e *Emulator) getRecipient(p params) func(*Tx) (exoResult, *exoError) {
	return func(tx *Tx) (exoResult, *exoError) {
		if xe := p.only("Identity", "Filter", "ResultSize", "RecipientTypeDetails", "RecipientType"); xe != nil {
			return exoResult{}, xe
		}
		return e.listRecipients(tx, p, nil, recipientRow)
	}
}

func (e *Emulator) getDistributionGroup(p params) func(*Tx) (exoResult, *exoError) {
	return func(tx *Tx) (exoResult, *exoError) {
		if xe := p.only("Identity", "Filter", "ResultSize", "RecipientTypeDetails"); xe != nil {
			return exoResult{}, xe
		}
		return e.listRecipients(tx, p, isDL, func(o *Object) map[string]any { return groupRow(tx, o) })
	}
}

func (e *Emulator) listRecipients(tx *Tx, p params, keep func(*Object) bool, row func(*Object) map[string]any) (exoResult, *exoError) {
	ident, hasIdent, xe := p.str("Identity")
	if xe != nil {
		return exoResult{}, xe
	}
	if hasIdent && ident != "" {
		o, xe := e.resolve(tx, ident, keep, true)
		if xe != nil {
			return exoResult{}, xe
		}
		return exoResult{rows: []map[string]any{row(o)}}, nil
	}
	size, xe := resultSize(p)
	if xe != nil {
		return exoResult{}, xe
	}
	var match func(*Object) bool
	if f, ok, xe := p.str("Filter"); xe != nil {
		return exoResult{}, xe
	} else if ok && f != "" {
		m, err := parseOPath(f)
		if err != nil {
			return exoResult{}, p.bindErr("Filter", fmt.Sprintf("Exception setting \"Filter\": \"Invalid filter syntax. For a description of the filter parameter syntax see the command help. \"%s\" %s\"", f, err))
		}
		match = m
	}
	types, _, xe := p.strs("RecipientTypeDetails")
	if xe != nil {
		return exoResult{}, xe
	}
	rtypes, _, xe := p.strs("RecipientType")
	if xe != nil {
		return exoResult{}, xe
	}
	delay := e.Faults().VisibilityDelay
	var objs []*Object
	for _, o := range tx.objects("") {
		if !e.isRecipient(o) || !e.visible(o, tx.now, delay) || keep != nil && !keep(o) {
			continue
		}
		if len(types) > 0 && !slices.ContainsFunc(types, func(t string) bool { return strings.EqualFold(t, o.RecipientTypeDetails()) }) {
			continue
		}
		if len(rtypes) > 0 && !slices.ContainsFunc(rtypes, func(t string) bool { return strings.EqualFold(t, recipientType(o.RecipientTypeDetails())) }) {
			continue
		}
		if match != nil && !match(o) {
			continue
		}
		objs = append(objs, o)
	}
	return listRows(objs, size, row), nil
}

func (e *Emulator) getDistributionGroupMember(p params) func(*Tx) (exoResult, *exoError) {
	return func(tx *Tx) (exoResult, *exoError) {
		g, xe := e.targetDL(tx, p, true, "Identity", "ResultSize")
		if xe != nil {
			return exoResult{}, xe
		}
		size, xe := resultSize(p)
		if xe != nil {
			return exoResult{}, xe
		}
		var objs []*Object
		for _, id := range slices.Sorted(slices.Values(g.Members)) {
			if o := tx.s.Objects[id]; o != nil && e.isRecipient(o) {
				objs = append(objs, o)
			}
		}
		return listRows(objs, size, recipientRow), nil
	}
}

// --- validation ---------------------------------------------------------

func lengthErr(param, v string, max int) *exoError {
	if n := len([]rune(v)); n > max {
		return badRequest(typParamBinding, "Cannot bind parameter '%s' to the target. Exception setting \"%s\": \"The length of the property is too long. The maximum length is %d and the length of the value provided is %d.\"", param, param, max, n)
	}
	return nil
}

func validAlias(a string) bool {
	if a == "" || strings.HasPrefix(a, ".") || strings.HasSuffix(a, ".") || strings.Contains(a, "..") {
		return false
	}
	for _, c := range a {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", c):
		default:
			return false
		}
	}
	return true
}

func (e *Emulator) checkNames(tx *Tx, self *Object, name, displayName, alias *string) *exoError {
	if name != nil {
		if *name == "" {
			return badRequest(typParamBinding, "Cannot bind argument to parameter 'Name' because it is an empty string.")
		}
		if xe := lengthErr("Name", *name, 64); xe != nil {
			return xe
		}
		for _, o := range tx.s.Objects {
			if o != self && o.ID != self.ID && e.isRecipient(o) && strings.EqualFold(o.ExchangeName(), *name) {
				return badRequest(typNameExists, "The name \"%s\" is already being used. Please try another name.", *name)
			}
		}
	}
	if displayName != nil {
		if xe := lengthErr("DisplayName", *displayName, 256); xe != nil {
			return xe
		}
	}
	if alias != nil {
		if xe := lengthErr("Alias", *alias, 64); xe != nil {
			return xe
		}
		if !validAlias(*alias) {
			return badRequest(typValidation, "The alias \"%s\" contains characters that aren't valid. Use only letters, numbers and the characters !#$%%&'*+-/=?^_`{|}~ with no leading, trailing or consecutive periods.", *alias)
		}
		for _, o := range tx.s.Objects {
			if o.ID != self.ID && !o.Deleted() && strings.EqualFold(o.MailNickname, *alias) && e.isRecipient(o) {
				return badRequest(typProxyExists, "The alias \"%s\" is already being used by \"%s\". Please choose another alias.", *alias, o.ExchangeName())
			}
		}
	}
	return nil
}

func domainOf(addr string) string {
	_, d, _ := strings.Cut(addr, "@")
	return d
}

// checkAddresses enforces Exchange's address rules on o's proxy addresses:
// SMTP addresses well formed and in an accepted domain, X500 addresses
// distinguished names ("/o=.../cn=..."), one primary, and none held by
// another recipient, as a proxy address or (for X500) as its
// LegacyExchangeDN.
func (e *Emulator) checkAddresses(tx *Tx, o *Object) *exoError {
	primaries := 0
	for _, p := range o.ProxyAddresses {
		prefix, addr, ok := strings.Cut(p, ":")
		if !ok || prefix == "" {
			return badRequest(typValidation, "The proxy address \"%s\" is invalid: it has no prefix.", p)
		}
		switch {
		case strings.EqualFold(prefix, "smtp"):
			if prefix == "SMTP" {
				primaries++
			}
			local, dom, ok := strings.Cut(addr, "@")
			if !ok || local == "" || dom == "" || strings.Contains(dom, "@") {
				return badRequest(typValidation, "The email address \"%s\" isn't correct. Please use this format: user name, the @ sign, followed by the domain name. For example, tonysmith@contoso.com or tony.smith@contoso.com.", addr)
			}
			if !tx.isAccepted(dom) {
				return badRequest(typRecipientTask, "You can't use the domain %s because it's not an accepted domain for your organization.", dom)
			}
		case strings.EqualFold(prefix, "x500"):
			if !strings.HasPrefix(addr, "/") || len(addr) < 2 {
				return badRequest(typValidation, "The X500 address \"%s\" isn't valid: it must be a distinguished name such as /o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=user.", addr)
			}
		}
		if other := tx.addressHolder(p); other != nil && other.ID != o.ID {
			return errProxyInUse(p, other)
		}
	}
	if primaries > 1 {
		return badRequest(typValidation, "There are multiple primary SMTP addresses. Please ensure there is only one primary address for each address type.")
	}
	return nil
}

// errProxyInUse is Exchange's refusal of an address another recipient
// holds.
func errProxyInUse(addr string, holder *Object) *exoError {
	return badRequest(typProxyExists, "The proxy address \"%s\" is already being used by the proxy addresses or LegacyExchangeDN of \"%s\". Please choose another proxy address.", addr, holder.ExchangeName())
}

// setPrimary makes addr o's primary SMTP address, demoting the old one.
func setPrimary(o *Object, addr string) {
	var out []string
	found := false
	for _, p := range o.ProxyAddresses {
		prefix, a, _ := strings.Cut(p, ":")
		if strings.EqualFold(prefix, "smtp") {
			if strings.EqualFold(a, addr) {
				if !found {
					out = append(out, "SMTP:"+addr)
					found = true
				}
				continue
			}
			out = append(out, "smtp:"+a)
			continue
		}
		out = append(out, p)
	}
	if !found {
		out = append([]string{"SMTP:" + addr}, out...)
	}
	o.ProxyAddresses = out
	o.Mail = addr
}

// normalizeAddresses gives prefix-less addresses "smtp:" and, when none is
// marked primary, makes the first SMTP address primary (Exchange's rule for
// -EmailAddresses).
func normalizeAddresses(in []string) []string {
	out := make([]string, 0, len(in))
	hasPrimary := false
	for _, a := range in {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if !strings.Contains(a, ":") {
			a = "smtp:" + a
		}
		if strings.HasPrefix(a, "SMTP:") {
			hasPrimary = true
		}
		out = append(out, a)
	}
	if !hasPrimary {
		for i, a := range out {
			if strings.HasPrefix(strings.ToLower(a), "smtp:") {
				out[i] = "SMTP:" + a[5:]
				break
			}
		}
	}
	return out
}

func (e *Emulator) resolveAll(tx *Tx, param string, idents []string) ([]string, *exoError) {
	var ids []string
	for _, id := range idents {
		if strings.TrimSpace(id) == "" {
			continue
		}
		o, xe := e.resolve(tx, id, nil, false)
		if xe != nil {
			return nil, xe
		}
		if !slices.Contains(ids, o.ID) {
			ids = append(ids, o.ID)
		}
	}
	return ids, nil
}

// --- write cmdlets ------------------------------------------------------

func (e *Emulator) newDistributionGroup(p params) func(*Tx) (exoResult, *exoError) {
	return func(tx *Tx) (exoResult, *exoError) {
		if xe := p.only("Name", "DisplayName", "Alias", "PrimarySmtpAddress", "Type", "ManagedBy", "Members", "CopyOwnerToMember",
			"ModerationEnabled", "ModeratedBy", "Notes", "RequireSenderAuthenticationEnabled", "MemberJoinRestriction", "MemberDepartRestriction",
			"IgnoreNamingPolicy", "HiddenGroupMembershipEnabled"); xe != nil {
			return exoResult{}, xe
		}
		name, _, xe := p.str("Name")
		if xe != nil {
			return exoResult{}, xe
		}
		displayName, hasDN, xe := p.str("DisplayName")
		if xe != nil {
			return exoResult{}, xe
		}
		if !hasDN || displayName == "" {
			displayName = name
		}
		alias, hasAlias, xe := p.str("Alias")
		if xe != nil {
			return exoResult{}, xe
		}
		if !hasAlias || alias == "" {
			alias = strings.Map(func(r rune) rune {
				if validAlias(string(r)) && r != '.' {
					return r
				}
				return -1
			}, name)
		}
		typ, _, xe := p.str("Type")
		if xe != nil {
			return exoResult{}, xe
		}
		security := false
		switch strings.ToLower(typ) {
		case "", "distribution":
		case "security":
			security = true
		default:
			return exoResult{}, p.bindErr("Type", fmt.Sprintf("Cannot convert value \"%s\" to type \"Microsoft.Exchange.Data.Directory.Management.GroupType\". Error: \"Unable to match the identifier name %s to a valid enumerator name. Specify one of the following enumerator names and try again: Distribution, Security\"", typ, typ))
		}
		self := &Object{}
		if xe := e.checkNames(tx, self, &name, &displayName, &alias); xe != nil {
			return exoResult{}, xe
		}
		primary, hasPrimary, xe := p.str("PrimarySmtpAddress")
		if xe != nil {
			return exoResult{}, xe
		}
		if !hasPrimary || primary == "" {
			primary = alias + "@" + tx.defaultDomain()
		}
		o := &Object{
			ID: tx.newObjectID(), Kind: cloud.KindGroup, DisplayName: displayName, MailNickname: alias,
			MailEnabled: true, SecurityEnabled: security, GroupTypes: []string{},
		}
		o.Exchange.Name = name
		o.Exchange.RequireSenderAuthenticationEnabled = true
		if v, ok, xe := p.boolean("RequireSenderAuthenticationEnabled"); xe != nil {
			return exoResult{}, xe
		} else if ok {
			o.Exchange.RequireSenderAuthenticationEnabled = v
		}
		setPrimary(o, primary)
		// Exchange Online stamps every new cloud group with the tenant's
		// MOERA address and its routing address
		// (alias@<tenant>.mail.onmicrosoft.com), made unique with a number
		// when another recipient holds them.
		for _, dom := range []string{e.initialDomain, e.routingDomain} {
			if a := tx.freeAddress(alias, dom); !strings.EqualFold(a, primary) {
				o.ProxyAddresses = append(o.ProxyAddresses, "smtp:"+a)
			}
		}
		if xe := e.checkAddresses(tx, o); xe != nil {
			return exoResult{}, xe
		}
		managers, _, xe := p.strs("ManagedBy")
		if xe != nil {
			return exoResult{}, xe
		}
		if o.Exchange.ManagedBy, xe = e.resolveAll(tx, "ManagedBy", managers); xe != nil {
			return exoResult{}, xe
		}
		members, _, xe := p.strs("Members")
		if xe != nil {
			return exoResult{}, xe
		}
		if o.Members, xe = e.resolveAll(tx, "Members", members); xe != nil {
			return exoResult{}, xe
		}
		if copyOwners, _, xe := p.boolean("CopyOwnerToMember"); xe != nil {
			return exoResult{}, xe
		} else if copyOwners {
			o.Members = append(o.Members, o.Exchange.ManagedBy...)
		}
		if v, _, xe := p.boolean("ModerationEnabled"); xe != nil {
			return exoResult{}, xe
		} else {
			o.Exchange.ModerationEnabled = v
		}
		moderators, _, xe := p.strs("ModeratedBy")
		if xe != nil {
			return exoResult{}, xe
		}
		if o.Exchange.ModeratedBy, xe = e.resolveAll(tx, "ModeratedBy", moderators); xe != nil {
			return exoResult{}, xe
		}
		stored, err := tx.Put(o)
		if err != nil {
			return exoResult{}, badRequest(typRecipientTask, "%s", err.Error())
		}
		return exoResult{rows: []map[string]any{groupRow(tx, stored)}}, nil
	}
}

// recipientListParams are Set-DistributionGroup's multi-valued recipient
// parameters and where they are stored.
func recipientListParam(x *ExchangeAttributes, name string) *[]string {
	switch strings.ToLower(name) {
	case "managedby":
		return &x.ManagedBy
	case "moderatedby":
		return &x.ModeratedBy
	case "bypassmoderationfromsendersormembers":
		return &x.BypassModerationFromSendersOrMembers
	case "acceptmessagesonlyfromsendersormembers":
		return &x.AcceptMessagesOnlyFromSendersOrMembers
	case "rejectmessagesfromsendersormembers":
		return &x.RejectMessagesFromSendersOrMembers
	case "grantsendonbehalfto":
		return &x.GrantSendOnBehalfTo
	}
	return nil
}

func (e *Emulator) setDistributionGroup(p params) func(*Tx) (exoResult, *exoError) {
	listParams := []string{"ManagedBy", "ModeratedBy", "BypassModerationFromSendersOrMembers", "AcceptMessagesOnlyFromSendersOrMembers", "RejectMessagesFromSendersOrMembers", "GrantSendOnBehalfTo"}
	allowed := append([]string{"Identity", "PrimarySmtpAddress", "EmailAddresses", "Alias", "Name", "DisplayName",
		"HiddenFromAddressListsEnabled", "RequireSenderAuthenticationEnabled", "ModerationEnabled"}, listParams...)
	for i := 1; i <= 15; i++ {
		allowed = append(allowed, "CustomAttribute"+strconv.Itoa(i))
	}
	return func(tx *Tx) (exoResult, *exoError) {
		g, xe := e.targetDL(tx, p, false, allowed...)
		if xe != nil {
			return exoResult{}, xe
		}
		if g.SyncManaged() {
			for _, a := range allowed[1:] {
				if p.has(a) {
					return exoResult{}, errSynced("Set-DistributionGroup", a, g)
				}
			}
		}
		n := g.Clone()
		var namePtr, dnPtr, aliasPtr *string
		if v, ok, xe := p.str("Name"); xe != nil {
			return exoResult{}, xe
		} else if ok {
			namePtr, n.Exchange.Name = &v, v
		}
		if v, ok, xe := p.str("DisplayName"); xe != nil {
			return exoResult{}, xe
		} else if ok {
			dnPtr, n.DisplayName = &v, v
		}
		if v, ok, xe := p.str("Alias"); xe != nil {
			return exoResult{}, xe
		} else if ok {
			aliasPtr, n.MailNickname = &v, v
		}
		if xe := e.checkNames(tx, g, namePtr, dnPtr, aliasPtr); xe != nil {
			return exoResult{}, xe
		}
		replace, add, remove, isSet, xe := p.multi("EmailAddresses")
		if xe != nil {
			return exoResult{}, xe
		}
		if isSet {
			if add == nil {
				n.ProxyAddresses = normalizeAddresses(replace)
			} else {
				cur := slices.Clone(n.ProxyAddresses)
				for _, r := range remove {
					r = strings.ToLower(strings.TrimSpace(r))
					if !strings.Contains(r, ":") {
						r = "smtp:" + r
					}
					cur = slices.DeleteFunc(cur, func(x string) bool { return strings.ToLower(x) == r })
				}
				for _, a := range add {
					a = strings.TrimSpace(a)
					if !strings.Contains(a, ":") {
						a = "smtp:" + a
					}
					if strings.HasPrefix(a, "SMTP:") {
						setPrimaryIn(&cur, a[5:])
						continue
					}
					if !slices.ContainsFunc(cur, func(x string) bool { return strings.EqualFold(x, a) }) {
						cur = append(cur, a)
					}
				}
				n.ProxyAddresses = cur
			}
			n.Mail = n.PrimarySMTPAddress()
		}
		if v, ok, xe := p.str("PrimarySmtpAddress"); xe != nil {
			return exoResult{}, xe
		} else if ok {
			setPrimary(n, v)
		}
		if isSet || p.has("PrimarySmtpAddress") {
			if n.PrimarySMTPAddress() == "" {
				return exoResult{}, badRequest(typValidation, "The primary SMTP address must be specified: no SMTP address is marked as primary.")
			}
			if xe := e.checkAddresses(tx, n); xe != nil {
				return exoResult{}, xe
			}
		}
		for _, b := range []struct {
			name string
			dst  *bool
		}{
			{"HiddenFromAddressListsEnabled", &n.Exchange.HiddenFromAddressListsEnabled},
			{"RequireSenderAuthenticationEnabled", &n.Exchange.RequireSenderAuthenticationEnabled},
			{"ModerationEnabled", &n.Exchange.ModerationEnabled},
		} {
			if v, ok, xe := p.boolean(b.name); xe != nil {
				return exoResult{}, xe
			} else if ok {
				*b.dst = v
			}
		}
		for _, lp := range listParams {
			replace, add, remove, isSet, xe := p.multi(lp)
			if xe != nil {
				return exoResult{}, xe
			}
			if !isSet {
				continue
			}
			dst := recipientListParam(&n.Exchange, lp)
			if add == nil {
				ids, xe := e.resolveAll(tx, lp, replace)
				if xe != nil {
					return exoResult{}, xe
				}
				*dst = ids
				continue
			}
			addIDs, xe := e.resolveAll(tx, lp, add)
			if xe != nil {
				return exoResult{}, xe
			}
			rmIDs, xe := e.resolveAll(tx, lp, remove)
			if xe != nil {
				return exoResult{}, xe
			}
			cur := slices.DeleteFunc(slices.Clone(*dst), func(id string) bool { return slices.Contains(rmIDs, id) })
			for _, id := range addIDs {
				if !slices.Contains(cur, id) {
					cur = append(cur, id)
				}
			}
			*dst = cur
		}
		for i := 1; i <= 15; i++ {
			name := "CustomAttribute" + strconv.Itoa(i)
			if v, ok, xe := p.str(name); xe != nil {
				return exoResult{}, xe
			} else if ok {
				if xe := lengthErr(name, v, 1024); xe != nil {
					return exoResult{}, xe
				}
				n.Exchange.CustomAttributes[i-1] = v
			}
		}
		if _, err := tx.Put(n); err != nil {
			var ue *UniquenessError
			if errors.As(err, &ue) {
				return exoResult{}, errProxyInUse(ue.Value, tx.s.Objects[ue.ConflictsID])
			}
			return exoResult{}, badRequest(typRecipientTask, "%s", err.Error())
		}
		return exoResult{}, nil
	}
}

func setPrimaryIn(addrs *[]string, addr string) {
	o := &Object{ProxyAddresses: *addrs}
	setPrimary(o, addr)
	*addrs = o.ProxyAddresses
}

func (e *Emulator) removeDistributionGroup(p params) func(*Tx) (exoResult, *exoError) {
	return func(tx *Tx) (exoResult, *exoError) {
		g, xe := e.targetDL(tx, p, false, "Identity")
		if xe != nil {
			return exoResult{}, xe
		}
		if g.SyncManaged() {
			return exoResult{}, errSynced("Remove-DistributionGroup", "Identity", g)
		}
		if err := tx.HardDelete(g.ID); err != nil {
			return exoResult{}, badRequest(typRecipientTask, "%s", err.Error())
		}
		return exoResult{}, nil
	}
}

// membershipTarget checks a membership cmdlet's parameters (Identity and
// memberParam only) and resolves the distribution group it changes, which
// must not be managed by directory sync.
// targetDL checks that p holds only allowed parameters and resolves its
// Identity to a distribution group, as a read (forRead) or for a write.
func (e *Emulator) targetDL(tx *Tx, p params, forRead bool, allowed ...string) (*Object, *exoError) {
	if xe := p.only(allowed...); xe != nil {
		return nil, xe
	}
	ident, _, xe := p.str("Identity")
	if xe != nil {
		return nil, xe
	}
	return e.resolve(tx, ident, isDL, forRead)
}

func (e *Emulator) membershipTarget(tx *Tx, p params, cmdlet, memberParam string) (*Object, *exoError) {
	g, xe := e.targetDL(tx, p, false, "Identity", memberParam)
	if xe != nil {
		return nil, xe
	}
	if g.SyncManaged() {
		return nil, errSynced(cmdlet, "Members", g)
	}
	return g, nil
}

func (e *Emulator) changeMember(p params, add bool) func(*Tx) (exoResult, *exoError) {
	cmdlet := "Remove-DistributionGroupMember"
	if add {
		cmdlet = "Add-DistributionGroupMember"
	}
	return func(tx *Tx) (exoResult, *exoError) {
		g, xe := e.membershipTarget(tx, p, cmdlet, "Member")
		if xe != nil {
			return exoResult{}, xe
		}
		mident, _, xe := p.str("Member")
		if xe != nil {
			return exoResult{}, xe
		}
		m, xe := e.resolve(tx, mident, nil, false)
		if xe != nil {
			return exoResult{}, xe
		}
		isMember := slices.Contains(g.Members, m.ID)
		var err error
		switch {
		case add && isMember:
			return exoResult{}, badRequest(typMemberExists, "The recipient \"%s\" is already a member of the group \"%s\".", mident, g.ExchangeName())
		case !add && !isMember:
			return exoResult{}, badRequest(typMemberMissing, "The recipient \"%s\" isn't a member of the group \"%s\".", mident, g.ExchangeName())
		case add:
			err = tx.AddMember(g.ID, m.ID)
		default:
			err = tx.RemoveMember(g.ID, m.ID)
		}
		if err != nil {
			return exoResult{}, badRequest(typRecipientTask, "%s", err.Error())
		}
		return exoResult{}, nil
	}
}

func (e *Emulator) updateDistributionGroupMember(p params) func(*Tx) (exoResult, *exoError) {
	return func(tx *Tx) (exoResult, *exoError) {
		g, xe := e.membershipTarget(tx, p, "Update-DistributionGroupMember", "Members")
		if xe != nil {
			return exoResult{}, xe
		}
		members, _, xe := p.strs("Members")
		if xe != nil {
			return exoResult{}, xe
		}
		if max := e.Faults().MaxMembersPerUpdate; len(members) > max {
			return exoResult{}, badRequest(typRecipientTask,
				"The request to update the membership of group \"%s\" contains %d members, more than the %d allowed in one request. Replace the membership with at most %d members, then add the rest with Add-DistributionGroupMember.",
				g.ExchangeName(), len(members), max, max)
		}
		ids, xe := e.resolveAll(tx, "Members", members)
		if xe != nil {
			return exoResult{}, xe
		}
		if err := tx.SetMembers(g.ID, ids); err != nil {
			return exoResult{}, badRequest(typRecipientTask, "%s", err.Error())
		}
		return exoResult{}, nil
	}
}
