package emulator

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func genCert(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hybridsync"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func signJWT(t *testing.T, key *rsa.PrivateKey, alg string, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(map[string]any{"alg": alg, "typ": "JWT"}) + "." + enc(claims)
	d := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	if alg == "PS256" {
		sig, err = rsa.SignPSS(rand.Reader, key, crypto.SHA256, d[:], nil)
	} else {
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestOpenIDConfiguration(t *testing.T) {
	h := newHarness(t)
	for _, tenant := range []string{testTenant, testDomain, "contoso.com"} {
		r := h.do(http.MethodGet, "/"+tenant+"/v2.0/.well-known/openid-configuration", "", nil, nil)
		if r.status != http.StatusOK {
			t.Fatalf("%s: status %d", tenant, r.status)
		}
		m := r.json(t)
		for _, k := range []string{"token_endpoint", "authorization_endpoint", "issuer"} {
			v, _ := m[k].(string)
			if !strings.HasPrefix(v, h.srv.URL+"/"+testTenant) {
				t.Errorf("%s = %q, want it on this server", k, v)
			}
		}
	}
	r := h.do(http.MethodGet, "/nosuch/v2.0/.well-known/openid-configuration", "", nil, nil)
	if r.status != http.StatusBadRequest || !strings.Contains(r.json(t)["error_description"].(string), "AADSTS90002") {
		t.Errorf("unknown tenant: %d %s", r.status, r.body)
	}
	r = h.do(http.MethodGet, "/common/discovery/instance?api-version=1.1", "", nil, nil)
	if r.status != http.StatusOK || r.json(t)["tenant_discovery_endpoint"] == nil {
		t.Errorf("instance discovery: %d %s", r.status, r.body)
	}
	r = h.do(http.MethodGet, "/no/such/path", "", nil, nil)
	if r.status != http.StatusNotFound || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("unknown path: %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
	}
}

func TestTokenFlows(t *testing.T) {
	key, certPEM := genCert(t)
	otherKey, _ := genCert(t)
	h := newHarness(t, func(c *Config) { c.ClientCertPEM = certPEM })
	tokenURL := "/" + testTenant + "/oauth2/v2.0/token"
	aud := h.srv.URL + tokenURL
	now := h.clock.Now()
	good := map[string]any{"aud": aud, "iss": testClient, "sub": testClient, "jti": "1", "exp": now.Add(10 * time.Minute).Unix(), "nbf": now.Unix()}
	with := func(k string, v any) map[string]any {
		c := map[string]any{}
		for kk, vv := range good {
			c[kk] = vv
		}
		c[k] = v
		return c
	}
	secretForm := func(client, secret, scope string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {secret}, "scope": {scope}}
	}
	assertionForm := func(jwt string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {testClient}, "scope": {ScopeGraph},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {jwt}}
	}
	tests := []struct {
		name   string
		path   string
		form   url.Values
		status int
		aadsts string
		aud    string
	}{
		{"secret graph", tokenURL, secretForm(testClient, testSecret, ScopeGraph), 200, "", AudienceGraph},
		{"secret exchange", tokenURL, secretForm(testClient, testSecret, ScopeExchange+" openid offline_access"), 200, "", AudienceExchange},
		{"tenant by domain", "/" + testDomain + "/oauth2/v2.0/token", secretForm(testClient, testSecret, ScopeGraph), 200, "", AudienceGraph},
		{"bad secret", tokenURL, secretForm(testClient, "wrong", ScopeGraph), 401, "AADSTS7000215", ""},
		{"unknown client", tokenURL, secretForm("99999999-0000-4000-8000-000000000000", testSecret, ScopeGraph), 400, "AADSTS700016", ""},
		{"unknown tenant", "/00000000-0000-4000-8000-000000000000/oauth2/v2.0/token", secretForm(testClient, testSecret, ScopeGraph), 400, "AADSTS90002", ""},
		{"scope without .default", tokenURL, secretForm(testClient, testSecret, "https://graph.microsoft.com/User.Read.All"), 400, "AADSTS1002012", ""},
		{"unknown resource", tokenURL, secretForm(testClient, testSecret, "https://vault.azure.net/.default"), 400, "AADSTS500011", ""},
		{"no credential", tokenURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {testClient}, "scope": {ScopeGraph}}, 401, "AADSTS7000216", ""},
		{"wrong grant", tokenURL, url.Values{"grant_type": {"password"}, "client_id": {testClient}}, 400, "AADSTS70003", ""},
		{"assertion RS256", tokenURL, assertionForm(signJWT(t, key, "RS256", good)), 200, "", AudienceGraph},
		{"assertion PS256", tokenURL, assertionForm(signJWT(t, key, "PS256", good)), 200, "", AudienceGraph},
		{"assertion wrong key", tokenURL, assertionForm(signJWT(t, otherKey, "RS256", good)), 401, "AADSTS700027", ""},
		{"assertion expired", tokenURL, assertionForm(signJWT(t, key, "RS256", with("exp", now.Add(-time.Hour).Unix()))), 401, "AADSTS700024", ""},
		{"assertion wrong aud", tokenURL, assertionForm(signJWT(t, key, "RS256", with("aud", "https://login.microsoftonline.com/x/oauth2/v2.0/token"))), 401, "AADSTS700212", ""},
		{"assertion wrong iss", tokenURL, assertionForm(signJWT(t, key, "RS256", with("iss", "someone"))), 401, "AADSTS700021", ""},
		{"assertion garbage", tokenURL, assertionForm("not.a.jwt"), 401, "AADSTS50013", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(http.MethodPost, tc.path, "", tc.form, nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			m := r.json(t)
			if tc.aadsts != "" {
				if d, _ := m["error_description"].(string); !strings.HasPrefix(d, tc.aadsts+":") {
					t.Errorf("error_description = %q, want %s", d, tc.aadsts)
				}
				return
			}
			tok, _ := m["access_token"].(string)
			if tok == "" || m["token_type"] != "Bearer" || m["expires_in"] == nil {
				t.Fatalf("token response = %v", m)
			}
			// The token works only for its audience.
			g := h.do(http.MethodGet, "/v1.0/users", tok, nil, nil)
			if (g.status == http.StatusOK) != (tc.aud == AudienceGraph) {
				t.Errorf("Graph with %s token: status %d", tc.aud, g.status)
			}
		})
	}
}

func TestGraphRequiresToken(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name, token string
	}{
		{"no token", ""},
		{"unknown token", "nope"},
		{"exchange token", h.exo},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(http.MethodGet, "/v1.0/users", tc.token, nil, nil)
			if r.status != http.StatusUnauthorized || r.errCode(t) != "InvalidAuthenticationToken" {
				t.Fatalf("status %d %s", r.status, r.body)
			}
			inner, _ := r.json(t)["error"].(map[string]any)["innerError"].(map[string]any)
			if inner["request-id"] == nil || inner["date"] == nil {
				t.Errorf("innerError = %v", inner)
			}
		})
	}
	// Expired token.
	h.clock.Add(2 * time.Hour)
	if r := h.get("/v1.0/users"); r.status != http.StatusUnauthorized {
		t.Errorf("expired token: %d", r.status)
	}
	// Exchange needs an Exchange token.
	r := h.do(http.MethodPost, "/adminapi/beta/"+testTenant+"/InvokeCommand", h.e.IssueToken(AudienceGraph),
		map[string]any{"CmdletInput": map[string]any{"CmdletName": "Get-AcceptedDomain"}}, map[string]string{"X-AnchorMailbox": "UPN:a@b"})
	if r.status != http.StatusUnauthorized {
		t.Errorf("EXO with Graph token: %d", r.status)
	}
}
