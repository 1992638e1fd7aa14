package tokens

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.opentelemetry.io/otel/metric"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/atjwt"
	"github.com/authkit/authkit/internal/audit"
	"github.com/authkit/authkit/internal/metrics"
	"github.com/authkit/authkit/internal/seal"
)

// The signing algorithms a [Config] may name.
const (
	EdDSA = "EdDSA" // Ed25519 (RFC 8037); the default
	ES256 = "ES256" // ECDSA on P-256 with SHA-256
	HS256 = "HS256" // HMAC-SHA-256 with a 32-byte key; never published in the JWKS
)

// MaxTokenLen is the longest token [Service.Verify] will look at, in bytes.
// Anything longer is refused before it is parsed.
const MaxTokenLen = 8 << 10

// Defaults of [Config].
const (
	DefaultIssuer      = "authkit"
	DefaultTTL         = time.Hour
	DefaultMaxTTL      = 24 * time.Hour
	DefaultCacheSize   = 10_000
	DefaultLivenessTTL = 30 * time.Second
)

// Config configures a [Service]. Store and Secret are required; every other
// field has a safe default.
type Config struct {
	// Store holds the signing keys, and answers whether a key or session is
	// still alive. Required.
	Store authkit.Store
	// Secret is the server secret, under whose keyring signing keys are
	// sealed. Required.
	Secret *authkit.Secret
	// Issuer is the iss claim written and required. Default "authkit".
	Issuer string
	// Audience is the aud claim written and required. Default: Issuer.
	Audience string
	// Algorithm is what new signing keys use: "EdDSA" (default), "ES256" or
	// "HS256". Changing it takes effect at the next [Service.Rotate] (or when
	// the store holds no signing key).
	Algorithm string
	// DefaultTTL is the lifetime of a token whose request has TTL 0.
	// Default 1 hour.
	DefaultTTL time.Duration
	// MaxTTL bounds the lifetime a request may ask for; a retired signing key
	// keeps verifying for MaxTTL. Default 24 hours.
	MaxTTL time.Duration
	// Leeway is the clock skew allowed when checking exp, nbf and iat.
	// Default 0.
	Leeway time.Duration
	// Algorithms is the verification allow-list. Each key still verifies
	// only under its own algorithm. Default {"EdDSA", "ES256", "HS256"}; it
	// must contain Algorithm.
	Algorithms []string
	// CacheSize bounds the cache of verified tokens. Default 10 000;
	// negative disables the cache.
	CacheSize int
	// LivenessTTL is how long a key or session found alive in the store is
	// trusted before the store is asked again (never past the key's or
	// session's own expiry). Revocations the store's Notifier publishes take
	// effect at once regardless. Default 30 s; negative asks the store at
	// every verification.
	LivenessTTL time.Duration
	// Clock tells the time; nil is the system clock.
	Clock authkit.Clock
	// Logger receives the audit event of a revoked signing key (which the
	// store keeps too); nil: slog.Default().
	Logger *slog.Logger
	// MeterProvider, when set, receives the Service's metrics:
	// authkit.verifications and authkit.cache.lookups of tokens, and the
	// duration of the store reads that check a token's key and session
	// (see the root README's Operations). nil: none, at no cost.
	MeterProvider metric.MeterProvider
}

// Service issues and verifies access tokens and publishes the signing keys.
// It implements [authkit.TokenIssuer] and [authkit.TokenVerifier] and is safe
// for concurrent use by multiple goroutines.
type Service struct {
	store       authkit.Store
	health      authkit.NotifierHealth // the store's, if it has one
	audit       *audit.Recorder
	sealer      *seal.Sealer
	clock       authkit.Clock
	issuer      string
	audience    string
	alg         string
	defaultTTL  time.Duration
	maxTTL      time.Duration
	leeway      time.Duration
	livenessTTL time.Duration
	allowed     []jose.SignatureAlgorithm

	ring     atomic.Pointer[keyRing]
	loadMu   sync.Mutex // serialises loads and rotations
	lastMiss time.Time  // when an unknown kid or a JWKS call last reloaded the keys; guarded by loadMu

	cache   *tokenCache // nil when disabled
	metrics *metrics.Metrics
	live    *liveness
	headers headerCache

	cancel    func()
	closeOnce sync.Once
}

var (
	_ authkit.TokenIssuer   = (*Service)(nil)
	_ authkit.TokenVerifier = (*Service)(nil)
)

// New returns a Service for cfg. It loads the signing keys from the store,
// creating the first one if there is none, and subscribes to the store's
// revocations; call [Service.Close] to unsubscribe. Returns an error wrapping
// [authkit.ErrInvalid] for a bad Config, and the store's error if the keys
// cannot be loaded or a sealed key cannot be opened with cfg.Secret.
func New(ctx context.Context, cfg Config) (*Service, error) {
	s, err := newService(cfg)
	if err != nil {
		return nil, err
	}
	s.cancel = cfg.Store.Subscribe(s.revoked)
	if err := s.start(ctx); err != nil {
		s.cancel()
		s.metrics.Close()
		return nil, err
	}
	return s, nil
}

func newService(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, authkit.Invalid("store", "required")
	}
	if cfg.Secret == nil {
		return nil, authkit.Invalid("secret", "required")
	}
	health, _ := cfg.Store.(authkit.NotifierHealth)
	s := &Service{
		store:       cfg.Store,
		health:      health,
		audit:       audit.New(cfg.Store, cfg.Logger, cfg.Clock),
		clock:       cfg.Clock,
		issuer:      orDefault(cfg.Issuer, DefaultIssuer),
		alg:         orDefault(cfg.Algorithm, EdDSA),
		defaultTTL:  cfg.DefaultTTL,
		maxTTL:      cfg.MaxTTL,
		leeway:      cfg.Leeway,
		livenessTTL: cfg.LivenessTTL,
	}
	s.audience = orDefault(cfg.Audience, s.issuer)
	if !knownAlg(s.alg) {
		return nil, authkit.Invalid("algorithm", "must be EdDSA, ES256 or HS256")
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = []string{EdDSA, ES256, HS256}
	}
	for _, a := range algs {
		if !knownAlg(a) {
			return nil, authkit.Invalid("algorithms", "each must be EdDSA, ES256 or HS256")
		}
		s.allowed = append(s.allowed, jose.SignatureAlgorithm(a))
	}
	if !slices.Contains(algs, s.alg) {
		return nil, authkit.Invalid("algorithms", "must contain the signing algorithm")
	}
	if s.maxTTL == 0 {
		s.maxTTL = DefaultMaxTTL
	}
	if s.defaultTTL == 0 {
		s.defaultTTL = min(DefaultTTL, s.maxTTL)
	}
	switch {
	case s.maxTTL < time.Second:
		return nil, authkit.Invalid("max_ttl", "must be at least 1s")
	case s.defaultTTL < time.Second || s.defaultTTL > s.maxTTL:
		return nil, authkit.Invalid("default_ttl", "must be between 1s and the maximum TTL")
	case s.leeway < 0:
		return nil, authkit.Invalid("leeway", "must not be negative")
	}
	if s.livenessTTL == 0 {
		s.livenessTTL = DefaultLivenessTTL
	}
	size := cfg.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	if size > 0 {
		s.cache = newTokenCache(size)
	}
	s.live = newLiveness(s.livenessTTL, s.maxTTL+s.leeway, s.clock)
	s.sealer = seal.NewSealer(cfg.Secret, seal.PurposeTokens)
	var err error
	if s.metrics, err = metrics.New(cfg.MeterProvider); err != nil {
		return nil, fmt.Errorf("tokens: metrics: %w", err)
	}
	return s, nil
}

// start loads the keys and makes the first one if the store has none.
func (s *Service) start(ctx context.Context) error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if err := s.loadLocked(ctx); err != nil {
		return err
	}
	if s.ring.Load().active != nil {
		return nil
	}
	rec, err := s.generate(s.alg, s.clock.Now())
	if err != nil {
		return err
	}
	if err := s.store.CreateSigningKey(ctx, rec); err != nil {
		return fmt.Errorf("tokens: store the first signing key: %w", err)
	}
	return s.loadLocked(ctx)
}

// Close unsubscribes from the store's revocations and stops reporting its
// verifications to the MeterProvider. The Service keeps
// working, but revocations made after Close reach it only through the store,
// once a cached liveness lapses. Close may be called more than once.
func (s *Service) Close() {
	s.closeOnce.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		s.metrics.Close()
	})
}

func knownAlg(a string) bool { return a == EdDSA || a == ES256 || a == HS256 }

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// The errors Verify returns without allocating. Each wraps a root sentinel.
// Those of the header and the claims are package atjwt's, which a product
// API's verifier returns alike.
var (
	errClaims       = atjwt.ErrClaims
	errExpired      = atjwt.ErrExpired
	errEmpty        = unauthenticated("no token")
	errTooLong      = unauthenticated("token too long")
	errMalformed    = unauthenticated("malformed token")
	errAlgorithm    = unauthenticated("algorithm not allowed")
	errSignatures   = unauthenticated("not exactly one signature")
	errNoKid        = unauthenticated("no key id")
	errUnknownKid   = unauthenticated("unknown signing key")
	errKeyAlg       = unauthenticated("algorithm is not the key's")
	errSignature    = unauthenticated("bad signature")
	errKeyRetired   = unauthenticated("signing key expired")
	errUnbound      = unauthenticated("token does not match its session")
	errKeyRevoked   = fmt.Errorf("tokens: key revoked: %w", authkit.ErrRevoked)
	errKeyExpired   = fmt.Errorf("tokens: key expired: %w", authkit.ErrExpired)
	errKeyDisabled  = fmt.Errorf("tokens: key disabled: %w", authkit.ErrDisabled)
	errSessRevoked  = fmt.Errorf("tokens: session revoked: %w", authkit.ErrRevoked)
	errSessExpired  = fmt.Errorf("tokens: session expired: %w", authkit.ErrExpired)
	errNoSigningKey = errors.New("tokens: no active signing key")
)

func unauthenticated(reason string) error {
	return fmt.Errorf("tokens: %s: %w", reason, authkit.ErrUnauthenticated)
}
