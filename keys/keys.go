package keys

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/audit"
	"github.com/authkit/authkit/internal/metrics"
	"github.com/authkit/authkit/internal/opaque"
	"github.com/authkit/authkit/internal/refresh"
	"github.com/authkit/authkit/internal/seal"
	"github.com/authkit/authkit/internal/tick"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/metric"
)

// Defaults of [Config].
const (
	DefaultCacheSize  = 100_000
	DefaultCacheTTL   = time.Minute
	DefaultFlushEvery = 15 * time.Second
)

// Config configures a [Service]. Store and Secret are required; every other
// field has a safe default.
type Config struct {
	// Store holds the keys. If it is also an [authkit.Notifier] (every
	// authkit backend is), the cache of verified keys forgets a key the
	// moment it is deleted or rotated, on every replica the store reaches.
	Store  authkit.KeyStore
	Secret *authkit.Secret // hashes and seals derive from it
	// Prefix starts every secret: 1–16 of [a-z0-9], starting with a letter.
	// Default "ak".
	Prefix string
	Clock  authkit.Clock // nil: the system clock
	// CacheSize bounds the cache of verified keys; default 100 000.
	CacheSize int
	// CacheTTL is how long (at most: each entry is fresh for between four
	// fifths of it and all of it, so that keys seen together are not read
	// again together) a verified key is trusted before the store is
	// asked again: it bounds how long a change the store did not publish
	// (a lost notification) goes unseen; deletions and rotations the store
	// publishes take effect at once regardless. For ten minutes more, a key
	// used again is still answered from the cache while one background read
	// refreshes it. Default 1 minute; negative turns the cache off.
	//
	// A store whose Notifier vouches that it has heard every change since
	// before a key was read (authkit.NotifierHealth.ListeningSince:
	// storage/sqlite, storage/postgres) keeps that key fresh ten times as
	// long: no change to it can have gone unheard. A reconnection ends
	// that for every key read before it. Its time is compared with Clock's.
	CacheTTL time.Duration
	// FlushEvery is how often the last-used times of the keys verified
	// meanwhile are written, in one batch; nothing on the request path
	// writes. A key's LastUsedAt is written again only once it has moved by
	// five minutes. Default 15 s; negative writes only on [Service.Flush] and
	// [Service.Close]. A crash loses at most this much of LastUsedAt.
	FlushEvery time.Duration
	// KeepSessionsOnRotate keeps, through a rotation, the sessions, refresh
	// families and login tokens obtained with the old secret. By default
	// ([Service.Rotate]) they end when the old secret's grace does: a
	// rotation is what an owner does after a leak.
	KeepSessionsOnRotate bool
	// Logger receives the audit events of key changes (which the store
	// keeps too, if it is an authkit.AuditStore); nil: slog.Default().
	Logger *slog.Logger
	// MeterProvider, when set, receives the Service's metrics:
	// authkit.verifications and authkit.cache.lookups of keys, and the
	// duration of the store reads that verify them (see the root README's
	// Operations). nil: none, at no cost.
	MeterProvider metric.MeterProvider
}

// Service manages application keys. It is safe for concurrent use. Call
// [Service.Close] when done with it: it writes the last uses it recorded.
type Service struct {
	store        authkit.KeyStore
	audit        *audit.Recorder
	health       authkit.NotifierHealth // the store's, if it has one
	since        atomic.Int64           // health's ListeningSince as last seen, Unix ns
	hasher       *seal.StoredHasher
	sealer       *seal.Sealer
	prefix       string
	live         string // "<prefix>_live_"
	test         string // "<prefix>_test_"
	clock        authkit.Clock
	keepSessions bool // Config.KeepSessionsOnRotate
	metrics      *metrics.Metrics

	cache     *keyCache
	refreshes *refresh.Queue[*entry] // stale entries, read again in the background
	flushMu   sync.Mutex             // one flush at a time
	cancel    func()                 // the store subscription
	flusher   *tick.Loop             // nil with FlushEvery < 0
	stop      chan struct{}          // the refreshes'
	once      sync.Once
}

var _ authkit.KeyVerifier = (*Service)(nil)

// New returns a Service and starts its flusher. Returns an error wrapping
// authkit.ErrInvalid for a missing store or secret or a bad prefix.
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
	size, ttl, every := cfg.CacheSize, cfg.CacheTTL, cfg.FlushEvery
	if size <= 0 {
		size = DefaultCacheSize
	}
	switch {
	case ttl == 0:
		ttl = DefaultCacheTTL
	case ttl < 0:
		ttl = 0 // nothing is fresh: every verification asks the store
	}
	if every == 0 {
		every = DefaultFlushEvery
	}
	s := &Service{
		store: cfg.Store, sealer: seal.NewSealer(cfg.Secret, seal.PurposeKeys),
		prefix: p, live: p + "_live_", test: p + "_test_", clock: cfg.Clock, keepSessions: cfg.KeepSessionsOnRotate,
		cache: newKeyCache(size, ttl, staleFor(ttl)), stop: make(chan struct{}),
	}
	var err error
	if s.metrics, err = metrics.New(cfg.MeterProvider); err != nil {
		return nil, fmt.Errorf("keys: metrics: %w", err)
	}
	if s.health, _ = cfg.Store.(authkit.NotifierHealth); s.health != nil {
		s.since.Store(unixNano(s.health.ListeningSince()))
	}
	sealed, _ := cfg.Store.(authkit.SealedStore)
	s.hasher = seal.NewStoredHasher(sealed, cfg.Secret, seal.HashKeyKeys)
	s.audit = audit.New(cfg.Store, cfg.Logger, cfg.Clock)
	if n, ok := cfg.Store.(authkit.Notifier); ok {
		s.cancel = n.Subscribe(func(r authkit.Revocation) {
			if r.Kind == authkit.RevokedKey || r.Kind == authkit.ChangedKey {
				s.cache.forget(r.ID)
			}
		})
	}
	if every > 0 {
		// A failed write is tried again at the next tick.
		s.flusher = tick.Start(every, func() { s.Flush(context.Background()) })
	}
	s.refreshes = refresh.New(s.stop, s.reread, 0)
	return s, nil
}

// Close stops the flusher, writes the last uses recorded since the last
// flush, stops listening for revocations and stops reporting its
// verifications to the MeterProvider. The Service still verifies
// afterwards, but records no use. Close may be called more than once.
func (s *Service) Close() error {
	var err error
	s.once.Do(func() {
		s.flusher.Stop()
		close(s.stop)
		if s.cancel != nil {
			s.cancel()
		}
		s.metrics.Close()
		err = s.Flush(context.Background())
	})
	return err
}

// Flush writes the last-used times of the keys verified since the last
// flush, in one batch (KeyStore.TouchKeys). The Service calls it every
// Config.FlushEvery and at Close; call it yourself to see LastUsedAt up to
// date. A failed write keeps the times for the next flush.
func (s *Service) Flush(ctx context.Context) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	latest := map[string]int64{}
	marked := s.cache.uses(latest)
	if len(latest) == 0 {
		return nil
	}
	uses := make(map[string]time.Time, len(latest))
	for id, ns := range latest {
		uses[id] = time.Unix(0, ns).UTC()
	}
	if err := s.store.TouchKeys(ctx, uses); err != nil {
		s.cache.giveBack(latest)
		return fmt.Errorf("keys: flush last uses: %w", err)
	}
	s.cache.written(marked, latest)
	return nil
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
	if err := checkAlias(r.Alias); err != nil {
		return nil, "", err
	}
	policy := r.Policy.Clone()
	if err := policy.Check(); err != nil {
		return nil, "", err
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
		Policy: policy,
	}
	rec, err := s.secretRecord(ctx, k.ID, secret, r.Recoverable, now)
	if err != nil {
		return nil, "", err
	}
	if err := s.store.CreateKey(ctx, k, rec); err != nil {
		return nil, "", fmt.Errorf("keys: create %q: %w", r.Handle, err)
	}
	s.audit.Record(ctx, k.Owner, authkit.AuditKeyCreated, k.ID, "handle "+k.Handle+", env "+string(k.Env))
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

func (s *Service) secretRecord(ctx context.Context, keyID, secret string, recoverable bool, now time.Time) (*authkit.KeySecret, error) {
	h, err := s.hasher.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	ks := &authkit.KeySecret{Hash: h.Sum(secret), KeyID: keyID, CreatedAt: now}
	if recoverable {
		ks.Sealed = s.sealer.Seal([]byte(secret), []byte(keyID))
	}
	return ks, nil
}

func checkAlias(a string) error {
	if len(a) > 128 || !utf8.ValidString(a) || strings.ContainsFunc(a, func(c rune) bool { return !unicode.IsPrint(c) }) {
		return authkit.Invalid("alias", "at most 128 bytes of printable UTF-8")
	}
	return nil
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

// VerifyKey returns the live key whose secret is secret, as a copy the
// caller owns. Returns an error wrapping authkit.ErrInvalid for a malformed
// secret (the store is not asked), authkit.ErrNotFound for an unknown one,
// authkit.ErrRevoked for a deleted key or a secret superseded by rotation
// after its grace, authkit.ErrExpired for an expired key, and a store
// failure wrapped as it is. A key verified within Config.CacheTTL is
// answered from memory; its use is recorded for the next flush.
func (s *Service) VerifyKey(ctx context.Context, secret string) (*authkit.Key, error) {
	e, _, err := s.verify(ctx, secret, s.metrics)
	if err != nil {
		return nil, err
	}
	return e.copyKey(), nil
}

// CachedVerifyKey is [Service.VerifyKey] answered from memory only: the
// key of a secret verified recently (fresh in the cache), and true; false
// otherwise, without asking the store and without counting anything (the
// verification that follows counts). Token endpoints ask it first, so
// that only a key they must look up waits for the failed-credential
// limiter.
func (s *Service) CachedVerifyKey(secret string) (*authkit.Key, bool) {
	e, _, ok := s.cached(secret)
	if !ok {
		return nil, false
	}
	s.metrics.Verified(metrics.Key, metrics.Hit, nil)
	return e.copyKey(), true
}

// copyKey is a copy of the entry's key that the caller owns.
func (e *entry) copyKey() *authkit.Key {
	k := *e.key
	k.Scopes = slices.Clone(k.Scopes)
	k.Policy = k.Policy.Clone()
	return &k
}

// CachedKey returns a copy of key id as the cache of verified keys holds
// it (verified with its current secret, fresh or being refreshed), without
// asking the store; false if it holds none. The Gate reads policies through
// it (server.New wires that), so that a key verified a moment ago costs it
// no second read of the store.
//
// It also returns when the key was read from the store (by the Service's
// Clock), so that a cache built on it counts its freshness from there.
func (s *Service) CachedKey(id string) (*authkit.Key, time.Time, bool) {
	now := s.clock.Now().UnixNano()
	if !s.listening(now) {
		return nil, time.Time{}, false
	}
	e := s.cache.current(id, now)
	if e == nil {
		return nil, time.Time{}, false
	}
	return e.copyKey(), time.Unix(0, e.read), true
}

// KeyPrincipal is [Service.VerifyKey] for middleware: it returns the
// principal of a request that presents the key. A key seen before is
// answered without allocating.
func (s *Service) KeyPrincipal(ctx context.Context, secret string) (authkit.Principal, error) {
	_, p, err := s.verify(ctx, secret, s.metrics)
	return p, err
}

// CachedKeyPrincipal implements authkit.KeyVerifier: the principal of a
// key in the verified-key cache and fresh (verified within
// Config.CacheTTL), and true; false otherwise, without asking the store.
func (s *Service) CachedKeyPrincipal(secret string) (authkit.Principal, bool) {
	_, p, ok := s.cached(secret)
	if !ok {
		return authkit.Principal{}, false // the verification that follows counts
	}
	s.metrics.Verified(metrics.Key, metrics.Hit, nil)
	return p, true
}

// cached is the entry of secret if the cache answers it alone: verified,
// fresh, unexpired, and the store's notifications heard.
func (s *Service) cached(secret string) (*entry, authkit.Principal, bool) {
	if _, err := s.Parse(secret); err != nil {
		return nil, authkit.Principal{}, false
	}
	hasher := s.hasher.Loaded()
	if hasher == nil {
		return nil, authkit.Principal{}, false
	}
	tag := s.cache.locate(secret)
	var h [sha256.Size]byte
	hasher.SumInto(&h, secret)
	now := s.clock.Now().UnixNano()
	if !s.listening(now) {
		return nil, authkit.Principal{}, false
	}
	e, p, stale, expired := s.cache.get(tag, &h, now)
	if e == nil || stale || expired {
		return nil, authkit.Principal{}, false
	}
	return e, p, true
}

// verify verifies secret, and counts the verification in m (nil: not).
func (s *Service) verify(ctx context.Context, secret string, m *metrics.Metrics) (*entry, authkit.Principal, error) {
	if _, err := s.Parse(secret); err != nil {
		m.Verified(metrics.Key, metrics.NoLookup, err)
		return nil, authkit.Principal{}, err
	}
	hasher, err := s.hasher.Get(ctx)
	if err != nil {
		return nil, authkit.Principal{}, fmt.Errorf("keys: %w", err)
	}
	tag := s.cache.locate(secret) // first: its slot is read from memory while the hash is computed
	var h [sha256.Size]byte
	hasher.SumInto(&h, secret)
	now := s.clock.Now()
	ns := now.UnixNano()
	if s.listening(ns) { // else deaf: the cache is not trusted
		if e, p, stale, expired := s.cache.get(tag, &h, ns); e != nil {
			if expired {
				err := &authkit.KeyRefusal{KeyID: e.key.ID, Err: e.check(ns)}
				m.Verified(metrics.Key, metrics.Hit, err)
				return nil, authkit.Principal{}, err
			}
			if stale {
				s.refreshes.Offer(&e.refreshing, e)
			}
			m.Verified(metrics.Key, metrics.Hit, nil)
			return e, p, nil
		}
	}
	e, err := s.load(ctx, tag, h, now)
	m.Verified(metrics.Key, metrics.Miss, err)
	if err != nil {
		return nil, authkit.Principal{}, err
	}
	return e, e.principal, nil
}

// listening reports whether the store's Notifier hears other processes'
// changes now (authkit.NotifierHealth; a store without one is taken to
// hear them all): while it does not, the cache is not trusted, and every
// verification reads the store. When the Notifier has begun a new run of
// listening since it was last asked, every entry read before it is made
// stale at now, to be read again.
func (s *Service) listening(now int64) bool {
	if s.health == nil {
		return true
	}
	since := s.health.ListeningSince()
	if since.IsZero() {
		return false
	}
	if ns, last := since.UnixNano(), s.since.Load(); ns != last && s.since.CompareAndSwap(last, ns) {
		s.cache.demote(ns, now)
	}
	return true
}

// load reads the key of hash h from the store, checks it at now, and caches
// it, under tag (keyCache.locate), if it is alive.
func (s *Service) load(ctx context.Context, tag uint64, h [32]byte, now time.Time) (*entry, error) {
	ep := s.cache.epoch.Load()
	hs := make([]byte, len(h)) // the store may keep it: h stays on the stack for the cached path
	copy(hs, h[:])
	start := s.metrics.Start()
	k, ks, err := s.store.KeyBySecret(ctx, hs)
	s.metrics.Stored(ctx, metrics.KeyBySecret, start)
	if err != nil {
		return nil, fmt.Errorf("keys: verify: %w", err)
	}
	if !seal.Equal(ks.Hash, hs) {
		return nil, fmt.Errorf("keys: verify: %w", authkit.ErrNotFound)
	}
	if !ks.ExpiresAt.IsZero() && !now.Before(ks.ExpiresAt) {
		return nil, &authkit.KeyRefusal{KeyID: k.ID, Err: errRotatedAway}
	}
	if err := k.Check(now); err != nil {
		return nil, &authkit.KeyRefusal{KeyID: k.ID, Err: fmt.Errorf("keys: verify: %w", err)}
	}
	ns := now.UnixNano()
	fresh := s.cache.ttl
	if refresh.Vouched(s.health, ns) {
		fresh *= refresh.VouchedFor
	}
	e := &entry{hash: h, tag: tag, key: k, principal: k.Principal(), keyExp: unixNano(k.ExpiresAt), secretExp: unixNano(ks.ExpiresAt),
		read: ns, stale: ns + refresh.Fresh(fresh) + s.cache.stale}
	if !ks.ExpiresAt.IsZero() && (k.ExpiresAt.IsZero() || ks.ExpiresAt.Before(k.ExpiresAt)) {
		// A secret rotated away, in its grace: the key, as this secret
		// presents it (VerifyKey's copy), ends with the grace, and so do
		// the tokens and sessions issued on it (they never outlive their
		// key).
		k.ExpiresAt = ks.ExpiresAt
	}
	s.cache.put(e, ns, ep)
	return e, nil
}

// staleFor is how long an entry past its freshness is still answered
// while it is refreshed: ten minutes, none when caching is off.
func staleFor(ttl time.Duration) time.Duration {
	if ttl == 0 {
		return 0
	}
	return 10 * time.Minute
}

// reread reads a stale entry's key again (refresh.Queue), replacing the
// entry, or dropping it if its key is no longer alive.
func (s *Service) reread(e *entry) {
	_, err := s.load(context.Background(), e.tag, e.hash, s.clock.Now())
	var refused *authkit.KeyRefusal
	switch {
	case errors.Is(err, authkit.ErrNotFound), errors.As(err, &refused):
		s.cache.forget(e.key.ID) // dead or disabled now: gone, and the next use is refused from the store
	case err != nil:
		e.refreshing.Store(false) // the store failed: keep answering, try again later
	}
}

var (
	errRotatedAway = fmt.Errorf("keys: verify: secret rotated away: %w", authkit.ErrRevoked)
	errKeyExpired  = fmt.Errorf("keys: verify: %w", authkit.ErrExpired)
)

// check rechecks a cached entry at now: its secret's grace and the key's
// expiry (a deletion removes the entry).
func (e *entry) check(now int64) error {
	if e.secretExp != 0 && now >= e.secretExp {
		return errRotatedAway
	}
	if e.keyExp != 0 && now >= e.keyExp {
		return errKeyExpired
	}
	return nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
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
	s.cache.forget(id) // at once, even with a store that is no Notifier
	s.audit.Record(ctx, owner, authkit.AuditKeyDeleted, id, "")
	return nil
}

// Rotate gives the owner's key a new secret and returns the key (its Hint
// now the new secret's) with the new secret. The old secret keeps verifying
// for grace (0: it stops at once). A recoverable key stays recoverable.
// Unless Config.KeepSessionsOnRotate, and if the store is also an
// authkit.SessionStore (every authkit backend is), the sessions, refresh
// families and login tokens obtained with the old secret end with its
// grace: revoked at once without one, and otherwise refused from the
// grace's end (within the token verifiers' liveness window, 30 s by
// default). Returns authkit.ErrNotFound, or authkit.ErrInvalid for a
// negative grace.
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
	rec, err := s.secretRecord(ctx, id, secret, k.Recoverable, now)
	if err != nil {
		return nil, "", err
	}
	if err := s.store.RotateKey(ctx, owner, id, rec, hint, now.Add(grace)); err != nil {
		return nil, "", fmt.Errorf("keys: rotate: %w", err)
	}
	s.cache.forget(id)
	// What the old secret obtained ends with it: sessions opened before
	// now (with it, or with an earlier secret) end at the grace's end, at
	// once without one. Those it opens during the grace end then too: the
	// key it verifies to expires with it (see load).
	if ss, ok := s.store.(authkit.SessionStore); ok && !s.keepSessions {
		if _, err := ss.EndKeySessions(ctx, id, now, now.Add(grace)); err != nil {
			return nil, "", fmt.Errorf("keys: rotate: end the old secret's sessions: %w", err)
		}
	}
	k.Hint = hint
	s.audit.Record(ctx, owner, authkit.AuditKeyRotated, id, "grace "+grace.String())
	return k, secret, nil
}

// Update changes the owner's key id as u says and returns it. Disabling a
// key refuses it, and the tokens and refresh tokens issued from it, on every
// replica the store's notifications reach, with an error wrapping
// authkit.ErrDisabled, until it is enabled again; a new policy applies from
// the next request. Returns authkit.ErrNotFound, or an error wrapping
// authkit.ErrInvalid for a bad alias or policy.
func (s *Service) Update(ctx context.Context, owner, id string, u authkit.KeyUpdate) (*authkit.Key, error) {
	if u.Alias != nil {
		if err := checkAlias(*u.Alias); err != nil {
			return nil, err
		}
	}
	var p authkit.Policy
	if u.Policy != nil {
		p = u.Policy.Clone()
		if err := p.Check(); err != nil {
			return nil, err
		}
	}
	k, err := s.store.Key(ctx, owner, id)
	if err != nil {
		return nil, fmt.Errorf("keys: update: %w", err)
	}
	was := *k
	if u.Alias != nil {
		k.Alias = *u.Alias
	}
	if u.Disabled != nil {
		k.Disabled = *u.Disabled
	}
	if u.Policy != nil {
		k.Policy = p
	}
	if err := s.store.UpdateKey(ctx, k); err != nil {
		return nil, fmt.Errorf("keys: update: %w", err)
	}
	s.cache.forget(id)
	switch {
	case k.Disabled && !was.Disabled:
		s.audit.Record(ctx, owner, authkit.AuditKeyDisabled, id, "")
	case !k.Disabled && was.Disabled:
		s.audit.Record(ctx, owner, authkit.AuditKeyEnabled, id, "")
	}
	if what := changed(&was, k); what != "" {
		s.audit.Record(ctx, owner, authkit.AuditKeyUpdated, id, what)
	}
	return k, nil
}

// changed names what an update changed besides disabled (alias, policy),
// for its audit event; "" for nothing.
func changed(was, now *authkit.Key) string {
	var parts []string
	if was.Alias != now.Alias {
		parts = append(parts, "alias")
	}
	a, _ := json.Marshal(&was.Policy)
	b, _ := json.Marshal(&now.Policy)
	if string(a) != string(b) { // not a secret: a policy
		parts = append(parts, "policy")
	}
	return strings.Join(parts, ", ")
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
	s.audit.Record(ctx, owner, authkit.AuditKeyRevealed, id, "")
	return string(b), nil
}
