package client_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/client"
	"github.com/authkit/authkit/handlers"
	"github.com/authkit/authkit/httpmw"
	"github.com/authkit/authkit/internal/fakeclock"
	"github.com/authkit/authkit/server"
	"github.com/authkit/authkit/storage/memory"
)

// api is an API protected by authkit's real handlers, over an in-memory
// store, behind a real HTTP server. Its clock is fake: advancing it expires
// the tokens it issued, as the server sees them. It counts the requests it
// gets by path (and by grant type at the OAuth token endpoints).
//
//	POST /token         the key in {"key"}; OAuth names in the answer
//	POST /refresh       the refresh token in {"refresh_token"}
//	POST /bearer/token  the key, or a refresh token, as a bearer credential;
//	                    the lifetime asked for and answered in "lifetime";
//	                    the answer in {"data": …}
//	POST /login         the login flow
//	POST /oauth/token   client_credentials and refresh_token grants
//	POST /oauth/plain/token  the same, issuing no refresh token for
//	                    client_credentials (RFC 6749 §4.4.3)
//	GET  /hello         a bearer token: "hello, <owner>"
//	POST /echo          a bearer token: echoes the body
//	GET  /expiring      a bearer token; an expired one is 403 with X-Access-Token-Expired
//	GET  /moved         a bearer token; redirects to the URL in its parameter "to"
//	/refuses            always 401
type api struct {
	*httptest.Server
	ak    *server.Server
	clock *fakeclock.Clock
	key   string // an application key of owner "owner"
	keyID string

	mu    sync.Mutex
	calls map[string]int
}

// startAPI starts an api. Close stops it.
func startAPI() (*api, error) {
	ctx := context.Background()
	sec, err := authkit.NewSecret([]byte("client-test-secret-0123456789abcdefghij"))
	if err != nil {
		return nil, err
	}
	a := &api{clock: fakeclock.New(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)), calls: map[string]int{}}
	a.ak, err = server.New(ctx, server.Config{Store: memory.New(), Secret: sec, Clock: a.clock.Now})
	if err != nil {
		return nil, err
	}
	k, key, err := a.ak.Keys.Create(ctx, authkit.KeyRequest{Owner: "owner", Handle: "cli"})
	if err != nil {
		a.ak.Close()
		return nil, err
	}
	a.key, a.keyID = key, k.ID

	ep := a.ak.Endpoints
	auth := a.ak.Auth(httpmw.AcceptBearerToken)
	auth403 := a.ak.Auth(httpmw.AcceptBearerToken)
	auth403.Responder.ExpiredStatus = http.StatusForbidden
	mux := http.NewServeMux()
	mux.Handle("POST /token", ep.Exchange(handlers.ExchangeOptions{KeyField: "key"}))
	mux.Handle("POST /refresh", ep.Refresh(handlers.RefreshOptions{}))
	mux.Handle("POST /bearer/token", ep.Exchange(handlers.ExchangeOptions{
		AcceptRefreshBearer: true, TTLField: "lifetime", Envelope: httpmw.DataEnvelope,
		Fields: handlers.TokenFields{AccessToken: "access_token", RefreshToken: "refresh_token", ExpiresIn: "lifetime"},
	}))
	mux.Handle("POST /login", ep.Login(handlers.LoginOptions{}))
	mux.Handle("POST /oauth/token", ep.OAuthToken(handlers.OAuthOptions{RefreshTokens: true}))
	mux.Handle("POST /oauth/plain/token", ep.OAuthToken(handlers.OAuthOptions{}))
	mux.Handle("GET /hello", auth.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := authkit.FromContext(r.Context())
		io.WriteString(w, "hello, "+p.Owner())
	})))
	mux.Handle("POST /echo", auth.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, r.Body)
	})))
	mux.Handle("GET /expiring", auth403.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "fresh")
	})))
	mux.Handle("GET /moved", auth.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	})))
	mux.Handle("/refuses", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	a.Server = httptest.NewServer(a.count(mux))
	return a, nil
}

// Close stops the server and authkit's housekeeping.
func (a *api) Close() {
	a.Server.Close()
	a.ak.Close()
}

// newAPI starts an api for the test.
func newAPI(t *testing.T) *api {
	t.Helper()
	a, err := startAPI()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

// count counts each request by path, and at the OAuth endpoints by grant
// type too.
func (a *api) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.calls[r.URL.Path]++
		if strings.HasPrefix(r.URL.Path, "/oauth/") {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			form, _ := url.ParseQuery(string(b))
			a.calls[r.URL.Path+" "+form.Get("grant_type")]++
		}
		a.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// n returns how many requests came to path.
func (a *api) n(path string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[path]
}

// source returns a TokenSource for flow with the api's key.
func (a *api) source(t *testing.T, cfg client.Config) *client.TokenSource {
	t.Helper()
	cfg.BaseURL = a.URL
	if cfg.Key == "" {
		cfg.Key = a.key
	}
	src, err := client.NewTokenSource(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// revokeSessions revokes every session of the api's key owner, and with
// them their refresh tokens.
func (a *api) revokeSessions(t *testing.T) {
	t.Helper()
	ss, _, err := a.ak.Sessions.List(t.Context(), "owner", authkit.Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		if err := a.ak.Sessions.Revoke(t.Context(), "owner", s.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// The flows of the api's token endpoints.
var (
	keyInAMember = client.KeyExchange{Path: "/token", KeyField: "key", RefreshPath: "/refresh", RefreshField: "refresh_token"}
	keyAsBearer  = client.KeyExchange{Path: "/bearer/token", Body: map[string]any{"lifetime": 600}, Envelope: "data", ExpiresField: "lifetime"}
	login        = client.Login{Path: "/login"}
)

func (a *api) clientCredentials() client.ClientCredentials {
	return client.ClientCredentials{Path: "/oauth/token", ClientID: a.keyID}
}

// get makes a GET request through hc and returns the status and the body.
func get(t *testing.T, hc *http.Client, url string) (int, string) {
	t.Helper()
	res, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}
