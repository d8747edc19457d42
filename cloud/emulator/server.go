package emulator

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Handler returns the emulator's HTTP handler. It routes:
//
//	GET  /{tenant}/v2.0/.well-known/openid-configuration
//	POST /{tenant}/oauth2/v2.0/token
//	GET  /common/discovery/instance
//	     /v1.0/... and /beta/...               Microsoft Graph
//	POST /adminapi/beta/{tenant}/InvokeCommand  Exchange Online admin API
//
// Anything else gets a JSON 404. Graph and Exchange requests need a bearer
// token for their audience.
func (e *Emulator) Handler() http.Handler { return http.HandlerFunc(e.serveHTTP) }

// Serve serves the emulator over TLS with cert on ln until ctx is done,
// then shuts the server down gracefully (at most 5 s) and returns nil.
func (e *Emulator) Serve(ctx context.Context, ln net.Listener, cert tls.Certificate) error {
	srv := &http.Server{
		Handler:           e.Handler(),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
		return err
	}
}

type service int

const (
	svcNone service = iota
	svcOAuth
	svcGraph
	svcExchange
)

func (e *Emulator) serveHTTP(w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var (
		class string
		svc   service
		h     http.HandlerFunc
	)
	switch {
	case segs[0] == "v1.0" || segs[0] == "beta":
		svc = svcGraph
		class, h = e.graphRoute(r, segs[0], segs[1:])
	case len(segs) == 4 && strings.EqualFold(segs[0], "adminapi") && strings.EqualFold(segs[1], "beta") && strings.EqualFold(segs[3], "InvokeCommand"):
		svc, class = svcExchange, "exo"
		r.SetPathValue("tenant", segs[2])
		h = e.requireMethod(http.MethodPost, e.handleInvokeCommand)
	case len(segs) == 4 && segs[1] == "v2.0" && segs[2] == ".well-known" && segs[3] == "openid-configuration":
		svc, class = svcOAuth, "oauth"
		r.SetPathValue("tenant", segs[0])
		h = e.requireMethod(http.MethodGet, e.handleOpenIDConfig)
	case len(segs) == 4 && segs[1] == "oauth2" && segs[2] == "v2.0" && segs[3] == "token":
		svc, class = svcOAuth, "oauth"
		r.SetPathValue("tenant", segs[0])
		h = e.requireMethod(http.MethodPost, e.handleToken)
	case len(segs) == 3 && segs[0] == "common" && segs[1] == "discovery" && segs[2] == "instance":
		svc, class = svcOAuth, "oauth"
		h = e.handleInstanceDiscovery
	default:
		class = "notfound"
		h = func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{
				"code":    "NotFound",
				"message": "The tenant emulator does not serve " + r.Method + " " + r.URL.Path + ".",
			}})
		}
	}
	e.count(class, "requests")
	if svc == svcExchange {
		e.countCmdlet(r.Header.Get("X-CmdletName"))
	}
	f := e.Faults()
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch svc {
	case svcGraph:
		if why := e.checkBearer(r, AudienceGraph); why != "" {
			e.countUnauthorized()
			w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="`+baseURL(r)+`/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
			e.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", why)
			return
		}
		if e.injectFault(w, r, class, svcGraph) {
			return
		}
	case svcExchange:
		if why := e.checkBearer(r, AudienceExchange); why != "" {
			e.countUnauthorized()
			w.Header().Set("WWW-Authenticate", `Bearer client_id="00000002-0000-0ff1-ce00-000000000000", trusted_issuers="00000001-0000-0000-c000-000000000000@*", token_types="app_asserted_user_v1 service_asserted_app_v1", authorization_uri="`+baseURL(r)+`/common/oauth2/authorize", error="invalid_token"`)
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{"code": "Unauthorized", "message": why}})
			return
		}
		if e.injectFault(w, r, class, svcExchange) {
			return
		}
	}
	h(w, r)
}

func (e *Emulator) requireMethod(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": map[string]any{
				"code": "MethodNotAllowed", "message": "The HTTP method '" + r.Method + "' is not allowed here.",
			}})
			return
		}
		h(w, r)
	}
}

func (e *Emulator) count(class, what string) {
	e.fmu.Lock()
	defer e.fmu.Unlock()
	switch what {
	case "requests":
		e.stats.Requests[class]++
	case "throttled":
		e.stats.Throttled[class]++
	case "unavailable":
		e.stats.Unavailable[class]++
	}
}

// countCmdlet counts an Exchange request by its cmdlet; names are bounded
// to what the emulator knows of cmdlet names' shape.
func (e *Emulator) countCmdlet(name string) {
	if name == "" || len(name) > 64 {
		name = "other"
	}
	e.fmu.Lock()
	defer e.fmu.Unlock()
	e.stats.Cmdlets[name]++
}

func (e *Emulator) countUnauthorized() {
	e.fmu.Lock()
	defer e.fmu.Unlock()
	e.stats.Unauthorized++
}

// injectFault draws once from the random source and, with probability
// ThrottleRate, answers 429 TooManyRequests or, with UnavailableRate, 503,
// both with Retry-After in seconds
// (https://learn.microsoft.com/graph/throttling). It reports whether it
// answered.
func (e *Emulator) injectFault(w http.ResponseWriter, r *http.Request, class string, svc service) bool {
	f := e.Faults()
	if f.ThrottleRate <= 0 && f.UnavailableRate <= 0 {
		return false
	}
	x := e.randFloat()
	var status int
	var code, msg string
	switch {
	case x < f.ThrottleRate:
		e.count(class, "throttled")
		status, code = http.StatusTooManyRequests, "TooManyRequests"
		msg = "Too many requests. The request was throttled; retry after the delay in the Retry-After header."
	case x < f.ThrottleRate+f.UnavailableRate:
		e.count(class, "unavailable")
		status, code = http.StatusServiceUnavailable, "ServiceUnavailable"
		msg = "The service is temporarily unavailable. Retry after the delay in the Retry-After header."
	default:
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(f.RetryAfter)))
	if svc == svcGraph {
		e.graphError(w, r, status, code, msg)
	} else {
		writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg}})
	}
	return true
}

func retryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"InternalServerError","message":"response encoding failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

// graphError writes Graph's error body
// (https://learn.microsoft.com/graph/errors):
// {"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}.
func (e *Emulator) graphError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	rid := e.newGUID()
	w.Header().Set("request-id", rid)
	inner := map[string]any{
		"date":       e.clock().UTC().Format("2006-01-02T15:04:05"),
		"request-id": rid,
	}
	if c := r.Header.Get("client-request-id"); c != "" {
		inner["client-request-id"] = c
		w.Header().Set("client-request-id", c)
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg, "innerError": inner}})
}

// recorder is a minimal http.ResponseWriter for $batch items.
type recorder struct {
	h    http.Header
	code int
	buf  bytes.Buffer
}

func newRecorder() *recorder { return &recorder{h: http.Header{}} }

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.buf.Write(b)
}
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
