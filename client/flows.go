package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// A Flow is how an API turns a key into an access token, and how it renews
// one: a [KeyExchange], a [Login] or a [ClientCredentials]. Their zero
// values are not usable: each needs at least its Path, and
// [NewTokenSource] says what is missing. The set is closed: these three
// shapes, configured with the API's paths and member names, cover the APIs
// this package is for. A Flow is a value; several TokenSources may share
// one.
type Flow interface {
	// exchange obtains a new token with the key.
	exchange(ctx context.Context, c *caller, key string) (*oauth2.Token, error)
	// refresh renews with a refresh token; key is there for flows whose
	// refresh authenticates the client.
	refresh(ctx context.Context, c *caller, key, refreshToken string) (*oauth2.Token, error)
	// check reports a missing or contradictory setting.
	check() error
}

// KeyExchange posts the key as JSON to Path and reads back an access token,
// a refresh token and the access token's lifetime in seconds, in the
// members "access_token", "refresh_token" and ExpiresField, at the top
// level of the answer or inside the member Envelope. Renewal posts the
// refresh token to RefreshPath the same way; when the API issued no
// refresh token, or refuses it, renewal exchanges the key again.
//
// For instance, an endpoint that takes {"apiKey": …} and renews with
// {"refreshToken": …} elsewhere:
//
//	client.KeyExchange{Path: "/auth/api-key", KeyField: "apiKey", RefreshPath: "/auth/refresh", RefreshField: "refreshToken"}
//
// and one that takes the key, then the refresh token, as a bearer
// credential, with the lifetime asked for in the body and answered in an
// envelope:
//
//	client.KeyExchange{Path: "/v1/keys/accesstoken", Body: map[string]any{"expiry_seconds": 3600}, Envelope: "data", ExpiresField: "expiry_seconds"}
type KeyExchange struct {
	// Path is the exchange endpoint, relative to Config.BaseURL, e.g.
	// "/auth/token"; required.
	Path string
	// KeyField is the JSON member that holds the key. Empty: the key is
	// sent as `Authorization: Bearer <key>`.
	KeyField string
	// RefreshPath is the refresh endpoint; default Path.
	RefreshPath string
	// RefreshField is the JSON member that holds the refresh token. Empty:
	// it is sent as `Authorization: Bearer <refresh token>`.
	RefreshField string
	// Body holds further members sent with both requests, e.g.
	// {"expiry_seconds": 3600}. It is read, never changed.
	Body map[string]any
	// Envelope is the member of the answer that holds the token's members,
	// e.g. "data"; empty: they are at the top level.
	Envelope string
	// ExpiresField is the member that holds the lifetime in seconds;
	// default "expires_in".
	ExpiresField string
}

func (f KeyExchange) check() error {
	if err := checkPath("Path", f.Path, true); err != nil {
		return err
	}
	if err := checkPath("RefreshPath", f.RefreshPath, false); err != nil {
		return err
	}
	for _, m := range []string{f.KeyField, f.RefreshField} {
		if _, ok := f.Body[m]; ok && m != "" {
			return fmt.Errorf("Body must not hold %q, the member of a credential", m)
		}
	}
	return nil
}

func (f KeyExchange) exchange(ctx context.Context, c *caller, key string) (*oauth2.Token, error) {
	return f.post(ctx, c, f.Path, f.KeyField, key)
}

func (f KeyExchange) refresh(ctx context.Context, c *caller, _, refreshToken string) (*oauth2.Token, error) {
	t, err := f.post(ctx, c, or(f.RefreshPath, f.Path), f.RefreshField, refreshToken)
	if err == nil && t.RefreshToken == "" {
		t.RefreshToken = refreshToken // no new one: the old one stays good (RFC 6749 §6)
	}
	return t, err
}

// post sends secret in member field, or as a bearer credential when field
// is empty, with the members of Body.
func (f KeyExchange) post(ctx context.Context, c *caller, path, field, secret string) (*oauth2.Token, error) {
	body := make(map[string]any, len(f.Body)+1)
	maps.Copy(body, f.Body)
	bearer := ""
	if field == "" {
		bearer = secret
	} else {
		body[field] = secret
	}
	return c.postJSON(ctx, path, bearer, body, f.Envelope, or(f.ExpiresField, "expires_in"), true)
}

// Login posts the key with a session id as JSON to Path and reads back the
// session's access token and its lifetime in "access_token" and
// "expires_in". The API hands back the same token for the same session id
// while it is fresh, and a new one near its end. There is no refresh token:
// renewal logs in again with the same session id.
//
// By default the session id is drawn at random once per process, so that
// each process of a distributed client has its own session.
type Login struct {
	// Path is the login endpoint, relative to Config.BaseURL, e.g.
	// "/auth/login"; required.
	Path string
	// KeyField is the JSON member that holds the key; default "api_key".
	KeyField string
	// SessionField is the JSON member that holds the session id; default
	// "session_id".
	SessionField string
	// SessionID names the session; default: one drawn at random once per
	// process.
	SessionID string
	// DefaultSession sends no session id, so that the key's default
	// session is used, shared by every process with the key. It excludes
	// SessionID.
	DefaultSession bool
}

// processSessionID is the session id Login sends by default.
var processSessionID = sync.OnceValue(rand.Text)

func (f Login) check() error {
	if err := checkPath("Path", f.Path, true); err != nil {
		return err
	}
	if f.DefaultSession && f.SessionID != "" {
		return errors.New("SessionID and DefaultSession exclude each other")
	}
	if len(f.SessionID) > 128 {
		return errors.New("SessionID must be at most 128 bytes")
	}
	return nil
}

func (f Login) exchange(ctx context.Context, c *caller, key string) (*oauth2.Token, error) {
	body := map[string]any{or(f.KeyField, "api_key"): key}
	switch {
	case f.DefaultSession:
	case f.SessionID != "":
		body[or(f.SessionField, "session_id")] = f.SessionID
	default:
		body[or(f.SessionField, "session_id")] = processSessionID()
	}
	return c.postJSON(ctx, f.Path, "", body, "", "expires_in", false)
}

// refresh logs in again: the flow has no refresh token.
func (f Login) refresh(ctx context.Context, c *caller, key, _ string) (*oauth2.Token, error) {
	return f.exchange(ctx, c, key)
}

// ClientCredentials is OAuth 2.0's client credentials grant (RFC 6749
// §4.4) at Path, run by golang.org/x/oauth2/clientcredentials, with the
// key's ID as client id and the key as client secret, sent with HTTP Basic.
// Renewal spends the refresh token with the refresh_token grant (RFC 6749
// §6) when the server issued one, else runs the grant again.
type ClientCredentials struct {
	// Path is the token endpoint, relative to Config.BaseURL, e.g.
	// "/oauth/token"; required.
	Path string
	// ClientID is the key's ID; required.
	ClientID string
	// Scopes asks for a subset of the key's scopes; nil: all of them.
	Scopes []string
}

func (f ClientCredentials) check() error {
	if f.ClientID == "" {
		return errors.New("ClientID is required: the key's ID")
	}
	return checkPath("Path", f.Path, true)
}

func (f ClientCredentials) exchange(ctx context.Context, c *caller, key string) (*oauth2.Token, error) {
	cc := clientcredentials.Config{
		ClientID: f.ClientID, ClientSecret: key, TokenURL: c.url(f.Path), Scopes: f.Scopes,
		AuthStyle: oauth2.AuthStyleInHeader,
	}
	return cc.Token(ctx)
}

func (f ClientCredentials) refresh(ctx context.Context, c *caller, key, refreshToken string) (*oauth2.Token, error) {
	cfg := oauth2.Config{
		ClientID: f.ClientID, ClientSecret: key,
		Endpoint: oauth2.Endpoint{TokenURL: c.url(f.Path), AuthStyle: oauth2.AuthStyleInHeader},
	}
	return cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
}

// caller makes the token requests of the JSON flows.
type caller struct {
	base string       // Config.BaseURL without its trailing "/"
	hc   *http.Client // follows no redirect
}

func (c *caller) url(path string) string { return c.base + path }

// postJSON posts body as JSON to path, with bearer as a bearer credential
// when it is not empty, and reads the token from a 2xx answer: inside the
// member envelope when it is not empty, with its lifetime in seconds in the
// member expires, and a refresh token when withRefresh. Any other answer
// is an *oauth2.RetrieveError.
func (c *caller) postJSON(ctx context.Context, path, bearer string, body map[string]any, envelope, expires string, withRefresh bool) (*oauth2.Token, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", c.url(path), bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	b, err = io.ReadAll(io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the token response: %w", err)
	}
	var top map[string]json.RawMessage
	json.Unmarshal(b, &top)
	if res.StatusCode < 200 || res.StatusCode > 299 {
		e := &oauth2.RetrieveError{Response: res, Body: b}
		json.Unmarshal(top["error"], &e.ErrorCode)
		json.Unmarshal(top["error_description"], &e.ErrorDescription)
		json.Unmarshal(top["error_uri"], &e.ErrorURI)
		return nil, e
	}
	members := top
	if envelope != "" {
		members = nil
		json.Unmarshal(top[envelope], &members)
	}
	var (
		access, refresh string
		seconds         float64
	)
	json.Unmarshal(members["access_token"], &access)
	json.Unmarshal(members[expires], &seconds)
	if withRefresh {
		json.Unmarshal(members["refresh_token"], &refresh)
	}
	if access == "" || seconds < 1 || seconds > 1<<32 {
		return nil, fmt.Errorf("the token response of %s has no access_token or no %s", path, expires)
	}
	life := time.Duration(seconds) * time.Second
	return &oauth2.Token{
		AccessToken: access, TokenType: "Bearer", RefreshToken: refresh,
		ExpiresIn: int64(seconds), Expiry: time.Now().Add(life),
	}, nil
}

// checkPath refuses a path that is not one under Config.BaseURL's origin.
func checkPath(name, p string, required bool) error {
	switch {
	case p == "" && required:
		return fmt.Errorf("%s is required", name)
	case p != "" && (!strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//")):
		return fmt.Errorf("%s must start with a single \"/\": it is relative to Config.BaseURL, got %q", name, p)
	}
	return nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
