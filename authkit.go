package authkit

import (
	"slices"
	"strings"
	"time"
)

// Env is the environment a key belongs to, written into its secret:
// api.video's production and sandbox keys.
type Env string

// The environments.
const (
	EnvLive Env = "live"
	EnvTest Env = "test"
)

// Valid reports whether e is one of the known environments.
func (e Env) Valid() bool { return e == EnvLive || e == EnvTest }

// Key is an application key: what every guide calls the API key. Its secret
// is shown once, at creation; the Key itself never holds it.
type Key struct {
	ID          string    // UUIDv7, so that IDs sort by creation time
	Owner       string    // the user or tenant that owns the key
	Handle      string    // unique per owner among live keys; 1–64 of [a-z0-9_-]
	Alias       string    // optional free text
	Env         Env       // live or test
	Scopes      []string  // e.g. "videos:read"; empty means no scope
	Hint        string    // display hint: prefix, env and the first 4 random characters
	Recoverable bool      // the secret is kept sealed and can be revealed to its owner
	CreatedAt   time.Time // UTC
	ExpiresAt   time.Time // zero: never expires
	LastUsedAt  time.Time // zero: never used; written at most once a minute
	RevokedAt   time.Time // zero: live; set when the key is deleted
}

// Check returns nil if k may be used at now, else an error wrapping
// [ErrRevoked] or [ErrExpired].
func (k *Key) Check(now time.Time) error {
	if !k.RevokedAt.IsZero() {
		return ErrRevoked
	}
	if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
		return ErrExpired
	}
	return nil
}

// HasScope reports whether the key was granted scope.
func (k *Key) HasScope(scope string) bool { return slices.Contains(k.Scopes, scope) }

// KeySecret is the stored form of one secret of a [Key]: a keyed hash, never
// the secret itself. A key has one current secret; after a rotation with a
// grace period it also has superseded ones until their ExpiresAt.
type KeySecret struct {
	Hash      []byte    // HMAC-SHA-256 of the secret under a key derived from the server secret
	KeyID     string    // the key it belongs to
	Sealed    []byte    // the secret sealed with AES-256-GCM; only for recoverable keys
	CreatedAt time.Time // UTC
	ExpiresAt time.Time // zero for the current secret; the end of the grace period for a superseded one
}

// SessionKind tells how a session was opened.
type SessionKind string

// The session kinds.
const (
	// SessionLogin is opened by the login flow for a (key, session id) pair,
	// and keeps its current access token so that it can hand it back.
	SessionLogin SessionKind = "login"
	// SessionGrant is opened by each key exchange (Inlive, api.video, OAuth
	// client credentials): it is the family of one refresh-token chain.
	SessionGrant SessionKind = "grant"
)

// Session groups the tokens issued from one login or one grant. Every access
// token carries its session's ID as the "sid" claim; revoking the session
// kills all of them, and all its refresh tokens.
type Session struct {
	ID        string      // UUIDv7; the tokens' sid claim
	Kind      SessionKind // login or grant
	KeyID     string      // the key it was opened with
	Owner     string      // the key's owner
	Name      string      // login: the session id the client chose ("" is the key's default session); grant: ""
	Scopes    []string    // the scopes granted to its tokens
	CreatedAt time.Time   // UTC
	ExpiresAt time.Time   // after this the session is dead and may be collected
	RevokedAt time.Time   // zero: live

	// For login sessions: the current access token, sealed under the server
	// secret, its jti and its expiry. Empty for grant sessions.
	TokenSealed    []byte
	TokenID        string
	TokenExpiresAt time.Time
}

// Check returns nil if s is alive at now, else an error wrapping
// [ErrRevoked] or [ErrExpired].
func (s *Session) Check(now time.Time) error {
	if !s.RevokedAt.IsZero() {
		return ErrRevoked
	}
	if !now.Before(s.ExpiresAt) {
		return ErrExpired
	}
	return nil
}

// RefreshToken is the stored form of an opaque refresh token: its keyed
// hash, never the token.
type RefreshToken struct {
	Hash      []byte    // HMAC-SHA-256 of the token under a key derived from the server secret
	SessionID string    // the family: the grant session it belongs to
	KeyID     string    // the key the grant was made with
	CreatedAt time.Time // UTC
	ExpiresAt time.Time
	SpentAt   time.Time // zero: unspent
	// ChildSealed is what spending it produced (the new access and refresh
	// token), sealed, so that a replay inside the grace window gets the same
	// answer. Nil while unspent.
	ChildSealed []byte
}

// SigningKey is a key that signs access tokens. Its private half is stored
// sealed under the server secret.
type SigningKey struct {
	ID        string    // the JWS "kid"
	Algorithm string    // one algorithm per key: "EdDSA", "ES256" or "HS256"
	Sealed    []byte    // the private key (PKCS #8 DER) or HMAC key, sealed
	Public    []byte    // the public key (PKIX DER); nil for HS256
	CreatedAt time.Time // UTC
	RetiredAt time.Time // zero: signs new tokens; else only verifies
	ExpiresAt time.Time // zero while active; after retirement, when the last token it signed expires
}

// Claims are the claims of an access token (a JWT with typ "at+jwt").
// Times are NumericDate seconds, as on the wire.
type Claims struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"` // the key's owner
	Audience  string `json:"aud"`
	ClientID  string `json:"client_id"` // the key's ID
	ID        string `json:"jti"`
	IssuedAt  int64  `json:"iat"`
	Expiry    int64  `json:"exp"`
	Scope     string `json:"scope,omitempty"` // space-separated, as RFC 9068 says
	SessionID string `json:"sid"`
	Env       Env    `json:"env"`
}

// ExpiresAt returns the exp claim as a time.
func (c *Claims) ExpiresAt() time.Time { return time.Unix(c.Expiry, 0).UTC() }

// Scopes returns the scope claim split on spaces.
func (c *Claims) Scopes() []string { return strings.Fields(c.Scope) }

// Principal returns the principal the claims describe (Method
// MethodAccessToken, Claims c).
func (c *Claims) Principal() *Principal {
	return &Principal{
		Owner: c.Subject, KeyID: c.ClientID, Env: c.Env, Scopes: c.Scopes(),
		SessionID: c.SessionID, Method: MethodAccessToken, Claims: c,
	}
}

// AuthMethod says how a request was authenticated.
type AuthMethod string

// The ways a [Principal] can be authenticated.
const (
	MethodAccessToken AuthMethod = "access_token" // a signed access token
	MethodKey         AuthMethod = "key"          // the application key itself
	MethodUser        AuthMethod = "user"         // the app's own user authentication
)

// Principal is who made a request, as the authentication middleware found
// it. It travels in the request context: see [NewContext] and [FromContext].
//
// A Principal from the request context may be shared by every request that
// presents the same token (see [PrincipalVerifier]): read it, never modify
// it.
type Principal struct {
	Owner     string     // the user or tenant
	KeyID     string     // the application key, if any
	Env       Env        // the key's environment, if any
	Scopes    []string   // what the credential may do
	SessionID string     // the session of an access token
	Method    AuthMethod // how the credential was presented
	Claims    *Claims    // the verified claims when Method is MethodAccessToken
}

// HasScope reports whether the principal holds scope. A user principal
// (the owner signed in with the app's own credentials) holds every scope.
func (p *Principal) HasScope(scope string) bool {
	return p.Method == MethodUser || slices.Contains(p.Scopes, scope)
}

// CheckScopes reports a [*FieldError] for the first scope that is empty,
// longer than 128 bytes, or holds a character outside printable ASCII or a
// space (RFC 6749 §3.3).
func CheckScopes(scopes []string) error {
	for _, s := range scopes {
		if s == "" || len(s) > 128 {
			return Invalid("scopes", "each scope must be 1 to 128 characters")
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' {
				return Invalid("scopes", "a scope may hold no space, quote, backslash or control character")
			}
		}
	}
	return nil
}
