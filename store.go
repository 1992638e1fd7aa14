package authkit

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Page asks for one page of a list ordered by ID: the records whose ID sorts
// after After ("" for the first page), at most Limit of them (0 means
// [DefaultPageLimit]; more than [MaxPageLimit] is cut to it). IDs are UUIDv7,
// so ID order is creation order. The next page's After is the last ID
// returned; a page shorter than its limit is the last.
type Page struct {
	After string
	Limit int
}

// MaxRefreshGrace is the longest grace window in which a replayed refresh
// token is answered with the pair it was spent for (sessions.Config); past
// it, Store.Cleanup erases the sealed pair.
const MaxRefreshGrace = 30 * time.Second

// Page limits.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 1000
)

// Size returns the effective limit of p.
func (p Page) Size() int {
	switch {
	case p.Limit <= 0:
		return DefaultPageLimit
	case p.Limit > MaxPageLimit:
		return MaxPageLimit
	}
	return p.Limit
}

// KeyStore stores application keys and the hashes of their secrets.
// Implementations must be safe for concurrent use by multiple goroutines,
// return times in UTC, and return copies the caller may modify.
//
// Methods that take an owner answer [ErrNotFound] for a key of another owner
// and for a revoked key, exactly as for a key that does not exist.
type KeyStore interface {
	// CreateKey stores k and its first secret s in one atomic write.
	// Returns ErrConflict if the owner has a live key with the same handle,
	// or if k.ID or s.Hash exists.
	CreateKey(ctx context.Context, k *Key, s *KeySecret) error

	// KeyBySecret returns the key one of whose secrets hashes to hash, with
	// that secret's record. Revoked and expired keys and secrets are returned
	// as they are: the caller checks them. Returns ErrNotFound if no secret
	// has that hash.
	KeyBySecret(ctx context.Context, hash []byte) (*Key, *KeySecret, error)

	// KeyByID returns the key with id, whoever owns it, revoked or not, for
	// the verifiers. Returns ErrNotFound.
	KeyByID(ctx context.Context, id string) (*Key, error)

	// Key returns the owner's live key with id. Returns ErrNotFound.
	Key(ctx context.Context, owner, id string) (*Key, error)

	// KeyByHandle returns the owner's live key with handle. Returns ErrNotFound.
	KeyByHandle(ctx context.Context, owner, handle string) (*Key, error)

	// ListKeys returns a page of the owner's live keys in ID order.
	ListKeys(ctx context.Context, owner string, p Page) ([]*Key, error)

	// CurrentKeySecret returns the current secret (ExpiresAt zero) of the
	// owner's live key id. Returns ErrNotFound.
	CurrentKeySecret(ctx context.Context, owner, id string) (*KeySecret, error)

	// RotateKey makes next the current secret of the owner's live key id,
	// sets the key's Hint to hint, and gives every other unexpired secret of
	// it ExpiresAt graceUntil, in one atomic write. Returns ErrNotFound, or
	// ErrConflict if next.Hash exists. Publishes a [Revocation] of kind
	// [ChangedKey] after commit.
	RotateKey(ctx context.Context, owner, id string, next *KeySecret, hint string, graceUntil time.Time) error

	// RevokeKey marks the owner's live key id revoked at at; its handle is
	// free again. Returns ErrNotFound. Publishes a [Revocation] after commit.
	RevokeKey(ctx context.Context, owner, id string, at time.Time) error

	// UpdateKey writes the Alias, Disabled and Policy of k onto the live
	// key k.ID of k.Owner. Returns ErrNotFound. Publishes a [ChangedKey]
	// revocation after commit, so that caches read the key again.
	UpdateKey(ctx context.Context, k *Key) error

	// TouchKeys sets each key's LastUsedAt to its time in uses, where that
	// is later, in as few statements as the backend allows (it is called
	// with a batch of the keys used since the last call). Unknown ids are
	// ignored.
	TouchKeys(ctx context.Context, uses map[string]time.Time) error
}

// SessionStore stores sessions. Implementations must be safe for concurrent
// use by multiple goroutines.
type SessionStore interface {
	// CreateSession stores s and, if first is not nil, the first refresh
	// token of its family, in one atomic write. Returns ErrConflict, and
	// writes nothing, if s is a login session and an unrevoked login session
	// with the same Owner, KeyID and Name exists, or if s.ID or first.Hash
	// exists.
	CreateSession(ctx context.Context, s *Session, first *RefreshToken) error

	// Session returns the session with id, whoever owns it, revoked or not.
	// Returns ErrNotFound.
	Session(ctx context.Context, id string) (*Session, error)

	// LoginSession returns the owner's unrevoked login session of keyID
	// ("" for one of the app's users signed in without a key) named name.
	// Returns ErrNotFound.
	LoginSession(ctx context.Context, owner, keyID, name string) (*Session, error)

	// ReplaceSessionToken sets the current token of the unrevoked login
	// session id to (sealed, tokenID, tokenExpiresAt) and its ExpiresAt to
	// expiresAt, but only if its TokenID still equals prevTokenID (compare
	// and swap). Returns ErrConflict if it does not, ErrNotFound if there is
	// no such unrevoked session.
	ReplaceSessionToken(ctx context.Context, id, prevTokenID string, sealed []byte, tokenID string, tokenExpiresAt, expiresAt time.Time) error

	// ListSessions returns a page of the owner's unrevoked sessions in ID
	// order, expired ones included until they are collected.
	ListSessions(ctx context.Context, owner string, p Page) ([]*Session, error)

	// EndOldestSessions does nothing unless keyID has more than max
	// unrevoked sessions (of every kind, expired ones included); then it
	// revokes, at at, all of them but the keep newest (by ID, which is
	// creation order). It returns how many unrevoked sessions keyID holds
	// afterwards: keep if it revoked any, else at most max. 1 <= keep <=
	// max. Publishes a [Revocation] for each after commit.
	EndOldestSessions(ctx context.Context, keyID string, max, keep int, at time.Time) (live int, err error)

	// EndKeySessions ends, at at, the unrevoked sessions of keyID created
	// at or before upTo: their ExpiresAt becomes at wherever it was later,
	// and when at is not after upTo they are also revoked at at, with a
	// [Revocation] published for each after commit. Returns how many
	// sessions it changed. (A rotation: the sessions obtained with the old
	// secret end with its grace.)
	EndKeySessions(ctx context.Context, keyID string, upTo, at time.Time) (int, error)

	// RevokeSession marks the owner's session id revoked at at. Revoking a
	// revoked session is not an error. Returns ErrNotFound if the owner has
	// no such session. Publishes a [Revocation] after commit.
	RevokeSession(ctx context.Context, owner, id string, at time.Time) error
}

// RefreshStore stores refresh tokens by hash; the first of a family comes
// with its session (SessionStore.CreateSession). Implementations must be
// safe for concurrent use by multiple goroutines.
type RefreshStore interface {
	// RefreshToken returns the token with hash, spent or not. Returns
	// ErrNotFound.
	RefreshToken(ctx context.Context, hash []byte) (*RefreshToken, error)

	// SpendRefreshToken marks the unspent token with hash spent at at,
	// records childSealed on it, and stores child, in one atomic write.
	// Returns ErrConflict, and writes nothing, if the token was spent
	// already (exactly one of concurrent spenders wins); ErrNotFound if there
	// is no such token.
	SpendRefreshToken(ctx context.Context, hash []byte, at time.Time, childSealed []byte, child *RefreshToken) error
}

// SigningKeyStore stores the keys that sign access tokens. Implementations
// must be safe for concurrent use by multiple goroutines.
type SigningKeyStore interface {
	// CreateSigningKey stores k. Returns ErrConflict if k.ID exists.
	CreateSigningKey(ctx context.Context, k *SigningKey) error

	// SigningKeys returns every stored signing key, oldest first.
	SigningKeys(ctx context.Context) ([]*SigningKey, error)

	// RetireSigningKey sets RetiredAt and ExpiresAt of key id. Returns
	// ErrNotFound.
	RetireSigningKey(ctx context.Context, id string, retiredAt, expiresAt time.Time) error

	// RevokeSigningKey makes key id stop verifying at at (a leak): its
	// ExpiresAt becomes at, and its RetiredAt at if it was active. Returns
	// ErrNotFound. Publishes a [RevokedSigningKey] after commit.
	RevokeSigningKey(ctx context.Context, id string, at time.Time) error
}

// SealedStore keeps what hangs on the server secret, so that it can be
// rotated: the keys of the keyed hashes, sealed under it, and every other
// sealed value, which a rewrap seals again under a new secret.
// Implementations must be safe for concurrent use by multiple goroutines.
type SealedStore interface {
	// HashKey returns the sealed hash key named name. Returns ErrNotFound.
	HashKey(ctx context.Context, name string) ([]byte, error)

	// CreateHashKey stores sealed as the hash key named name. Returns
	// ErrConflict, and writes nothing, if there is one.
	CreateHashKey(ctx context.Context, name string, sealed []byte) error

	// Reseal calls fn with every sealed value the store holds, a batch at a
	// time, without holding a lock across the calls. Where fn returns a
	// value, it replaces the old one, unless the record has changed since
	// it was read (then it is left as it is: whoever changed it sealed it
	// anew). It returns how many values it replaced, the ones so left
	// out. An error from fn stops the walk and is returned, with how many
	// it had replaced.
	Reseal(ctx context.Context, fn func(SealedValue) ([]byte, error)) (replaced int, err error)
}

// SealedKind says what a [SealedValue] is, and so which key sealed it.
type SealedKind string

// The kinds of sealed values, with what each is bound to ([SealedValue.AAD]).
const (
	SealedKeySecret    SealedKind = "key-secret"    // a recoverable key's secret; the key's ID
	SealedSessionToken SealedKind = "session-token" // a login session's token; the session's ID
	SealedRefreshPair  SealedKind = "refresh-pair"  // a spent refresh token's successor, within its grace; the spent token's hash
	SealedSigningKey   SealedKind = "signing-key"   // a signing key's private key; its ID
	SealedHashKey      SealedKind = "hash-key"      // a keyed hash's key; its name
)

// SealedValue is one sealed value of a store, for [SealedStore.Reseal].
type SealedValue struct {
	Kind   SealedKind
	AAD    []byte // what the value is bound to
	Sealed []byte
}

// Store is a complete storage backend: storage/memory, storage/sqlite, and
// any other that passes storage/storagetest.
type Store interface {
	KeyStore
	SessionStore
	RefreshStore
	SigningKeyStore
	UsageStore
	AuditStore
	SealedStore
	Notifier

	// RevokedSince returns, for followers that catch up (the revocation
	// feed), a Revocation for every key and session revoked at or after
	// since ([RevokedKey], [RevokedSession]) and a [ChangedKey] for every
	// live key disabled now, in no particular order.
	RevokedSince(ctx context.Context, since time.Time) ([]Revocation, error)

	// Cleanup deletes what can no longer matter at now: superseded key
	// secrets and refresh tokens past their ExpiresAt, sessions past their
	// ExpiresAt (with their refresh tokens), signing keys past their
	// ExpiresAt; and it erases the ChildSealed of refresh tokens spent
	// more than MaxRefreshGrace before now (a replay can no longer be
	// answered with it). It returns how many records it deleted. It must not block
	// verification for long: backends delete in small batches.
	Cleanup(ctx context.Context, now time.Time) (int, error)

	// Close releases the store's resources.
	Close() error
}

// RevocationKind says what a [Revocation] is about.
type RevocationKind string

// The kinds of revocation.
const (
	RevokedKey     RevocationKind = "key"     // the key is dead: so are its tokens
	RevokedSession RevocationKind = "session" // the session is dead: so are its tokens
	// ChangedKey: the key changed (a rotation, a new policy, disabled or
	// enabled): caches of keys forget it and read it again.
	ChangedKey RevocationKind = "key-changed"
	// RevokedSigningKey: the signing key (its kid) is dead, and so is
	// every token it signed.
	RevokedSigningKey RevocationKind = "signing-key"
)

// Revocation tells that a key or session stopped being valid before its
// time, or that a key changed, so that caches of verified keys and tokens
// forget it.
type Revocation struct {
	Kind RevocationKind
	ID   string
}

// Notifier tells subscribers about revocations. In-process revocations are
// delivered synchronously after their write commits, before the revoking
// call returns; a backend shared by several processes also relays the
// revocations the other processes make.
type Notifier interface {
	// Subscribe calls fn for every revocation until cancel is called. fn must
	// be quick and must not call back into the store.
	Subscribe(fn func(Revocation)) (cancel func())
}

// NotifierHealth is implemented by a [Notifier] that relays other
// processes' revocations and changes (storage/sqlite, storage/postgres).
type NotifierHealth interface {
	// ListeningSince returns when its current run of listening began:
	// every change committed since then has been or will be published,
	// without a gap. Zero while it is not listening: then the caches that
	// trust the Notifier (verified keys, policies, token liveness) read
	// the store on every verification instead. A cache may trust a record
	// it read after that time for longer than its freshness, for no
	// change to it can have gone unheard; one read before it is read
	// again (after a reconnection, say, whose replay may not cover every
	// kind of change). It must be cheap: it is asked on every request.
	ListeningSince() time.Time
}

// Broadcaster is an in-process [Notifier] for backends to embed; they call
// Publish after each revocation commits. Subscribers are called in the order
// they subscribed, so that a service built first (keys, before the token
// verifier that depends on it) has forgotten a key by the time a later one
// hears of it. The zero value is ready to use and it is safe for concurrent
// use.
type Broadcaster struct {
	mu   sync.RWMutex
	next int
	subs []subscriber // in subscription order
}

type subscriber struct {
	id int
	fn func(Revocation)
}

// Subscribe implements [Notifier].
func (b *Broadcaster) Subscribe(fn func(Revocation)) (cancel func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.next
	b.next++
	b.subs = append(b.subs, subscriber{id, fn})
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.subs = slices.DeleteFunc(b.subs, func(s subscriber) bool { return s.id == id })
	}
}

// Publish calls every subscriber with r, in subscription order.
func (b *Broadcaster) Publish(r Revocation) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, s := range b.subs {
		s.fn(r)
	}
}

// KeyVerifier turns a key's secret into its [Key]. keys.Service implements
// it; the sessions and HTTP layers take it. It must be safe for concurrent
// use.
type KeyVerifier interface {
	// LooksLikeKey reports whether s is shaped like one of this verifier's
	// keys, without any I/O, so that middleware can tell a key from an
	// access token.
	LooksLikeKey(s string) bool

	// VerifyKey returns the live key whose secret is secret, as a copy the
	// caller owns. Returns an error wrapping ErrInvalid for a string that is
	// not a well-formed key (no store is asked), ErrNotFound for an unknown
	// key, ErrRevoked or ErrExpired for a dead one, and any other error (a
	// store failure) wrapped as it is.
	VerifyKey(ctx context.Context, secret string) (*Key, error)

	// KeyPrincipal is VerifyKey for middleware: it returns the principal of
	// a request that presents the key, with the same errors.
	KeyPrincipal(ctx context.Context, secret string) (Principal, error)

	// CachedKeyPrincipal is KeyPrincipal answered from memory only: the
	// principal of a live key verified recently, and true; false for any
	// other string, without asking the store. A caller that must not reach
	// the store (for a client address blocked for failed credentials) may
	// still admit a key it knows.
	CachedKeyPrincipal(secret string) (Principal, bool)
}

// TokenRequest asks a [TokenIssuer] for an access token, for a key or for
// one of the app's own users.
type TokenRequest struct {
	Key *Key // the key the token is issued for: its owner becomes sub, its ID client_id
	// User, with Key nil, is one of the app's users signed in with the
	// app's own credentials: sub; the token has no client_id.
	User      string
	SessionID string        // the session the token belongs to (sid)
	Scopes    []string      // the token's scopes: nil for the key's, else a subset of them; a user's are as given
	TTL       time.Duration // the lifetime; 0 means the issuer's default, and the issuer's maximum bounds it
}

// ExchangeRequest asks for a key exchange: a new grant session for Key,
// with an access token and a refresh token.
type ExchangeRequest struct {
	Key    *Key          // the verified key; required
	TTL    time.Duration // the access token's lifetime; 0 means the issuer's default
	Scopes []string      // nil for the key's, else a subset of them
	// SessionTTL is the lifetime of the grant session and its refresh
	// family; 0 means the session manager's default, and it is never
	// longer than that default nor than the key's own life.
	SessionTTL time.Duration
	// NoRefresh issues no refresh token (as RFC 6749 §4.4.3 advises for
	// client credentials): the session ends with its access token.
	NoRefresh bool
	// Flow names the endpoint that opened the grant (kept as the
	// session's Name): its refresh tokens are redeemed only where the same
	// Flow is, under that endpoint's lifetime caps.
	Flow string
}

// TokenIssuer issues signed access tokens. tokens.Service implements it.
// It must be safe for concurrent use.
type TokenIssuer interface {
	// Issue returns a signed access token and its claims, which the caller
	// owns. Returns an error wrapping ErrInvalid for a TTL below one second
	// or above the maximum, ErrForbidden for a scope the key lacks.
	Issue(ctx context.Context, r TokenRequest) (token string, c *Claims, err error)
}

// TokenVerifier verifies access tokens. tokens.Service implements it.
// It must be safe for concurrent use.
type TokenVerifier interface {
	// Verify checks token's signature, its claims and that its key and
	// session are still alive, and returns the request's [Principal] (with
	// the claims: Principal.Claims). Returns an error wrapping ErrExpired for
	// an expired token, ErrRevoked for a token of a deleted key or revoked
	// session, ErrUnauthenticated for anything else that is wrong with the
	// token, and any other error (a store failure) wrapped as it is.
	Verify(ctx context.Context, token string) (Principal, error)
}
