package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit/httpmw"
)

// startRun runs the real main loop with args on a free address and returns
// that address; the server stops when the test ends.
func startRun(t *testing.T, args ...string) string {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", addr, "-db", filepath.Join(t.TempDir(), "a.db")}, args...), pw)
		pw.Close()
	}()
	t.Cleanup(func() { cancel(); <-done })
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening") {
				close(listening)
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case <-listening:
	case <-time.After(20 * time.Second):
		t.Fatal("server did not start")
	}
	return addr
}

// TestServer_TimeoutsCloseASlowBodyAndAnIdleConnection: a body sent one
// byte at a time is cut off at the read timeout, and an idle keep-alive
// connection is closed at the idle timeout; neither is held longer.
func TestServer_TimeoutsCloseASlowBodyAndAnIdleConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for timeouts")
	}
	is := is.New(t)
	addr := startRun(t, "-read-timeout", "1s", "-idle-timeout", "1s")

	// A slow body: headers, then a byte every 200 ms of a 100-byte body.
	c, err := net.Dial("tcp", addr)
	is.NoErr(err)
	defer c.Close()
	start := time.Now()
	fmt.Fprintf(c, "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
	closed := make(chan struct{})
	var held time.Duration
	go func() {
		io.Copy(io.Discard, c) // until the server closes the connection
		held = time.Since(start)
		close(closed)
	}()
	deadline := time.After(5 * time.Second)
send:
	for {
		select {
		case <-closed:
			break send
		case <-deadline:
			t.Fatal("a slow body held its connection past 5 s with a 1 s read timeout")
		case <-time.After(200 * time.Millisecond):
			c.Write([]byte("{"))
		}
	}
	t.Logf("slow body cut off after %s (read timeout 1s)", held.Round(time.Millisecond))
	is.True(held < 3*time.Second)

	// An idle keep-alive connection after one request, on a server whose
	// read timeout is longer than its idle timeout (Go falls back on the
	// read timeout when there is no idle timeout: this tells them apart).
	addr = startRun(t, "-read-timeout", "10s", "-idle-timeout", "1s")
	c2, err := net.Dial("tcp", addr)
	is.NoErr(err)
	defer c2.Close()
	fmt.Fprintf(c2, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c2)
	res, err := http.ReadResponse(br, nil)
	is.NoErr(err)
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	is.Equal(res.StatusCode, 200)
	idleFrom := time.Now()
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = br.ReadByte() // blocks until the server closes it
	is.True(err != nil)
	idle := time.Since(idleFrom)
	t.Logf("idle connection closed after %s (idle timeout 1s)", idle.Round(time.Millisecond))
	is.True(idle >= 900*time.Millisecond && idle < 3*time.Second)
}

// TestServer_HeadersOverTheCapAre431: the server caps request headers.
func TestServer_HeadersOverTheCapAre431(t *testing.T) {
	is := is.New(t)
	addr := startRun(t)
	req, _ := http.NewRequest("GET", "http://"+addr+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	res, err := http.DefaultClient.Do(req)
	is.NoErr(err)
	res.Body.Close()
	is.Equal(res.StatusCode, http.StatusRequestHeaderFieldsTooLarge)
}

// TestSignIn_UnknownNamesTakeAsLongAsWrongPasswords: at the directory's
// real bcrypt cost, 20 sign-ins with an unknown name and 20 with a known
// name and a wrong password take, by their medians, within 2× of each
// other.
func TestSignIn_UnknownNamesTakeAsLongAsWrongPasswords(t *testing.T) {
	if testing.Short() {
		t.Skip("40 bcrypt comparisons at the default cost")
	}
	is := is.New(t)
	e := newEnv(t)
	users, err := OpenUsers(context.Background(), e.udb, 0) // bcrypt.DefaultCost
	is.NoErr(err)
	_, err = users.Set(context.Background(), "carol", "carol-password")
	is.NoErr(err)
	timeIt := func(name string) time.Duration {
		var ds []time.Duration
		for range 20 {
			r := httptest.NewRequest("GET", "/user", nil)
			r.SetBasicAuth(name, "wrong-password")
			start := time.Now()
			_, err := users.Authenticate(r)
			ds = append(ds, time.Since(start))
			is.True(err != nil)
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	known, unknown := timeIt("carol"), timeIt("nobody")
	t.Logf("median sign-in, known name with a wrong password: %s; unknown name: %s", known, unknown)
	is.True(known < 2*unknown && unknown < 2*known)
}

// TestSignIn_The11thWrongPasswordIs429: failed sign-ins of the example's
// users are limited like failed keys (10 a minute per address): the 11th
// wrong password from one address is 429 with Retry-After, even on the
// integration page, and another address still signs in.
func TestSignIn_The11thWrongPasswordIs429(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	app, err := NewApp(context.Background(), Config{Store: e.store, Secret: e.secret, Users: e.app.cfg.Users, Issuer: "http://authkit.test",
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Limiter: &httpmw.Limiter{Clock: e.clock.Now}}) // the default limits, on a clock that stands still: one fixed window
	is.NoErr(err)
	defer app.Close()
	srv := httptest.NewServer(app)
	defer srv.Close()
	attacker, honest := clientFrom(t, "127.0.0.2"), clientFrom(t, "127.0.0.3")
	get := func(c *http.Client, path, user, password string) *http.Response {
		r, _ := http.NewRequest("GET", srv.URL+path, nil)
		r.SetBasicAuth(user, password)
		res, err := c.Do(r)
		is.NoErr(err)
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	for i := range 10 {
		is.Equal(get(attacker, "/user/keys", "alice", fmt.Sprint("guess-", i)).StatusCode, 401)
	}
	res := get(attacker, "/user/keys", "alice", "guess-11")
	is.Equal(res.StatusCode, 429)
	is.True(res.Header.Get("Retry-After") != "")
	is.Equal(get(attacker, "/user/keys", "alice", "alice-password").StatusCode, 429) // blocked even with the right one
	is.Equal(get(attacker, "/integration/", "alice", "alice-password").StatusCode, 429)
	is.Equal(get(honest, "/user/keys", "alice", "alice-password").StatusCode, 200)
}

// TestHeaders_NosniffEverywhereNoStoreOnListsNoEmptyError: every response
// is nosniff; lists of keys and sessions and the user are no-store; a 401
// to a request without credentials carries no empty "error" member.
func TestHeaders_NosniffEverywhereNoStoreOnListsNoEmptyError(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	e.createKey(alice, `{"handle":"h"}`)
	for _, r := range []req{
		{method: "GET", path: "/healthz"},
		{method: "GET", path: "/openapi.json"},
		{method: "GET", path: "/.well-known/jwks.json"},
		{method: "GET", path: "/videos", offContract: true},
		{method: "GET", path: "/user/keys", auth: alice},
		{method: "GET", path: "/user/keys/h", auth: alice},
		{method: "GET", path: "/user/sessions", auth: alice},
		{method: "GET", path: "/user", auth: alice},
	} {
		res := e.do(r)
		is.Equal(res.header.Get("X-Content-Type-Options"), "nosniff")
		if strings.HasPrefix(r.path, "/user") {
			is.Equal(res.header.Get("Cache-Control"), "no-store") // lists of keys, sessions, the user
		}
	}
	pg, _ := http.NewRequest("GET", e.srv.URL+"/integration/", nil) // HTML: outside openapi.json
	pg.Header.Set("Authorization", alice)
	res, err := http.DefaultClient.Do(pg)
	is.NoErr(err)
	res.Body.Close()
	is.Equal(res.StatusCode, 200)
	is.Equal(res.Header.Get("X-Content-Type-Options"), "nosniff")
	for _, path := range []string{"/videos", "/user/keys", "/v1/rooms/x"} {
		res := e.do(req{method: "GET", path: path, offContract: true})
		is.Equal(res.status, 401)
		if strings.Contains(string(res.body), `"error":""`) {
			t.Errorf("%s: a 401 without credentials has an empty error member: %s", path, res.body)
		}
	}
}

// TestLogin_PasswordAndClientCredentialsReuseTheTokenPerSessionID: the
// login guide's other two credentials over real HTTP.
func TestLogin_PasswordAndClientCredentialsReuseTheTokenPerSessionID(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	k := e.createKey(alice, `{"handle":"login"}`)
	id, key := str(k, "id"), str(k, "token")
	login := func(body string) string {
		t.Helper()
		r := e.do(req{method: "POST", path: "/auth/login", body: body})
		if r.status != 200 {
			t.Fatalf("%s: %d %s", body, r.status, r.body)
		}
		is.Equal(r.json["token_type"], "Bearer")
		return str(r.json, "access_token")
	}
	pw := login(`{"username":"alice","password":"alice-password","session_id":"laptop"}`)
	is.Equal(login(`{"username":"alice","password":"alice-password","session_id":"laptop"}`), pw)
	is.True(login(`{"username":"alice","password":"alice-password","session_id":"phone"}`) != pw)
	r := e.do(req{method: "GET", path: "/user", auth: bearer(pw)})
	is.Equal(r.status, 200)
	is.Equal(r.json["username"], "alice") // the token is alice's
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: bearer(pw)}).status, 200)

	cc := login(`{"client_id":"` + id + `","client_secret":"` + key + `","session_id":"w1"}`)
	is.Equal(login(`{"client_id":"`+id+`","client_secret":"`+key+`","session_id":"w1"}`), cc)
	is.Equal(login(`{"api_key":"`+key+`","session_id":"w1"}`), cc) // the key is the same credential
	is.True(login(`{"client_id":"`+id+`","client_secret":"`+key+`","session_id":"w2"}`) != cc)

	r = e.do(req{method: "POST", path: "/auth/login", body: `{"username":"alice","password":"wrong"}`})
	is.Equal(r.status, 401)
	r = e.do(req{method: "POST", path: "/auth/login", body: `{"username":"nobody","password":"wrong"}`})
	is.Equal(r.status, 401)

	// The user's sessions are listed and revoked like the key's.
	r = e.do(req{method: "GET", path: "/user/sessions", auth: alice})
	is.Equal(r.status, 200)
	n := 0
	for _, s := range r.json["sessions"].([]any) {
		if s.(map[string]any)["key_id"] == "" {
			n++
		}
	}
	is.Equal(n, 2) // laptop and phone
}

// apiVideoErrorResponse and apiVideoBadRequest are the error models of
// api.video's Go client (github.com/apivideo/api.video-go-client, client.go
// ErrorResponse and model_bad_request.go BadRequest): what its checkResponse
// decodes an error body into and prints.
type apiVideoErrorResponse struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Name   string `json:"name"`
	Detail string `json:"detail"` // not in the SDK's model: what a person reads
}

type apiVideoBadRequest struct {
	Type   *string `json:"type,omitempty"`
	Title  *string `json:"title,omitempty"`
	Name   *string `json:"name,omitempty"`
	Status *int32  `json:"status,omitempty"`
}

// TestAPIVideo_ErrorsAreProblemDetailsItsSDKDecodes: every error of
// api.video's routes is an RFC 9457 problem (application/problem+json)
// that api.video's SDK models decode with no empty field, and a wrong key
// at /auth/api-key is 400, as api.video documents.
func TestAPIVideo_ErrorsAreProblemDetailsItsSDKDecodes(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	key := str(e.createKey(alice, `{"handle":"av","scopes":["videos:read"]}`), "token")
	r := e.do(req{method: "POST", path: "/auth/api-key", body: `{"apiKey":"` + key + `"}`})
	is.Equal(r.status, 200)
	at := str(r.json, "access_token")
	for _, c := range []struct {
		r      req
		status int
	}{
		{req{method: "POST", path: "/auth/api-key", body: `{"apiKey":"ak_live_` + strings.Repeat("x", 36) + `"}`}, 400},
		{req{method: "POST", path: "/auth/api-key", body: `{"apiKey":5}`, offContract: true}, 400},
		{req{method: "POST", path: "/auth/refresh", body: `{"refreshToken":"rt_nope"}`}, 400},
		{req{method: "GET", path: "/videos", offContract: true}, 401},
		{req{method: "GET", path: "/videos", auth: bearer("not-a-token")}, 401},
		{req{method: "POST", path: "/videos", auth: bearer(at), body: `{}`}, 403}, // videos:write lacking
	} {
		res := e.do(c.r)
		is.Equal(res.status, c.status)
		is.Equal(res.header.Get("Content-Type"), "application/problem+json")
		var er apiVideoErrorResponse
		is.NoErr(json.Unmarshal(res.body, &er))
		if er.Type == "" || er.Title == "" || er.Name == "" || er.Detail == "" {
			t.Errorf("%s %s: the SDK would print an empty field: %s", c.r.method, c.r.path, res.body)
		}
		var br apiVideoBadRequest
		is.NoErr(json.Unmarshal(res.body, &br))
		is.True(br.Status != nil && int(*br.Status) == c.status)
	}
}

// TestOAuthRevoke_TheGrantSessionIsNoLongerListed: after /oauth/revoke of
// an access token, its grant session is gone from the owner's live
// sessions, and the token is refused.
func TestOAuthRevoke_TheGrantSessionIsNoLongerListed(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	k := e.createKey(alice, `{"handle":"svc"}`)
	id, key := str(k, "id"), str(k, "token")
	sessions := func() int {
		r := e.do(req{method: "GET", path: "/user/sessions", auth: alice})
		return len(r.json["sessions"].([]any))
	}
	r := e.do(req{method: "POST", path: "/oauth/token", auth: basic(url.QueryEscape(id), url.QueryEscape(key)),
		body: "grant_type=client_credentials", contentType: "application/x-www-form-urlencoded"})
	is.Equal(r.status, 200)
	at := str(r.json, "access_token")
	is.Equal(sessions(), 1)
	r = e.do(req{method: "POST", path: "/oauth/revoke", auth: basic(id, key), body: "token=" + url.QueryEscape(at), contentType: "application/x-www-form-urlencoded"})
	is.Equal(r.status, 200)
	is.Equal(sessions(), 0)
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: bearer(at)}).status, 401)
}

// TestOAuth_InvalidClientChallengesWithBasicOnly: RFC 6749 §5.2.
func TestOAuth_InvalidClientChallengesWithBasicOnly(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	k := e.createKey(alice, `{"handle":"svc"}`)
	r := e.do(req{method: "POST", path: "/oauth/token", auth: basic(str(k, "id"), "ak_live_wrong"),
		body: "grant_type=client_credentials", contentType: "application/x-www-form-urlencoded"})
	is.Equal(r.status, 401)
	is.Equal(r.json["error"], "invalid_client")
	is.Equal(r.header.Values("WWW-Authenticate"), []string{`Basic realm="authkit", charset="UTF-8"`})
	is.True(regexp.MustCompile(`^Basic `).MatchString(r.header.Get("WWW-Authenticate")))
}
