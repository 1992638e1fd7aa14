// Package client is the calling side of an API protected by authkit: given
// only an API key, it obtains an access token, keeps it fresh by itself, and
// sets it on every request.
//
//	src, err := client.NewTokenSource(client.Config{
//		BaseURL: "https://api.example.com",
//		Flow:    client.APIVideo{}, // or Inlive{}, Login{}, ClientCredentials{ClientID: …}
//	}) // the key comes from $AUTHKIT_API_KEY
//	hc := &http.Client{Transport: &client.Transport{Source: src}}
//
// [TokenSource] satisfies golang.org/x/oauth2's TokenSource, so that
// oauth2.NewClient and oauth2.Transport take it as it is. It returns the
// cached token until shortly before it expires (a margin of 10 % of its
// lifetime, at least 10 s), then renews it, through the refresh token where
// the flow has one, else by a new exchange. Concurrent callers share one
// renewal (single flight); a failed renewal is returned to the callers and
// not retried before a backoff has passed.
//
// [Transport] sets the Authorization header, and on a 401, or a 403 with
// X-Access-Token-Expired, renews once and retries the request once, where
// the request's body can be replayed.
//
// The key never comes from code: it is Config.Key, read by the caller from
// its own vault, or by default the environment variable AUTHKIT_API_KEY.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/authkit/authkit"
	"golang.org/x/oauth2"
)

// EnvKey is the environment variable the key is read from by default.
const EnvKey = "AUTHKIT_API_KEY"

// Token is an access token with what it takes to renew it.
type Token struct {
	AccessToken  string
	RefreshToken string        // "" when the flow has none
	Lifetime     time.Duration // as issued (expires_in)
	Expiry       time.Time     // obtained-at + Lifetime, by the client's clock
}

// A Flow speaks one server shape: how a key becomes a token, and how a
// token is renewed. Implementations must be safe for concurrent use.
type Flow interface {
	// Exchange obtains a new token with the key.
	Exchange(ctx context.Context, c *Caller, key string) (*Token, error)
	// Refresh renews with a refresh token (key is there for flows whose
	// refresh needs client authentication); ErrNoRefresh if the flow has none.
	Refresh(ctx context.Context, c *Caller, key, refreshToken string) (*Token, error)
}

// ErrNoRefresh is returned by flows that renew by exchanging again.
var ErrNoRefresh = errors.New("client: this flow has no refresh")

// Config configures a [TokenSource].
type Config struct {
	BaseURL string // the API's base URL, e.g. "https://api.example.com"; required
	Flow    Flow   // required: APIVideo{}, Inlive{}, Login{}, ClientCredentials{}
	// Key is the API key. Empty: read from the environment variable
	// AUTHKIT_API_KEY. Never write it in code.
	Key string
	// HTTPClient makes the token requests; default http.DefaultClient.
	HTTPClient *http.Client
	// Margin renews a token this long before it expires; default 10 % of
	// its lifetime, at least 10 s.
	Margin time.Duration
	// Backoff is how long a failed renewal is returned without trying
	// again; default 1 s, doubling up to 30 s while failures go on.
	Backoff time.Duration
	Clock   authkit.Clock // nil: the system clock
}

// Caller makes the HTTP requests of a flow.
type Caller struct {
	BaseURL string
	HTTP    *http.Client
	now     func() time.Time
}

// TokenSource caches a token and renews it. It is safe for concurrent use.
type TokenSource struct {
	cfg    Config
	key    string
	caller *Caller

	mu       sync.Mutex
	tok      *Token
	inflight chan struct{} // closed when the renewal under way ends
	err      error         // the last renewal's error, returned until retryAt
	retryAt  time.Time
	backoff  time.Duration
}

var _ oauth2.TokenSource = (*TokenSource)(nil)

// NewTokenSource returns a TokenSource. It fails if there is no key.
func NewTokenSource(cfg Config) (*TokenSource, error) {
	if cfg.Flow == nil || cfg.BaseURL == "" {
		return nil, errors.New("client: Config needs BaseURL and Flow")
	}
	key := cfg.Key
	if key == "" {
		key = strings.TrimSpace(os.Getenv(EnvKey))
	}
	if key == "" {
		return nil, fmt.Errorf("client: no API key: set Config.Key or the %s environment variable", EnvKey)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	return &TokenSource{cfg: cfg, key: key, caller: &Caller{BaseURL: strings.TrimRight(cfg.BaseURL, "/"), HTTP: hc, now: cfg.Clock.Now}}, nil
}

func (s *TokenSource) margin(t *Token) time.Duration {
	if s.cfg.Margin > 0 {
		return s.cfg.Margin
	}
	return max(t.Lifetime/10, 10*time.Second)
}

func (s *TokenSource) fresh(t *Token, now time.Time) bool {
	return t != nil && now.Before(t.Expiry.Add(-s.margin(t)))
}

// Token returns a valid access token, renewing it when it is within its
// margin of expiry. It implements oauth2.TokenSource.
func (s *TokenSource) Token() (*oauth2.Token, error) {
	t, err := s.token(context.Background(), "")
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: t.AccessToken, TokenType: "Bearer", RefreshToken: t.RefreshToken, Expiry: t.Expiry}, nil
}

// TokenContext is Token with a context for the renewal's requests.
func (s *TokenSource) TokenContext(ctx context.Context) (*Token, error) { return s.token(ctx, "") }

// Invalidate marks access token stale (the server refused it), so that the
// next call renews. A token that is no longer the cached one is ignored.
func (s *TokenSource) Invalidate(access string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && s.tok.AccessToken == access {
		stale := *s.tok
		stale.Expiry = time.Time{}
		s.tok = &stale
	}
}

// token returns the cached token or renews it, one renewal at a time.
func (s *TokenSource) token(ctx context.Context, _ string) (*Token, error) {
	for {
		s.mu.Lock()
		now := s.cfg.Clock.Now()
		if s.fresh(s.tok, now) {
			t := s.tok
			s.mu.Unlock()
			return t, nil
		}
		if s.err != nil && now.Before(s.retryAt) {
			err := s.err
			s.mu.Unlock()
			return nil, err
		}
		if wait := s.inflight; wait != nil {
			s.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		s.inflight = done
		old := s.tok
		s.mu.Unlock()

		t, err := s.renew(ctx, old)

		s.mu.Lock()
		s.inflight = nil
		if err != nil {
			b := s.cfg.Backoff
			if b <= 0 {
				b = time.Second
			}
			if s.backoff >= b {
				b = min(s.backoff*2, 30*time.Second)
			}
			s.backoff, s.err, s.retryAt = b, err, s.cfg.Clock.Now().Add(b)
		} else {
			s.tok, s.err, s.backoff = t, nil, 0
		}
		close(done)
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return t, nil
	}
}

// renew refreshes where it can, else exchanges the key again.
func (s *TokenSource) renew(ctx context.Context, old *Token) (*Token, error) {
	if old != nil && old.RefreshToken != "" {
		t, err := s.cfg.Flow.Refresh(ctx, s.caller, s.key, old.RefreshToken)
		if err == nil {
			return t, nil
		}
	}
	return s.cfg.Flow.Exchange(ctx, s.caller, s.key)
}

// Transport is an http.RoundTripper that authenticates requests with a
// [TokenSource]'s token, and renews and retries once when the server says
// the token is no longer good.
type Transport struct {
	Source *TokenSource
	Base   http.RoundTripper // default http.DefaultTransport
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	tok, err := t.Source.token(req.Context(), "")
	if err != nil {
		return nil, err
	}
	res, err := base.RoundTrip(withToken(req, tok.AccessToken))
	if err != nil || !refused(res) {
		return res, err
	}
	replay := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	if !replay {
		return res, nil
	}
	t.Source.Invalidate(tok.AccessToken)
	tok2, err := t.Source.token(req.Context(), "")
	if err != nil || tok2.AccessToken == tok.AccessToken {
		return res, nil // nothing better to try: the caller sees the refusal
	}
	r2 := req.Clone(req.Context())
	if req.GetBody != nil {
		if r2.Body, err = req.GetBody(); err != nil {
			return res, nil
		}
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return base.RoundTrip(withToken(r2, tok2.AccessToken))
}

// refused reports a 401, or a 403 that says the token expired (Inlive).
func refused(res *http.Response) bool {
	return res.StatusCode == http.StatusUnauthorized ||
		res.StatusCode == http.StatusForbidden && res.Header.Get("X-Access-Token-Expired") == "true"
}

func withToken(req *http.Request, tok string) *http.Request {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// ---- the requests flows make

// PostJSON posts body as JSON to path with an optional Authorization
// header and decodes a 200 answer into out.
func (c *Caller) PostJSON(ctx context.Context, path, auth string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", c.BaseURL+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return c.do(req, out)
}

// PostForm posts form to path (OAuth 2.0 endpoints) and decodes a 200 answer.
func (c *Caller) PostForm(ctx context.Context, path, auth string, form string, out any) error {
	req, err := http.NewRequestWithContext(ctx, "POST", c.BaseURL+path, strings.NewReader(form))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return c.do(req, out)
}

// Error is a refusal from the token endpoint.
type Error struct {
	Status      int
	Code        string // the body's "error"
	Description string // the body's "error_description"
}

func (e *Error) Error() string {
	return fmt.Sprintf("client: token endpoint answered %d %s: %s", e.Status, e.Code, e.Description)
}

func (c *Caller) do(req *http.Request, out any) error {
	res, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		json.Unmarshal(b, &e)
		return &Error{Status: res.StatusCode, Code: e.Error, Description: e.Description}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("client: token response: %w", err)
	}
	return nil
}

// token builds a Token obtained now.
func (c *Caller) token(access, refresh string, seconds int64) (*Token, error) {
	if access == "" || seconds <= 0 {
		return nil, errors.New("client: token response without access token or lifetime")
	}
	life := time.Duration(seconds) * time.Second
	now := time.Now()
	if c.now != nil {
		now = c.now()
	}
	return &Token{AccessToken: access, RefreshToken: refresh, Lifetime: life, Expiry: now.Add(life)}, nil
}
