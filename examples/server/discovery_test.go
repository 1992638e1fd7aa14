package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/matryer/is"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// TestDiscovery_ThirdPartyClientFindsEveryEndpoint: golang.org/x/oauth2, a
// real third-party OAuth client, given only what the RFC 8414 metadata
// says, gets a token at the discovered token endpoint; the other
// discovered endpoints answer as their names promise.
func TestDiscovery_ThirdPartyClientFindsEveryEndpoint(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	k := e.createKey(alice, `{"handle":"third-party"}`)
	keyID, key := str(k, "id"), str(k, "token")

	r := e.do(req{method: "GET", path: "/.well-known/oauth-authorization-server"})
	is.Equal(r.status, 200)
	meta := r.json
	is.Equal(meta["issuer"], "http://authkit.test")
	// The metadata names the issuer's URLs; this test reaches the same
	// routes on the test server's address.
	at := func(member string) string {
		u, err := url.Parse(str(meta, member))
		is.NoErr(err)
		is.Equal(u.Scheme+"://"+u.Host, "http://authkit.test")
		return e.srv.URL + u.Path
	}
	is.Equal(meta["grant_types_supported"], []any{"client_credentials", "refresh_token"})
	is.Equal(meta["token_endpoint_auth_methods_supported"], []any{"client_secret_basic", "client_secret_post"})

	cc := clientcredentials.Config{ClientID: keyID, ClientSecret: key, TokenURL: at("token_endpoint"), AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cc.Token(context.WithValue(context.Background(), oauth2.HTTPClient, e.client()))
	is.NoErr(err)
	is.Equal(tok.TokenType, "Bearer")
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: bearer(tok.AccessToken)}).status, 200)

	form := func(endpoint string) (int, map[string]any) {
		hr, _ := http.NewRequest("POST", at(endpoint), strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		hr.SetBasicAuth(keyID, key)
		res, err := e.client().Do(hr)
		is.NoErr(err)
		defer res.Body.Close()
		var m map[string]any
		json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	st, m := form("introspection_endpoint")
	is.Equal(st, 200)
	is.Equal(m["active"], true)
	st, _ = form("revocation_endpoint")
	is.Equal(st, 200)
	st, m = form("introspection_endpoint")
	is.Equal(st, 200)
	is.Equal(m["active"], false) // revoked at the discovered revocation endpoint

	res, err := e.client().Get(at("jwks_uri"))
	is.NoErr(err)
	res.Body.Close()
	is.Equal(res.StatusCode, 200)
	is.Equal(res.Header.Get("Content-Type"), "application/jwk-set+json")
	ctx, cancel := context.WithCancel(context.Background())
	hr, _ := http.NewRequestWithContext(ctx, "GET", at("revocation_feed_endpoint"), nil)
	res, err = http.DefaultClient.Do(hr)
	is.NoErr(err)
	is.Equal(res.StatusCode, 200)
	is.Equal(res.Header.Get("Content-Type"), "text/event-stream")
	cancel()
	res.Body.Close()
	hr, _ = http.NewRequest("POST", at("authkit_validation_endpoint"), nil)
	hr.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	res, err = http.DefaultClient.Do(hr)
	is.NoErr(err)
	res.Body.Close()
	is.Equal(res.StatusCode, 401) // it was revoked above
}

// TestRefresh_RedeemedOnlyWhereItWasIssued: a refresh token works only at
// the endpoint (flow) whose grant it belongs to, under that endpoint's
// caps: api.video's refresh token is refused, unspent, at Inlive's
// endpoint (which would let the client pick a 24 h lifetime), and Inlive's
// at api.video's; each still works where it belongs.
func TestRefresh_RedeemedOnlyWhereItWasIssued(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	key := str(e.createKey(alice, `{"handle":"flows"}`), "token")
	r := e.do(req{method: "POST", path: "/auth/api-key", body: `{"apiKey":"` + key + `"}`})
	is.Equal(r.status, 200)
	videoRT := str(r.json, "refresh_token")
	r = e.do(req{method: "POST", path: "/v1/keys/accesstoken", auth: bearer(key), body: `{"expiry_seconds":3600}`})
	is.Equal(r.status, 200)
	inliveRT := str(r.json, "data", "refresh_token")
	is.True(videoRT != "" && inliveRT != "")

	r = e.do(req{method: "POST", path: "/v1/keys/accesstoken", auth: bearer(videoRT), body: `{"expiry_seconds":86400}`})
	is.Equal(r.status, 401)
	is.Equal(r.json["ok"], false) // Inlive's envelope
	r = e.do(req{method: "POST", path: "/auth/refresh", body: `{"refreshToken":"` + inliveRT + `"}`})
	is.Equal(r.status, 400)
	is.Equal(r.json["error"], "invalid_grant")

	// Neither was spent: each works where it belongs, with its caps.
	r = e.do(req{method: "POST", path: "/auth/refresh", body: `{"refreshToken":"` + videoRT + `"}`})
	is.Equal(r.status, 200)
	is.Equal(r.json["expires_in"], float64(3600))
	r = e.do(req{method: "POST", path: "/v1/keys/accesstoken", auth: bearer(inliveRT), body: `{"expiry_seconds":7200}`})
	is.Equal(r.status, 200)
	is.Equal(r.json["data"].(map[string]any)["expiry_seconds"], float64(7200))
}
