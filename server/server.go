// Package server builds all of authkit from one [Config]: the key, token and
// session services, the HTTP endpoints and middleware over them, and the
// housekeeping that runs in the background until [Server.Close]: expired
// records collected, signing keys rotated on a schedule, and, after a new
// server secret took over, what the old one sealed sealed again
// ([Server.Rewrap]).
//
//	ak, err := server.New(ctx, server.Config{Store: store, Secret: secret, Issuer: "https://api.example.com"})
//	if err != nil {
//		return err
//	}
//	defer ak.Close()
//	mux.Handle("POST /auth/token", ak.Endpoints.Exchange(handlers.ExchangeOptions{KeyField: "api_key"}))
//	auth := ak.Auth(httpmw.AcceptBearerToken | httpmw.AcceptBearerKey)
//	mux.Handle("GET /videos", auth.Verify(auth.Require("videos:read")(videos)))
//
// A Server is what an app embeds: it is not an http.Server and listens on
// nothing. New checks the settings against each other once, so that a
// contradictory Config is an error at start-up rather than a refused request
// later. The parts it builds ([keys.Service], [tokens.Service],
// [sessions.Manager], [handlers.Endpoints]) are exported fields, and each
// stays usable on its own without this package.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/feed"
	"github.com/authkit/authkit/handlers"
	"github.com/authkit/authkit/httpmw"
	"github.com/authkit/authkit/internal/audit"
	"github.com/authkit/authkit/internal/metrics"
	"github.com/authkit/authkit/internal/seal"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/limits"
	"github.com/authkit/authkit/sessions"
	"github.com/authkit/authkit/storage/memory"
	"github.com/authkit/authkit/tokens"
	"go.opentelemetry.io/otel/metric"
)

// Defaults of [Config].
const (
	DefaultAccessTTL    = time.Hour
	DefaultMaxAccessTTL = 24 * time.Hour
	DefaultLoginTTL     = 2 * time.Hour
	DefaultRefreshTTL   = 30 * 24 * time.Hour
	DefaultCleanupEvery = 10 * time.Minute
	DefaultRotateEvery  = 30 * 24 * time.Hour
	// DefaultRewrapEvery is how often, while the server secret has previous
	// secrets, what they sealed is sealed again under the current one.
	DefaultRewrapEvery = 10 * time.Minute
	// DefaultUsageRetention is how long usage analytics are kept.
	DefaultUsageRetention = 30 * 24 * time.Hour
	// DefaultAuditRetention is how long the audit trail is kept.
	DefaultAuditRetention = 365 * 24 * time.Hour
)

// Config is everything [New] needs. Store and Secret are required; every
// other field has a safe default, and a zero duration means its default.
type Config struct {
	// Store holds keys, sessions, refresh tokens and signing keys:
	// storage/sqlite, storage/postgres, storage/memory, or any backend that
	// passes storage/storagetest. The caller opens and closes it.
	Store authkit.Store
	// Secret is the server secret every keyed hash and seal derives from
	// (authkit.LoadSecret, authkit.LoadOrCreateSecret).
	Secret *authkit.Secret
	// Issuer is the iss claim of access tokens: the token service's URL,
	// e.g. "https://api.example.com". Default "authkit".
	Issuer string
	// Audience is the aud claim written and required; default Issuer.
	Audience string
	// Clock tells the time; nil is the system clock.
	Clock authkit.Clock
	// Logger receives what the housekeeping did and every unmapped (500)
	// error of the handlers and middleware; nil is slog.Default().
	Logger *slog.Logger

	// AccessTTL is the lifetime of an access token whose client names none
	// (key exchange, refresh, OAuth); default 1 hour.
	AccessTTL time.Duration
	// MaxAccessTTL bounds every access token's lifetime, including what a
	// client may ask for; default 24 hours. A retired signing key keeps
	// verifying this long.
	MaxAccessTTL time.Duration
	// LoginTTL is the lifetime of the tokens the login flow hands back;
	// default 2 hours.
	LoginTTL time.Duration
	// RefreshTTL is the lifetime of a refresh-token family (a grant
	// session); default 30 days. Refreshing does not extend it.
	RefreshTTL time.Duration
	// RefreshGrace answers a replayed refresh token with the pair already
	// issued for it, for this long after it was spent (two tabs refreshing
	// at once); default 0, off; at most 30 s.
	RefreshGrace time.Duration
	// MaxSessionsPerKey caps the live sessions of one key; opening one
	// more ends the oldest; default sessions.DefaultMaxSessionsPerKey
	// (1000); negative: no cap.
	MaxSessionsPerKey int

	// Algorithm signs new access tokens: "EdDSA" (default), "ES256" or
	// "HS256" (tokens.EdDSA, …).
	Algorithm string
	// KeyPrefix starts every application key ("<prefix>_live_…"); default
	// "ak".
	KeyPrefix string

	// CleanupEvery is how often expired key secrets, refresh tokens,
	// sessions and signing keys, and usage older than UsageRetention, are
	// deleted; default 10 minutes; negative turns cleanup off.
	CleanupEvery time.Duration
	// UsageRetention is how long keys' usage analytics are kept; default
	// 30 days.
	UsageRetention time.Duration
	// AuditRetention is how long the audit trail is kept; default 1 year.
	AuditRetention time.Duration
	// RotateEvery is the age at which the signing key is replaced by a new
	// one (the old one verifies on for MaxAccessTTL); default 30 days;
	// negative turns scheduled rotation off. Replicas sharing a store rotate
	// once between them.
	RotateEvery time.Duration
	// RewrapEvery is how often, while Secret holds previous secrets, the
	// values they sealed are sealed again under the current one
	// ([Server.Rewrap]); default 10 minutes, the first run one period after
	// start, so that a rolling restart onto a new secret ends before any
	// value is moved out of the old servers' reach; negative turns it off
	// (the admin command rewraps on demand).
	RewrapEvery time.Duration

	// Realm is the realm of WWW-Authenticate challenges; default "authkit".
	Realm string
	// MaxBody caps request bodies of the endpoints; default 64 KiB.
	MaxBody int64
	// Limiter counts failed credentials per client address and per
	// credential name, on the token endpoints and in the middleware of
	// Server.Auth; nil is a default httpmw.Limiter (10 a minute). New
	// gives it Counters and Clients where it has none.
	Limiter *httpmw.Limiter

	// Counters keep the counts of key rate limits and credits: nil keeps
	// them in this process (storage/memory); storage/redis or
	// storage/postgres share them between replicas.
	Counters authkit.Counters
	// OwnerLimits returns the rate limits all of an owner's keys share
	// (limits.Config.OwnerLimits); nil: none.
	OwnerLimits func(owner string) []authkit.RateLimit
	// FailOpen lets requests through uncounted while the Counters fail;
	// by default they are refused (503). Either way it is logged.
	FailOpen bool
	// Clients tells a request's client address (behind reverse proxies,
	// list them as trusted); nil: RemoteAddr.
	Clients *httpmw.ClientAddr

	// MeterProvider receives authkit's metrics through OpenTelemetry's
	// API: verifications by credential and outcome, tokens issued by flow,
	// sessions opened, refresh-token reuse detected, limiter refusals by
	// reason, cache lookups, store latency (the README's Operations lists
	// them). The app chooses the SDK and the exporter (the example server
	// serves them at GET /metrics through the Prometheus exporter). nil:
	// no metrics, at no cost on the request path.
	MeterProvider metric.MeterProvider
}

// Server is authkit built from a [Config]: the services, the endpoints, and
// the housekeeping running in the background. Use the fields to mount
// handlers and to manage keys and sessions from code; [Server.Auth] gives
// middleware. It is safe for concurrent use.
type Server struct {
	Keys     *keys.Service
	Tokens   *tokens.Service
	Sessions *sessions.Manager
	Gate     *limits.Gate // enforces key policies, for the middleware and the endpoints
	// Feed streams revocations to product APIs on other machines (package
	// verifier follows it); mount it, e.g. at "GET /oauth/revocations".
	Feed      *feed.Server
	Endpoints *handlers.Endpoints

	cfg     Config
	logger  *slog.Logger
	audit   *audit.Recorder
	metrics *metrics.Metrics // the Limiter's refusals
	stop    context.CancelFunc
	done    chan struct{}
	once    sync.Once
}

// New builds a Server from cfg and starts its housekeeping. It loads the
// signing keys from the store (creating the first one on a new store).
// Returns an error wrapping authkit.ErrInvalid for a missing or bad setting,
// or for two settings that contradict each other, naming both; an error
// saying so if Secret opens none of the store's hash keys (a store made
// under another secret); and the store's error if the signing keys cannot
// be loaded.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	// A secret that does not open the store's hash keys (another server's,
	// or a keyring missing the secret that sealed them) is refused here,
	// not at the first request.
	if err := seal.CheckHashKeys(ctx, cfg.Store, cfg.Secret); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	mp := cfg.MeterProvider
	ks, err := keys.New(keys.Config{Store: cfg.Store, Secret: cfg.Secret, Prefix: cfg.KeyPrefix, Clock: cfg.Clock, Logger: cfg.Logger, MeterProvider: mp})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	ts, err := tokens.New(ctx, tokens.Config{
		Store: cfg.Store, Secret: cfg.Secret, Issuer: cfg.Issuer, Audience: cfg.Audience, Algorithm: cfg.Algorithm,
		DefaultTTL: cfg.AccessTTL, MaxTTL: cfg.MaxAccessTTL, Clock: cfg.Clock, Logger: cfg.Logger, MeterProvider: mp,
	})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	sm, err := sessions.New(sessions.Config{
		Store: cfg.Store, Tokens: ts, Secret: cfg.Secret, RefreshTTL: cfg.RefreshTTL, RefreshGrace: cfg.RefreshGrace,
		LoginTTL: cfg.LoginTTL, MaxSessionsPerKey: cfg.MaxSessionsPerKey, Clock: cfg.Clock, Logger: cfg.Logger, MeterProvider: mp,
	})
	if err != nil {
		ts.Close()
		return nil, fmt.Errorf("server: %w", err)
	}
	counters := cfg.Counters
	if counters == nil {
		counters = &memory.Counters{}
	}
	if cfg.Limiter.Counters == nil {
		cfg.Limiter.Counters = counters
	}
	if cfg.Limiter.Clients == nil {
		cfg.Limiter.Clients = cfg.Clients
	}
	rec := audit.New(cfg.Store, cfg.Logger, cfg.Clock)
	if cfg.Limiter.OnBlock == nil {
		cfg.Limiter.OnBlock = func(r *http.Request, addr string) {
			id := authkit.ActorFrom(r.Context()).RequestID // the request's, if an endpoint named it already
			if id == "" {
				id = httpmw.RequestID(r)
			}
			ctx := authkit.WithActor(r.Context(), authkit.Actor{Kind: authkit.ActorSystem, Addr: addr, RequestID: id})
			rec.Record(ctx, "", authkit.AuditAddressBlocked, addr, "too many failed credentials")
		}
	}
	gate, err := limits.New(limits.Config{
		Keys: cfg.Store, Cached: ks.CachedKey, Counters: counters, OwnerLimits: cfg.OwnerLimits, FailOpen: cfg.FailOpen,
		Usage: cfg.Store, Clock: cfg.Clock, Logger: cfg.Logger, MeterProvider: mp,
	})
	if err != nil {
		ts.Close()
		return nil, fmt.Errorf("server: %w", err)
	}
	fs, err := feed.New(feed.Config{Store: cfg.Store, Window: cfg.MaxAccessTTL, Clock: cfg.Clock, Logger: cfg.Logger})
	if err != nil {
		ts.Close()
		gate.Close()
		return nil, fmt.Errorf("server: %w", err)
	}
	m, err := metrics.New(mp) // the Limiter's refusals
	if err != nil {
		ts.Close()
		gate.Close()
		fs.Close()
		return nil, fmt.Errorf("server: metrics: %w", err)
	}
	if cfg.Limiter.OnRefuse == nil && m != nil {
		cfg.Limiter.OnRefuse = func(r *http.Request) { m.Refused(r.Context(), metrics.FailedCredentials) }
	}
	s := &Server{
		Keys: ks, Tokens: ts, Sessions: sm, Gate: gate, Feed: fs,
		Endpoints: &handlers.Endpoints{
			Keys: ks, Tokens: ts, Sessions: sm, Gate: gate, Audit: cfg.Store, Clients: cfg.Clients, Limiter: cfg.Limiter, MaxBody: cfg.MaxBody,
			Realm: cfg.Realm, Logger: cfg.Logger, Clock: cfg.Clock, MaxTTL: cfg.MaxAccessTTL,
		},
		cfg: cfg, logger: cfg.Logger, audit: rec, metrics: m, done: make(chan struct{}),
	}
	hctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	go s.housekeep(hctx)
	return s, nil
}

// fill applies the defaults and refuses contradictory settings.
func (c *Config) fill() error {
	switch {
	case c.Store == nil:
		return authkit.Invalid("Store", "required")
	case c.Secret == nil:
		return authkit.Invalid("Secret", "required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Limiter == nil {
		c.Limiter = &httpmw.Limiter{}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.AccessTTL, DefaultAccessTTL)
	def(&c.MaxAccessTTL, DefaultMaxAccessTTL)
	def(&c.LoginTTL, DefaultLoginTTL)
	def(&c.RefreshTTL, DefaultRefreshTTL)
	def(&c.CleanupEvery, DefaultCleanupEvery)
	def(&c.RotateEvery, DefaultRotateEvery)
	def(&c.RewrapEvery, DefaultRewrapEvery)
	def(&c.UsageRetention, DefaultUsageRetention)
	def(&c.AuditRetention, DefaultAuditRetention)
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"AccessTTL", c.AccessTTL}, {"MaxAccessTTL", c.MaxAccessTTL}, {"LoginTTL", c.LoginTTL}, {"RefreshTTL", c.RefreshTTL}} {
		if d.v < time.Second {
			return authkit.Invalid(d.name, "must be at least 1s")
		}
	}
	exceeds := func(a string, av time.Duration, b string, bv time.Duration, why string) error {
		return authkit.Invalid(a, fmt.Sprintf("%s (%s) exceeds %s (%s): %s", a, av, b, bv, why))
	}
	switch {
	case c.AccessTTL > c.MaxAccessTTL:
		return exceeds("AccessTTL", c.AccessTTL, "MaxAccessTTL", c.MaxAccessTTL, "no token may outlive MaxAccessTTL")
	case c.LoginTTL > c.MaxAccessTTL:
		return exceeds("LoginTTL", c.LoginTTL, "MaxAccessTTL", c.MaxAccessTTL, "every login would be refused")
	case c.AccessTTL > c.RefreshTTL:
		return exceeds("AccessTTL", c.AccessTTL, "RefreshTTL", c.RefreshTTL, "access tokens would die with their session before their exp")
	case c.RefreshGrace < 0 || c.RefreshGrace > authkit.MaxRefreshGrace:
		return authkit.Invalid("RefreshGrace", "must be between 0 and 30s")
	case c.CleanupEvery > 0 && c.CleanupEvery < time.Second:
		return authkit.Invalid("CleanupEvery", "must be at least 1s, or negative for off")
	case c.RotateEvery > 0 && c.RotateEvery < time.Minute:
		return authkit.Invalid("RotateEvery", "must be at least 1m, or negative for off")
	case c.RewrapEvery > 0 && c.RewrapEvery < time.Second:
		return authkit.Invalid("RewrapEvery", "must be at least 1s, or negative for off")
	case c.UsageRetention < authkit.UsageBucket:
		return authkit.Invalid("UsageRetention", "must be at least 1h")
	}
	return nil
}

// Auth returns authentication middleware for routes that accept the
// credentials in accept (0: bearer access tokens), verified by this
// Server's token and key services, with key policies enforced by its Gate,
// answering in the Server's realm. To
// accept the app's own users too, set the returned Auth's Users before
// building middleware with it.
func (s *Server) Auth(accept httpmw.Accept) *httpmw.Auth {
	return &httpmw.Auth{
		Tokens: s.Tokens, Keys: s.Keys, Accept: accept, Gate: s.Gate, Clients: s.cfg.Clients, Limiter: s.cfg.Limiter,
		Responder: httpmw.Responder{Realm: s.cfg.Realm, Logger: s.logger},
	}
}

// Close stops the housekeeping, waits for a run under way to end, writes
// the keys' last uses recorded since the last flush, and stops listening for
// revocations. It does not close the store: close the store after the
// Server. Close may be called more than once.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		s.stop()
		<-s.done
		s.Feed.Close()
		s.Tokens.Close()
		s.metrics.Close()
		// Both write what they counted: the gate its usage, the keys the last
		// uses they recorded.
		err = errors.Join(s.Gate.Close(), s.Keys.Close())
	})
	return err
}

// pollEvery is how often the housekeeping looks whether a job is due, at
// most; tests shorten it to drive the jobs with a fake clock.
var pollEvery = time.Minute

// housekeep runs the jobs that are due, by the Config's clock, until ctx
// ends: cleanup every CleanupEvery, and a look at the signing key's age
// (rotating it when older than RotateEvery) every tenth of RotateEvery,
// at most hourly. The first look at the key is at the first poll.
func (s *Server) housekeep(ctx context.Context) {
	defer close(s.done)
	poll := pollEvery
	for _, c := range []time.Duration{s.cfg.CleanupEvery, s.cfg.RewrapEvery} {
		if c > 0 && c < poll {
			poll = c
		}
	}
	rewrap := s.cfg.RewrapEvery > 0 && len(s.cfg.Secret.IDs()) > 1
	t := time.NewTicker(poll)
	defer t.Stop()
	now := s.cfg.Clock.Now()
	nextCleanup := now.Add(s.cfg.CleanupEvery)
	nextRewrap := now.Add(s.cfg.RewrapEvery)
	var nextRotate time.Time // at once
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now = s.cfg.Clock.Now()
		if s.cfg.CleanupEvery > 0 && !now.Before(nextCleanup) {
			s.cleanup(ctx, now)
			nextCleanup = now.Add(s.cfg.CleanupEvery)
		}
		if s.cfg.RotateEvery > 0 && !now.Before(nextRotate) {
			s.rotate(ctx)
			nextRotate = now.Add(min(s.cfg.RotateEvery/10, time.Hour))
		}
		if rewrap && !now.Before(nextRewrap) {
			_, stuck, err := s.Rewrap(ctx)
			if err == nil && stuck == 0 {
				rewrap = false // done: nothing new is sealed under an old secret
			}
			nextRewrap = now.Add(s.cfg.RewrapEvery)
		}
	}
}

// Rewrap seals again under the current server secret every value of the
// store that a previous secret of the keyring sealed (recoverable keys'
// secrets, login session tokens, signing keys, refresh pairs within their
// grace, and the keys of the keyed hashes), a batch at a time, while the
// servers go on serving. It returns how many values it moved and how many
// it could not open (sealed under a secret the keyring does not hold): the
// previous secrets can be dropped once [Server.SealedBy] names the current
// one alone. It logs and audits what it did. The housekeeping runs it every
// Config.RewrapEvery while the keyring has previous secrets.
func (s *Server) Rewrap(ctx context.Context) (moved, stuck int, err error) {
	start := time.Now()
	moved, stuck, err = seal.Rewrap(ctx, s.cfg.Store, s.cfg.Secret)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			s.logger.ErrorContext(ctx, "authkit: rewrap failed", "moved", moved, "err", err)
		}
		return moved, stuck, fmt.Errorf("server: rewrap: %w", err)
	}
	s.logger.InfoContext(ctx, "authkit: rewrap", "secret", s.cfg.Secret.ID(), "moved", moved, "not_opened", stuck, "took", time.Since(start).Round(time.Millisecond))
	if moved > 0 {
		s.audit.Record(ctx, "", authkit.AuditSecretRewrapped, s.cfg.Secret.ID(), fmt.Sprintf("%d sealed values moved to secret %s; %d not opened", moved, s.cfg.Secret.ID(), stuck))
	}
	return moved, stuck, nil
}

// SealedBy counts the store's sealed values by the ID of the secret that
// sealed them (authkit.Secret.IDs; "" for values sealed before secrets
// were recorded in them, which the current secret may have made): a
// previous secret is needed for as long as it has a count.
func (s *Server) SealedBy(ctx context.Context) (map[string]int, error) {
	n, err := seal.Count(ctx, s.cfg.Store)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return n, nil
}

func (s *Server) cleanup(ctx context.Context, now time.Time) {
	start := time.Now()
	n, err := s.cfg.Store.Cleanup(ctx, now)
	if err == nil {
		var u int
		u, err = s.cfg.Store.DeleteUsage(ctx, now.Add(-s.cfg.UsageRetention))
		n += u
	}
	if err == nil {
		var a int
		a, err = s.cfg.Store.DeleteAudit(ctx, now.Add(-s.cfg.AuditRetention))
		n += a
	}
	switch {
	case err != nil && !errors.Is(err, context.Canceled):
		s.logger.ErrorContext(ctx, "authkit: cleanup failed", "deleted", n, "err", err)
	case err == nil:
		s.logger.InfoContext(ctx, "authkit: cleanup", "deleted", n, "took", time.Since(start).Round(time.Millisecond))
	}
}

func (s *Server) rotate(ctx context.Context) {
	rotated, err := s.Tokens.RotateIfOlder(ctx, s.cfg.RotateEvery)
	switch {
	case err != nil && !errors.Is(err, context.Canceled):
		s.logger.ErrorContext(ctx, "authkit: signing key rotation failed", "err", err)
	case rotated:
		s.logger.InfoContext(ctx, "authkit: signing key rotated", "older_than", s.cfg.RotateEvery, "old_key_verifies_for", s.cfg.MaxAccessTTL)
	}
}

// Live returns the liveness handler (`GET /livez`, say): 200
// {"status":"live"} while the process serves HTTP, whatever the store
// does, so that an orchestrator restarts a process that hangs, not one
// whose database is down (that is [Server.Ready]'s business).
func (s *Server) Live() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, `{"status":"live"}`+"\n")
	})
}

// Ready returns the readiness handler (`GET /readyz`, say): 200
// {"status":"ready"} when the store answers (it reads the signing keys,
// within 2 s) and, for a store shared by replicas, its revocation listener
// is listening (authkit.NotifierHealth); 503 {"status":"not ready",
// "reason":…} otherwise, so that a load balancer sends no traffic to a
// replica that would trust stale caches or fail every request. The store
// migrates itself when opened: a store that opened is migrated.
func (s *Server) Ready() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		reason := ""
		if _, err := s.cfg.Store.SigningKeys(ctx); err != nil {
			reason = "the store does not answer"
			s.logger.WarnContext(r.Context(), "authkit: not ready", "err", err)
		} else if h, ok := s.cfg.Store.(authkit.NotifierHealth); ok && h.ListeningSince().IsZero() {
			reason = "the revocation listener is not listening"
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if reason != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]string{"status": "not ready", "reason": reason})
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"status": "ready"})
	})
}
