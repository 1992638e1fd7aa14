// Package client is the calling side of an API protected by authkit: given
// only an application key, it obtains an access token, keeps it fresh by
// itself, and sets it on the requests to the API.
//
//	src, err := client.NewTokenSource(ctx, client.Config{
//		BaseURL: "https://api.example.com",
//		Flow:    client.KeyExchange{Path: "/auth/token", KeyField: "api_key"},
//	}) // the key comes from $AUTHKIT_API_KEY
//	if err != nil {
//		return err
//	}
//	hc := &http.Client{Transport: &client.Transport{Source: src}}
//
// # Which names to use
//
// Build a [TokenSource] with [NewTokenSource] from a [Config], and make
// requests through an http.Client whose transport is a [Transport] over it.
// The [Config]'s [Flow] says how the API turns a key into a token; it is one
// of three shapes, named for what they do:
//
//   - [KeyExchange]: the key is posted (in a JSON member or as a bearer
//     credential) and an access token and a refresh token come back, at the
//     top level of the JSON answer or inside an envelope; renewal spends the
//     refresh token.
//   - [Login]: the key is posted with a session id and the token of that
//     session comes back; there is no refresh token, renewal logs in again.
//   - [ClientCredentials]: OAuth 2.0's client credentials grant, the key's
//     ID being the client id and the key the client secret; renewal spends
//     the refresh token when the server issued one, else runs the grant
//     again.
//
// Nothing else is exported: the tokens are golang.org/x/oauth2's
// [oauth2.Token], and a token endpoint's refusal is an [*oauth2.RetrieveError]
// (test with errors.As).
//
// # Renewal
//
// [TokenSource] is an [oauth2.TokenSource] built on
// [oauth2.ReuseTokenSourceWithExpiry]: it hands out the cached token until a
// margin before it expires (10 % of its lifetime, at least 10 s, or
// Config.Margin), then renews it, through the refresh token when there is
// one, else (or when the refresh token is refused) by exchanging the key
// again. Concurrent callers share one renewal. A failed renewal is returned
// to its callers and not tried again before a backoff has passed (1 s,
// doubling up to 30 s while failures go on). Expiry is judged by the system
// clock, as x/oauth2 does.
//
// [Transport] sets the token on the requests to the API, and when the API
// refuses it (401, or 403 with `X-Access-Token-Expired: true`) renews it and
// retries the request once, when the request's body can be replayed.
//
// # Security
//
// The key never comes from code: it is Config.Key, read by the caller from
// its own vault, or by default the environment variable AUTHKIT_API_KEY. It
// is sent only to BaseURL's origin (scheme, host and port): every flow's
// path is relative to BaseURL, and token requests never follow redirects. No
// error quotes the key or a token.
//
// [Transport] sets the access token only on requests to BaseURL's origin: a
// request to another host, including one a redirect leads to, goes out as
// it is, without the token.
package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// EnvKey is the environment variable the key is read from when Config.Key
// is empty.
const EnvKey = "AUTHKIT_API_KEY"

// Defaults of [Config].
const (
	minMargin      = 10 * time.Second
	defaultBackoff = time.Second
	maxBackoff     = 30 * time.Second
	defaultTimeout = 30 * time.Second
)

// Config configures a [TokenSource]. BaseURL and Flow are required.
type Config struct {
	// BaseURL is the API's base URL, e.g. "https://api.example.com". The
	// flow's paths are appended to it, and [Transport] sends the token only
	// to its scheme, host and port.
	BaseURL string
	// Flow is how the API turns the key into a token: a [KeyExchange], a
	// [Login] or a [ClientCredentials].
	Flow Flow
	// Key is the application key. Empty: read from the environment
	// variable AUTHKIT_API_KEY. Never write it in code.
	Key string
	// HTTPClient makes the token requests (never following redirects);
	// default: http.DefaultTransport with a 30 s timeout.
	HTTPClient *http.Client
	// Margin renews a token this long before it expires; default 10 % of
	// its lifetime, at least 10 s.
	Margin time.Duration
	// Backoff is how long a failed renewal is returned without trying
	// again; default 1 s, doubling up to 30 s while failures go on.
	Backoff time.Duration
}

// TokenSource obtains an access token with the key, caches it and renews it
// before it expires. It implements [oauth2.TokenSource]. It is safe for
// concurrent use by multiple goroutines.
type TokenSource struct {
	ctx     context.Context // carries the token requests
	flow    Flow
	key     string
	caller  *caller
	origin  string // BaseURL's scheme://host:port
	margin  time.Duration
	backoff time.Duration

	renewing sync.Mutex // one renewal at a time, whichever cache asks for it

	mu      sync.Mutex         // guards what follows
	cache   oauth2.TokenSource // a ReuseTokenSourceWithExpiry over renewal
	early   time.Duration      // cache's early expiry: the margin of the last token
	last    *oauth2.Token      // a copy of the newest token obtained; nil before the first
	renewAt time.Time          // when last is due for renewal
	stale   string             // an access token the API refused: renew past it
	err     error              // the last renewal's error, returned until retryAt
	retryAt time.Time
	wait    time.Duration // the backoff in force
}

var _ oauth2.TokenSource = (*TokenSource)(nil)

// NewTokenSource returns a TokenSource. ctx carries the token requests for
// as long as the TokenSource is used (as with x/oauth2's Config.TokenSource):
// once it is done, renewals fail. NewTokenSource makes no request; the first
// token is obtained by the first call to Token. It returns an error if
// BaseURL is not an absolute http or https URL, if the flow is missing or
// misconfigured, or if there is no key.
func NewTokenSource(ctx context.Context, cfg Config) (*TokenSource, error) {
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("client: Config.BaseURL must be an absolute http or https URL, got %q", cfg.BaseURL)
	}
	if cfg.Flow == nil {
		return nil, errors.New("client: Config.Flow is required")
	}
	if err := cfg.Flow.check(); err != nil {
		return nil, fmt.Errorf("client: %T: %w", cfg.Flow, err)
	}
	if cfg.Margin < 0 || cfg.Backoff < 0 {
		return nil, errors.New("client: Config.Margin and Config.Backoff must not be negative")
	}
	key := cfg.Key
	if key == "" {
		key = strings.TrimSpace(os.Getenv(EnvKey))
	}
	if key == "" {
		return nil, fmt.Errorf("client: no API key: set Config.Key or the %s environment variable", EnvKey)
	}
	hc := http.Client{Timeout: defaultTimeout}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	// A token request carries the key: never let a redirect take it
	// elsewhere. A 3xx answer is a failed request.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s := &TokenSource{
		ctx: ctx, flow: cfg.Flow, key: key,
		caller: &caller{base: strings.TrimRight(cfg.BaseURL, "/"), hc: &hc},
		origin: origin(base), margin: cfg.Margin, backoff: cfg.Backoff,
	}
	if s.backoff == 0 {
		s.backoff = defaultBackoff
	}
	s.early = minMargin
	if s.margin > 0 {
		s.early = s.margin
	}
	s.cache = oauth2.ReuseTokenSourceWithExpiry(nil, renewal{s}, s.early)
	return s, nil
}

// Token returns a valid access token: the cached one until it is within its
// margin of expiry, else a renewed one. It implements [oauth2.TokenSource].
// The error of a failed renewal wraps the token endpoint's
// [*oauth2.RetrieveError] when the endpoint refused.
func (s *TokenSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	c := s.cache
	s.mu.Unlock()
	return c.Token()
}

// marginFor returns how long before its expiry t is renewed.
func (s *TokenSource) marginFor(t *oauth2.Token) time.Duration {
	if s.margin > 0 {
		return s.margin
	}
	life := time.Until(t.Expiry).Round(time.Second) // as issued: expires_in
	return max(life/10, minMargin)
}

// invalidate makes the next Token renew past access, the token the API
// refused, unless a newer one has been obtained meanwhile. x/oauth2's cache
// cannot be told to drop its token, so a new, empty one replaces it.
func (s *TokenSource) invalidate(access string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil || s.last.AccessToken != access || s.stale == access {
		return
	}
	s.stale = access
	s.cache = oauth2.ReuseTokenSourceWithExpiry(nil, renewal{s}, s.early)
}

// renewal is the source the cache calls when its token is no longer valid.
type renewal struct{ s *TokenSource }

func (r renewal) Token() (*oauth2.Token, error) { return r.s.renew() }

// renew obtains a new token, one renewal at a time: through the refresh
// token when there is one, else (or when it is refused) with the key.
func (s *TokenSource) renew() (*oauth2.Token, error) {
	s.renewing.Lock()
	defer s.renewing.Unlock()
	s.mu.Lock()
	last, renewAt, stale, lastErr, retryAt := s.last, s.renewAt, s.stale, s.err, s.retryAt
	s.mu.Unlock()
	now := time.Now()
	if last != nil && last.AccessToken != stale && now.Before(renewAt) {
		t := *last // renewed meanwhile, for a cache that was replaced
		return &t, nil
	}
	if lastErr != nil && now.Before(retryAt) {
		return nil, lastErr
	}

	t, err := s.obtain(last)

	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.wait = min(2*s.wait, max(maxBackoff, s.backoff))
		if s.wait == 0 {
			s.wait = s.backoff
		}
		s.err, s.retryAt = err, time.Now().Add(s.wait)
		return nil, err
	}
	m := s.marginFor(t)
	own := *t
	s.last, s.renewAt, s.stale, s.err, s.wait = &own, t.Expiry.Add(-m), "", nil, 0
	if m != s.early {
		// The lifetime decides the margin: a cache with the new one,
		// holding the new token, serves from now on.
		seed := *t
		s.early = m
		s.cache = oauth2.ReuseTokenSourceWithExpiry(&seed, renewal{s}, m)
	}
	return t, nil
}

// obtain makes the token requests of one renewal.
func (s *TokenSource) obtain(last *oauth2.Token) (*oauth2.Token, error) {
	ctx := context.WithValue(s.ctx, oauth2.HTTPClient, s.caller.hc)
	var (
		t   *oauth2.Token
		err error
	)
	if last != nil && last.RefreshToken != "" {
		t, err = s.flow.refresh(ctx, s.caller, s.key, last.RefreshToken)
	}
	if t == nil || err != nil {
		t, err = s.flow.exchange(ctx, s.caller, s.key)
	}
	if err != nil {
		return nil, fmt.Errorf("client: obtaining an access token: %w", err)
	}
	if t.AccessToken == "" || t.Expiry.IsZero() {
		return nil, errors.New("client: the token endpoint answered without an access token or its lifetime")
	}
	return t, nil
}

// origin returns u's scheme://host:port, lower-cased, with the scheme's
// default port when u names none.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port
}
