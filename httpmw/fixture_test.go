package httpmw_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/handlers"
	"github.com/authkit/authkit/httpmw"
	"github.com/authkit/authkit/internal/fakeclock"
	"github.com/authkit/authkit/server"
	"github.com/authkit/authkit/storage/sqlite"
)

type fx struct {
	srv    *httptest.Server
	ak     *server.Server
	clock  *fakeclock.Clock
	key    *authkit.Key
	secret string
}

// newFx builds authkit over a real SQLite file and mounts a few of its
// handlers and a protected route on a mux, behind a real HTTP server.
func newFx(t *testing.T, limiter *httpmw.Limiter) *fx {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	sec, _ := authkit.NewSecret([]byte("httpmw-test-secret-0123456789abcdefgh"))
	f := &fx{clock: fakeclock.New(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))}
	f.ak, err = server.New(ctx, server.Config{Store: store, Secret: sec, Clock: f.clock.Now, Limiter: limiter, MaxBody: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.ak.Close() })
	f.key, f.secret, err = f.ak.Keys.Create(ctx, authkit.KeyRequest{Owner: "o", Handle: "k", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	auth := f.ak.Auth(httpmw.AcceptBearerToken | httpmw.AcceptBasicKey)
	mux := http.NewServeMux()
	mux.Handle("POST /token", f.ak.Endpoints.Exchange(handlers.ExchangeOptions{KeyField: "key"}))
	mux.Handle("POST /oauth/token", f.ak.Endpoints.OAuthToken(handlers.OAuthOptions{}))
	mux.Handle("POST /oauth/introspect", f.ak.Endpoints.Introspect())
	mux.Handle("GET /r", auth.Verify(auth.Require("read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := authkit.FromContext(r.Context())
		w.Write([]byte(p.Owner() + " " + string(p.Method())))
	}))))
	mux.Handle("GET /w", auth.Authenticate(auth.Require("write")(http.NotFoundHandler())))
	mux.Handle("POST /oauth/revoke", f.ak.Endpoints.Revoke())
	live := f.ak.Auth(httpmw.AcceptBearerToken | httpmw.AcceptBasicKey)
	live.Env = authkit.EnvLive
	mux.Handle("GET /live", live.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := authkit.FromContext(r.Context())
		w.Write([]byte(p.Env()))
	})))
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
