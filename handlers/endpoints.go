package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/httpmw"
)

// Keys is what the handlers need of the key service. *keys.Service
// implements it. Implementations must be safe for concurrent use.
type Keys interface {
	authkit.KeyVerifier
	// CachedVerifyKey is VerifyKey answered from memory only (a key
	// verified recently), without asking the store.
	CachedVerifyKey(secret string) (*authkit.Key, bool)
	Create(ctx context.Context, r authkit.KeyRequest) (*authkit.Key, string, error)
	Get(ctx context.Context, owner, id string) (*authkit.Key, error)
	GetByHandle(ctx context.Context, owner, handle string) (*authkit.Key, error)
	List(ctx context.Context, owner string, p authkit.Page) ([]*authkit.Key, error)
	Rotate(ctx context.Context, owner, id string, grace time.Duration) (*authkit.Key, string, error)
	Reveal(ctx context.Context, owner, id string) (string, error)
	Delete(ctx context.Context, owner, id string) error
	Update(ctx context.Context, owner, id string, u authkit.KeyUpdate) (*authkit.Key, error)
}

// Sessions is what the handlers need of the session manager.
// *sessions.Manager implements it. Implementations must be safe for
// concurrent use.
type Sessions interface {
	Exchange(ctx context.Context, r authkit.ExchangeRequest) (*authkit.Grant, error)
	Refresh(ctx context.Context, refreshToken string, ttl time.Duration) (*authkit.Grant, error)
	Login(ctx context.Context, key *authkit.Key, name string) (*authkit.Grant, error)
	LoginUser(ctx context.Context, user string, scopes []string, name string) (*authkit.Grant, error)
	LooksLikeRefreshToken(s string) bool
	InspectRefreshToken(ctx context.Context, refreshToken string) (*authkit.RefreshToken, *authkit.Session, error)
	List(ctx context.Context, owner string, p authkit.Page) ([]*authkit.Session, string, error)
	Revoke(ctx context.Context, owner, sessionID string) error
}

// Tokens is what the handlers need of the token service. *tokens.Service
// implements it. Implementations must be safe for concurrent use.
type Tokens interface {
	authkit.TokenVerifier
	JWKS(ctx context.Context) ([]byte, error)
}

// Endpoints builds the http.Handler of each of authkit's endpoints over the
// services it holds. Each method returns a plain handler to mount on any
// mux, shaped by an options struct, so that an app serves the paths and the
// JSON names its clients already speak. Keys, Tokens and Sessions are
// required; the other fields have safe defaults. Set the fields before the
// first handler is built and do not change them after.
type Endpoints struct {
	Keys     Keys
	Tokens   Tokens
	Sessions Sessions
	// Limiter counts failed credentials on the token endpoints per client
	// address; nil means a default Limiter (10 failures a minute).
	Limiter *httpmw.Limiter
	// Gate, when set, enforces key policies on the token endpoints
	// (exchange, refresh, login) as the middleware does on the API's routes,
	// and lets the key handlers show and set the credits left. nil: key
	// policies are stored but these endpoints do not enforce them.
	Gate Gate
	// Audit is read by AuditLog: the store's audit trail (the services
	// record in it); nil: AuditLog answers 404.
	Audit authkit.AuditStore
	// Clients tells the client's address, for the Gate's allow-lists and
	// the Limiter; nil: RemoteAddr.
	Clients *httpmw.ClientAddr
	// MaxBody caps request bodies (413 beyond it); default [DefaultMaxBody].
	MaxBody int64
	// MaxTTL is the longest access-token lifetime the token service issues
	// (its MaxTTL): the default and the bound of every handler's TTL and
	// MaxTTL option. Default 24 hours.
	MaxTTL time.Duration
	Realm  string       // the WWW-Authenticate realm; default "authkit"
	Logger *slog.Logger // for unmapped (500) errors; default slog.Default()
	// Clock tells expires_in how long a token has left (a login token
	// handed back again has less than its lifetime), and key creation when
	// expires_in ends; nil: the system clock.
	Clock authkit.Clock

	defaultLimiter httpmw.Limiter
}

// DefaultMaxBody caps request bodies: larger ones are answered 413.
const DefaultMaxBody = 64 << 10

// maxTTL returns the longest lifetime a handler may give a token.
func (e *Endpoints) maxTTL() time.Duration {
	if e.MaxTTL > 0 {
		return e.MaxTTL
	}
	return 24 * time.Hour
}

// checkTTL panics, when a handler is built, on a lifetime option the token
// service would refuse on every request.
func (e *Endpoints) checkTTL(handler, field string, d time.Duration) {
	if d > e.maxTTL() {
		panic(fmt.Sprintf("handlers: %s: %s %s exceeds the token service's MaxTTL %s", handler, field, d, e.maxTTL()))
	}
}

func (e *Endpoints) limiter() *httpmw.Limiter {
	if e.Limiter != nil {
		return e.Limiter
	}
	return &e.defaultLimiter
}

// responder is the Responder of a handler with envelope env.
func (e *Endpoints) responder(env httpmw.Envelope) httpmw.Responder {
	return httpmw.Responder{Envelope: env, Realm: e.Realm, Logger: e.Logger}
}

// TokenFields names the members of a token response. An empty name leaves
// the member out; the zero value means [OAuthFields].
type TokenFields struct {
	AccessToken  string // e.g. "access_token"
	RefreshToken string // e.g. "refresh_token"
	ExpiresIn    string // seconds left: "expires_in" (RFC 6749), or another name such as "expiry_seconds"
	TokenType    string // "token_type": always "Bearer"
	Scope        string // "scope": space-separated
}

// OAuthFields are the RFC 6749 §5.1 names.
var OAuthFields = TokenFields{AccessToken: "access_token", RefreshToken: "refresh_token", ExpiresIn: "expires_in", TokenType: "token_type"}

func (f TokenFields) body(g *authkit.Grant, now time.Time) map[string]any {
	if f == (TokenFields{}) {
		f = OAuthFields
	}
	m := make(map[string]any, 5)
	if f.AccessToken != "" {
		m[f.AccessToken] = g.AccessToken
	}
	if f.RefreshToken != "" && g.RefreshToken != "" {
		m[f.RefreshToken] = g.RefreshToken
	}
	if f.ExpiresIn != "" {
		m[f.ExpiresIn] = int64(g.ExpiresIn(now) / time.Second) // the time left, whole seconds rounded up
	}
	if f.TokenType != "" {
		m[f.TokenType] = "Bearer"
	}
	if f.Scope != "" && g.Claims != nil && g.Claims.Scope != "" {
		m[f.Scope] = g.Claims.Scope
	}
	return m
}

// noStore marks a response that carries credentials as uncacheable
// (RFC 6749 §5.1).
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

// The handlers' own errors.
var (
	errNoCredential  = &httpmw.Error{Status: http.StatusUnauthorized, Description: "authentication required", Challenge: true}
	errBadCredential = &httpmw.Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the credential is not valid", Challenge: true}
	errBodyTooLarge  = &httpmw.Error{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Description: "request body too large"}
)

// badRequest returns a 400 invalid_request error.
func badRequest(desc string) *httpmw.Error {
	return &httpmw.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: desc}
}

// internal reports whether err is one the table does not map: a 500.
func internal(err error) bool { return httpmw.ErrorFor(err).Status == http.StatusInternalServerError }
