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
	"github.com/authkit/authkit/internal/fakeclock"
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

func TestClient_EachFlowReusesRenewsAndRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		flow     func(keyID string) client.Flow
		exchange string // the path of a new exchange
		refresh  string // the path of a renewal ("" = exchange again)
		ttl      time.Duration
	}{
		{"apivideo", func(string) client.Flow { return client.APIVideo{} }, "/auth/api-key", "/auth/refresh", time.Hour},
		{"inlive", func(string) client.Flow { return client.Inlive{ExpirySeconds: 600} }, "/v1/keys/accesstoken", "/v1/keys/accesstoken", 10 * time.Minute},
		{"login", func(string) client.Flow { return client.Login{} }, "/auth/login", "", 2 * time.Hour},
		{"client-credentials", func(id string) client.Flow { return client.ClientCredentials{ClientID: id} }, "/oauth/token", "/oauth/token", time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			e, count, srv := clientEnv(t)
			k := e.createKey(alice, `{"handle":"cli"}`)
			t.Setenv(client.EnvKey, str(k, "token")) // the key from the environment, never from code
			src, err := client.NewTokenSource(client.Config{BaseURL: srv.URL, HTTPClient: e.client(), Flow: tc.flow(str(k, "id")), Clock: e.clock.Now})
			is.NoErr(err)

			t1, err := src.Token()
			is.NoErr(err)
			t2, err := src.Token()
			is.NoErr(err)
			is.Equal(t1.AccessToken, t2.AccessToken) // cached
			is.Equal(count.n(tc.exchange), 1)

			// Just before the margin: still the same; inside it: renewed.
			margin := max(tc.ttl/10, 10*time.Second)
			e.clock.Advance(tc.ttl - margin - time.Second)
			t3, _ := src.Token()
			is.Equal(t3.AccessToken, t1.AccessToken)
			e.clock.Advance(2 * time.Second)
			t4, err := src.Token()
			is.NoErr(err)
			is.True(t4.AccessToken != t1.AccessToken)
			if tc.refresh == tc.exchange {
				is.Equal(count.n(tc.exchange), 2) // one endpoint: exchange, then refresh
			} else if tc.refresh != "" {
				is.Equal(count.n(tc.refresh), 1) // renewed through the refresh token
			}

			// A request that meets a token the server no longer takes is
			// renewed and retried once, transparently.
			hc := &http.Client{Transport: &client.Transport{Source: src, Base: &contractTransport{t: t}}}
			res, err := hc.Get(srv.URL + "/videos")
			is.NoErr(err)
			res.Body.Close()
			is.Equal(res.StatusCode, 200)
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
	// The client's clock lags the server's: it thinks its token is fresh.
	lagging := fakeclock.New(e.clock.Now())
	src, err := client.NewTokenSource(client.Config{BaseURL: srv.URL, HTTPClient: e.client(), Flow: client.Inlive{}, Key: key, Clock: lagging.Now})
	is.NoErr(err)
	hc := &http.Client{Transport: &client.Transport{Source: src, Base: &contractTransport{t: t}}}
	res, err := hc.Post(srv.URL+"/v1/rooms/create", "application/json", strings.NewReader(`{"name":"a"}`))
	is.NoErr(err)
	res.Body.Close()
	is.Equal(res.StatusCode, 201)
	e.clock.Advance(2 * time.Hour) // server: expired
	res, err = hc.Post(srv.URL+"/v1/rooms/create", "application/json", strings.NewReader(`{"name":"b"}`))
	is.NoErr(err)
	res.Body.Close()
	is.Equal(res.StatusCode, 201) // 403 + X-Access-Token-Expired, renewed with the refresh token, retried
	is.Equal(count.n("/v1/keys/accesstoken"), 2)
}

func TestClient_100GoroutinesOneExchange(t *testing.T) {
	is := is.New(t)
	e, count, srv := clientEnv(t)
	key := str(e.createKey(alice, `{"handle":"cli"}`), "token")
	src, err := client.NewTokenSource(client.Config{BaseURL: srv.URL, HTTPClient: e.client(), Flow: client.APIVideo{}, Key: key, Clock: e.clock.Now})
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
	src, err := client.NewTokenSource(client.Config{BaseURL: srv.URL, HTTPClient: e.client(), Flow: client.APIVideo{}, Key: "ak_live_wrong", Clock: e.clock.Now})
	is.NoErr(err)
	for range 20 {
		_, err := src.Token()
		var ce *client.Error
		is.True(errors.As(err, &ce))
		is.Equal(ce.Status, 401)
	}
	is.Equal(count.n("/auth/api-key"), 1) // not retried in a hot loop
	e.clock.Advance(2 * time.Second)
	src.Token()
	is.Equal(count.n("/auth/api-key"), 2) // tried again after the backoff
}

func TestClient_WorksWithOAuth2Transport(t *testing.T) {
	is := is.New(t)
	e, _, srv := clientEnv(t)
	key := str(e.createKey(alice, `{"handle":"cli"}`), "token")
	src, err := client.NewTokenSource(client.Config{BaseURL: srv.URL, HTTPClient: e.client(), Flow: client.APIVideo{}, Key: key})
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
	_, err := client.NewTokenSource(client.Config{BaseURL: "http://x", Flow: client.APIVideo{}})
	is.True(err != nil && strings.Contains(err.Error(), client.EnvKey))
}
