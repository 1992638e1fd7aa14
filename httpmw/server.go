package httpmw

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/sessions"
	"github.com/authkit/authkit/tokens"
)

// Server builds the handlers of authkit's endpoints over its services. Each
// method returns a plain http.Handler to mount on any mux, shaped by an
// options struct so that an app serves the paths and JSON names its clients
// already speak. A Server must not be copied after first use.
type Server struct {
	Keys     *keys.Service     // required
	Tokens   *tokens.Service   // required
	Sessions *sessions.Manager // required
	// Limiter counts failed credentials on the token endpoints per client
	// address; nil means a default Limiter (10 failures a minute).
	Limiter *Limiter
	MaxBody int64        // request body cap; default DefaultMaxBody (64 KiB)
	Realm   string       // WWW-Authenticate realm; default "authkit"
	Logger  *slog.Logger // for unmapped (500) errors; default slog.Default()
	// Clock tells expires_in how long a token has left (a login token
	// handed back again has less than its lifetime); nil: the system clock.
	Clock authkit.Clock

	defaultLimiter Limiter
}

func (s *Server) limiter() *Limiter {
	if s.Limiter != nil {
		return s.Limiter
	}
	return &s.defaultLimiter
}

func (s *Server) responder(env Envelope, expiredStatus int) responder {
	return responder{envelope: env, realm: s.Realm, expiredStatus: expiredStatus, logger: s.Logger}
}

// TokenFields names the members of a token response. An empty name leaves
// the member out.
type TokenFields struct {
	AccessToken  string // e.g. "access_token"
	RefreshToken string // e.g. "refresh_token"
	ExpiresIn    string // seconds: "expires_in" (RFC 6749) or "expiry_seconds" (Inlive)
	TokenType    string // "token_type": always "Bearer"
	Scope        string // "scope": space-separated
}

// OAuthFields are the RFC 6749 §5.1 names; api.video and the login guide use them too.
var OAuthFields = TokenFields{AccessToken: "access_token", RefreshToken: "refresh_token", ExpiresIn: "expires_in", TokenType: "token_type"}

// InliveFields are the names inside Inlive's envelope.
var InliveFields = TokenFields{AccessToken: "access_token", RefreshToken: "refresh_token", ExpiresIn: "expiry_seconds"}

func (f TokenFields) body(g *sessions.Grant, now time.Time) map[string]any {
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
