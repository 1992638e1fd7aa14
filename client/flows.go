package client

import (
	"context"
	"encoding/base64"
	"net/url"
	"strings"

	"github.com/google/uuid"
)

// oauthResponse is the RFC 6749 §5.1 shape, which api.video and the login
// guide share.
type oauthResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
}

// APIVideo is api.video's flow: POST /auth/api-key {"apiKey"} and
// POST /auth/refresh {"refreshToken"}.
type APIVideo struct {
	ExchangePath string // default "/auth/api-key"
	RefreshPath  string // default "/auth/refresh"
}

// Exchange implements Flow.
func (f APIVideo) Exchange(ctx context.Context, c *Caller, key string) (*Token, error) {
	var r oauthResponse
	if err := c.PostJSON(ctx, or(f.ExchangePath, "/auth/api-key"), "", map[string]string{"apiKey": key}, &r); err != nil {
		return nil, err
	}
	return c.token(r.AccessToken, r.RefreshToken, r.ExpiresIn)
}

// Refresh implements Flow.
func (f APIVideo) Refresh(ctx context.Context, c *Caller, _, rt string) (*Token, error) {
	var r oauthResponse
	if err := c.PostJSON(ctx, or(f.RefreshPath, "/auth/refresh"), "", map[string]string{"refreshToken": rt}, &r); err != nil {
		return nil, err
	}
	return c.token(r.AccessToken, r.RefreshToken, r.ExpiresIn)
}

// Inlive is Inlive's flow: POST /v1/keys/accesstoken with the key as
// Bearer and {"expiry_seconds"}, answered in Inlive's envelope; renewal
// sends the refresh token as Bearer to the same endpoint.
type Inlive struct {
	Path          string // default "/v1/keys/accesstoken"
	ExpirySeconds int64  // default 3600
}

type inliveResponse struct {
	Data struct {
		AccessToken   string `json:"access_token"`
		RefreshToken  string `json:"refresh_token"`
		ExpirySeconds int64  `json:"expiry_seconds"`
	} `json:"data"`
}

func (f Inlive) call(ctx context.Context, c *Caller, bearer string) (*Token, error) {
	exp := f.ExpirySeconds
	if exp <= 0 {
		exp = 3600
	}
	var r inliveResponse
	if err := c.PostJSON(ctx, or(f.Path, "/v1/keys/accesstoken"), "Bearer "+bearer, map[string]int64{"expiry_seconds": exp}, &r); err != nil {
		return nil, err
	}
	return c.token(r.Data.AccessToken, r.Data.RefreshToken, r.Data.ExpirySeconds)
}

// Exchange implements Flow.
func (f Inlive) Exchange(ctx context.Context, c *Caller, key string) (*Token, error) {
	return f.call(ctx, c, key)
}

// Refresh implements Flow.
func (f Inlive) Refresh(ctx context.Context, c *Caller, _, rt string) (*Token, error) {
	return f.call(ctx, c, rt)
}

// Login is the login guide's flow: POST /auth/login {"api_key",
// "session_id"}. It has no refresh token: renewal logs in again with the
// same session id (the server hands back a new token once the old one is
// near its end). By default the session id is a random one drawn once per
// process, as the guide recommends for distributed systems.
type Login struct {
	Path      string // default "/auth/login"
	SessionID string // default: ProcessSessionID
	// DefaultSession uses the key's default session (no session_id sent)
	// instead of the process's own.
	DefaultSession bool
}

// ProcessSessionID is the session id Login uses by default: random, drawn
// once per process.
var ProcessSessionID = uuid.NewString()

// Exchange implements Flow.
func (f Login) Exchange(ctx context.Context, c *Caller, key string) (*Token, error) {
	body := map[string]string{"api_key": key}
	switch {
	case f.DefaultSession:
	case f.SessionID != "":
		body["session_id"] = f.SessionID
	default:
		body["session_id"] = ProcessSessionID
	}
	var r oauthResponse
	if err := c.PostJSON(ctx, or(f.Path, "/auth/login"), "", body, &r); err != nil {
		return nil, err
	}
	return c.token(r.AccessToken, "", r.ExpiresIn)
}

// Refresh implements Flow: the login flow has none.
func (Login) Refresh(context.Context, *Caller, string, string) (*Token, error) {
	return nil, ErrNoRefresh
}

// ClientCredentials is OAuth 2.0's client credentials grant (RFC 6749
// §4.4) at /oauth/token, with the key as client secret and its ID as client
// id, renewed with the refresh_token grant.
type ClientCredentials struct {
	Path     string   // default "/oauth/token"
	ClientID string   // required: the key's ID
	Scopes   []string // optional: a subset of the key's
}

func (f ClientCredentials) auth(key string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(f.ClientID)+":"+url.QueryEscape(key)))
}

// Exchange implements Flow.
func (f ClientCredentials) Exchange(ctx context.Context, c *Caller, key string) (*Token, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(f.Scopes) > 0 {
		form.Set("scope", joinScopes(f.Scopes))
	}
	var r oauthResponse
	if err := c.PostForm(ctx, or(f.Path, "/oauth/token"), f.auth(key), form.Encode(), &r); err != nil {
		return nil, err
	}
	return c.token(r.AccessToken, r.RefreshToken, r.ExpiresIn)
}

// Refresh implements Flow with the refresh_token grant (RFC 6749 §6),
// authenticating as the client.
func (f ClientCredentials) Refresh(ctx context.Context, c *Caller, key, rt string) (*Token, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	var r oauthResponse
	if err := c.PostForm(ctx, or(f.Path, "/oauth/token"), f.auth(key), form.Encode(), &r); err != nil {
		return nil, err
	}
	return c.token(r.AccessToken, r.RefreshToken, r.ExpiresIn)
}

func joinScopes(s []string) string { return strings.Join(s, " ") }

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
