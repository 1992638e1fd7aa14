package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matryer/is"
	"golang.org/x/oauth2"

	"github.com/authkit/authkit/client"
)

// counting wraps the app and counts token-endpoint calls by path.
type counting struct {
	next  http.Handler
	mu    sync.Mutex
	calls map[string]int
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.calls[r.URL.Path]++
	c.mu.Unlock()
	c.next.ServeHTTP(w, r)
}

func (c *counting) n(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[path]
}

// clientEnv is the real example app behind a counting httptest.Server.
func clientEnv(t *testing.T) (*env, *counting, *httptest.Server) {
	e := newEnv(t)
	c := &counting{next: e.app, calls: map[string]int{}}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return e, c, srv
}

// The guides' flows, configured with the paths and names this server mounts
// (app.go), as the client example configures them.
var (
	apiVideoFlow = client.KeyExchange{Path: "/auth/api-key", KeyField: "apiKey", RefreshPath: "/auth/refresh", RefreshField: "refreshToken"}
	inliveFlow   = client.KeyExchange{Path: "/v1/keys/accesstoken", Body: map[string]any{"expiry_seconds": 600}, Envelope: "data", ExpiresField: "expiry_seconds"}
	loginFlow    = client.Login{Path: "/auth/login"}
)

func oauthFlow(keyID string) client.Flow {
	return client.ClientCredentials{Path: "/oauth/token", ClientID: keyID}
}

func TestClient_EachFlowReusesRenewsAndRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		flow     func(keyID string) client.Flow
		exchange string // the path of a new exchange
		refresh  string // the path of a renewal ("" = exchange again)
		ttl      time.Duration
	}{
		{"apivideo", func(string) client.Flow { return apiVideoFlow }, "/auth/api-key", "/auth/refresh", time.Hour},
		{"inlive", func(string) client.Flow { return inliveFlow }, "/v1/keys/accesstoken", "/v1/keys/accesstoken", 10 * time.Minute},
		{"login", func(string) client.Flow { return loginFlow }, "/auth/login", "", 2 * time.Hour},
		{"client-credentials", oauthFlow, "/oauth/token", "/oauth/token", time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			e, count, srv := clientEnv(t)
			k := e.createKey(alice, `{"handle":"cli"}`)
			t.Setenv(client.EnvKey, str(k, "token")) // the key from the environment, never from code
			src, err := client.NewTokenSource(t.Context(), client.Config{BaseURL: srv.URL, HTTPClient: e.client(), Flow: tc.flow(str(k, "id"))})
			is.NoErr(err)

			t1, err := src.Token()
			is.NoErr(err)
			t2, err := src.Token()
			is.NoErr(err)
			is.Equal(t1.AccessToken, t2.AccessToken) // cached
			is.True(time.Until(t1.Expiry) > tc.ttl-time.Minute && time.Until(t1.Expiry) <= tc.ttl)
			is.Equal(count.n(tc.exchange), 1)

			// The server's clock passes the token's expiry, the client's
			// does not: the API refuses the token, and the request is
			// renewed and retried once, transparently.
			hc := &http.Client{Transport: &client.Transport{Source: src, Base: &contractTransport{t: t}}}
			e.clock.Advance(tc.ttl + time.Second)
			res, err := hc.Get(srv.URL + "/videos")
			is.NoErr(err)
			res.Body.Close()
			is.Equal(res.StatusCode, 200)
			t3, err := src.Token()
			is.NoErr(err)
			is.True(t3.AccessToken != t1.AccessToken)
			if tc.refresh == tc.exchange {
				is.Equal(count.n(tc.exchange), 2) // one endpoint: exchange, then refresh
			} else if tc.refresh != "" {
				is.Equal(count.n(tc.refresh), 1) // renewed through the refresh token
			} else {
				is.Equal(count.n(tc.exchange), 2) // logged in again
			}

			// Revoked sessions: the token and its refresh token are
			// refused; a write with a body is retried with a new exchange.
			sessions := e.do(req{method: "GET", path: "/user/sessions", auth: alice}).json["sessions"].([]any)
			for _, s := range sessions {
				e.do(req{method: "DELETE", path: "/user/sessions/" + s.(map[string]any)["id"].(string), auth: alice})
			}
			before := count.n("/videos")
			body := `{"title":"retried"}`
			r, _ := http.NewRequest("POST", srv.URL+"/videos", bytes.NewReader([]byte(body)))
			r.Header.Set("Content-Type", "application/json")
			res, err = hc.Do(r)
			is.NoErr(err)
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			is.Equal(res.StatusCode, 201) // after one 401 and one renewal
			is.True(strings.Contains(string(b), "retried"))
			is.Equal(count.n("/videos")-before, 2)
		})
	}
}

func TestClient_InliveExpired403IsRenewedAndRetried(t *testing.T) {
	is := is.New(t)
	e, count, srv := clientEnv(t)
	key := str(e.createKey(alice, `{"handle":"cli"}`), "token")
	src, err := client.NewTokenSource(t.Context(), client.Config{BaseURL: srv.URL, HTTPClient: e.client(), Flow: inliveFlow, Key: key})
	is.NoErr(err)
	hc := &http.Client{Transport: &client.Transport{Source: src, Base: &contractTransport{t: t}}}
	res, err := hc.Post(srv.URL+"/v1/rooms/create", "application/json", strings.NewReader(`{"name":"a"}`))
	is.NoErr(err)
	res.Body.Close()
	is.Equal(res.StatusCode, 201)
	// The server's clock runs ahead: for the client the token is fresh,
	// for the server it has expired.
	e.clock.Advance(2 * time.Hour)
	res, err = hc.Post(srv.URL+"/v1/rooms/create", "application/json", strings.NewReader(`{"name":"b"}`))
	is.NoErr(err)
	res.Body.Close()
	is.Equal(res.StatusCode, 201) // 403 + X-Access-Token-Expired, renewed with the refresh token, retried
	is.Equal(count.n("/v1/keys/accesstoken"), 2)
	is.Equal(count.n("/v1/rooms/create"), 3)
}

func TestClient_100GoroutinesOneExchange(t *testing.T) {
	is := is.New(t)
	e, count, srv := clientEnv(t)
	key := str(e.createKey(alice, `{"handle":"cli"}`), "token")
	src, err := client.NewTokenSource(t.Context(), client.Config{BaseURL: srv.URL, HTTPClient: e.client(), Flow: apiVideoFlow, Key: key})
	is.NoErr(err)
	var wg sync.WaitGroup
	var failed atomic.Int32
	toks := make([]string, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t, err := src.Token()
			if err != nil {
				failed.Add(1)
				return
			}
			toks[i] = t.AccessToken
		}()
	}
	wg.Wait()
	is.Equal(failed.Load(), int32(0))
	is.Equal(count.n("/auth/api-key"), 1) // counted at the server: exactly one exchange
	for _, tok := range toks {
		is.Equal(tok, toks[0])
	}
}

func TestClient_FailedRenewalBacksOff(t *testing.T) {
	is := is.New(t)
	e, count, srv := clientEnv(t)
	src, err := client.NewTokenSource(t.Context(), client.Config{BaseURL: srv.URL, HTTPClient: e.client(), Flow: apiVideoFlow, Key: "ak_live_wrong", Backoff: 200 * time.Millisecond})
	is.NoErr(err)
	start := time.Now()
	for range 20 {
		_, err := src.Token()
		var re *oauth2.RetrieveError
		is.True(errors.As(err, &re))            // the token endpoint's refusal
		is.Equal(re.Response.StatusCode/100, 4) // 401, or 400 invalid_grant as the guide has it
	}
	if time.Since(start) < 200*time.Millisecond {
		is.Equal(count.n("/auth/api-key"), 1) // not retried in a hot loop
	}
	time.Sleep(250 * time.Millisecond)
	src.Token()
	is.Equal(count.n("/auth/api-key"), 2) // tried again after the backoff
}

func TestClient_WorksWithOAuth2Transport(t *testing.T) {
	is := is.New(t)
	e, _, srv := clientEnv(t)
	key := str(e.createKey(alice, `{"handle":"cli"}`), "token")
	src, err := client.NewTokenSource(t.Context(), client.Config{BaseURL: srv.URL, HTTPClient: e.client(), Flow: apiVideoFlow, Key: key})
	is.NoErr(err)
	hc := oauth2.NewClient(t.Context(), src)
	res, err := hc.Get(srv.URL + "/videos")
	is.NoErr(err)
	res.Body.Close()
	is.Equal(res.StatusCode, 200)
}

func TestClient_NoKeyIsAClearError(t *testing.T) {
	is := is.New(t)
	t.Setenv(client.EnvKey, "")
	_, err := client.NewTokenSource(t.Context(), client.Config{BaseURL: "http://x", Flow: apiVideoFlow})
	is.True(err != nil && strings.Contains(err.Error(), client.EnvKey))
}
