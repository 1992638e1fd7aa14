package httpmw_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/httpmw"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/sessions"
	"github.com/authkit/authkit/storage/sqlite"
	"github.com/authkit/authkit/tokens"
	"github.com/matryer/is"
)

type fx struct {
	srv    *httptest.Server
	keys   *keys.Service
	tokens *tokens.Service
	clock  *authkit.FakeClock
	key    *authkit.Key
	secret string
}

// newFx mounts a few handlers on a mux over a real SQLite store.
func newFx(t *testing.T, limiter *httpmw.Limiter) *fx {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	sec, _ := authkit.NewSecret([]byte("httpmw-test-secret-0123456789abcdefgh"))
	f := &fx{clock: authkit.NewFakeClock(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))}
	f.keys, _ = keys.New(keys.Config{Store: store, Secret: sec, Clock: f.clock.Now})
	f.tokens, err = tokens.New(ctx, tokens.Config{Store: store, Secret: sec, Clock: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.tokens.Close)
	sm, _ := sessions.New(sessions.Config{Store: store, Tokens: f.tokens, Secret: sec, Clock: f.clock.Now})
	f.key, f.secret, err = f.keys.Create(ctx, keys.CreateRequest{Owner: "o", Handle: "k", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	s := &httpmw.Server{Keys: f.keys, Tokens: f.tokens, Sessions: sm, Limiter: limiter, MaxBody: 1 << 10}
	auth := &httpmw.Auth{Tokens: f.tokens, Keys: f.keys, LooksLikeKey: f.keys.Looks, Accept: httpmw.AcceptBearerToken | httpmw.AcceptBasicKey}
	mux := http.NewServeMux()
	mux.Handle("POST /token", s.Exchange(httpmw.ExchangeOptions{KeyField: "key"}))
	mux.Handle("POST /oauth/token", s.OAuthToken())
	mux.Handle("POST /oauth/introspect", s.Introspect())
	mux.Handle("GET /r", auth.Verify(auth.Require("read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := authkit.FromContext(r.Context())
		w.Write([]byte(p.Owner + " " + string(p.Method)))
	}))))
	mux.Handle("GET /w", auth.Authenticate(auth.Require("write")(http.NotFoundHandler())))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fx) do(t *testing.T, method, path, auth, body string) *http.Response {
	t.Helper()
	r, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

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

func TestAuth_BasicKeyAndBearerTokenAndScopes(t *testing.T) {
	is := is.New(t)
	f := newFx(t, nil)
	res := f.do(t, "GET", "/r", "Basic "+base64.StdEncoding.EncodeToString([]byte(f.secret+":")), "")
	is.Equal(res.StatusCode, 200)
	res = f.do(t, "POST", "/token", "", `{"key":"`+f.secret+`"}`)
	is.Equal(res.StatusCode, 200)
	var tok map[string]any
	is.NoErr(json.NewDecoder(res.Body).Decode(&tok))
	at := tok["access_token"].(string)
	is.Equal(f.do(t, "GET", "/r", "Bearer "+at, "").StatusCode, 200)
	is.Equal(f.do(t, "GET", "/r", "bearer "+at, "").StatusCode, 200) // scheme is case-insensitive
	res = f.do(t, "GET", "/w", "Bearer "+at, "")
	is.Equal(res.StatusCode, 403)
	is.True(strings.Contains(res.Header.Get("WWW-Authenticate"), `scope="write"`))
	// A key where only tokens and Basic keys are accepted: refused as bearer.
	is.Equal(f.do(t, "GET", "/r", "Bearer "+f.secret, "").StatusCode, 401)
	// Basic with a password is not a key.
	is.Equal(f.do(t, "GET", "/r", "Basic "+base64.StdEncoding.EncodeToString([]byte(f.secret+":pw")), "").StatusCode, 401)
	// Expired: 401 with the header.
	f.clock.Advance(2 * time.Hour)
	res = f.do(t, "GET", "/r", "Bearer "+at, "")
	is.Equal(res.StatusCode, 401)
	is.Equal(res.Header.Get("X-Access-Token-Expired"), "true")
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

func TestErrorFor_UnmappedIs500WithoutItsText(t *testing.T) {
	is := is.New(t)
	e := httpmw.ErrorFor(context.DeadlineExceeded)
	is.Equal(e.Status, 500)
	is.True(!strings.Contains(e.Description, "deadline"))
	is.Equal(httpmw.ErrorFor(authkit.Invalid("handle", "bad")).Status, 400)
	is.Equal(httpmw.ErrorFor(authkit.ErrConflict).Status, 409)
	is.Equal(httpmw.ErrorFor(authkit.ErrNotFound).Status, 404)
	is.True(httpmw.ErrorFor(authkit.ErrExpired).Expired)
}

func FuzzBasicAuth(f *testing.F) {
	f.Add("Basic " + base64.StdEncoding.EncodeToString([]byte("a%3Ab:c")))
	f.Add("Basic !!")
	f.Add("Bearer x")
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", h)
		httpmw.BasicAuth(r)
		httpmw.FromBearer(r)
		httpmw.FromBare(r)
		httpmw.FromBasicUser(r)
	})
}

// TestVerify_InnerFailureHidesOuterPrincipal: when a route nests two Auths
// and the inner one refuses the credential, Require answers for the inner
// one, not with the principal the outer one found.
func TestVerify_InnerFailureHidesOuterPrincipal(t *testing.T) {
	is := is.New(t)
	f := newFx(t, nil)
	g := f.exchange(t)
	outer := &httpmw.Auth{Tokens: f.tokens}
	inner := &httpmw.Auth{Tokens: f.tokens, Keys: f.keys, LooksLikeKey: f.keys.Looks, Accept: httpmw.AcceptBasicKey}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	for _, c := range []struct {
		h    http.Handler
		want int
	}{
		{outer.Verify(outer.Require()(ok)), 200},
		{outer.Verify(inner.Verify(inner.Require()(ok))), 401},
		{inner.Verify(outer.Verify(outer.Require()(ok))), 200},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+g)
		w := httptest.NewRecorder()
		c.h.ServeHTTP(w, r)
		is.Equal(w.Code, c.want)
	}
}

// exchange trades the fixture's key for an access token at POST /token.
func (f *fx) exchange(t *testing.T) string {
	t.Helper()
	res := f.do(t, "POST", "/token", "", `{"key":"`+f.secret+`"}`)
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != 200 {
		t.Fatalf("exchange: %d %v", res.StatusCode, err)
	}
	return body["access_token"].(string)
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
