package handlers

import (
	"net/http"
	"strings"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/httpmw"
)

// MetadataOptions shapes the RFC 8414 authorization-server metadata: the
// issuer and the paths, on the issuer's origin, where the app mounted each
// endpoint. An empty path leaves its member out.
type MetadataOptions struct {
	// Issuer is the token service's issuer URL (server.Config.Issuer),
	// with no path: the metadata is served at Issuer +
	// "/.well-known/oauth-authorization-server". Required.
	Issuer        string
	Token         string   // OAuthToken, e.g. "/oauth/token"
	Introspection string   // Introspect, e.g. "/oauth/introspect"
	Revocation    string   // Revoke, e.g. "/oauth/revoke"
	JWKS          string   // JWKS, e.g. "/.well-known/jwks.json"
	Feed          string   // the revocation feed (package feed), e.g. "/oauth/revocations"
	Validation    string   // Validate, e.g. "/v1/keys/validate": what product APIs ask when their feed is stale
	KeyCheck      string   // CheckKey, e.g. "/oauth/check-key": where product APIs check application keys
	Scopes        []string // scopes_supported; empty leaves it out
}

// Metadata returns the handler of RFC 8414 authorization-server metadata
// (`GET /.well-known/oauth-authorization-server`): the issuer, the
// endpoints, the grants (client_credentials, refresh_token) and the client
// authentication methods (client_secret_basic, client_secret_post), and
// members of authkit's own: revocation_feed_endpoint,
// authkit_validation_endpoint and authkit_key_check_endpoint. It panics, when built, without an Issuer.
func (e *Endpoints) Metadata(o MetadataOptions) http.Handler {
	if o.Issuer == "" {
		panic("handlers: Metadata: Issuer is required")
	}
	base := strings.TrimSuffix(o.Issuer, "/")
	auth := []string{"client_secret_basic", "client_secret_post"}
	m := map[string]any{
		"issuer":                   o.Issuer,
		"grant_types_supported":    []string{"client_credentials", "refresh_token"},
		"response_types_supported": []string{},
	}
	for _, p := range []struct{ name, path, methods string }{
		{"token_endpoint", o.Token, "token_endpoint_auth_methods_supported"},
		{"introspection_endpoint", o.Introspection, "introspection_endpoint_auth_methods_supported"},
		{"revocation_endpoint", o.Revocation, "revocation_endpoint_auth_methods_supported"},
		{"jwks_uri", o.JWKS, ""},
		{"revocation_feed_endpoint", o.Feed, ""},
		{"authkit_validation_endpoint", o.Validation, ""},
		{"authkit_key_check_endpoint", o.KeyCheck, ""},
	} {
		if p.path == "" {
			continue
		}
		m[p.name] = base + p.path
		if p.methods != "" {
			m[p.methods] = auth
		}
	}
	if len(o.Scopes) > 0 {
		m["scopes_supported"] = o.Scopes
	}
	rs := e.responder(nil)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		rs.JSON(w, http.StatusOK, "", m)
	})
}

// keyCheckJSON is what CheckKey answers for a live key.
type keyCheckJSON struct {
	Owner  string      `json:"owner"`
	KeyID  string      `json:"key_id"`
	Scopes []string    `json:"scopes"`
	Env    authkit.Env `json:"env"`
}

// CheckKey returns the handler that checks an application key for a
// product API on another machine (package verifier): `POST` with
// `Authorization: Bearer <key>`, answered 200 {"owner", "key_id",
// "scopes", "env"} for a live key, 401 otherwise. Failures count in the
// Limiter like those of every token endpoint; the key's policy is not
// counted here (the product API's request is).
func (e *Endpoints) CheckKey() http.Handler {
	rs := e.responder(nil)
	a := &httpmw.Auth{Keys: e.Keys, Accept: httpmw.AcceptBearerKey, Limiter: e.limiter(), Clients: e.Clients, Responder: rs}
	return a.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := authkit.FromContext(r.Context())
		sc := p.Scopes()
		if sc == nil {
			sc = []string{}
		}
		noStore(w)
		rs.JSON(w, http.StatusOK, "", keyCheckJSON{Owner: p.Owner(), KeyID: p.KeyID(), Scopes: sc, Env: p.Env()})
	}))
}
