package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/handlers"
	"github.com/authkit/authkit/httpmw"
	"github.com/authkit/authkit/internal/fakeclock"
	"github.com/authkit/authkit/internal/opaque"
	"github.com/authkit/authkit/server"
	"github.com/authkit/authkit/storage/sqlite"
)

var ctx = context.Background()

func secret(t testing.TB) *authkit.Secret {
	s, err := authkit.NewSecret([]byte("server-test-secret-0123456789abcdefgh"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openSQLite(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// logBuffer collects what a Server logs.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestNew_RefusesContradictorySettingsNamingBoth(t *testing.T) {
	store := openSQLite(t, filepath.Join(t.TempDir(), "a.db"))
	for _, c := range []struct {
		name      string
		cfg       server.Config
		want1     string
		want2     string
		wantField string
	}{
		{"login tokens longer than any token", server.Config{MaxAccessTTL: time.Hour}, "LoginTTL", "MaxAccessTTL", "LoginTTL"},
		{"default lifetime over the maximum", server.Config{AccessTTL: 2 * time.Hour, MaxAccessTTL: time.Hour, LoginTTL: time.Hour}, "AccessTTL", "MaxAccessTTL", "AccessTTL"},
		{"tokens outliving their session", server.Config{AccessTTL: 2 * time.Hour, RefreshTTL: time.Hour}, "AccessTTL", "RefreshTTL", "AccessTTL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			c.cfg.Store, c.cfg.Secret = store, secret(t)
			_, err := server.New(ctx, c.cfg)
			is.True(errors.Is(err, authkit.ErrInvalid))
			var fe *authkit.FieldError
			is.True(errors.As(err, &fe))
			is.Equal(fe.Field, c.wantField)
			is.True(strings.Contains(err.Error(), c.want1))
			is.True(strings.Contains(err.Error(), c.want2))
			t.Log(err)
		})
	}
	for _, c := range []struct {
		name string
		cfg  server.Config
	}{
		{"no store", server.Config{Secret: secret(t)}},
		{"no secret", server.Config{Store: store}},
		{"grace too long", server.Config{Store: store, Secret: secret(t), RefreshGrace: time.Minute}},
		{"unknown algorithm", server.Config{Store: store, Secret: secret(t), Algorithm: "RS256"}},
		{"usage kept less than a bucket", server.Config{Store: store, Secret: secret(t), UsageRetention: time.Minute}},
	} {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			_, err := server.New(ctx, c.cfg)
			is.True(errors.Is(err, authkit.ErrInvalid))
		})
	}
}

func TestNew_ZeroValuesWorkAndRestartOnTheSameFile(t *testing.T) {
	is := is.New(t)
	path := filepath.Join(t.TempDir(), "a.db")
	store := openSQLite(t, path)
	ak, err := server.New(ctx, server.Config{Store: store, Secret: secret(t)})
	is.NoErr(err)
	k, _, err := ak.Keys.Create(ctx, authkit.KeyRequest{Owner: "o", Handle: "h"})
	is.NoErr(err)
	g, err := ak.Sessions.Exchange(ctx, authkit.ExchangeRequest{Key: k})
	is.NoErr(err)
	is.NoErr(ak.Close())
	is.NoErr(ak.Close()) // twice is fine
	is.NoErr(store.Close())

	store = openSQLite(t, path)
	ak, err = server.New(ctx, server.Config{Store: store, Secret: secret(t)})
	is.NoErr(err)
	defer ak.Close()
	p, err := ak.Tokens.Verify(ctx, g.AccessToken)
	is.NoErr(err)
	is.Equal(p.Owner(), "o")
}

// TestHousekeeping_CleanupAndRotationRunByThemselves moves a fake clock and
// watches the Server, with nothing else calling it, collect an expired
// grant session and usage older than UsageRetention, rotate its signing
// key, and log both.
func TestHousekeeping_CleanupAndRotationRunByThemselves(t *testing.T) {
	defer server.SetPoll(5 * time.Millisecond)()
	is := is.New(t)
	store := openSQLite(t, filepath.Join(t.TempDir(), "a.db"))
	clock := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	logs := &logBuffer{}
	ak, err := server.New(ctx, server.Config{Store: store, Secret: secret(t), Clock: clock.Now,
		Logger: slog.New(slog.NewTextHandler(logs, nil)), RefreshTTL: 24 * time.Hour,
		CleanupEvery: time.Hour, RotateEvery: 7 * 24 * time.Hour, UsageRetention: 2 * 24 * time.Hour})
	is.NoErr(err)
	defer ak.Close()
	k, _, err := ak.Keys.Create(ctx, authkit.KeyRequest{Owner: "o", Handle: "h"})
	is.NoErr(err)
	_, err = ak.Gate.Admit(ctx, k.ID, netip.Addr{}) // one request's usage, written at once
	is.NoErr(err)
	is.NoErr(ak.Gate.Flush(ctx))
	day := clock.Now().Truncate(time.Hour)
	usage := func() int {
		u, err := store.Usage(ctx, k.ID, day, day.Add(time.Hour))
		is.NoErr(err)
		return len(u)
	}
	is.Equal(usage(), 1)
	g, err := ak.Sessions.Exchange(ctx, authkit.ExchangeRequest{Key: k})
	is.NoErr(err)
	first, err := store.SigningKeys(ctx)
	is.NoErr(err)
	is.Equal(len(first), 1)

	time.Sleep(50 * time.Millisecond) // polls: nothing is due yet
	_, err = store.Session(ctx, g.Session.ID)
	is.NoErr(err)
	keys, _ := store.SigningKeys(ctx)
	is.Equal(len(keys), 1)

	clock.Advance(8 * 24 * time.Hour) // the session expired a week ago; the key is 8 days old
	eventually(t, func() bool {
		_, err := store.Session(ctx, g.Session.ID)
		keys, _ := store.SigningKeys(ctx)
		return errors.Is(err, authkit.ErrNotFound) && len(keys) == 2 && usage() == 0 // past the retention of 2 days
	})
	eventually(t, func() bool {
		return strings.Contains(logs.String(), "authkit: cleanup") && strings.Contains(logs.String(), "authkit: signing key rotated")
	})
	is.True(strings.Contains(logs.String(), "deleted="))
	tok, _, err := ak.Tokens.Issue(ctx, authkit.TokenRequest{Key: k, SessionID: "s"})
	is.NoErr(err)
	is.True(!strings.Contains(tok, first[0].ID)) // signed with the new key (its kid is in the header)
	t.Logf("logged:\n%s", logs.String())
}

func TestHousekeeping_OffWhenNegative(t *testing.T) {
	defer server.SetPoll(5 * time.Millisecond)()
	is := is.New(t)
	store := openSQLite(t, filepath.Join(t.TempDir(), "a.db"))
	clock := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ak, err := server.New(ctx, server.Config{Store: store, Secret: secret(t), Clock: clock.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), CleanupEvery: -1, RotateEvery: -1})
	is.NoErr(err)
	k, _, _ := ak.Keys.Create(ctx, authkit.KeyRequest{Owner: "o", Handle: "h"})
	g, err := ak.Sessions.Exchange(ctx, authkit.ExchangeRequest{Key: k})
	is.NoErr(err)
	clock.Advance(365 * 24 * time.Hour)
	time.Sleep(100 * time.Millisecond)
	is.NoErr(ak.Close())
	_, err = store.Session(ctx, g.Session.ID)
	is.NoErr(err) // not collected
	keys, _ := store.SigningKeys(ctx)
	is.Equal(len(keys), 1) // not rotated
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// faulty is a real SQLite store whose chosen methods fail, as a database
// outage (or a failing index, or a lost connection) would make them.
type faulty struct {
	authkit.Store
	down atomic.Pointer[[]string] // the methods that fail
}

var errDisk = errors.New("sqlite: disk I/O error")

// fail makes methods fail ("*" for every one) until the next call.
func (f *faulty) fail(methods ...string) { f.down.Store(&methods) }

func (f *faulty) err() error {
	down := f.down.Load()
	if down == nil {
		return nil
	}
	pc, _, _, _ := runtime.Caller(1)
	name := runtime.FuncForPC(pc).Name()
	name = name[strings.LastIndex(name, ".")+1:]
	if slices.Contains(*down, "*") || slices.Contains(*down, name) {
		return errDisk
	}
	return nil
}

func (f *faulty) KeyBySecret(ctx context.Context, h []byte) (*authkit.Key, *authkit.KeySecret, error) {
	if err := f.err(); err != nil {
		return nil, nil, err
	}
	return f.Store.KeyBySecret(ctx, h)
}

func (f *faulty) KeyByID(ctx context.Context, id string) (*authkit.Key, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.Store.KeyByID(ctx, id)
}

func (f *faulty) Session(ctx context.Context, id string) (*authkit.Session, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.Store.Session(ctx, id)
}

func (f *faulty) LoginSession(ctx context.Context, owner, keyID, name string) (*authkit.Session, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.Store.LoginSession(ctx, owner, keyID, name)
}

func (f *faulty) RefreshToken(ctx context.Context, h []byte) (*authkit.RefreshToken, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.Store.RefreshToken(ctx, h)
}

func (f *faulty) CreateSession(ctx context.Context, s *authkit.Session, first *authkit.RefreshToken) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Store.CreateSession(ctx, s, first)
}

// TestStoreOutage_Is500NeverRevoked takes the store down and sends a
// refresh, a login, an introspection and a request bearing a token never
// verified before: each is a logged 500 "internal error", none a 401. Once
// the store is back, the same refresh token, key and token work: the outage
// signed no one out.
func TestStoreOutage_Is500NeverRevoked(t *testing.T) {
	is := is.New(t)
	store := &faulty{Store: openSQLite(t, filepath.Join(t.TempDir(), "a.db"))}
	logs := &logBuffer{}
	ak, err := server.New(ctx, server.Config{Store: store, Secret: secret(t), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	is.NoErr(err)
	defer ak.Close()
	k, key, err := ak.Keys.Create(ctx, authkit.KeyRequest{Owner: "o", Handle: "h", Scopes: []string{"read"}})
	is.NoErr(err)
	// A second key, never verified before the outage: not in the cache of
	// verified keys (a cached key is answered without the store, outage or
	// not, for its few seconds).
	_, unseen, err := ak.Keys.Create(ctx, authkit.KeyRequest{Owner: "o", Handle: "unseen", Scopes: []string{"read"}})
	is.NoErr(err)
	auth := ak.Auth(httpmw.AcceptBearerToken | httpmw.AcceptBasicKey)
	mux := http.NewServeMux()
	mux.Handle("POST /token", ak.Endpoints.Exchange(handlers.ExchangeOptions{KeyField: "api_key"}))
	mux.Handle("POST /refresh", ak.Endpoints.Refresh(handlers.RefreshOptions{}))
	mux.Handle("POST /login", ak.Endpoints.Login(handlers.LoginOptions{}))
	mux.Handle("POST /introspect", ak.Endpoints.Introspect())
	mux.Handle("GET /r", auth.Verify(auth.Require("read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	post := func(path, body string) (int, map[string]any) {
		res, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		is.NoErr(err)
		defer res.Body.Close()
		var m map[string]any
		json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	get := func(authz string) (int, map[string]any) {
		r, _ := http.NewRequest("GET", srv.URL+"/r", nil)
		r.Header.Set("Authorization", authz)
		res, err := http.DefaultClient.Do(r)
		is.NoErr(err)
		defer res.Body.Close()
		var m map[string]any
		json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	for _, outage := range [][]string{
		{"*"},                                  // everything
		{"Session", "KeyByID", "LoginSession"}, // the reads after the credential's own
	} {
		status, tok := post("/token", `{"api_key":"`+key+`"}`)
		is.Equal(status, 200)
		at, rt := tok["access_token"].(string), tok["refresh_token"].(string)
		logs.Reset()

		store.fail(outage...)
		for name, do := range map[string]func() (int, map[string]any){
			"refresh":             func() (int, map[string]any) { return post("/refresh", `{"refresh_token":"`+rt+`"}`) },
			"login":               func() (int, map[string]any) { return post("/login", `{"api_key":"`+unseen+`"}`) },
			"exchange":            func() (int, map[string]any) { return post("/token", `{"api_key":"`+unseen+`"}`) },
			"bearer token":        func() (int, map[string]any) { return get("Bearer " + at) },
			"basic key":           func() (int, map[string]any) { return get("Basic " + basic(unseen)) },
			"introspect (client)": func() (int, map[string]any) { return postForm(t, srv.URL+"/introspect", k.ID, key, "token="+rt) },
		} {
			if outage[0] != "*" && (name == "basic key" || name == "exchange") {
				continue // they read only the key's secret, which works
			}
			status, body := do()
			if status != 500 || body["error"] != "server_error" || body["error_description"] != "internal error" {
				t.Errorf("%v down: %s answered %d %v, want 500 server_error", outage, name, status, body)
			}
		}
		is.True(strings.Count(logs.String(), "authkit: internal error") >= 4)
		is.True(strings.Contains(logs.String(), "disk I/O error")) // the cause is in the log, not the response

		store.fail()
		status, _ = post("/refresh", `{"refresh_token":"`+rt+`"}`)
		is.Equal(status, 200) // the family was not revoked
		status, _ = post("/login", `{"api_key":"`+key+`"}`)
		is.Equal(status, 200)
		status, _ = get("Bearer " + at)
		is.Equal(status, 200)
	}
}

func basic(user string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, "")
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

func postForm(t *testing.T, url, id, secret, form string) (int, map[string]any) {
	r, _ := http.NewRequest("POST", url, strings.NewReader(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(id, secret)
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

// TestReady_UntilTheStoreStopsAnswering: the readiness handler says ready
// over a live store, and 503 with the reason once the store is closed;
// the liveness handler says live throughout.
func TestReady_UntilTheStoreStopsAnswering(t *testing.T) {
	is := is.New(t)
	store := openSQLite(t, filepath.Join(t.TempDir(), "a.db"))
	ak, err := server.New(ctx, server.Config{Store: store, Secret: secret(t), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	is.NoErr(err)
	defer ak.Close()
	mux := http.NewServeMux()
	mux.Handle("GET /readyz", ak.Ready())
	mux.Handle("GET /livez", ak.Live())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	getAt := func(path string) (int, map[string]string) {
		res, err := http.Get(srv.URL + path)
		is.NoErr(err)
		defer res.Body.Close()
		var m map[string]string
		is.NoErr(json.NewDecoder(res.Body).Decode(&m))
		return res.StatusCode, m
	}
	get := func() (int, map[string]string) { return getAt("/readyz") }
	st, m := get()
	is.Equal(st, 200)
	is.Equal(m["status"], "ready")
	is.NoErr(store.Close())
	st, m = get()
	is.Equal(st, 503)
	is.Equal(m["reason"], "the store does not answer")
	st, m = getAt("/livez")
	is.Equal(st, 200) // the process is alive: restarting it would not bring the store back
	is.Equal(m["status"], "live")
}

// TestLimiter_ABlockedAddressIsAudited: the failure that blocks an address
// is in the audit trail, once, with the address and the request id.
func TestLimiter_ABlockedAddressIsAudited(t *testing.T) {
	is := is.New(t)
	store := openSQLite(t, filepath.Join(t.TempDir(), "a.db"))
	ak, err := server.New(ctx, server.Config{Store: store, Secret: secret(t), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	is.NoErr(err)
	defer ak.Close()
	auth := ak.Auth(httpmw.AcceptBasicKey)
	srv := httptest.NewServer(auth.Verify(auth.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))))
	defer srv.Close()
	statuses := []int{}
	for i := range 12 {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.SetBasicAuth(opaque.New("ak_live_"), "") // well formed, unknown: looked up

		req.Header.Set("X-Request-Id", fmt.Sprintf("req-%d", i))
		res, err := http.DefaultClient.Do(req)
		is.NoErr(err)
		res.Body.Close()
		statuses = append(statuses, res.StatusCode)
	}
	is.Equal(statuses[9], 401)  // the 10th failure, which blocks
	is.Equal(statuses[10], 429) // then refused unchecked
	events, err := store.AuditLog(ctx, "", authkit.Page{})
	is.NoErr(err)
	var blocked []authkit.AuditEvent
	for _, e := range events {
		if e.Action == authkit.AuditAddressBlocked {
			blocked = append(blocked, e)
		}
	}
	is.Equal(len(blocked), 1)
	is.Equal(blocked[0].Target, "127.0.0.1")
	is.Equal(blocked[0].Actor.Addr, "127.0.0.1")
	is.Equal(blocked[0].Actor.RequestID, "req-9")
}
