package authkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"
)

// Env is the environment a key belongs to, written into its secret: live
// keys act on real data, test keys on a sandbox.
type Env string

// The environments.
const (
	EnvLive Env = "live"
	EnvTest Env = "test"
)

// Valid reports whether e is one of the known environments.
func (e Env) Valid() bool { return e == EnvLive || e == EnvTest }

// Key is an application key: the credential a customer's program presents,
// by itself or exchanged for access tokens. Its secret is shown once, at
// creation; the Key itself never holds it.
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
	Disabled    bool      // refused, with its tokens, until enabled again
	Policy      Policy    // rate limits, credits, allowed addresses, metadata
}

// Check returns nil if k may be used at now, else an error wrapping
// [ErrRevoked], [ErrExpired] or [ErrDisabled].
func (k *Key) Check(now time.Time) error {
	if !k.RevokedAt.IsZero() {
		return ErrRevoked
	}
	if k.Disabled {
		return ErrDisabled
	}
	if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
		return ErrExpired
	}
	return nil
}

// HasScope reports whether the key was granted scope.
func (k *Key) HasScope(scope string) bool { return slices.Contains(k.Scopes, scope) }

// Allows returns nil if the key was granted every one of scopes, else an
// error wrapping [ErrForbidden] that names the first it was not. This is
// [MissingScope] applied to a key: a token, a session or an OAuth grant
// never holds a scope its key lacks.
func (k *Key) Allows(scopes []string) error {
	if s, ok := MissingScope(slices.Values(scopes), k.Scopes); ok {
		return fmt.Errorf("authkit: the key does not hold scope %q: %w", s, ErrForbidden)
	}
	return nil
}

// MissingScope returns the first scope of want that held lacks, and true;
// or "", false when held has every one of them. It is the one scope-subset
// rule: [Key.Allows] applies it to a key's scopes, the token service to an
// access token's scopes (strings.FieldsSeq of its scope claim) against its
// session's. It does not allocate.
func MissingScope(want iter.Seq[string], held []string) (string, bool) {
	for s := range want {
		if !slices.Contains(held, s) {
			return s, true
		}
	}
	return "", false
}

// Principal returns the principal of a request that presented the key
// itself (Method [MethodKey]).
func (k *Key) Principal() Principal {
	return Principal{&principal{owner: k.Owner, keyID: k.ID, env: k.Env, scope: strings.Join(k.Scopes, " "), method: MethodKey}}
}

// KeyRequest describes a new key.
type KeyRequest struct {
	Owner       string    // required: the user or tenant
	Handle      string    // required: 1–64 of [a-z0-9_-], unique per owner among live keys
	Alias       string    // optional: at most 128 bytes of printable UTF-8
	Env         Env       // "" means live
	Scopes      []string  // checked with [CheckScopes]; deduplicated and sorted
	ExpiresAt   time.Time // zero: never expires; must be in the future
	Recoverable bool      // keep the secret sealed so that its owner can read it again
	Policy      Policy    // checked with [Policy.Check]
}

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
	// SessionGrant is opened by each key exchange (a key for a token pair,
	// or OAuth client credentials): it is the family of one refresh-token
	// chain.
	SessionGrant SessionKind = "grant"
)

// Session groups the tokens issued from one login or one grant. Every access
// token carries its session's ID as the "sid" claim; revoking the session
// kills all of them, and all its refresh tokens.
type Session struct {
	ID        string      // UUIDv7; the tokens' sid claim
	Kind      SessionKind // login or grant
	KeyID     string      // the key it was opened with; "" for one of the app's users signed in without a key
	Owner     string      // the key's owner
	Name      string      // login: the session id the client chose ("" is the key's default session); grant: the flow that opened it (ExchangeRequest.Flow)
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
// [MethodAccessToken]). It holds a copy of c.
func (c *Claims) Principal() Principal {
	return Principal{&principal{
		owner: c.Subject, keyID: c.ClientID, env: c.Env, scope: c.Scope,
		sessionID: c.SessionID, method: MethodAccessToken, claims: *c,
	}}
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
// A Principal is an immutable value: it is read through methods that return
// copies, and a copy of it shares nothing anyone can write. The middleware
// builds one when a token is first verified and hands the same one to every
// request that presents the token, without allocating; no handler can
// change what another request sees. Build one with [Claims.Principal],
// [Key.Principal] or [UserPrincipal]; the zero Principal is no one.
type Principal struct {
	p *principal
}

type principal struct {
	owner     string
	keyID     string
	env       Env
	scope     string // space-separated
	sessionID string
	method    AuthMethod
	claims    Claims          // the verified claims when method is MethodAccessToken
	metadata  json.RawMessage // the key's metadata, when a Gate admitted the request
}

// none is what the zero Principal reads as.
var none principal

func (p Principal) get() *principal {
	if p.p == nil {
		return &none
	}
	return p.p
}

// UserPrincipal returns the principal of one of the app's own users, signed
// in through the app's own authentication (Method [MethodUser]). It holds
// every scope.
func UserPrincipal(owner string) Principal {
	return Principal{&principal{owner: owner, method: MethodUser}}
}

// Metadata returns a copy of the metadata of the principal's key (see
// [Policy]), or nil. The middleware sets it when its [Gate] admits the
// request.
func (p Principal) Metadata() json.RawMessage { return bytes.Clone(p.get().metadata) }

// WithMetadata returns a copy of p holding md as its key's metadata; p
// itself is unchanged. md must not be modified afterwards.
func (p Principal) WithMetadata(md json.RawMessage) Principal {
	if p.p == nil {
		return p
	}
	c := *p.p
	c.metadata = md
	return Principal{&c}
}

// IsZero reports whether p is the zero Principal: no one.
func (p Principal) IsZero() bool { return p.p == nil }

// Owner returns the user or tenant the request acts for.
func (p Principal) Owner() string { return p.get().owner }

// KeyID returns the application key's ID, or "" for a user.
func (p Principal) KeyID() string { return p.get().keyID }

// Env returns the key's environment, or "" for a user.
func (p Principal) Env() Env { return p.get().env }

// SessionID returns the session of an access token, or "".
func (p Principal) SessionID() string { return p.get().sessionID }

// Method returns how the credential was presented ("" for no one).
func (p Principal) Method() AuthMethod { return p.get().method }

// Scopes returns what the credential may do, in a new slice.
func (p Principal) Scopes() []string { return strings.Fields(p.get().scope) }

// Claims returns a copy of the verified claims of an access token, and
// false for any other credential.
func (p Principal) Claims() (Claims, bool) {
	x := p.get()
	return x.claims, x.method == MethodAccessToken
}

// HasScope reports whether the principal holds scope. A user principal
// (the owner signed in with the app's own credentials) holds every scope.
// It does not allocate.
func (p Principal) HasScope(scope string) bool {
	x := p.get()
	if x.method == MethodUser {
		return true
	}
	rest := x.scope
	for rest != "" {
		var f string
		f, rest, _ = strings.Cut(rest, " ")
		if f == scope && f != "" {
			return true
		}
	}
	return false
}

// Grant is what a key exchange, a refresh or a login gives a client.
type Grant struct {
	AccessToken  string
	Claims       *Claims       // the access token's claims; the caller owns them
	ExpiresAt    time.Time     // of the access token
	TTL          time.Duration // its lifetime as issued
	RefreshToken string        // "" when the flow issues none (login)
	Session      *Session      // the session the tokens belong to
}

// ExpiresIn returns how long the access token has left at now, in whole
// seconds rounded up, never more than TTL: what an expires_in member says.
func (g *Grant) ExpiresIn(now time.Time) time.Duration {
	d := g.ExpiresAt.Sub(now)
	if d < 0 {
		return 0
	}
	d = (d + time.Second - 1) / time.Second * time.Second
	return min(d, g.TTL)
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
