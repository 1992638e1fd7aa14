package handlers_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/handlers"
	"github.com/authkit/authkit/httpmw"
	"github.com/authkit/authkit/internal/fixture"
)

func TestLimiter_TooManyFailuresIs429WithRetryAfter(t *testing.T) {
	is := is.New(t)
	f := fixture.New(t, &httpmw.Limiter{Limit: 3, Window: time.Minute})
	bad := `{"key":"ak_live_` + strings.Repeat("0", 36) + `"}`
	for range 3 {
		is.Equal(f.Do(t, "POST", "/token", "", bad).StatusCode, 401)
	}
	res := f.Do(t, "POST", "/token", "", `{"key":"`+f.Secret+`"}`) // even a good key, once blocked
	is.Equal(res.StatusCode, 429)
	is.True(res.Header.Get("Retry-After") != "")
}

func TestBody_OverTheCapIs413(t *testing.T) {
	is := is.New(t)
	f := fixture.New(t, nil)
	res := f.Do(t, "POST", "/token", "", `{"key":"`+strings.Repeat("x", 2<<10)+`"}`)
	is.Equal(res.StatusCode, 413)
	var body map[string]string
	is.NoErr(json.NewDecoder(res.Body).Decode(&body))
	is.Equal(body["error"], "invalid_request")
}

func TestBody_WrongTypesAre400(t *testing.T) {
	is := is.New(t)
	f := fixture.New(t, nil)
	for _, b := range []string{`{"key":5}`, `[1]`, `{`, `{"key":"a"}{}`} {
		is.Equal(f.Do(t, "POST", "/token", "", b).StatusCode, 400)
	}
}

func TestOAuth_BasicCredentialsAreURLDecoded(t *testing.T) {
	is := is.New(t)
	f := fixture.New(t, nil)
	// RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic.
	id := strings.ReplaceAll(f.Key.ID, "-", "%2D")
	res := f.Do(t, "POST", "/oauth/token", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+f.Secret)), "")
	is.Equal(res.StatusCode, 400) // no form body: the client is fine, the request is not
	r, _ := http.NewRequest("POST", f.Srv.URL+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+f.Secret)))
	res2, err := http.DefaultClient.Do(r)
	is.NoErr(err)
	defer res2.Body.Close()
	is.Equal(res2.StatusCode, 200)
	is.Equal(res2.Header.Get("Cache-Control"), "no-store")
}

// TestLimiter_OAuthEndpointsShareTheBlock: wrong client secrets sent to any
// OAuth endpoint count towards the block, and a blocked address is refused
// on all of them, introspection too (it verifies the client's key), any
// key it would have to look up; a key verified recently still passes.
func TestLimiter_OAuthEndpointsShareTheBlock(t *testing.T) {
	is := is.New(t)
	f := fixture.New(t, &httpmw.Limiter{Limit: 3, Window: time.Minute})
	form := func(secret string) string {
		return url.Values{"client_id": {f.Key.ID}, "client_secret": {secret}, "token": {"x"}, "grant_type": {"client_credentials"}}.Encode()
	}
	post := func(path, body string) *http.Response {
		r, _ := http.NewRequest("POST", f.Srv.URL+path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := http.DefaultClient.Do(r)
		is.NoErr(err)
		res.Body.Close()
		return res
	}
	is.Equal(post("/oauth/introspect", form(f.Secret)).StatusCode, 200)
	for range 3 {
		res := post("/oauth/introspect", form("ak_live_"+strings.Repeat("0", 36)))
		is.Equal(res.StatusCode, 401)
		is.Equal(res.Header.Values("WWW-Authenticate"), []string{`Basic realm="authkit", charset="UTF-8"`}) // Basic alone (RFC 6749 §5.2)
	}
	is.Equal(post("/oauth/introspect", form(f.Secret)).StatusCode, 200) // known: the neighbour is not locked out
	is.Equal(post("/oauth/token", form(f.Secret)).StatusCode, 200)
	k2, secret2, err := f.AK.Keys.Create(context.Background(), authkit.KeyRequest{Owner: "o", Handle: "second"})
	is.NoErr(err)
	other := url.Values{"client_id": {k2.ID}, "client_secret": {secret2}, "token": {"x"}, "grant_type": {"client_credentials"}}.Encode()
	is.Equal(post("/oauth/introspect", other).StatusCode, 429) // unknown: refused unchecked
	is.Equal(post("/oauth/token", other).StatusCode, 429)
}

// TestOAuthRevoke_AccessTokenEndsItsGrantSession: revoking an access token
// at the RFC 7009 endpoint revokes its grant session: its tokens are
// refused and the session is no longer listed as live.
func TestOAuthRevoke_AccessTokenEndsItsGrantSession(t *testing.T) {
	is := is.New(t)
	f := fixture.New(t, nil)
	mux := http.NewServeMux()
	mux.Handle("POST /oauth/token", f.AK.Endpoints.OAuthToken(handlers.OAuthOptions{}))
	mux.Handle("POST /oauth/revoke", f.AK.Endpoints.Revoke())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	post := func(path string, form url.Values) (int, map[string]any) {
		r, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(f.Key.ID, f.Secret)
		res, err := http.DefaultClient.Do(r)
		is.NoErr(err)
		defer res.Body.Close()
		var m map[string]any
		json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	status, tok := post("/oauth/token", url.Values{"grant_type": {"client_credentials"}})
	is.Equal(status, 200)
	at := tok["access_token"].(string)
	live, _, err := f.AK.Sessions.List(context.Background(), "o", authkit.Page{})
	is.NoErr(err)
	is.Equal(len(live), 1)
	status, _ = post("/oauth/revoke", url.Values{"token": {at}})
	is.Equal(status, 200)
	live, _, err = f.AK.Sessions.List(context.Background(), "o", authkit.Page{})
	is.NoErr(err)
	is.Equal(len(live), 0)
	_, err = f.AK.Tokens.Verify(context.Background(), at)
	is.True(errors.Is(err, authkit.ErrRevoked))
}

// passwords is a PasswordVerifier of one user, "carol" / "s3cret".
func passwords(_ context.Context, name, password string) (string, []string, error) {
	if name == "carol" && password == "s3cret" {
		return "user-carol", []string{"read"}, nil
	}
	return "", nil, fmt.Errorf("wrong name or password: %w", authkit.ErrUnauthenticated)
}

// TestLogin_KeyClientCredentialsOrPasswordEachReuseTheirToken: the login
// endpoint takes an API key, a key's client credentials, or a user's name
// and password; each (credential, session id) gets the same token back, a
// new session id a new one, and the key and its client credentials are one
// credential.
func TestLogin_KeyClientCredentialsOrPasswordEachReuseTheirToken(t *testing.T) {
	f := fixture.New(t, &httpmw.Limiter{Limit: 3, Window: time.Minute})
	mux := http.NewServeMux()
	mux.Handle("POST /login", f.AK.Endpoints.Login(handlers.LoginOptions{Passwords: passwords}))
	mux.Handle("POST /login-keys-only", f.AK.Endpoints.Login(handlers.LoginOptions{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	login := func(path, body string) (int, map[string]any) {
		res, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	token := func(body string) string {
		t.Helper()
		status, m := login("/login", body)
		if status != 200 {
			t.Fatalf("%s: %d %v", body, status, m)
		}
		return m["access_token"].(string)
	}
	t.Run("api key", func(t *testing.T) {
		is := is.New(t)
		a := token(`{"api_key":"` + f.Secret + `","session_id":"w1"}`)
		is.Equal(token(`{"api_key":"`+f.Secret+`","session_id":"w1"}`), a)
		is.True(token(`{"api_key":"`+f.Secret+`","session_id":"w2"}`) != a)
		// The key's client credentials are the same credential: the same session.
		is.Equal(token(`{"client_id":"`+f.Key.ID+`","client_secret":"`+f.Secret+`","session_id":"w1"}`), a)
	})
	t.Run("client credentials", func(t *testing.T) {
		is := is.New(t)
		a := token(`{"client_id":"` + f.Key.ID + `","client_secret":"` + f.Secret + `"}`)
		is.Equal(token(`{"client_id":"`+f.Key.ID+`","client_secret":"`+f.Secret+`"}`), a)
		status, _ := login("/login", `{"client_id":"0190a0e0-0000-7000-8000-000000000001","client_secret":"`+f.Secret+`"}`)
		is.Equal(status, 401) // a good key under another client id
	})
	t.Run("username and password", func(t *testing.T) {
		is := is.New(t)
		a := token(`{"username":"carol","password":"s3cret","session_id":"laptop"}`)
		is.Equal(token(`{"username":"carol","password":"s3cret","session_id":"laptop"}`), a)
		is.True(token(`{"username":"carol","password":"s3cret","session_id":"phone"}`) != a)
		p, err := f.AK.Tokens.Verify(context.Background(), a)
		is.NoErr(err)
		is.Equal(p.Owner(), "user-carol")
		is.Equal(p.KeyID(), "")
		status, body := login("/login-keys-only", `{"username":"carol","password":"s3cret"}`)
		is.Equal(status, 400) // not enabled there
		is.True(strings.Contains(body["error_description"].(string), "not enabled"))
		status, _ = login("/login", `{"session_id":"x"}`)
		is.Equal(status, 400)
	})
	t.Run("wrong passwords are limited like wrong keys", func(t *testing.T) {
		is := is.New(t)
		// One failure is counted already (the foreign client id above); the
		// limit is 3 a minute.
		for range 2 {
			status, _ := login("/login", `{"username":"carol","password":"nope"}`)
			is.Equal(status, 401)
		}
		status, _ := login("/login", `{"username":"carol","password":"s3cret"}`)
		is.Equal(status, 429) // even the right password, once blocked
	})
}

// TestExchange_RefusedStatus400IsInvalidGrant: an endpoint configured so
// answers a wrong key 400 invalid_grant instead of 401.
func TestExchange_RefusedStatus400IsInvalidGrant(t *testing.T) {
	is := is.New(t)
	f := fixture.New(t, nil)
	srv := httptest.NewServer(f.AK.Endpoints.Exchange(handlers.ExchangeOptions{KeyField: "key", RefusedStatus: 400, Envelope: httpmw.ProblemDetails}))
	defer srv.Close()
	res, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"key":"ak_live_`+strings.Repeat("0", 36)+`"}`))
	is.NoErr(err)
	defer res.Body.Close()
	is.Equal(res.StatusCode, 400)
	is.Equal(res.Header.Get("Content-Type"), "application/problem+json")
	var p map[string]any
	is.NoErr(json.NewDecoder(res.Body).Decode(&p))
	is.Equal(p["type"], "about:blank")
	is.Equal(p["title"], "Bad Request")
	is.Equal(p["status"], 400.0)
	is.Equal(p["error"], "invalid_grant")
	is.True(p["detail"] != "")
}

// TestOAuth_ClientCredentialsIssueNoRefreshTokenUnlessAsked: RFC 6749
// §4.4.3; the option turns it on.
func TestOAuth_ClientCredentialsIssueNoRefreshTokenUnlessAsked(t *testing.T) {
	is := is.New(t)
	f := fixture.New(t, nil)
	for _, withRefresh := range []bool{false, true} {
		srv := httptest.NewServer(f.AK.Endpoints.OAuthToken(handlers.OAuthOptions{RefreshTokens: withRefresh}))
		r, _ := http.NewRequest("POST", srv.URL, strings.NewReader("grant_type=client_credentials"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(f.Key.ID, f.Secret)
		res, err := http.DefaultClient.Do(r)
		is.NoErr(err)
		var m map[string]any
		is.NoErr(json.NewDecoder(res.Body).Decode(&m))
		res.Body.Close()
		srv.Close()
		is.Equal(res.StatusCode, 200)
		rt, has := m["refresh_token"].(string)
		is.Equal(has, withRefresh)
		if !withRefresh {
			continue
		}
		// The refresh_token grant renews it, for this client only.
		srv = httptest.NewServer(f.AK.Endpoints.OAuthToken(handlers.OAuthOptions{RefreshTokens: true}))
		r, _ = http.NewRequest("POST", srv.URL, strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(f.Key.ID, f.Secret)
		res, err = http.DefaultClient.Do(r)
		is.NoErr(err)
		m = nil
		is.NoErr(json.NewDecoder(res.Body).Decode(&m))
		res.Body.Close()
		srv.Close()
		is.Equal(res.StatusCode, 200)
		is.True(m["refresh_token"] != rt)
	}
}
