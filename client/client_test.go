package client_test

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"
	"golang.org/x/oauth2"

	"github.com/authkit/authkit/client"
)

func TestFlows_ObtainAToken_AndRenewItWhenTheAPIRefusesIt(t *testing.T) {
	for _, tc := range []struct {
		name     string
		flow     func(a *api) client.Flow
		exchange string // the path of an exchange
		renewal  string // what a renewal calls
	}{
		{"key in a member, refresh elsewhere", func(*api) client.Flow { return keyInAMember }, "/token", "/refresh"},
		{"key as bearer, answer in an envelope", func(*api) client.Flow { return keyAsBearer }, "/bearer/token", "/bearer/token"},
		{"login", func(*api) client.Flow { return login }, "/login", "/login"},
		{"client credentials", func(a *api) client.Flow { return a.clientCredentials() }, "/oauth/token client_credentials", "/oauth/token refresh_token"},
		{"client credentials, no refresh token", func(a *api) client.Flow {
			return client.ClientCredentials{Path: "/oauth/plain/token", ClientID: a.keyID}
		}, "/oauth/plain/token client_credentials", "/oauth/plain/token client_credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			a := newAPI(t)
			src := a.source(t, client.Config{Flow: tc.flow(a)})

			t1, err := src.Token()
			is.NoErr(err)
			t2, err := src.Token()
			is.NoErr(err)
			is.Equal(t2.AccessToken, t1.AccessToken) // cached
			is.Equal(t1.Type(), "Bearer")
			is.True(time.Until(t1.Expiry) > 5*time.Minute)
			is.Equal(a.n(tc.exchange), 1)

			hc := &http.Client{Transport: &client.Transport{Source: src}}
			status, body := get(t, hc, a.URL+"/hello")
			is.Equal(status, 200)
			is.Equal(body, "hello, owner")

			// The server's time passes the token's expiry; the client's
			// does not: the API refuses the token, the client renews it
			// and retries.
			a.clock.Advance(3 * time.Hour)
			status, _ = get(t, hc, a.URL+"/hello")
			is.Equal(status, 200)
			t3, err := src.Token()
			is.NoErr(err)
			is.True(t3.AccessToken != t1.AccessToken)
			if tc.renewal == tc.exchange {
				is.Equal(a.n(tc.exchange), 2) // one endpoint: the exchange, then the renewal
			} else {
				is.Equal(a.n(tc.exchange), 1)
				is.Equal(a.n(tc.renewal), 1) // through the refresh token
			}
			is.Equal(a.n("/hello"), 3)
		})
	}
}

func TestTokenSource_RenewsThroughTheRefreshTokenWithinTheMargin(t *testing.T) {
	is := is.New(t)
	a := newAPI(t)
	// A margin longer than the 1 h tokens: every token is due for renewal.
	src := a.source(t, client.Config{Flow: keyInAMember, Margin: 2 * time.Hour})
	t1, err := src.Token()
	is.NoErr(err)
	t2, err := src.Token()
	is.NoErr(err)
	is.True(t2.AccessToken != t1.AccessToken)
	is.True(t2.RefreshToken != t1.RefreshToken) // the server rotates refresh tokens
	is.Equal(a.n("/token"), 1)
	is.Equal(a.n("/refresh"), 1)
}

func TestTokenSource_RenewsTenSecondsBeforeExpiryAtLeast(t *testing.T) {
	t.Parallel() // it waits a second
	is := is.New(t)
	a := newAPI(t)
	// An 11 s token is due for renewal 10 s before its expiry, after 1 s.
	flow := keyAsBearer
	flow.Body = map[string]any{"lifetime": 11}
	src := a.source(t, client.Config{Flow: flow})
	start := time.Now()
	t1, err := src.Token()
	is.NoErr(err)
	t2, err := src.Token()
	is.NoErr(err)
	if time.Since(start) < 900*time.Millisecond {
		is.Equal(t2.AccessToken, t1.AccessToken)
	}
	time.Sleep(time.Until(start.Add(1100 * time.Millisecond)))
	t3, err := src.Token()
	is.NoErr(err)
	is.True(t3.AccessToken != t1.AccessToken)
	is.Equal(a.n("/bearer/token"), 2) // exchange, refresh
}

func TestTokenSource_ExchangesAgainWhenTheRefreshTokenIsRefused(t *testing.T) {
	is := is.New(t)
	a := newAPI(t)
	src := a.source(t, client.Config{Flow: keyInAMember, Margin: 2 * time.Hour})
	t1, err := src.Token()
	is.NoErr(err)
	a.revokeSessions(t) // the refresh token dies with its session
	t2, err := src.Token()
	is.NoErr(err)
	is.True(t2.AccessToken != t1.AccessToken)
	is.Equal(a.n("/refresh"), 1) // refused
	is.Equal(a.n("/token"), 2)   // then a new exchange
}

func TestClientCredentials_RunsTheGrantAgainWhenTheServerIssuesNoRefreshToken(t *testing.T) {
	is := is.New(t)
	a := newAPI(t)
	// A margin longer than the tokens: every token is due for renewal.
	flow := client.ClientCredentials{Path: "/oauth/plain/token", ClientID: a.keyID}
	src := a.source(t, client.Config{Flow: flow, Margin: 2 * time.Hour})
	t1, err := src.Token()
	is.NoErr(err)
	is.Equal(t1.RefreshToken, "")
	t2, err := src.Token()
	is.NoErr(err)
	is.True(t2.AccessToken != t1.AccessToken)
	is.Equal(a.n("/oauth/plain/token client_credentials"), 2)
	is.Equal(a.n("/oauth/plain/token refresh_token"), 0)
}

func TestLogin_OneSessionPerProcessByDefault(t *testing.T) {
	is := is.New(t)
	a := newAPI(t)
	t1, err := a.source(t, client.Config{Flow: login}).Token()
	is.NoErr(err)
	t2, err := a.source(t, client.Config{Flow: login}).Token()
	is.NoErr(err)
	is.Equal(t2.AccessToken, t1.AccessToken) // the process's session: the same token
	t3, err := a.source(t, client.Config{Flow: client.Login{Path: "/login", SessionID: "worker-2"}}).Token()
	is.NoErr(err)
	is.True(t3.AccessToken != t1.AccessToken) // another session
	t4, err := a.source(t, client.Config{Flow: client.Login{Path: "/login", DefaultSession: true}}).Token()
	is.NoErr(err)
	is.True(t4.AccessToken != t1.AccessToken && t4.AccessToken != t3.AccessToken) // the key's default session
}

func TestTokenSource_50ConcurrentCallersShareOneRenewal(t *testing.T) {
	is := is.New(t)
	a := newAPI(t)
	src := a.source(t, client.Config{Flow: keyInAMember})
	const n = 50
	run := func(f func() error) {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() { errs <- f() })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			is.NoErr(err)
		}
	}

	// The first token: one exchange for all.
	var mu sync.Mutex
	seen := map[string]bool{}
	run(func() error {
		tok, err := src.Token()
		if err == nil {
			mu.Lock()
			seen[tok.AccessToken] = true
			mu.Unlock()
		}
		return err
	})
	is.Equal(len(seen), 1)
	is.Equal(a.n("/token"), 1) // counted at the server

	// The API refuses it to all of them at once: one refresh for all.
	a.clock.Advance(2 * time.Hour)
	hc := &http.Client{Transport: &client.Transport{Source: src}}
	run(func() error {
		res, err := hc.Get(a.URL + "/hello")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return errors.New(res.Status)
		}
		return nil
	})
	is.True(a.n("/hello") > n) // some were refused, and retried
	is.Equal(a.n("/refresh"), 1)
	is.Equal(a.n("/token"), 1)
}

func TestTokenSource_AFailedRenewalBacksOff(t *testing.T) {
	t.Parallel() // it waits a second
	is := is.New(t)
	a := newAPI(t)
	src := a.source(t, client.Config{Flow: keyInAMember, Key: "ak_live_wrong", Backoff: 300 * time.Millisecond})
	tryAll := func(times int) {
		for range times {
			_, err := src.Token()
			var re *oauth2.RetrieveError
			is.True(errors.As(err, &re)) // the token endpoint's refusal
			is.Equal(re.Response.StatusCode, 401)
			is.True(!strings.Contains(err.Error(), "ak_live_wrong")) // never the key
		}
	}
	start := time.Now()
	tryAll(20)
	if time.Since(start) < 300*time.Millisecond {
		is.Equal(a.n("/token"), 1) // returned again, not tried again
	}
	time.Sleep(350 * time.Millisecond)
	start = time.Now()
	tryAll(20)
	if time.Since(start) < 600*time.Millisecond {
		is.Equal(a.n("/token"), 2) // tried once more after the backoff, which doubles
	}
	time.Sleep(650 * time.Millisecond)
	tryAll(1)
	is.Equal(a.n("/token"), 3)
}

func TestTokenSource_IsAnOAuth2TokenSource(t *testing.T) {
	is := is.New(t)
	a := newAPI(t)
	var src oauth2.TokenSource = a.source(t, client.Config{Flow: keyInAMember})
	status, body := get(t, oauth2.NewClient(t.Context(), src), a.URL+"/hello")
	is.Equal(status, 200)
	is.Equal(body, "hello, owner")
}

func TestTokenSource_SendsTheKeyToNoRedirect(t *testing.T) {
	is := is.New(t)
	var elsewhere []string
	other := newRecorder(t, &elsewhere)
	a := newAPI(t)
	mux := http.NewServeMux()
	mux.Handle("POST /token", http.RedirectHandler(other.URL+"/token", http.StatusTemporaryRedirect))
	moved := httptestServer(t, mux)
	src, err := client.NewTokenSource(t.Context(), client.Config{BaseURL: moved.URL, Flow: keyInAMember, Key: a.key})
	is.NoErr(err)
	_, err = src.Token()
	var re *oauth2.RetrieveError
	is.True(errors.As(err, &re))
	is.Equal(re.Response.StatusCode, http.StatusTemporaryRedirect)
	is.Equal(len(elsewhere), 0) // the key went nowhere else
}

func TestNewTokenSource_RefusesABadConfig(t *testing.T) {
	t.Setenv(client.EnvKey, "")
	for _, tc := range []struct {
		name string
		cfg  client.Config
		want string // in the error
	}{
		{"no base URL", client.Config{Flow: keyInAMember, Key: "k"}, "BaseURL"},
		{"a relative base URL", client.Config{BaseURL: "api.example.com", Flow: keyInAMember, Key: "k"}, "BaseURL"},
		{"no flow", client.Config{BaseURL: "https://api.example.com", Key: "k"}, "Flow"},
		{"a flow without its path", client.Config{BaseURL: "https://api.example.com", Flow: client.KeyExchange{KeyField: "key"}, Key: "k"}, "Path is required"},
		{"a path to another host", client.Config{BaseURL: "https://api.example.com", Flow: client.Login{Path: "//evil.example/login"}, Key: "k"}, "Path must start"},
		{"a relative refresh path", client.Config{BaseURL: "https://api.example.com", Flow: client.KeyExchange{Path: "/t", RefreshPath: "refresh"}, Key: "k"}, "RefreshPath"},
		{"the key's member in Body", client.Config{BaseURL: "https://api.example.com", Flow: client.KeyExchange{Path: "/t", KeyField: "key", Body: map[string]any{"key": "x"}}, Key: "k"}, "Body"},
		{"two sessions", client.Config{BaseURL: "https://api.example.com", Flow: client.Login{Path: "/login", SessionID: "s", DefaultSession: true}, Key: "k"}, "exclude"},
		{"no client id", client.Config{BaseURL: "https://api.example.com", Flow: client.ClientCredentials{Path: "/oauth/token"}, Key: "k"}, "ClientID"},
		{"no key", client.Config{BaseURL: "https://api.example.com", Flow: keyInAMember}, client.EnvKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			_, err := client.NewTokenSource(t.Context(), tc.cfg)
			is.True(err != nil)
			is.True(strings.Contains(err.Error(), tc.want)) // names what is wrong
		})
	}
}

func TestNewTokenSource_ReadsTheKeyFromTheEnvironment(t *testing.T) {
	is := is.New(t)
	a := newAPI(t)
	t.Setenv(client.EnvKey, a.key)
	src, err := client.NewTokenSource(t.Context(), client.Config{BaseURL: a.URL, Flow: keyInAMember})
	is.NoErr(err)
	_, err = src.Token()
	is.NoErr(err)
}
