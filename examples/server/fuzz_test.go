package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/httpmw"
	"github.com/authkit/authkit/storage/sqlite"
)

// fuzzRoutes are every route of the example server, by index.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/user/keys"}, {"GET", "/user/keys"}, {"GET", "/user/keys/fz"}, {"DELETE", "/user/keys/nope"},
	{"POST", "/user/keys/fz/rotate"}, {"GET", "/user"}, {"GET", "/user/sessions"}, {"DELETE", "/user/sessions/x"},
	{"POST", "/v1/keys/accesstoken"}, {"POST", "/v1/keys/validate"}, {"POST", "/v1/rooms/create"}, {"GET", "/v1/rooms/x"},
	{"POST", "/auth/api-key"}, {"POST", "/auth/refresh"}, {"GET", "/videos"}, {"POST", "/videos"}, {"POST", "/auth/login"},
	{"POST", "/oauth/token"}, {"POST", "/oauth/introspect"}, {"POST", "/oauth/revoke"}, {"GET", "/.well-known/jwks.json"},
}

var fuzzContentTypes = []string{"application/json", "application/x-www-form-urlencoded", "", "text/plain; charset=utf-8"}

// FuzzEndpoints sends arbitrary bodies, content types and Authorization
// headers to every route of the real app: nothing may panic or answer 5xx,
// and every error body is JSON. Its seed corpus is in testdata/fuzz.
func FuzzEndpoints(f *testing.F) {
	ctx := context.Background()
	dir := f.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	secret, _ := authkit.NewSecret(testSecret)
	udb, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "fuzz.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { udb.Close() })
	users, err := OpenUsers(ctx, udb, bcrypt.MinCost)
	if err != nil {
		f.Fatal(err)
	}
	users.Set(ctx, "alice", "alice-password")
	app, err := NewApp(ctx, Config{Store: store, Secret: secret, Users: users, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Limiter: &httpmw.Limiter{Limit: 1 << 30}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(app.Close)
	_, key, err := app.Keys.Create(ctx, authkit.KeyRequest{Owner: "fuzz-owner", Handle: "fz", Recoverable: true})
	if err != nil {
		f.Fatal(err)
	}

	f.Add(uint8(0), uint8(0), alice, `{"handle":"x","scopes":["a"],"env":"test","expires_in":60}`)
	f.Add(uint8(8), uint8(0), "Bearer "+key, `{"expiry_seconds":3600}`)
	f.Add(uint8(12), uint8(0), "", `{"apiKey":"`+key+`"}`)
	f.Add(uint8(16), uint8(0), "", `{"api_key":"`+key+`","session_id":"s"}`)
	f.Add(uint8(17), uint8(1), basic("id", key), "grant_type=client_credentials&scope=videos%3Aread")
	f.Add(uint8(18), uint8(1), basic("id", key), "token=abc&token_type_hint=refresh_token")
	f.Add(uint8(13), uint8(0), "", `{"refreshToken":"rt_x"}`)
	f.Add(uint8(4), uint8(0), alice, `{"grace_seconds":1e308}`)
	f.Fuzz(func(t *testing.T, route, ct uint8, auth, body string) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		r := httptest.NewRequest(rt.method, rt.path, strings.NewReader(body))
		if c := fuzzContentTypes[int(ct)%len(fuzzContentTypes)]; c != "" {
			r.Header.Set("Content-Type", c)
		}
		if auth != "" && !strings.ContainsAny(auth, "\r\n\x00") {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		app.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %s: %d %s", rt.method, rt.path, w.Code, w.Body.String())
		}
		if w.Code >= 400 && w.Body.Len() > 0 && !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %s: error body is not JSON: %q", rt.method, rt.path, w.Body.String())
		}
	})
}
