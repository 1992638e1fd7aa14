package keys

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/opaque"
	"github.com/authkit/authkit/internal/seal"
	"github.com/google/uuid"
)

// Config configures a [Service].
type Config struct {
	Store  authkit.KeyStore // required
	Secret *authkit.Secret  // required: hashes and seals derive from it
	// Prefix starts every secret: 1–16 of [a-z0-9], starting with a letter.
	// Default "ak".
	Prefix string
	Clock  authkit.Clock // nil: the system clock
	// TouchInterval is how often a key's LastUsedAt may be written; default
	// one minute, so that verification does not write on every request.
	TouchInterval time.Duration
}

// Service manages application keys. It is safe for concurrent use.
type Service struct {
	store   authkit.KeyStore
	hasher  *seal.Hasher
	sealer  *seal.Sealer
	prefix  string
	live    string // "<prefix>_live_"
	test    string // "<prefix>_test_"
	clock   authkit.Clock
	touchIv time.Duration

	touchMu sync.Mutex
	touched map[string]time.Time // key ID → when this service last wrote its LastUsedAt; bounded
	prune   int                  // prune touched when it grows past this
}

// maxTouched bounds the map of recent LastUsedAt writes.
const maxTouched = 100_000

var _ authkit.KeyVerifier = (*Service)(nil)

// New returns a Service. Returns an error wrapping authkit.ErrInvalid for a
// missing store or secret or a bad prefix.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, authkit.Invalid("store", "required")
	}
	if cfg.Secret == nil {
		return nil, authkit.Invalid("secret", "required")
	}
	p := cfg.Prefix
	if p == "" {
		p = "ak"
	}
	if !validPrefix(p) {
		return nil, authkit.Invalid("prefix", "1 to 16 of [a-z0-9], starting with a letter")
	}
	sealer, err := seal.NewSealer(cfg.Secret.Derive("authkit/keys/seal"))
	if err != nil { // cannot happen: Derive gives 32 bytes
		return nil, fmt.Errorf("keys: sealer: %w", err)
	}
	iv := cfg.TouchInterval
	if iv <= 0 {
		iv = time.Minute
	}
	return &Service{
		store: cfg.Store, hasher: seal.NewHasher(cfg.Secret.Derive("authkit/keys/hash")), sealer: sealer,
		prefix: p, live: p + "_live_", test: p + "_test_", clock: cfg.Clock, touchIv: iv,
		touched: map[string]time.Time{}, prune: 1024,
	}, nil
}

func validPrefix(p string) bool {
	if len(p) == 0 || len(p) > 16 || p[0] < 'a' || p[0] > 'z' {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// Create makes a key and returns it with its secret, which is not stored
// and is shown this once (unless the key is recoverable). Returns an error
// wrapping authkit.ErrInvalid (a [*authkit.FieldError] naming the field) for
// bad input, authkit.ErrConflict for a handle the owner already uses.
func (s *Service) Create(ctx context.Context, r authkit.KeyRequest) (*authkit.Key, string, error) {
	now := s.clock.Now()
	if r.Owner == "" || len(r.Owner) > 256 {
		return nil, "", authkit.Invalid("owner", "required, at most 256 bytes")
	}
	if err := CheckHandle(r.Handle); err != nil {
		return nil, "", err
	}
	if len(r.Alias) > 128 || !utf8.ValidString(r.Alias) || strings.ContainsFunc(r.Alias, func(c rune) bool { return !unicode.IsPrint(c) }) {
		return nil, "", authkit.Invalid("alias", "at most 128 bytes of printable UTF-8")
	}
	env := r.Env
	if env == "" {
		env = authkit.EnvLive
	}
	if !env.Valid() {
		return nil, "", authkit.Invalid("env", `must be "live" or "test"`)
	}
	if err := authkit.CheckScopes(r.Scopes); err != nil {
		return nil, "", err
	}
	if len(r.Scopes) > 64 {
		return nil, "", authkit.Invalid("scopes", "at most 64 scopes")
	}
	scopes := slices.Clone(r.Scopes)
	slices.Sort(scopes)
	scopes = slices.Compact(scopes)
	var exp time.Time // zero: never
	if !r.ExpiresAt.IsZero() {
		exp = r.ExpiresAt.UTC().Truncate(time.Microsecond) // the precision every store keeps
		if !exp.After(now) {
			return nil, "", authkit.Invalid("expires_at", "must be in the future")
		}
	}
	id, err := uuid.NewV7()
	if err != nil { // only if crypto/rand fails
		return nil, "", fmt.Errorf("keys: create: key id: %w", err)
	}
	secret := opaque.New(s.envPrefix(env))
	k := &authkit.Key{
		ID: id.String(), Owner: r.Owner, Handle: r.Handle, Alias: r.Alias, Env: env,
		Scopes: scopes, Hint: s.hint(secret, env), Recoverable: r.Recoverable, CreatedAt: now, ExpiresAt: exp,
	}
	if err := s.store.CreateKey(ctx, k, s.secretRecord(k.ID, secret, r.Recoverable, now)); err != nil {
		return nil, "", fmt.Errorf("keys: create %q: %w", r.Handle, err)
	}
	return k, secret, nil
}

func (s *Service) envPrefix(env authkit.Env) string {
	if env == authkit.EnvTest {
		return s.test
	}
	return s.live
}

func (s *Service) hint(secret string, env authkit.Env) string {
	p := s.envPrefix(env)
	return secret[:len(p)+4]
}

func (s *Service) secretRecord(keyID, secret string, recoverable bool, now time.Time) *authkit.KeySecret {
	ks := &authkit.KeySecret{Hash: s.hasher.Sum(secret), KeyID: keyID, CreatedAt: now}
	if recoverable {
		ks.Sealed = s.sealer.Seal([]byte(secret), []byte(keyID))
	}
	return ks
}

// CheckHandle reports a [*authkit.FieldError] unless h is 1–64 of [a-z0-9_-].
func CheckHandle(h string) error {
	if len(h) == 0 || len(h) > 64 {
		return authkit.Invalid("handle", "must be 1 to 64 characters")
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return authkit.Invalid("handle", "may hold only a-z, 0-9, _ and -")
		}
	}
	return nil
}

// LooksLikeKey reports whether secret is shaped like one of this service's
// keys (prefix, env, length and checksum), without asking the store.
// Middleware uses it to tell a key from an access token.
func (s *Service) LooksLikeKey(secret string) bool {
	return opaque.Valid(secret, s.live) || opaque.Valid(secret, s.test)
}

// Parse checks the format of secret and returns its env. Returns an error
// wrapping authkit.ErrInvalid (field "key") for anything that is not a
// well-formed key of this service: wrong prefix, unknown env, bad length,
// characters or checksum.
func (s *Service) Parse(secret string) (authkit.Env, error) {
	switch {
	case opaque.Valid(secret, s.live):
		return authkit.EnvLive, nil
	case opaque.Valid(secret, s.test):
		return authkit.EnvTest, nil
	}
	return "", errMalformed
}

var errMalformed = authkit.Invalid("key", "not a well-formed key")

// VerifyKey returns the live key whose secret is secret. Returns an error
// wrapping authkit.ErrInvalid for a malformed secret (the store is not
// asked), authkit.ErrNotFound for an unknown one, authkit.ErrRevoked for a
// deleted key or a secret superseded by rotation after its grace,
// authkit.ErrExpired for an expired key.
func (s *Service) VerifyKey(ctx context.Context, secret string) (*authkit.Key, error) {
	if _, err := s.Parse(secret); err != nil {
		return nil, err
	}
	var h [sha256.Size]byte
	s.hasher.SumInto(&h, secret)
	k, ks, err := s.store.KeyBySecret(ctx, h[:])
	if err != nil {
		return nil, fmt.Errorf("keys: verify: %w", err)
	}
	if !seal.Equal(ks.Hash, h[:]) {
		return nil, fmt.Errorf("keys: verify: %w", authkit.ErrNotFound)
	}
	now := s.clock.Now()
	if !ks.ExpiresAt.IsZero() && !now.Before(ks.ExpiresAt) {
		return nil, fmt.Errorf("keys: verify: secret rotated away: %w", authkit.ErrRevoked)
	}
	if err := k.Check(now); err != nil {
		return nil, fmt.Errorf("keys: verify: %w", err)
	}
	s.touch(ctx, k, now)
	return k, nil
}

// touch writes LastUsedAt at most once per TouchInterval per key. A
// LastUsedAt the store already holds within the interval (this process's
// last write, or another's) needs no look at the map; otherwise the map of
// this service's last writes decides, under a lock, so that concurrent
// verifications of one key write once and a failed write is not retried on
// every request. The write itself happens outside the lock.
func (s *Service) touch(ctx context.Context, k *authkit.Key, now time.Time) {
	if !k.LastUsedAt.IsZero() && now.Sub(k.LastUsedAt) < s.touchIv {
		return
	}
	s.touchMu.Lock()
	if last, ok := s.touched[k.ID]; ok && now.Sub(last) < s.touchIv {
		s.touchMu.Unlock()
		return
	}
	s.touched[k.ID] = now
	if len(s.touched) > s.prune {
		// Entries older than the interval decide nothing: forget them. If
		// the map is still large (many keys used within one interval),
		// forget it all: a few keys get LastUsedAt written twice.
		for id, at := range s.touched {
			if now.Sub(at) >= s.touchIv {
				delete(s.touched, id)
			}
		}
		if len(s.touched) > maxTouched/2 {
			clear(s.touched)
		}
		s.prune = max(1024, 2*len(s.touched))
	}
	s.touchMu.Unlock()
	// Best effort: a failed write only leaves LastUsedAt older.
	if err := s.store.TouchKey(ctx, k.ID, now); err == nil {
		k.LastUsedAt = now
	}
}

// Get returns the owner's key with id. Returns authkit.ErrNotFound for a key
// of another owner, exactly as for a missing one.
func (s *Service) Get(ctx context.Context, owner, id string) (*authkit.Key, error) {
	k, err := s.store.Key(ctx, owner, id)
	if err != nil {
		return nil, fmt.Errorf("keys: get: %w", err)
	}
	return k, nil
}

// GetByHandle returns the owner's key with handle. Returns authkit.ErrNotFound.
func (s *Service) GetByHandle(ctx context.Context, owner, handle string) (*authkit.Key, error) {
	if CheckHandle(handle) != nil {
		return nil, fmt.Errorf("keys: get %q: %w", handle, authkit.ErrNotFound)
	}
	k, err := s.store.KeyByHandle(ctx, owner, handle)
	if err != nil {
		return nil, fmt.Errorf("keys: get: %w", err)
	}
	return k, nil
}

// List returns a page of the owner's live keys, oldest first. No secret is
// returned.
func (s *Service) List(ctx context.Context, owner string, p authkit.Page) ([]*authkit.Key, error) {
	ks, err := s.store.ListKeys(ctx, owner, p)
	if err != nil {
		return nil, fmt.Errorf("keys: list: %w", err)
	}
	return ks, nil
}

// Delete revokes the owner's key: it stops verifying at once, and so does
// every token issued from it. Returns authkit.ErrNotFound.
func (s *Service) Delete(ctx context.Context, owner, id string) error {
	if err := s.store.RevokeKey(ctx, owner, id, s.clock.Now()); err != nil {
		return fmt.Errorf("keys: delete: %w", err)
	}
	s.touchMu.Lock()
	delete(s.touched, id)
	s.touchMu.Unlock()
	return nil
}

// Rotate gives the owner's key a new secret and returns the key (its Hint
// now the new secret's) with the new secret. The old secret keeps verifying
// for grace (0: it stops at once). A recoverable key stays recoverable.
// Returns authkit.ErrNotFound, or authkit.ErrInvalid for a negative grace.
func (s *Service) Rotate(ctx context.Context, owner, id string, grace time.Duration) (*authkit.Key, string, error) {
	if grace < 0 {
		return nil, "", authkit.Invalid("grace", "must not be negative")
	}
	k, err := s.store.Key(ctx, owner, id)
	if err != nil {
		return nil, "", fmt.Errorf("keys: rotate: %w", err)
	}
	now := s.clock.Now()
	secret := opaque.New(s.envPrefix(k.Env))
	hint := s.hint(secret, k.Env)
	if err := s.store.RotateKey(ctx, owner, id, s.secretRecord(id, secret, k.Recoverable, now), hint, now.Add(grace)); err != nil {
		return nil, "", fmt.Errorf("keys: rotate: %w", err)
	}
	k.Hint = hint
	return k, secret, nil
}

// Reveal returns the current secret of the owner's recoverable key. Returns
// authkit.ErrNotFound, or an error wrapping authkit.ErrForbidden for a key
// that is not recoverable.
func (s *Service) Reveal(ctx context.Context, owner, id string) (string, error) {
	ks, err := s.store.CurrentKeySecret(ctx, owner, id)
	if err != nil {
		return "", fmt.Errorf("keys: reveal: %w", err)
	}
	if len(ks.Sealed) == 0 {
		return "", fmt.Errorf("keys: reveal: key is not recoverable: %w", authkit.ErrForbidden)
	}
	b, err := s.sealer.Open(ks.Sealed, []byte(id))
	if err != nil {
		return "", fmt.Errorf("keys: reveal: sealed secret does not open under this server secret: %w", authkit.ErrForbidden)
	}
	return string(b), nil
}
