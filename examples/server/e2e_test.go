package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/examples/internal/httplog"
	"github.com/authkit/authkit/httpmw"
	"github.com/authkit/authkit/internal/fakeclock"
	"github.com/authkit/authkit/storage/sqlite"
)

// env is one example server on a temporary SQLite file, behind a real
// httptest.Server, with a fake clock the test can move.
type env struct {
	t      testing.TB
	dir    string
	db     string
	secret *authkit.Secret
	clock  *fakeclock.Clock
	store  *sqlite.Store
	udb    *sql.DB
	app    *App
	srv    *httptest.Server
	logs   *syncBuffer // the request log and the app's log, as main writes them
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var testSecret = []byte("0123456789abcdef0123456789abcdef-test-only")

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), logs: &syncBuffer{}, clock: fakeclock.New(time.Now().UTC().Truncate(time.Second))}
	e.db = filepath.Join(e.dir, "authkit.db")
	var err error
	e.secret, err = authkit.NewSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *env) start() {
	t := e.t
	ctx := context.Background()
	var err error
	if e.store, err = sqlite.Open(ctx, e.db); err != nil {
		t.Fatal(err)
	}
	if e.udb, err = sql.Open("sqlite", "file:"+e.db+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"); err != nil {
		t.Fatal(err)
	}
	users, err := OpenUsers(ctx, e.udb, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if _, err := users.Set(ctx, u, u+"-password"); err != nil {
			t.Fatal(err)
		}
	}
	logger := slog.New(slog.NewTextHandler(e.logs, nil))
	e.app, err = NewApp(ctx, Config{Store: e.store, Secret: e.secret, Users: users, Issuer: "http://authkit.test", Clock: e.clock.Now, Logger: logger,
		Limiter: &httpmw.Limiter{Limit: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(httplog.Requests(logger, e.app))
}

func (e *env) stop() {
	if e.srv == nil {
		return
	}
	e.srv.Close()
	e.app.Close()
	e.udb.Close()
	e.store.Close()
	e.srv = nil
}

// restart stops the server and starts a new one on the same database file.
func (e *env) restart() {
	e.stop()
	e.start()
}

// req is one HTTP request; auth is a full Authorization header value.
type req struct {
	method, path, auth, body, contentType string
	// offContract: the request breaks openapi.json on purpose (a malformed
	// body, a missing credential); only the response is checked against it.
	offContract bool
}

type resp struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

func (e *env) do(r req) resp {
	e.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequest(r.method, e.srv.URL+r.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if r.auth != "" {
		hr.Header.Set("Authorization", r.auth)
	}
	if r.body != "" {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		hr.Header.Set("Content-Type", ct)
	}
	if r.offContract {
		hr = offContract(hr)
	}
	res, err := e.client().Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header, body: b}
	_ = json.Unmarshal(b, &out.json)
	return out
}

// client is an HTTP client that holds every request and response to
// openapi.json.
func (e *env) client() *http.Client {
	return &http.Client{Transport: &contractTransport{t: e.t}}
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

var alice, bob = basic("alice", "alice-password"), basic("bob", "bob-password")

func bearer(tok string) string { return "Bearer " + tok }

// createKey makes a key for a user and returns the whole JSON answer.
func (e *env) createKey(user, body string) map[string]any {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/user/keys", auth: user, body: body})
	if r.status != http.StatusCreated {
		e.t.Fatalf("create key: %d %s", r.status, r.body)
	}
	return r.json
}

func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, _ := v.(map[string]any)
		v = mm[p]
	}
	s, _ := v.(string)
	return s
}

func TestInlive_ExchangeUseExpireRefreshValidate(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	key := str(e.createKey(alice, `{"handle":"inlive-app"}`), "token")

	r := e.do(req{method: "POST", path: "/v1/keys/accesstoken", auth: bearer(key), body: `{"expiry_seconds": 3600}`})
	is.Equal(r.status, 200)
	is.Equal(r.json["code"], float64(200))
	is.Equal(r.json["ok"], true)
	at, rt := str(r.json, "data", "access_token"), str(r.json, "data", "refresh_token")
	is.True(at != "" && rt != "")
	is.Equal(r.json["data"].(map[string]any)["expiry_seconds"], float64(3600))
	is.Equal(r.header.Get("Cache-Control"), "no-store")

	// Default expiry: one hour.
	r = e.do(req{method: "POST", path: "/v1/keys/accesstoken", auth: bearer(key)})
	is.Equal(r.status, 200)
	is.Equal(r.json["data"].(map[string]any)["expiry_seconds"], float64(3600))

	r = e.do(req{method: "POST", path: "/v1/rooms/create", auth: bearer(at), body: `{"name":"standup"}`})
	is.Equal(r.status, 201)
	roomID := str(r.json, "data", "id")
	r = e.do(req{method: "GET", path: "/v1/rooms/" + roomID, auth: bearer(at)})
	is.Equal(r.status, 200)
	is.Equal(str(r.json, "data", "name"), "standup")

	r = e.do(req{method: "POST", path: "/v1/keys/validate", auth: bearer(at)})
	is.Equal(r.status, 200)
	is.Equal(r.json["ok"], true)
	is.Equal(str(r.json, "data", "iss"), "http://authkit.test")

	// The key itself is refused where an access token is required.
	r = e.do(req{method: "GET", path: "/v1/rooms/" + roomID, auth: bearer(key)})
	is.Equal(r.status, 401)

	// Out-of-range expiry is a 400.
	for _, body := range []string{`{"expiry_seconds":0}`, `{"expiry_seconds":86401}`, `{"expiry_seconds":"60"}`} {
		r = e.do(req{method: "POST", path: "/v1/keys/accesstoken", auth: bearer(key), body: body, offContract: true})
		is.Equal(r.status, 400)
	}

	// After expiry: 403 with the header, on the API and on validate.
	e.clock.Advance(time.Hour + time.Second)
	for _, path := range []string{"/v1/rooms/" + roomID, "/v1/keys/validate"} {
		method := "GET"
		if path == "/v1/keys/validate" {
			method = "POST"
		}
		r = e.do(req{method: method, path: path, auth: bearer(at)})
		is.Equal(r.status, 403)
		is.Equal(r.header.Get("X-Access-Token-Expired"), "true")
		is.True(strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "X-Access-Token-Expired"))
		is.Equal(r.json["ok"], false)
	}

	// Renew with the refresh token as Bearer.
	r = e.do(req{method: "POST", path: "/v1/keys/accesstoken", auth: bearer(rt), body: `{"expiry_seconds": 600}`})
	is.Equal(r.status, 200)
	at2 := str(r.json, "data", "access_token")
	is.Equal(r.json["data"].(map[string]any)["expiry_seconds"], float64(600))
	r = e.do(req{method: "GET", path: "/v1/rooms/" + roomID, auth: bearer(at2)})
	is.Equal(r.status, 200)
}

func TestKeytoken_CreateReadBackUseDelete(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	created := e.createKey(alice, `{"handle":"ci-bot","alias":"CI"}`)
	token := str(created, "token")
	is.True(strings.HasPrefix(token, "ak_live_"))
	is.Equal(str(created, "handle"), "ci-bot")
	is.Equal(str(created, "alias"), "CI")

	r := e.do(req{method: "GET", path: "/user/keys/ci-bot", auth: alice})
	is.Equal(r.status, 200)
	is.Equal(str(r.json, "token"), token) // recoverable: read back

	r = e.do(req{method: "GET", path: "/user/keys", auth: alice})
	is.Equal(r.status, 200)
	list := r.json["keys"].([]any)
	is.Equal(len(list), 1)
	_, hasToken := list[0].(map[string]any)["token"]
	is.True(!hasToken) // lists never carry secrets

	r = e.do(req{method: "GET", path: "/user", auth: bearer(token)})
	is.Equal(r.status, 200)
	is.Equal(str(r.json, "username"), "alice")

	r = e.do(req{method: "POST", path: "/user/keys", auth: alice, body: `{"handle":"ci-bot"}`})
	is.Equal(r.status, 409)

	r = e.do(req{method: "DELETE", path: "/user/keys/ci-bot", auth: alice})
	is.Equal(r.status, 204)
	r = e.do(req{method: "GET", path: "/user", auth: bearer(token)})
	is.Equal(r.status, 401)
	r = e.do(req{method: "GET", path: "/user/keys/ci-bot", auth: alice})
	is.Equal(r.status, 404)
}

func TestKeys_RotateWithGrace(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	old := str(e.createKey(alice, `{"handle":"rot"}`), "token")
	r := e.do(req{method: "POST", path: "/user/keys/rot/rotate", auth: alice, body: `{"grace_seconds": 60}`})
	is.Equal(r.status, 200)
	fresh := str(r.json, "token")
	is.True(fresh != "" && fresh != old)
	is.Equal(e.do(req{method: "GET", path: "/user", auth: bearer(old)}).status, 200)
	is.Equal(e.do(req{method: "GET", path: "/user", auth: bearer(fresh)}).status, 200)
	e.clock.Advance(61 * time.Second)
	is.Equal(e.do(req{method: "GET", path: "/user", auth: bearer(old)}).status, 401)
	is.Equal(e.do(req{method: "GET", path: "/user", auth: bearer(fresh)}).status, 200)
}

// TestKeys_DisableAndEnable: PATCH {"disabled": true} refuses the key and
// its tokens with 401 invalid_token "the key is disabled", in each route's
// own shape; {"disabled": false} brings them back.
func TestKeys_DisableAndEnable(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	key := str(e.createKey(alice, `{"handle":"paused","env":"test"}`), "token")
	r := e.do(req{method: "POST", path: "/auth/api-key", body: `{"apiKey":"` + key + `"}`})
	is.Equal(r.status, 200)
	at := str(r.json, "access_token")
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: bearer(at)}).status, 200)

	r = e.do(req{method: "PATCH", path: "/user/keys/paused", auth: alice, body: `{"disabled": true}`})
	is.Equal(r.status, 200)
	is.Equal(r.json["disabled"], true)
	is.Equal(r.json["token"], nil) // never the secret
	for _, a := range []string{basic(key, ""), bearer(at)} {
		r = e.do(req{method: "GET", path: "/videos", auth: a})
		is.Equal(r.status, 401)
		is.True(strings.Contains(string(r.body), "the key is disabled"))
	}
	is.Equal(e.do(req{method: "GET", path: "/user/keys/paused", auth: alice}).json["disabled"], true)
	is.Equal(e.do(req{method: "PATCH", path: "/user/keys/paused", auth: alice, body: `{"handle":"x"}`, offContract: true}).status, 400)
	is.Equal(e.do(req{method: "PATCH", path: "/user/keys/paused", auth: alice, body: `{"disabled":"yes"}`, offContract: true}).status, 400)

	r = e.do(req{method: "PATCH", path: "/user/keys/paused", auth: alice, body: `{"disabled": false}`})
	is.Equal(r.status, 200)
	is.Equal(r.json["disabled"], false)
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: basic(key, "")}).status, 200)
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: bearer(at)}).status, 200)
}

func TestAPIVideo_BasicExchangeBareBearerRefreshReplay(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	key := str(e.createKey(alice, `{"handle":"video-app","env":"test"}`), "token")
	is.True(strings.HasPrefix(key, "ak_test_"))

	// curl -u apikey: …
	r := e.do(req{method: "GET", path: "/videos", auth: basic(key, "")})
	is.Equal(r.status, 200)

	r = e.do(req{method: "POST", path: "/auth/api-key", body: `{"apiKey":"` + key + `"}`})
	is.Equal(r.status, 200)
	is.Equal(r.json["token_type"], "Bearer")
	is.Equal(r.json["expires_in"], float64(3600))
	at, rt := str(r.json, "access_token"), str(r.json, "refresh_token")

	r = e.do(req{method: "POST", path: "/videos", auth: at, body: `{"title":"bare"}`}) // no scheme, as the guide shows
	is.Equal(r.status, 201)
	r = e.do(req{method: "GET", path: "/videos", auth: bearer(at)})
	is.Equal(r.status, 200)
	is.Equal(len(r.json["data"].([]any)), 1)

	r = e.do(req{method: "POST", path: "/auth/refresh", body: `{"refreshToken":"` + rt + `"}`})
	is.Equal(r.status, 200)
	at2, rt2 := str(r.json, "access_token"), str(r.json, "refresh_token")
	is.True(at2 != at && rt2 != rt)
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: bearer(at2)}).status, 200)

	// Replaying the spent refresh token revokes the whole family: 400, as
	// api.video answers a refused refresh token.
	r = e.do(req{method: "POST", path: "/auth/refresh", body: `{"refreshToken":"` + rt + `"}`})
	is.Equal(r.status, 400)
	is.Equal(r.json["error"], "invalid_grant")
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: bearer(at2)}).status, 401)
	is.Equal(e.do(req{method: "POST", path: "/auth/refresh", body: `{"refreshToken":"` + rt2 + `"}`}).status, 400)

	// A wrong key is api.video's 400, in problem details, not a 404.
	r = e.do(req{method: "POST", path: "/auth/api-key", body: `{"apiKey":"ak_live_nope"}`})
	is.Equal(r.status, 400)
	is.Equal(r.header.Get("Content-Type"), "application/problem+json")
	is.Equal(r.json["error"], "invalid_grant")
}

func TestLogin_SameSessionReturnsSameToken(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	key := str(e.createKey(alice, `{"handle":"login-app"}`), "token")
	login := func(session string) resp {
		body := `{"api_key":"` + key + `"`
		if session != "" {
			body += `,"session_id":"` + session + `"`
		}
		return e.do(req{method: "POST", path: "/auth/login", body: body + "}"})
	}
	r := login("")
	is.Equal(r.status, 200)
	is.Equal(r.json["expires_in"], float64(7200))
	is.Equal(r.json["token_type"], "Bearer")
	def := str(r.json, "access_token")
	is.Equal(str(login("").json, "access_token"), def) // same token while valid

	a := str(login("worker-a").json, "access_token")
	is.True(a != def) // a new session id forces a new token
	is.Equal(str(login("worker-a").json, "access_token"), a)
	b := str(login("worker-b").json, "access_token")
	is.True(b != a)

	// List the sessions and revoke worker-a's.
	r = e.do(req{method: "GET", path: "/user/sessions", auth: alice})
	is.Equal(r.status, 200)
	var aID string
	for _, s := range r.json["sessions"].([]any) {
		m := s.(map[string]any)
		if m["session_id"] == "worker-a" {
			aID = m["id"].(string)
			is.Equal(m["key_handle"], "login-app")
		}
	}
	is.True(aID != "")
	is.Equal(e.do(req{method: "DELETE", path: "/user/sessions/" + aID, auth: bob}).status, 404) // not bob's
	is.Equal(e.do(req{method: "DELETE", path: "/user/sessions/" + aID, auth: alice}).status, 204)

	is.Equal(e.do(req{method: "GET", path: "/videos", auth: bearer(a)}).status, 401)
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: bearer(b)}).status, 200)
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: bearer(def)}).status, 200)
	a2 := str(login("worker-a").json, "access_token")
	is.True(a2 != a)
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: bearer(a2)}).status, 200)

	// A token handed back again says how long it has left.
	e.clock.Advance(30 * time.Minute)
	r = login("")
	is.Equal(str(r.json, "access_token"), def)
	is.Equal(r.json["expires_in"], float64(7200-1800))

	// After expiry, a new token.
	e.clock.Advance(2*time.Hour + time.Second)
	is.True(str(login("").json, "access_token") != def)
}

func TestScopes_InsufficientScopeIs403(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	key := str(e.createKey(alice, `{"handle":"reader","scopes":["videos:read"]}`), "token")
	r := e.do(req{method: "POST", path: "/auth/api-key", body: `{"apiKey":"` + key + `"}`})
	at := str(r.json, "access_token")
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: bearer(at)}).status, 200)
	r = e.do(req{method: "POST", path: "/videos", auth: bearer(at), body: `{}`})
	is.Equal(r.status, 403)
	is.Equal(r.json["error"], "insufficient_scope")
	is.True(strings.Contains(r.header.Get("WWW-Authenticate"), `error="insufficient_scope"`))
	is.True(strings.Contains(r.header.Get("WWW-Authenticate"), `scope="videos:write"`))
	r = e.do(req{method: "POST", path: "/videos", auth: basic(key, ""), body: `{}`})
	is.Equal(r.status, 403)
}

func TestRFC6750_Challenges(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	r := e.do(req{method: "GET", path: "/videos", offContract: true})
	is.Equal(r.status, 401)
	is.Equal(r.header.Get("WWW-Authenticate"), `Bearer realm="authkit"`) // no error code without credentials
	r = e.do(req{method: "GET", path: "/videos", auth: "Bearer nonsense"})
	is.Equal(r.status, 401)
	is.True(strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`))
	is.Equal(r.json["error"], "invalid_token")
}

func TestOAuth_ClientCredentialsIntrospectRevoke(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	k := e.createKey(alice, `{"handle":"svc","scopes":["videos:read","videos:write"]}`)
	id, secret := str(k, "id"), str(k, "token")
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: e.srv.URL + "/oauth/token", Scopes: []string{"videos:read"}}
	tok, err := cc.Token(context.Background())
	is.NoErr(err)
	is.Equal(tok.TokenType, "Bearer")
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: bearer(tok.AccessToken)}).status, 200)
	is.Equal(e.do(req{method: "POST", path: "/videos", auth: bearer(tok.AccessToken), body: "{}"}).status, 403) // scope narrowed

	form := func(v url.Values) string { return v.Encode() }
	introspect := func(token string) resp {
		return e.do(req{method: "POST", path: "/oauth/introspect", auth: basic(url.QueryEscape(id), url.QueryEscape(secret)),
			body: form(url.Values{"token": {token}}), contentType: "application/x-www-form-urlencoded"})
	}
	r := introspect(tok.AccessToken)
	is.Equal(r.status, 200)
	is.Equal(r.json["active"], true)
	is.Equal(r.json["scope"], "videos:read")
	is.Equal(r.json["client_id"], id)

	r = e.do(req{method: "POST", path: "/oauth/revoke", auth: basic(id, secret),
		body: form(url.Values{"token": {tok.AccessToken}}), contentType: "application/x-www-form-urlencoded"})
	is.Equal(r.status, 200)
	r = introspect(tok.AccessToken)
	is.Equal(string(bytes.TrimSpace(r.body)), `{"active":false}`)
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: bearer(tok.AccessToken)}).status, 401)

	// Unknown tokens: revoke still 200, introspect inactive.
	r = e.do(req{method: "POST", path: "/oauth/revoke", auth: basic(id, secret),
		body: form(url.Values{"token": {"whatever"}}), contentType: "application/x-www-form-urlencoded"})
	is.Equal(r.status, 200)

	// Form client auth; no refresh token for client credentials (RFC 6749
	// §4.4.3): the client authenticates again.
	r = e.do(req{method: "POST", path: "/oauth/token", body: form(url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}),
		contentType: "application/x-www-form-urlencoded"})
	is.Equal(r.status, 200)
	is.True(str(r.json, "access_token") != "")
	_, hasRefresh := r.json["refresh_token"]
	is.True(!hasRefresh)

	// Wrong client secret.
	r = e.do(req{method: "POST", path: "/oauth/token", auth: basic(id, "ak_live_wrong"), body: "grant_type=client_credentials", contentType: "application/x-www-form-urlencoded"})
	is.Equal(r.status, 401)
	is.Equal(r.json["error"], "invalid_client")
	r = e.do(req{method: "POST", path: "/oauth/token", auth: basic(id, secret), body: "grant_type=password", contentType: "application/x-www-form-urlencoded", offContract: true})
	is.Equal(r.json["error"], "unsupported_grant_type")

	// JWKS is published.
	r = e.do(req{method: "GET", path: "/.well-known/jwks.json"})
	is.Equal(r.status, 200)
	is.True(len(r.json["keys"].([]any)) >= 1)
}

func TestOwnerIsolation_SecondUserGets404Everywhere(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	e.createKey(alice, `{"handle":"mine"}`)
	for _, r := range []req{
		{method: "GET", path: "/user/keys/mine"},
		{method: "DELETE", path: "/user/keys/mine"},
		{method: "POST", path: "/user/keys/mine/rotate", body: `{}`},
		{method: "PATCH", path: "/user/keys/mine", body: `{"disabled":true}`},
	} {
		r.auth = bob
		is.Equal(e.do(r).status, 404)
	}
	r := e.do(req{method: "GET", path: "/user/keys", auth: bob})
	is.Equal(len(r.json["keys"].([]any)), 0)
	// bob may use the same handle: handles are per owner.
	e.createKey(bob, `{"handle":"mine"}`)
	is.Equal(e.do(req{method: "GET", path: "/user/keys/mine", auth: alice}).status, 200)
	// Wrong password.
	is.Equal(e.do(req{method: "GET", path: "/user/keys", auth: basic("alice", "nope")}).status, 401)
}

func TestRestart_OldTokenStillVerifies(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	key := str(e.createKey(alice, `{"handle":"durable"}`), "token")
	r := e.do(req{method: "POST", path: "/auth/api-key", body: `{"apiKey":"` + key + `"}`})
	at, rt := str(r.json, "access_token"), str(r.json, "refresh_token")
	login := str(e.do(req{method: "POST", path: "/auth/login", body: `{"api_key":"` + key + `"}`}).json, "access_token")

	e.restart()

	is.Equal(e.do(req{method: "GET", path: "/videos", auth: bearer(at)}).status, 200)
	is.Equal(e.do(req{method: "GET", path: "/user", auth: bearer(key)}).status, 200)
	is.Equal(str(e.do(req{method: "POST", path: "/auth/login", body: `{"api_key":"` + key + `"}`}).json, "access_token"), login)
	is.Equal(e.do(req{method: "POST", path: "/auth/refresh", body: `{"refreshToken":"` + rt + `"}`}).status, 200)
}

// TestMalformedInput_NeverA500 sends bad bodies and headers to every route.
func TestMalformedInput_NeverA500(t *testing.T) {
	e := newEnv(t)
	key := str(e.createKey(alice, `{"handle":"victim"}`), "token")
	routes := []struct{ method, path string }{
		{"POST", "/user/keys"}, {"GET", "/user/keys"}, {"GET", "/user/keys/victim"}, {"DELETE", "/user/keys/nope"},
		{"POST", "/user/keys/victim/rotate"}, {"PATCH", "/user/keys/victim"}, {"GET", "/user"}, {"GET", "/user/sessions"}, {"DELETE", "/user/sessions/nope"},
		{"POST", "/v1/keys/accesstoken"}, {"POST", "/v1/keys/validate"}, {"POST", "/v1/rooms/create"}, {"GET", "/v1/rooms/x"},
		{"POST", "/auth/api-key"}, {"POST", "/auth/refresh"}, {"GET", "/videos"}, {"POST", "/videos"}, {"POST", "/auth/login"},
		{"POST", "/oauth/token"}, {"POST", "/oauth/introspect"}, {"POST", "/oauth/revoke"}, {"GET", "/.well-known/jwks.json"},
	}
	huge := `{"handle":"` + strings.Repeat("a", 70<<10) + `"}`
	bodies := []string{`{`, `[]`, `"str"`, `null`, `{"handle":5,"apiKey":[],"refreshToken":{},"api_key":true,"session_id":9,"expiry_seconds":"x","scopes":"s","grace_seconds":1.5}`,
		`{"expiry_seconds":1e400}`, huge, "\x00\xff", `{"a":1}{"b":2}`}
	auths := []string{"", "Bearer", "Bearer ", "Basic !!!", "Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")), "Bearer a.b.c", "Bearer " + strings.Repeat("x", 9000),
		"Negotiate abc", "\t", bearer(key), basic(key, ""), alice, "Bearer eyJhbGciOiJub25lIn0.e30.", key}
	// 9,240 requests; under -short a fourth of them, spread over every
	// route and credential (CI runs them all).
	step, i := 1, 0
	if testing.Short() {
		step = 4
	}
	for _, rt := range routes {
		for _, a := range auths {
			for _, b := range append(bodies, "") {
				for _, ct := range []string{"application/json", "application/x-www-form-urlencoded", "text/plain"} {
					if i++; i%step != 0 {
						continue
					}
					r := e.do(req{method: rt.method, path: rt.path, auth: a, body: b, contentType: ct, offContract: true})
					if r.status >= 500 {
						t.Fatalf("%s %s auth=%.20q body=%.20q ct=%s: %d %s", rt.method, rt.path, a, b, ct, r.status, r.body)
					}
					if r.status >= 400 && len(r.body) > 0 && !json.Valid(r.body) {
						t.Fatalf("%s %s: error body is not JSON: %s", rt.method, rt.path, r.body)
					}
				}
			}
		}
	}
}
