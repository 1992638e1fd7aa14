// Package verifier verifies a token service's access tokens in a product
// API on another machine, given only the service's issuer URL. It
// discovers the service's endpoints (RFC 8414), fetches and caches its
// JSON Web Key Set, verifies each token locally as the token service does,
// and follows the service's revocation feed (package feed) so that a
// revoked session's or key's tokens are refused within a second.
//
//	v, err := verifier.New(ctx, verifier.Config{Issuer: "https://auth.example.com"})
//	auth := &httpmw.Auth{Tokens: v}
//	mux.Handle("GET /videos", auth.Verify(auth.Require("videos:read")(videos)))
//
// A Verifier is an authkit.TokenVerifier and an authkit.KeyVerifier: it
// plugs into httpmw.Auth like the token service's own services, and a
// product API's routes read the same. Application keys are checked at the
// token service (its key-check endpoint) and trusted for
// Config.KeyCacheTTL, less if the feed says the key changed.
//
// # What is checked
//
// The signature, under the key the token's kid names in the JWKS and only
// with its algorithm (EdDSA or ES256: HS256 keys never leave the token
// service); typ "at+jwt"; iss the issuer; aud the audience; exp, nbf and
// iat; then that the token's session and key were not revoked, and its key
// is not disabled, as far as the feed has said. A token verified once is
// answered from a bounded cache until it expires.
//
// # Keys
//
// The JWKS is kept for as long as its Cache-Control max-age says (at
// least Config.MinRefetch), and fetched again at once for a kid it does
// not hold, at most once every Config.MinRefetch: a token service that
// rotated its signing key, or restarted, is picked up without a restart
// here, and a stream of forged kids cannot make it fetch more.
//
// # When the feed is lost
//
// The Verifier follows the feed in the background, reconnecting with
// backoff and catching up on what it missed. While it has heard nothing
// from the feed for Config.MaxStale (default 10 s), it cannot know of a
// revocation: by default it refuses every token (authkit.ErrUnavailable,
// 503) until the feed is back; with Config.OnStale set to CheckRemotely,
// it asks the token service's validation endpoint about each token
// instead (and refuses if that fails too).
package verifier

import (
	"bufio"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/feed"
	"github.com/authkit/authkit/internal/atjwt"
	"github.com/authkit/authkit/internal/metrics"
	"go.opentelemetry.io/otel/metric"
)

// StalePolicy says what a [Verifier] does while its feed is stale.
type StalePolicy int

// The stale policies.
const (
	// Refuse every token (authkit.ErrUnavailable) until the feed is back.
	Refuse StalePolicy = iota
	// CheckRemotely asks the token service's validation endpoint about
	// each token (one request per token, not cached).
	CheckRemotely
)

// Defaults of [Config].
const (
	DefaultMaxStale   = 10 * time.Second
	DefaultMinRefetch = 30 * time.Second
	DefaultCacheSize  = 10_000
)

// MetadataPath is where RFC 8414 puts an authorization server's metadata.
const MetadataPath = "/.well-known/oauth-authorization-server"

// Config configures a [Verifier]. Issuer is required.
type Config struct {
	// Issuer is the token service's issuer URL, its tokens' iss: the
	// metadata is read at Issuer + MetadataPath.
	Issuer string
	// Audience is the aud tokens must hold; default Issuer (the token
	// service's default).
	Audience string
	// HTTPClient makes every request; default a client with a 10 s
	// timeout (the feed's stream has none: it is watched by its pings).
	HTTPClient *http.Client
	// FeedToken is presented to the feed if it asks for one.
	FeedToken string
	// MaxStale is how long the feed may be silent before OnStale applies;
	// default 10 s. It must be well over the feed's heartbeat (2 s by
	// default; a shorter one is logged as a mistake).
	MaxStale time.Duration
	OnStale  StalePolicy
	// MinRefetch is the least time between two fetches of the JWKS;
	// default 30 s.
	MinRefetch time.Duration
	// Leeway is the clock skew allowed on exp, nbf and iat; default 0.
	Leeway    time.Duration
	CacheSize int // verified tokens (and keys) kept; default 10 000
	// KeyPrefix is the token service's key prefix (keys.Config.Prefix),
	// to tell keys from tokens; default "ak".
	KeyPrefix string
	// KeyCacheTTL is how long a key the token service vouched for is
	// trusted without asking again; default 30 s. The feed's events about
	// the key (deleted, disabled, rotated) clear it at once.
	KeyCacheTTL time.Duration
	Clock       authkit.Clock
	Logger      *slog.Logger
	// MeterProvider, when set, receives the Verifier's metrics: its
	// verifications of tokens and keys (authkit.verifications and
	// authkit.cache.lookups, as the token service's own) and how long ago
	// the feed last spoke (authkit.verifier.feed.age, seconds: alert past
	// MaxStale). nil: none.
	MeterProvider metric.MeterProvider
}

// Verifier verifies access tokens of one token service. It implements
// authkit.TokenVerifier and is safe for concurrent use. Close it when done.
type Verifier struct {
	cfg      Config
	hc       *http.Client
	stream   *http.Client
	logger   *slog.Logger
	meta     metadata
	audience string

	keysMu    sync.Mutex // one fetch at a time
	keys      atomic.Pointer[keySet]
	lastFetch time.Time // guarded by keysMu

	stateMu  sync.RWMutex
	sessions map[string]int64 // revoked session → Unix s of when it can be forgotten
	revoked  map[string]int64 // revoked key → the same
	disabled map[string]bool  // disabled keys, until enabled or revoked

	keyMu    sync.RWMutex
	keyCache map[[32]byte]*keyEntry // by SHA-256 of the secret
	keysByID map[string][][32]byte

	cacheMu sync.RWMutex
	cache   map[string]*cached
	order   []string
	next    int

	lastContact atomic.Int64 // Unix ns of the last word from the feed
	caughtUp    atomic.Bool
	warned      atomic.Bool
	cancel      context.CancelFunc
	done        chan struct{}

	metrics *metrics.Metrics // nil: none
}

type metadata struct {
	Issuer     string `json:"issuer"`
	JWKSURI    string `json:"jwks_uri"`
	Feed       string `json:"revocation_feed_endpoint"`
	Validation string `json:"authkit_validation_endpoint"`
	KeyCheck   string `json:"authkit_key_check_endpoint"`
}

type keySet struct {
	byID    map[string]jose.JSONWebKey
	expires time.Time
}

type cached struct {
	p      authkit.Principal
	claims authkit.Claims
	exp    int64 // Unix s
}

var _ authkit.TokenVerifier = (*Verifier)(nil)

// New discovers the token service at cfg.Issuer, fetches its keys, and
// starts following its revocation feed. It returns once the metadata and
// the keys are read; the feed catches up in the background (tokens are
// refused, or checked remotely, until it has). Returns an error if the
// metadata or the keys cannot be read, or the metadata names another
// issuer.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" {
		return nil, authkit.Invalid("Issuer", "required")
	}
	if cfg.MaxStale <= 0 {
		cfg.MaxStale = DefaultMaxStale
	}
	if cfg.MinRefetch <= 0 {
		cfg.MinRefetch = DefaultMinRefetch
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	v := &Verifier{cfg: cfg, hc: cfg.HTTPClient, logger: cfg.Logger, audience: cfg.Audience,
		sessions: map[string]int64{}, revoked: map[string]int64{}, disabled: map[string]bool{},
		cache: map[string]*cached{}, order: make([]string, cfg.CacheSize), done: make(chan struct{}),
		keyCache: map[[32]byte]*keyEntry{}, keysByID: map[string][][32]byte{}}
	if v.hc == nil {
		v.hc = &http.Client{Timeout: 10 * time.Second}
	}
	v.stream = &http.Client{Transport: v.hc.Transport} // no overall timeout: the pings watch it
	if v.logger == nil {
		v.logger = slog.Default()
	}
	if v.audience == "" {
		v.audience = cfg.Issuer
	}
	if err := v.getJSON(ctx, strings.TrimSuffix(cfg.Issuer, "/")+MetadataPath, &v.meta); err != nil {
		return nil, fmt.Errorf("verifier: metadata: %w", err)
	}
	if v.meta.Issuer != cfg.Issuer {
		return nil, fmt.Errorf("verifier: the metadata names issuer %q, not %q", v.meta.Issuer, cfg.Issuer)
	}
	if v.meta.JWKSURI == "" || v.meta.Feed == "" {
		return nil, errors.New("verifier: the metadata has no jwks_uri or no revocation_feed_endpoint")
	}
	if err := v.fetchKeys(ctx, true); err != nil {
		return nil, err
	}
	var err error
	if v.metrics, err = metrics.New(cfg.MeterProvider); err != nil {
		return nil, fmt.Errorf("verifier: metrics: %w", err)
	}
	if err := v.metrics.ObserveFeedAge(v.feedAge); err != nil {
		v.metrics.Close()
		return nil, fmt.Errorf("verifier: metrics: %w", err)
	}
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	v.cancel = cancel
	go v.follow(fctx)
	return v, nil
}

// Close stops following the feed, and reporting to the MeterProvider.
func (v *Verifier) Close() {
	v.cancel()
	<-v.done
	v.metrics.Close()
}

// feedAge is how long ago the feed last spoke; false before it caught up.
func (v *Verifier) feedAge() (time.Duration, bool) {
	if !v.caughtUp.Load() {
		return 0, false
	}
	return time.Duration(v.cfg.Clock.Now().UnixNano() - v.lastContact.Load()), true
}

func (v *Verifier) getJSON(ctx context.Context, url string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := v.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(into)
}

// fetchKeys reads the JWKS, unless it was read less than MinRefetch ago
// (force: always).
func (v *Verifier) fetchKeys(ctx context.Context, force bool) error {
	v.keysMu.Lock()
	defer v.keysMu.Unlock()
	now := v.cfg.Clock.Now()
	if !force && now.Sub(v.lastFetch) < v.cfg.MinRefetch {
		return nil
	}
	v.lastFetch = now
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.meta.JWKSURI, nil)
	if err != nil {
		return fmt.Errorf("verifier: jwks: %w", err)
	}
	res, err := v.hc.Do(req)
	if err != nil {
		return fmt.Errorf("verifier: jwks: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("verifier: jwks: %s", res.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&set); err != nil {
		return fmt.Errorf("verifier: jwks: %w", err)
	}
	ks := &keySet{byID: map[string]jose.JSONWebKey{}, expires: now.Add(maxAge(res.Header.Get("Cache-Control"), v.cfg.MinRefetch))}
	for _, k := range set.Keys {
		if k.KeyID != "" && k.IsPublic() && (k.Algorithm == string(jose.EdDSA) || k.Algorithm == string(jose.ES256)) {
			ks.byID[k.KeyID] = k
		}
	}
	v.keys.Store(ks)
	return nil
}

// maxAge reads max-age from a Cache-Control value, at least min.
func maxAge(cc string, min time.Duration) time.Duration {
	for _, d := range strings.Split(cc, ",") {
		d = strings.TrimSpace(d)
		if v, ok := strings.CutPrefix(d, "max-age="); ok {
			if n, err := strconv.Atoi(v); err == nil && time.Duration(n)*time.Second > min {
				return time.Duration(n) * time.Second
			}
		}
	}
	return min
}

// key returns the public key of kid, fetching the JWKS again if it is
// unknown or the set expired (at most once per MinRefetch).
func (v *Verifier) key(ctx context.Context, kid string) (jose.JSONWebKey, bool) {
	ks := v.keys.Load()
	k, ok := ks.byID[kid]
	if !ok || v.cfg.Clock.Now().After(ks.expires) {
		if err := v.fetchKeys(ctx, false); err != nil {
			v.logger.WarnContext(ctx, "authkit: verifier: JWKS fetch failed; keeping the keys held", "err", err)
		}
		k, ok = v.keys.Load().byID[kid]
	}
	return k, ok
}

var (
	errMalformed = fmt.Errorf("verifier: malformed token: %w", authkit.ErrUnauthenticated)
	errSignature = fmt.Errorf("verifier: bad signature or unknown key: %w", authkit.ErrUnauthenticated)
	errExpired   = atjwt.ErrExpired
	errStale     = fmt.Errorf("verifier: the revocation feed is stale: %w", authkit.ErrUnavailable)
	errSession   = fmt.Errorf("verifier: session revoked: %w", authkit.ErrRevoked)
	errKey       = fmt.Errorf("verifier: key revoked: %w", authkit.ErrRevoked)
	errDisabled  = fmt.Errorf("verifier: key disabled: %w", authkit.ErrDisabled)
)

// Verify implements authkit.TokenVerifier: the token's principal, or an
// error wrapping authkit.ErrUnauthenticated, ErrExpired, ErrRevoked,
// ErrDisabled, or ErrUnavailable while the feed is stale (with Refuse).
func (v *Verifier) Verify(ctx context.Context, token string) (authkit.Principal, error) {
	p, l, err := v.verify(ctx, token)
	v.metrics.Verified(metrics.Token, l, err)
	return p, err
}

// verify is Verify, and says what the cache of verified tokens said.
func (v *Verifier) verify(ctx context.Context, token string) (authkit.Principal, metrics.Lookup, error) {
	now := v.cfg.Clock.Now()
	if len(token) > 8<<10 {
		return authkit.Principal{}, metrics.NoLookup, errMalformed
	}
	l := metrics.Hit
	v.cacheMu.RLock()
	c := v.cache[token]
	v.cacheMu.RUnlock()
	if c == nil {
		l = metrics.Miss
		var err error
		if c, err = v.verifySigned(ctx, token, now); err != nil {
			return authkit.Principal{}, l, err
		}
		v.put(token, c)
	}
	if now.Add(-v.cfg.Leeway).Unix() >= c.exp {
		return authkit.Principal{}, l, errExpired
	}
	if err := v.alive(&c.claims); err != nil {
		return authkit.Principal{}, l, err
	}
	if v.stale(now) {
		if v.cfg.OnStale == CheckRemotely && v.meta.Validation != "" {
			p, err := v.checkRemotely(ctx, token, c)
			return p, l, err
		}
		return authkit.Principal{}, l, errStale
	}
	return c.p, l, nil
}

// stale reports whether the feed has been silent for longer than MaxStale,
// or has not caught up yet.
func (v *Verifier) stale(now time.Time) bool {
	return !v.caughtUp.Load() || now.UnixNano()-v.lastContact.Load() > int64(v.cfg.MaxStale)
}

// alive checks what the feed said of the token's session and key.
func (v *Verifier) alive(c *authkit.Claims) error {
	v.stateMu.RLock()
	defer v.stateMu.RUnlock()
	if _, ok := v.sessions[c.SessionID]; ok {
		return errSession
	}
	if c.ClientID != "" {
		if _, ok := v.revoked[c.ClientID]; ok {
			return errKey
		}
		if v.disabled[c.ClientID] {
			return errDisabled
		}
	}
	return nil
}

// verifySigned checks the signature and the claims of a token not seen
// before.
func (v *Verifier) verifySigned(ctx context.Context, token string, now time.Time) (*cached, error) {
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errMalformed
	}
	h := jws.Signatures[0].Protected
	if err := atjwt.Header(h); err != nil {
		return nil, err
	}
	k, ok := v.key(ctx, h.KeyID)
	if !ok || k.Algorithm != h.Algorithm {
		return nil, errSignature
	}
	payload, err := jws.Verify(k.Key.(crypto.PublicKey))
	if err != nil {
		return nil, errSignature
	}
	var w atjwt.Wire // the token service's own checks, alike
	if err := atjwt.Decode(payload, &w); err != nil {
		return nil, errMalformed
	}
	if _, err := w.Check(v.cfg.Issuer, v.audience, now, v.cfg.Leeway); err != nil {
		return nil, err
	}
	c := w.Claims
	return &cached{p: c.Principal(), claims: c, exp: c.Expiry}, nil
}

// put caches a verified token, the oldest out first.
func (v *Verifier) put(token string, c *cached) {
	v.cacheMu.Lock()
	defer v.cacheMu.Unlock()
	if _, ok := v.cache[token]; ok {
		return
	}
	if old := v.order[v.next]; old != "" {
		delete(v.cache, old)
	}
	v.order[v.next] = token
	v.next = (v.next + 1) % len(v.order)
	v.cache[token] = c
}

// checkRemotely asks the token service's validation endpoint whether
// token is alive (the stale policy CheckRemotely).
func (v *Verifier) checkRemotely(ctx context.Context, token string, c *cached) (authkit.Principal, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.meta.Validation, nil)
	if err != nil {
		return authkit.Principal{}, errStale
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := v.hc.Do(req)
	if err != nil {
		return authkit.Principal{}, errStale
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	switch {
	case res.StatusCode == http.StatusOK:
		return c.p, nil
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		return authkit.Principal{}, fmt.Errorf("verifier: the token service refused the token: %w", authkit.ErrRevoked)
	}
	return authkit.Principal{}, errStale
}

// follow reads the feed until ctx ends, reconnecting with backoff and
// resuming from the last id it saw.
func (v *Verifier) follow(ctx context.Context) {
	defer close(v.done)
	var lastID string
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		got, err := v.read(ctx, &lastID)
		if ctx.Err() != nil {
			return
		}
		if got {
			backoff = 200 * time.Millisecond
		}
		v.logger.Warn("authkit: verifier: the revocation feed dropped; reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// read follows one connection of the feed; it reports whether it got any
// event.
func (v *Verifier) read(ctx context.Context, lastID *string) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.meta.Feed, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if *lastID != "" {
		req.Header.Set("Last-Event-ID", *lastID)
	}
	if v.cfg.FeedToken != "" {
		req.Header.Set("Authorization", "Bearer "+v.cfg.FeedToken)
	}
	// A silent connection is a dead one, headers included: cancel it when
	// nothing came for MaxStale, so that the reconnection starts.
	watchdog := time.AfterFunc(v.cfg.MaxStale, cancel)
	defer watchdog.Stop()
	res, err := v.stream.Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return false, fmt.Errorf("feed: %s", res.Status)
	}
	got := false
	var event, id, data string
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 0, 4096), 64<<10) // an event is one short line
	for {
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return got, err
			}
			return got, io.ErrUnexpectedEOF
		}
		line := strings.TrimSuffix(sc.Text(), "\r")
		switch {
		case line == "":
			if event != "" {
				got = true
				watchdog.Reset(v.cfg.MaxStale)
				v.handle(event, data)
				if id != "" {
					*lastID = id
				}
			}
			event, id, data = "", "", ""
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(line[6:])
		case strings.HasPrefix(line, "id:"):
			id = strings.TrimSpace(line[3:])
		case strings.HasPrefix(line, "data:"):
			data = strings.TrimSpace(line[5:])
		}
	}
}

// handle applies one event of the feed.
func (v *Verifier) handle(event, data string) {
	now := v.cfg.Clock.Now()
	switch event {
	case "ready":
		var rd feed.Ready
		if json.Unmarshal([]byte(data), &rd) == nil && time.Duration(rd.HeartbeatMillis)*time.Millisecond*3/2 > v.cfg.MaxStale && !v.warned.Swap(true) {
			v.logger.Warn("authkit: verifier: MaxStale is too short for the feed's heartbeat: tokens will be refused between pings",
				"max_stale", v.cfg.MaxStale, "heartbeat", time.Duration(rd.HeartbeatMillis)*time.Millisecond)
		}
		v.caughtUp.Store(true)
	case "revocation":
		var ev feed.Event
		if json.Unmarshal([]byte(data), &ev) != nil || ev.ID == "" {
			return
		}
		forget := now.Add(feed.DefaultWindow + time.Hour).Unix()
		v.stateMu.Lock()
		switch ev.Kind {
		case feed.SessionRevoked:
			v.sessions[ev.ID] = forget
		case feed.KeyRevoked:
			v.revoked[ev.ID] = forget
			delete(v.disabled, ev.ID) // it will never be enabled: revoked says enough
		case feed.KeyDisabled:
			if _, dead := v.revoked[ev.ID]; !dead {
				v.disabled[ev.ID] = true
			}
		case feed.KeyEnabled:
			delete(v.disabled, ev.ID)
		}
		v.sweep(now.Unix())
		v.stateMu.Unlock()
		switch ev.Kind {
		case feed.SessionRevoked:
		case feed.SigningKeyRevoked:
			v.dropSigningKey(ev.ID)
		default:
			v.forgetKey(ev.ID) // a key changed (a rotation too): ask again
		}
	}
	v.lastContact.Store(v.cfg.Clock.Now().UnixNano())
}

// dropSigningKey forgets signing key kid and every token verified with
// it: it leaked. (The JWKS no longer holds it either.)
func (v *Verifier) dropSigningKey(kid string) {
	v.keysMu.Lock()
	old := v.keys.Load()
	ks := &keySet{byID: make(map[string]jose.JSONWebKey, len(old.byID)), expires: old.expires}
	for id, k := range old.byID {
		if id != kid {
			ks.byID[id] = k
		}
	}
	v.keys.Store(ks)
	v.lastFetch = time.Time{} // the key that replaces it may be fetched at once
	v.keysMu.Unlock()
	v.cacheMu.Lock()
	clear(v.cache)
	for i := range v.order {
		v.order[i] = ""
	}
	v.cacheMu.Unlock()
}

// sweep forgets revocations older than any token they concern, now and
// then. v.stateMu is held.
func (v *Verifier) sweep(now int64) {
	if (len(v.sessions)+len(v.revoked))%1024 != 0 {
		return
	}
	for _, m := range []map[string]int64{v.sessions, v.revoked} {
		for id, until := range m {
			if until < now {
				delete(m, id)
			}
		}
	}
}
