package exo

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/internal/retry"
)

// apiError is the body of a failed InvokeCommand.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Target  string `json:"target"`
		} `json:"details"`
		InnerError *struct {
			Message           string `json:"message"`
			Type              string `json:"type"`
			InternalException *struct {
				Message string `json:"message"`
			} `json:"internalException"`
		} `json:"innererror"`
	} `json:"error"`
}

// detailMessage is the JSON form a detail message sometimes takes.
type detailMessage struct {
	Message  string `json:"Message"`
	TypeName string `json:"TypeName"`
}

// Message fragments, matched case-insensitively against every message and
// exception type name in the body. Order matters: see classifyResponse.
var (
	// Exchange refuses to touch objects the sync engine owns.
	dirSyncedPhrases = []string{
		"is being synchronized from your on-premises organization",
	}
	// Throttling and transient back-end states. The exception names are
	// the ones the v3 module itself retries.
	throttlePhrases = []string{
		"server busy", "micro delay", "exceeded the maximum number of concurrent",
		"too many requests", "throttl",
		"dcoverloadedexception", "suitabilitydirectoryexception", "serverinmmexception",
		"adserversettingschangedexception", "storagetransientexception",
	}
	// The target already holds (or no longer holds) the value.
	conflictPhrases = []string{
		"is already being used by the proxy addresses", "already exists",
		"adobjectalreadyexistsexception", "proxyaddressexistsexception",
	}
	// Add-/Remove-DistributionGroupMember found the membership already as
	// asked; also Conflict, but marked so callers can count it as done.
	membershipPhrases = []string{
		"is already a member", "isn't a member", "is not a member",
		"memberalreadyexistsexception", "membernotfoundexception",
	}
	notFoundPhrases = []string{
		"couldn't be found", "could not be found", "managementobjectnotfoundexception",
	}
	// Requests that will fail the same way every time.
	terminalPhrases = []string{
		"isn't an accepted domain", "is not an accepted domain", "not an accepted domain for your organization",
		"validationexception", "parameterbindingexception", "dataValidationexception",
		"invalid operation", "isn't valid", "is not valid",
		"can only be performed by a manager of the group", "insufficient permissions",
		"don't have sufficient permissions", "accessdenied",
	}
)

// classifyResponse maps one failed InvokeCommand response to a classified
// error. cmdlet decides what an unexplained server failure means; now
// resolves a Retry-After given as an HTTP date.
//
//   - 401, 403: Terminal (token audience, Exchange.ManageAsApp or role missing)
//   - 429, 503: Retryable for every cmdlet (the request was not processed),
//     with RetryAfter from the header
//   - 504 (gateway timeout): Retryable for reads (Get-*); for a cmdlet that
//     changes something the outcome is unknown: Conflict, "outcome
//     unknown; re-read before retrying"
//   - body "is being synchronized from your on-premises organization": Terminal
//   - body throttling ("Server Busy", "micro delay", "exceeded the maximum
//     number of concurrent", transient directory exceptions): Retryable
//   - body "already exists", "is already being used by the proxy addresses",
//     membership already as asked: Conflict
//   - body "couldn't be found", ManagementObjectNotFoundException: NotFound
//   - body "isn't an accepted domain", validation and binding errors,
//     missing group-manager rights: Terminal
//   - otherwise 404: NotFound; other 5xx (500, 502…): Retryable for reads,
//     Conflict (outcome unknown) for writes, as for 504; anything else
//     Terminal
//
// The error text holds the HTTP status and the server's message; op names
// the cmdlet and identity.
func classifyResponse(op, cmdlet string, status int, header http.Header, body []byte, now time.Time) *retry.Error {
	msg, haystack := describeBody(body)
	text := fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	if msg != "" {
		text += ": " + msg
	}
	mk := func(class retry.Class, err error) *retry.Error {
		e := retry.New(op, class, err)
		if class == retry.Retryable {
			e.RetryAfter = retry.ParseRetryAfter(header.Get("Retry-After"), now)
		}
		return e
	}
	has := func(phrases []string) bool {
		for _, p := range phrases {
			if strings.Contains(haystack, strings.ToLower(p)) {
				return true
			}
		}
		return false
	}

	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return mk(retry.Terminal, fmt.Errorf("not authorised: %s (the token must be for the Exchange resource's /.default scope, and the app needs Exchange.ManageAsApp plus an Exchange role)", text))
	case http.StatusTooManyRequests:
		e := mk(retry.Retryable, errors.New(text))
		e.Throttled = true
		return e
	case http.StatusServiceUnavailable:
		e := mk(retry.Retryable, errors.New(text))
		e.Throttled = has(throttlePhrases)
		return e
	case http.StatusGatewayTimeout:
		if !isReadCmdlet(cmdlet) {
			return outcomeUnknown(op, errors.New(text))
		}
		return mk(retry.Retryable, errors.New(text))
	}
	switch {
	case has(dirSyncedPhrases):
		return mk(retry.Terminal, fmt.Errorf("object is synchronised from on-premises AD and must be changed there: %s", text))
	case has(throttlePhrases):
		e := mk(retry.Retryable, fmt.Errorf("throttled: %s", text))
		e.Throttled = true
		return e
	case has(membershipPhrases):
		return mk(retry.Conflict, membershipAsAsked{errors.New(text)})
	case has(conflictPhrases):
		return mk(retry.Conflict, errors.New(text))
	case has(notFoundPhrases):
		return mk(retry.NotFound, errors.New(text))
	case has(terminalPhrases):
		return mk(retry.Terminal, errors.New(text))
	case status == http.StatusNotFound:
		return mk(retry.NotFound, errors.New(text))
	case status >= 500 && !isReadCmdlet(cmdlet):
		return outcomeUnknown(op, errors.New(text))
	case status >= 500:
		return mk(retry.Retryable, errors.New(text))
	default:
		return mk(retry.Terminal, errors.New(text))
	}
}

// outcomeUnknown is the Conflict a cmdlet that changes something gets when
// the server failed without saying how far it got (a 5xx other than 503, or
// no answer at all): retrying blindly could apply it twice, so the caller
// re-reads and decides.
func outcomeUnknown(op string, err error) *retry.Error {
	return retry.New(op, retry.Conflict, fmt.Errorf("outcome unknown; re-read before retrying: %w", err))
}

// membershipAsAsked marks the Conflict of "is already a member" / "isn't a
// member": the membership already is what the call asked for.
type membershipAsAsked struct{ error }

func (e membershipAsAsked) Unwrap() error { return e.error }

// isMembershipAsAsked reports whether err says an Add- or
// Remove-DistributionGroupMember found the membership already as asked
// (and not, say, that its outcome is unknown).
func isMembershipAsAsked(err error) bool {
	var m membershipAsAsked
	return retry.ClassOf(err) == retry.Conflict && errors.As(err, &m)
}

// describeBody returns the most useful message in an error body and a
// lower-cased haystack of every message and exception type in it.
func describeBody(body []byte) (msg, haystack string) {
	var ae apiError
	if err := json.Unmarshal(body, &ae); err != nil || (ae.Error.Code == "" && ae.Error.Message == "" && len(ae.Error.Details) == 0) {
		s := strings.TrimSpace(string(body))
		s = truncate(strings.Join(strings.Fields(s), " "), 500)
		return s, strings.ToLower(s)
	}
	var parts, hay []string
	add := func(m string) {
		typ, m := splitTyped(m)
		if typ != "" {
			hay = append(hay, typ)
		}
		if m == "" {
			return
		}
		hay = append(hay, m)
		if typ != "" {
			m += " [" + shortType(typ) + "]"
		}
		for _, p := range parts {
			if p == m {
				return
			}
		}
		parts = append(parts, m)
	}
	for _, d := range ae.Error.Details {
		add(d.Message)
	}
	if ie := ae.Error.InnerError; ie != nil {
		if ie.InternalException != nil {
			add(ie.InternalException.Message)
		}
		if ie.Type != "" {
			hay = append(hay, ie.Type)
		}
		if len(parts) == 0 {
			add(ie.Message)
		}
	}
	if len(parts) == 0 {
		add(ae.Error.Message)
	} else {
		hay = append(hay, ae.Error.Message)
	}
	hay = append(hay, ae.Error.Code)
	msg = truncate(strings.Join(parts, "; "), 1000)
	if ae.Error.Code != "" {
		msg = ae.Error.Code + ": " + msg
	}
	return msg, strings.ToLower(strings.Join(hay, "\n"))
}

// splitTyped separates the exception type from a detail message, which
// comes either as JSON {"Message","TypeName"} or as
// "[id]|Microsoft.Exchange...SomeException|text".
func splitTyped(m string) (typ, text string) {
	m = strings.TrimSpace(m)
	if strings.HasPrefix(m, "{") {
		var dm detailMessage
		if json.Unmarshal([]byte(m), &dm) == nil && (dm.Message != "" || dm.TypeName != "") {
			return dm.TypeName, strings.TrimSpace(dm.Message)
		}
	}
	if parts := strings.SplitN(m, "|", 3); len(parts) == 3 && strings.Contains(parts[1], "Exception") && !strings.ContainsAny(parts[1], " \t") {
		return parts[1], strings.TrimSpace(parts[2])
	}
	return "", m
}

// shortType drops the namespace of an exception type name.
func shortType(t string) string {
	if i := strings.LastIndexByte(t, '.'); i >= 0 {
		return t[i+1:]
	}
	return t
}
