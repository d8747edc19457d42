package emulator

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Audiences of the bearer tokens the emulator issues.
const (
	AudienceGraph    = "https://graph.microsoft.com"
	AudienceExchange = "https://outlook.office365.com"
)

// Scopes a client asks for with the client-credentials grant.
const (
	ScopeGraph    = AudienceGraph + "/.default"
	ScopeExchange = AudienceExchange + "/.default"
)

type accessToken struct {
	audience string
	expires  time.Time
}

// resourceAudience maps a requested resource to the audience the emulator
// knows, or "".
func resourceAudience(resource string) string {
	switch strings.TrimRight(strings.ToLower(resource), "/") {
	case "https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000":
		return AudienceGraph
	case "https://outlook.office365.com", "https://outlook.office.com", "00000002-0000-0ff1-ce00-000000000000":
		return AudienceExchange
	}
	return ""
}

// tenantOK reports whether the path's tenant names this tenant: its id or
// one of its accepted domains, as login.microsoftonline.com accepts.
func (e *Emulator) tenantOK(t string) bool {
	if strings.EqualFold(t, e.cfg.TenantID) {
		return true
	}
	ok := false
	_ = e.View(func(tx *Tx) error {
		ok = tx.isAccepted(t)
		return nil
	})
	return ok
}

func baseURL(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

// handleOpenIDConfig serves GET /{tenant}/v2.0/.well-known/openid-configuration
// (https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-configuration-document-uri).
// Every endpoint points back at this server; the issuer's host is the
// request's host, which MSAL checks against the authority.
func (e *Emulator) handleOpenIDConfig(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if !e.tenantOK(tenant) {
		e.aadError(w, http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf(
			"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
		return
	}
	b := baseURL(r) + "/" + e.cfg.TenantID
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        b + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              baseURL(r) + "/" + e.cfg.TenantID + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                b + "/v2.0",
		"authorization_endpoint":                b + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         b + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  b + "/oauth2/v2.0/logout",
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "microsoftonline.com",
		"msgraph_host":                          r.Host,
	})
}

// handleInstanceDiscovery serves GET /common/discovery/instance, which MSAL
// calls unless instance discovery is disabled
// (https://learn.microsoft.com/entra/msal/dotnet/advanced/instance-discovery):
// it names this host as the only alias.
func (e *Emulator) handleInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": baseURL(r) + "/" + e.cfg.TenantID + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": r.Host, "preferred_cache": r.Host, "aliases": []string{r.Host},
		}},
	})
}

// aadError writes an identity-platform error
// (https://learn.microsoft.com/entra/identity-platform/reference-error-codes).
func (e *Emulator) aadError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	trace := e.newGUID()
	now := e.clock().UTC()
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, desc, trace, trace, now.Format("2006-01-02 15:04:05Z")),
		"error_codes":       []int{aadsts},
		"timestamp":         now.Format("2006-01-02 15:04:05Z"),
		"trace_id":          trace,
		"correlation_id":    trace,
		"error_uri":         "https://login.microsoftonline.com/error?code=" + fmt.Sprint(aadsts),
	})
}

// handleToken serves POST /{tenant}/oauth2/v2.0/token for the client
// credentials grant with a client secret or a client assertion
// (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow,
// https://learn.microsoft.com/entra/identity-platform/certificate-credentials).
// It issues opaque bearer tokens for the Graph or Exchange audience.
func (e *Emulator) handleToken(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if !e.tenantOK(tenant) {
		e.aadError(w, http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf(
			"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
		return
	}
	if err := r.ParseForm(); err != nil {
		e.aadError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	clientID, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		clientID, secret = u, p
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		if gt == "" {
			e.aadError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		} else {
			e.aadError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", gt))
		}
		return
	}
	if clientID == "" {
		e.aadError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	if !strings.EqualFold(clientID, e.cfg.ClientID) {
		e.aadError(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf(
			"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, tenant))
		return
	}
	assertion := r.PostForm.Get("client_assertion")
	switch {
	case assertion != "":
		if t := r.PostForm.Get("client_assertion_type"); t != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			e.aadError(w, http.StatusBadRequest, "invalid_request", 50027, "The client_assertion_type must be 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.")
			return
		}
		aud := baseURL(r) + "/" + tenant + "/oauth2/v2.0/token"
		audID := baseURL(r) + "/" + e.cfg.TenantID + "/oauth2/v2.0/token"
		if code, msg := e.verifyAssertion(assertion, clientID, aud, audID); code != 0 {
			e.aadError(w, http.StatusUnauthorized, "invalid_client", code, msg)
			return
		}
	case secret != "":
		if e.cfg.ClientSecret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(e.cfg.ClientSecret)) != 1 {
			e.aadError(w, http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf(
				"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID))
			return
		}
	default:
		e.aadError(w, http.StatusUnauthorized, "invalid_client", 7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.")
		return
	}
	audience := ""
	for _, s := range strings.Fields(r.PostForm.Get("scope")) {
		switch s {
		case "openid", "profile", "offline_access", "email":
			continue
		}
		if !strings.HasSuffix(s, "/.default") {
			e.aadError(w, http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf(
				"The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", s))
			return
		}
		res := strings.TrimSuffix(s, "/.default")
		audience = resourceAudience(res)
		if audience == "" {
			e.aadError(w, http.StatusBadRequest, "invalid_resource", 500011, fmt.Sprintf(
				"The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", res, tenant))
			return
		}
	}
	if audience == "" {
		e.aadError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		return
	}
	tok, err := newOpaqueToken()
	if err != nil {
		e.aadError(w, http.StatusInternalServerError, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.")
		return
	}
	life := e.cfg.AccessTokenLifetime
	e.fmu.Lock()
	now := e.clock()
	for k, t := range e.tokens {
		if now.After(t.expires) {
			delete(e.tokens, k)
		}
	}
	e.tokens[tok] = accessToken{audience: audience, expires: now.Add(life)}
	e.fmu.Unlock()
	secs := int(life / time.Second)
	w.Header().Set("Cache-Control", "no-store, no-cache")
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok,
	})
}

func newOpaqueToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "emu." + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// IssueToken mints a bearer token for audience (AudienceGraph or
// AudienceExchange) without the OAuth round trip, for tests.
func (e *Emulator) IssueToken(audience string) string {
	tok, err := newOpaqueToken()
	if err != nil {
		panic(err)
	}
	e.fmu.Lock()
	defer e.fmu.Unlock()
	e.tokens[tok] = accessToken{audience: audience, expires: e.clock().Add(e.cfg.AccessTokenLifetime)}
	return tok
}

// checkBearer returns "" when r carries a valid token for audience, else
// the reason it does not.
func (e *Emulator) checkBearer(r *http.Request, audience string) string {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "Access token is empty."
	}
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return "Access token validation failure. Invalid authorization scheme."
	}
	e.fmu.Lock()
	t, ok := e.tokens[strings.TrimSpace(tok)]
	e.fmu.Unlock()
	switch {
	case !ok:
		return "Access token validation failure. Invalid audience or unknown token."
	case e.clock().After(t.expires):
		return "Lifetime validation failed, the token is expired."
	case t.audience != audience:
		return "Access token validation failure. Invalid audience."
	}
	return ""
}

// verifyAssertion checks a client assertion JWT: RS256 or PS256 signed
// with ClientCertPEM's key, iss and sub the client id, aud the token
// endpoint, exp in the future and nbf in the past (5 minutes' skew). It
// returns an AADSTS code and message on failure, 0 on success.
func (e *Emulator) verifyAssertion(jwt, clientID string, auds ...string) (int, string) {
	if e.cert == nil {
		return 700027, "Client assertion failed signature validation. No certificate is registered for the application."
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return 50013, "Assertion is invalid: the client assertion is not a well-formed JWT."
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Aud any    `json:"aud"`
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Exp int64  `json:"exp"`
		Nbf int64  `json:"nbf"`
	}
	if err := decodeSegment(parts[0], &hdr); err != nil {
		return 50013, "Assertion is invalid: the JWT header cannot be decoded."
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return 50013, "Assertion is invalid: the JWT payload cannot be decoded."
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return 700027, "Client assertion failed signature validation."
	}
	pub, ok := e.cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return 700027, "Client assertion failed signature validation. The registered certificate has no RSA key."
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch hdr.Alg {
	case "RS256":
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
	case "PS256":
		err = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, nil)
	default:
		return 700027, fmt.Sprintf("Client assertion failed signature validation. Unsupported algorithm '%s'.", hdr.Alg)
	}
	if err != nil {
		return 700027, "Client assertion failed signature validation."
	}
	if claims.Iss != clientID || claims.Sub != clientID {
		return 700021, "Client assertion application identifier doesn't match 'client_id' parameter."
	}
	audOK := false
	var got []string
	switch a := claims.Aud.(type) {
	case string:
		got = []string{a}
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok {
				got = append(got, s)
			}
		}
	}
	for _, g := range got {
		for _, want := range auds {
			if strings.EqualFold(strings.TrimRight(g, "/"), want) {
				audOK = true
			}
		}
	}
	if !audOK {
		return 700212, fmt.Sprintf("The audience claim in the client assertion must be '%s'.", auds[0])
	}
	now := e.clock()
	const skew = 5 * time.Minute
	if claims.Exp == 0 || now.After(time.Unix(claims.Exp, 0).Add(skew)) || claims.Nbf != 0 && now.Add(skew).Before(time.Unix(claims.Nbf, 0)) {
		return 700024, "Client assertion is not within its valid time range."
	}
	return 0, ""
}

func decodeSegment(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
