package handlers_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/httpmw"
)

func TestLimiter_TooManyFailuresIs429WithRetryAfter(t *testing.T) {
	is := is.New(t)
	f := newFx(t, &httpmw.Limiter{Limit: 3, Window: time.Minute})
	bad := `{"key":"ak_live_` + strings.Repeat("0", 36) + `"}`
	for range 3 {
		is.Equal(f.do(t, "POST", "/token", "", bad).StatusCode, 401)
	}
	res := f.do(t, "POST", "/token", "", `{"key":"`+f.secret+`"}`) // even a good key, once blocked
	is.Equal(res.StatusCode, 429)
	is.True(res.Header.Get("Retry-After") != "")
}

func TestBody_OverTheCapIs413(t *testing.T) {
	is := is.New(t)
	f := newFx(t, nil)
	res := f.do(t, "POST", "/token", "", `{"key":"`+strings.Repeat("x", 2<<10)+`"}`)
	is.Equal(res.StatusCode, 413)
	var body map[string]string
	is.NoErr(json.NewDecoder(res.Body).Decode(&body))
	is.Equal(body["error"], "invalid_request")
}

func TestBody_WrongTypesAre400(t *testing.T) {
	is := is.New(t)
	f := newFx(t, nil)
	for _, b := range []string{`{"key":5}`, `[1]`, `{`, `{"key":"a"}{}`} {
		is.Equal(f.do(t, "POST", "/token", "", b).StatusCode, 400)
	}
}

func TestOAuth_BasicCredentialsAreURLDecoded(t *testing.T) {
	is := is.New(t)
	f := newFx(t, nil)
	// RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic.
	id := strings.ReplaceAll(f.key.ID, "-", "%2D")
	res := f.do(t, "POST", "/oauth/token", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+f.secret)), "")
	is.Equal(res.StatusCode, 400) // no form body: the client is fine, the request is not
	r, _ := http.NewRequest("POST", f.srv.URL+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+f.secret)))
	res2, err := http.DefaultClient.Do(r)
	is.NoErr(err)
	defer res2.Body.Close()
	is.Equal(res2.StatusCode, 200)
	is.Equal(res2.Header.Get("Cache-Control"), "no-store")
}

// TestLimiter_OAuthEndpointsShareTheBlock: wrong client secrets sent to any
// OAuth endpoint count towards the block, and a blocked address is refused
// on all of them, introspection too (it verifies the client's key).
func TestLimiter_OAuthEndpointsShareTheBlock(t *testing.T) {
	is := is.New(t)
	f := newFx(t, &httpmw.Limiter{Limit: 3, Window: time.Minute})
	form := func(secret string) string {
		return url.Values{"client_id": {f.key.ID}, "client_secret": {secret}, "token": {"x"}, "grant_type": {"client_credentials"}}.Encode()
	}
	post := func(path, body string) *http.Response {
		r, _ := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := http.DefaultClient.Do(r)
		is.NoErr(err)
		res.Body.Close()
		return res
	}
	is.Equal(post("/oauth/introspect", form(f.secret)).StatusCode, 200)
	for range 3 {
		res := post("/oauth/introspect", form("ak_live_"+strings.Repeat("0", 36)))
		is.Equal(res.StatusCode, 401)
		is.True(strings.Contains(res.Header.Values("WWW-Authenticate")[1], "Basic realm="))
	}
	is.Equal(post("/oauth/introspect", form(f.secret)).StatusCode, 429) // even the right secret, once blocked
	is.Equal(post("/oauth/token", form(f.secret)).StatusCode, 429)
}

// TestOAuthRevoke_AccessTokenEndsItsGrantSession: revoking an access token
// at the RFC 7009 endpoint revokes its grant session: its tokens are
// refused and the session is no longer listed as live.
func TestOAuthRevoke_AccessTokenEndsItsGrantSession(t *testing.T) {
	is := is.New(t)
	f := newFx(t, nil)
	mux := http.NewServeMux()
	mux.Handle("POST /oauth/token", f.ak.Endpoints.OAuthToken())
	mux.Handle("POST /oauth/revoke", f.ak.Endpoints.Revoke())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	post := func(path string, form url.Values) (int, map[string]any) {
		r, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(f.key.ID, f.secret)
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
	live, _, err := f.ak.Sessions.List(context.Background(), "o", authkit.Page{})
	is.NoErr(err)
	is.Equal(len(live), 1)
	status, _ = post("/oauth/revoke", url.Values{"token": {at}})
	is.Equal(status, 200)
	live, _, err = f.ak.Sessions.List(context.Background(), "o", authkit.Page{})
	is.NoErr(err)
	is.Equal(len(live), 0)
	_, err = f.ak.Tokens.Verify(context.Background(), at)
	is.True(errors.Is(err, authkit.ErrRevoked))
}
