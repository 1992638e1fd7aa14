package sessions

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/audit"
	"github.com/authkit/authkit/internal/metrics"
	"github.com/authkit/authkit/internal/opaque"
	"github.com/authkit/authkit/internal/seal"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/metric"
)

// Config configures a [Manager].
type Config struct {
	Store  authkit.Store       // required
	Tokens authkit.TokenIssuer // required: tokens.Service
	Secret *authkit.Secret     // required
	// RefreshTTL is a refresh token's lifetime; default 30 days. It never
	// outlives its key.
	RefreshTTL time.Duration
	// RefreshGrace answers a replayed refresh token with the child already
	// issued for it, for this long after it was spent; default 0 (off), at
	// most 30 s.
	RefreshGrace time.Duration
	// RefreshPrefix starts every refresh token; default "rt_".
	RefreshPrefix string
	// LoginTTL is the lifetime of the access tokens Login issues; default
	// 2 hours (the login guide's 7200 s).
	LoginTTL time.Duration
	// ReuseMargin: Login hands back the current token only while more than
	// this is left of it; default LoginTTL/5, so that a client renewing at
	// 10 % of the lifetime gets a new token rather than the same one.
	ReuseMargin time.Duration
	// MaxSessionsPerKey caps the live sessions (grant and login) of one
	// key: opening one more ends the oldest (down to nine tenths of the
	// cap), and their tokens with them. Default [DefaultMaxSessionsPerKey];
	// negative: no cap.
	MaxSessionsPerKey int
	Clock             authkit.Clock // nil: the system clock
	// Logger receives the audit events of revocations and reuse
	// detections (which the store keeps too, if it is an
	// authkit.AuditStore); nil: slog.Default().
	Logger *slog.Logger
	// MeterProvider, when set, receives the Manager's metrics:
	// authkit.tokens.issued, authkit.sessions.opened,
	// authkit.refresh.reuse_detected, and the duration of its store calls
	// (see the root README's Operations). nil: none.
	MeterProvider metric.MeterProvider
}

// DefaultMaxSessionsPerKey is Config.MaxSessionsPerKey's default: room for
// a client that exchanges its key every hour for the 30 days a grant
// session lives (720), with margin, and not for a flood.
const DefaultMaxSessionsPerKey = 1000

// Manager runs exchanges, refreshes and logins. It is safe for concurrent use.
type Manager struct {
	store        authkit.Store
	audit        *audit.Recorder
	tokens       authkit.TokenIssuer
	hasher       *seal.StoredHasher
	sealer       *seal.Sealer
	refreshTTL   time.Duration
	refreshGrace time.Duration
	prefix       string
	loginTTL     time.Duration
	reuseMargin  time.Duration
	maxPerKey    int // 0: no cap
	room         room
	clock        authkit.Clock
	metrics      *metrics.Metrics
}

// New returns a Manager. Returns an error wrapping authkit.ErrInvalid for a
// missing store, issuer or secret, or a grace window over 30 s.
func New(cfg Config) (*Manager, error) {
	switch {
	case cfg.Store == nil:
		return nil, authkit.Invalid("store", "required")
	case cfg.Tokens == nil:
		return nil, authkit.Invalid("tokens", "required")
	case cfg.Secret == nil:
		return nil, authkit.Invalid("secret", "required")
	case cfg.RefreshGrace < 0 || cfg.RefreshGrace > authkit.MaxRefreshGrace:
		return nil, authkit.Invalid("refresh_grace", "0 to 30 seconds")
	}
	m := &Manager{
		store: cfg.Store, tokens: cfg.Tokens, audit: audit.New(cfg.Store, cfg.Logger, cfg.Clock),
		hasher:     seal.NewStoredHasher(cfg.Store, cfg.Secret, seal.HashKeyRefresh),
		sealer:     seal.NewSealer(cfg.Secret, seal.PurposeSessions),
		refreshTTL: cfg.RefreshTTL, refreshGrace: cfg.RefreshGrace, prefix: cfg.RefreshPrefix,
		loginTTL: cfg.LoginTTL, reuseMargin: cfg.ReuseMargin, clock: cfg.Clock,
	}
	var err error
	if m.metrics, err = metrics.New(cfg.MeterProvider); err != nil {
		return nil, fmt.Errorf("sessions: metrics: %w", err)
	}
	if m.refreshTTL <= 0 {
		m.refreshTTL = 30 * 24 * time.Hour
	}
	if m.prefix == "" {
		m.prefix = "rt_"
	}
	if m.loginTTL <= 0 {
		m.loginTTL = 2 * time.Hour
	}
	if m.reuseMargin <= 0 {
		m.reuseMargin = m.loginTTL / 5
	}
	switch {
	case cfg.MaxSessionsPerKey == 0:
		m.maxPerKey = DefaultMaxSessionsPerKey
	case cfg.MaxSessionsPerKey > 0:
		m.maxPerKey = cfg.MaxSessionsPerKey
	}
	return m, nil
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// Exchange opens a new grant session for a verified key and issues an
// access token (TTL 0: the issuer's default) and, unless r.NoRefresh, a
// refresh token. Scopes nil means the key's; otherwise they must be a subset
// of the key's ([authkit.Key.Allows]), or an error wrapping
// authkit.ErrForbidden is returned. Without a refresh token the session ends
// with its access token.
func (m *Manager) Exchange(ctx context.Context, r authkit.ExchangeRequest) (*authkit.Grant, error) {
	key := r.Key
	if key == nil {
		return nil, authkit.Invalid("key", "required")
	}
	now := m.clock.Now()
	if err := key.Check(now); err != nil {
		return nil, fmt.Errorf("sessions: exchange: %w", err)
	}
	scopes := r.Scopes
	if scopes == nil {
		scopes = key.Scopes
	}
	if err := key.Allows(scopes); err != nil {
		return nil, fmt.Errorf("sessions: exchange: %w", err)
	}
	life := m.refreshTTL
	if r.SessionTTL > 0 && r.SessionTTL < life {
		life = r.SessionTTL
	}
	rtExp := now.Add(life)
	if !key.ExpiresAt.IsZero() && key.ExpiresAt.Before(rtExp) {
		rtExp = key.ExpiresAt
	}
	sess := &authkit.Session{ID: newID(), Kind: authkit.SessionGrant, KeyID: key.ID, Owner: key.Owner, Name: r.Flow,
		Scopes: slices.Clone(scopes), CreatedAt: now, ExpiresAt: rtExp}
	tok, c, err := m.tokens.Issue(ctx, authkit.TokenRequest{Key: key, SessionID: sess.ID, Scopes: sess.Scopes, TTL: r.TTL})
	if err != nil {
		return nil, fmt.Errorf("sessions: exchange: %w", err)
	}
	var rt string
	var first *authkit.RefreshToken
	if r.NoRefresh {
		sess.ExpiresAt = c.ExpiresAt() // nothing renews it: it ends with its token
	} else {
		rt = opaque.New(m.prefix)
		h, err := m.hasher.Get(ctx)
		if err != nil {
			return nil, fmt.Errorf("sessions: exchange: %w", err)
		}
		first = &authkit.RefreshToken{Hash: h.Sum(rt), SessionID: sess.ID, KeyID: key.ID, CreatedAt: now, ExpiresAt: rtExp}
	}
	// One write: the session and its family's first refresh token.
	if err := m.createSession(ctx, sess, first); err != nil {
		return nil, fmt.Errorf("sessions: exchange: %w", err)
	}
	m.metrics.Opened(ctx, metrics.GrantSession)
	m.metrics.Issued(ctx, metrics.Exchange)
	if err := m.capSessions(ctx, key.ID, now); err != nil {
		return nil, fmt.Errorf("sessions: exchange: %w", err)
	}
	return grant(tok, c, rt, sess), nil
}

// createSession is the store's CreateSession, timed.
func (m *Manager) createSession(ctx context.Context, sess *authkit.Session, first *authkit.RefreshToken) error {
	start := m.metrics.Start()
	err := m.store.CreateSession(ctx, sess, first)
	m.metrics.Stored(ctx, metrics.CreateSession, start)
	return err
}

func grant(tok string, c *authkit.Claims, rt string, sess *authkit.Session) *authkit.Grant {
	exp := c.ExpiresAt()
	return &authkit.Grant{AccessToken: tok, Claims: c, ExpiresAt: exp, TTL: time.Duration(c.Expiry-c.IssuedAt) * time.Second, RefreshToken: rt, Session: sess}
}

// LooksLikeRefreshToken reports whether s is shaped like one of this
// manager's refresh tokens (prefix, length, checksum), without a store.
func (m *Manager) LooksLikeRefreshToken(s string) bool { return opaque.Valid(s, m.prefix) }

var errMalformed = fmt.Errorf("sessions: not a refresh token: %w", authkit.ErrUnauthenticated)

// child is what spending a refresh token produced, kept sealed on the spent
// token while a grace window is on (and only then): the claims are read
// back from the access token itself.
type child struct {
	AccessToken  string `json:"a"`
	RefreshToken string `json:"r"`
}

// claimsOf reads the claims of an access token this manager's issuer made
// and a seal kept, without verifying it again.
func claimsOf(token string) (*authkit.Claims, error) {
	_, rest, _ := strings.Cut(token, ".")
	payload, _, ok := strings.Cut(rest, ".")
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if !ok || err != nil {
		return nil, fmt.Errorf("sessions: sealed token unreadable: %w", authkit.ErrInvalid)
	}
	var c authkit.Claims
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("sessions: sealed token unreadable: %w", authkit.ErrInvalid)
	}
	return &c, nil
}

// Refresh spends a refresh token for a new access token (ttl 0: the
// issuer's default) and a new refresh token in the same session. Returns
// an error wrapping authkit.ErrUnauthenticated for an unknown or malformed
// token, authkit.ErrExpired for an expired one (or one of an expired
// session or key), and authkit.ErrRevoked for a revoked session or a
// deleted key, or a replayed token (which also revokes the family). A store
// failure is returned wrapped, matching none of these: it says nothing
// about the token.
func (m *Manager) Refresh(ctx context.Context, refreshToken string, ttl time.Duration) (*authkit.Grant, error) {
	if !m.LooksLikeRefreshToken(refreshToken) {
		return nil, errMalformed
	}
	hasher, err := m.hasher.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("sessions: refresh: %w", err)
	}
	var h [sha256.Size]byte
	hasher.SumInto(&h, refreshToken)
	for attempt := 0; attempt < 2; attempt++ {
		g, retry, err := m.refreshOnce(ctx, h[:], ttl)
		if !retry {
			return g, err
		}
	}
	return nil, fmt.Errorf("sessions: refresh: lost a race twice: %w", authkit.ErrConflict)
}

// lookup reads the refresh token with hash and its session. Only a
// not-found turns into a dead credential: an unknown token is
// ErrUnauthenticated, a token whose session is gone ErrRevoked; any other
// failure is returned wrapped.
func (m *Manager) lookup(ctx context.Context, hash []byte) (*authkit.RefreshToken, *authkit.Session, error) {
	start := m.metrics.Start()
	rt, err := m.store.RefreshToken(ctx, hash)
	m.metrics.Stored(ctx, metrics.RefreshToken, start)
	switch {
	case errors.Is(err, authkit.ErrNotFound):
		return nil, nil, fmt.Errorf("sessions: unknown refresh token: %w", authkit.ErrUnauthenticated)
	case err != nil:
		return nil, nil, fmt.Errorf("sessions: refresh token: %w", err)
	case !seal.Equal(rt.Hash, hash):
		return nil, nil, fmt.Errorf("sessions: unknown refresh token: %w", authkit.ErrUnauthenticated)
	}
	start = m.metrics.Start()
	sess, err := m.store.Session(ctx, rt.SessionID)
	m.metrics.Stored(ctx, metrics.Session, start)
	switch {
	case errors.Is(err, authkit.ErrNotFound):
		return nil, nil, fmt.Errorf("sessions: refresh token of a collected session: %w", authkit.ErrRevoked)
	case err != nil:
		return nil, nil, fmt.Errorf("sessions: refresh token session: %w", err)
	}
	return rt, sess, nil
}

// alive is the one liveness rule of an unspent refresh token at now, for
// refresh and introspection alike: the token, its session and its key must
// each be unexpired and unrevoked. It returns the key. A store failure is
// returned wrapped, never as a dead credential.
func (m *Manager) alive(ctx context.Context, rt *authkit.RefreshToken, sess *authkit.Session, now time.Time) (*authkit.Key, error) {
	if !now.Before(rt.ExpiresAt) {
		return nil, fmt.Errorf("sessions: refresh token: %w", authkit.ErrExpired)
	}
	if err := sess.Check(now); err != nil {
		return nil, fmt.Errorf("sessions: refresh token session: %w", err)
	}
	key, err := m.keyAlive(ctx, rt.KeyID, now)
	if err != nil {
		return nil, fmt.Errorf("sessions: refresh token: %w", err)
	}
	return key, nil
}

// keyAlive returns the key with id if it is alive at now: a deleted or
// expired key (or one collected) is a dead credential, ErrRevoked or
// ErrExpired; any other failure is returned as it is.
func (m *Manager) keyAlive(ctx context.Context, id string, now time.Time) (*authkit.Key, error) {
	start := m.metrics.Start()
	key, err := m.store.KeyByID(ctx, id)
	m.metrics.Stored(ctx, metrics.KeyByID, start)
	switch {
	case errors.Is(err, authkit.ErrNotFound):
		return nil, fmt.Errorf("key: %w", authkit.ErrRevoked)
	case err != nil:
		return nil, fmt.Errorf("key: %w", err)
	}
	if err := key.Check(now); err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	return key, nil
}

func (m *Manager) refreshOnce(ctx context.Context, hash []byte, ttl time.Duration) (g *authkit.Grant, retry bool, err error) {
	now := m.clock.Now()
	rt, sess, err := m.lookup(ctx, hash)
	if err != nil {
		return nil, false, err
	}
	if !rt.SpentAt.IsZero() {
		return m.replay(ctx, rt, sess, now)
	}
	key, err := m.alive(ctx, rt, sess, now)
	if err != nil {
		return nil, false, err
	}
	// The session's scopes, never the key's: a backend may return nil for
	// none, which a TokenRequest would read as "all of the key's".
	scopes := sess.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	tok, c, err := m.tokens.Issue(ctx, authkit.TokenRequest{Key: key, SessionID: sess.ID, Scopes: scopes, TTL: ttl})
	if err != nil {
		return nil, false, fmt.Errorf("sessions: refresh: %w", err)
	}
	next := opaque.New(m.prefix)
	var sealed []byte // the child pair, for a replay inside the grace window; none without one
	if m.refreshGrace > 0 {
		b, err := json.Marshal(child{AccessToken: tok, RefreshToken: next})
		if err != nil {
			return nil, false, err
		}
		sealed = m.sealer.Seal(b, hash)
	}
	childRec := &authkit.RefreshToken{Hash: m.hasher.Loaded().Sum(next), // loaded by Refresh
		SessionID: sess.ID, KeyID: key.ID, CreatedAt: now, ExpiresAt: rt.ExpiresAt}
	if exp := now.Add(m.refreshTTL); exp.Before(childRec.ExpiresAt) || childRec.ExpiresAt.IsZero() {
		childRec.ExpiresAt = exp
	}
	// The family keeps its original end: refresh does not extend the grant.
	start := m.metrics.Start()
	err = m.store.SpendRefreshToken(ctx, hash, now, sealed, childRec)
	m.metrics.Stored(ctx, metrics.SpendRefreshToken, start)
	if errors.Is(err, authkit.ErrConflict) {
		return nil, true, nil // another spender won: reload and treat as a replay
	}
	if err != nil {
		return nil, false, fmt.Errorf("sessions: refresh: %w", err)
	}
	m.metrics.Issued(ctx, metrics.Refresh)
	return grant(tok, c, next, sess), false, nil
}

// replay answers a spent refresh token: the same child inside the grace
// window, else the whole family is revoked.
func (m *Manager) replay(ctx context.Context, rt *authkit.RefreshToken, sess *authkit.Session, now time.Time) (*authkit.Grant, bool, error) {
	if m.refreshGrace > 0 && now.Before(rt.SpentAt.Add(m.refreshGrace)) && sess.Check(now) == nil {
		if b, err := m.sealer.Open(rt.ChildSealed, rt.Hash); err == nil {
			var ch child
			if json.Unmarshal(b, &ch) == nil {
				if c, err := claimsOf(ch.AccessToken); err == nil {
					return grant(ch.AccessToken, c, ch.RefreshToken, sess), false, nil
				}
			}
		}
	}
	if err := m.store.RevokeSession(ctx, sess.Owner, sess.ID, now); err != nil && !errors.Is(err, authkit.ErrNotFound) {
		return nil, false, fmt.Errorf("sessions: refresh: revoking a replayed family: %w", err)
	}
	m.metrics.ReuseDetected(ctx)
	m.audit.Record(ctx, sess.Owner, authkit.AuditRefreshReuse, sess.ID, "a spent refresh token presented again: its family revoked")
	return nil, false, fmt.Errorf("sessions: refresh: token reused, family revoked: %w", authkit.ErrRevoked)
}

// Login returns the access token of the login session (key, name), name ""
// being the key's default session: the same token string while more than
// ReuseMargin is left of it, else a new one. A new name opens a new session
// with a new token; a revoked session's name opens a new session. Concurrent
// logins to the same new pair all get the same token and one session.
func (m *Manager) Login(ctx context.Context, key *authkit.Key, name string) (*authkit.Grant, error) {
	if err := key.Check(m.clock.Now()); err != nil {
		return nil, fmt.Errorf("sessions: login: %w", err)
	}
	return m.login(ctx, loginSubject{key: key, owner: key.Owner, scopes: key.Scopes}, name)
}

// LoginUser is [Manager.Login] for one of the app's own users, signed in
// with the app's own credentials (a password, say) rather than a key: the
// session is the user's (Owner user, no KeyID), the tokens have sub user,
// no client_id, and scopes.
func (m *Manager) LoginUser(ctx context.Context, user string, scopes []string, name string) (*authkit.Grant, error) {
	if user == "" || len(user) > 256 {
		return nil, authkit.Invalid("user", "required, at most 256 bytes")
	}
	if err := authkit.CheckScopes(scopes); err != nil {
		return nil, err
	}
	return m.login(ctx, loginSubject{owner: user, scopes: slices.Clone(scopes)}, name)
}

// loginSubject is who logs in: a key, or a user without one.
type loginSubject struct {
	key    *authkit.Key // nil for a user
	owner  string
	scopes []string
}

// flow is the login's flow, for authkit.tokens.issued.
func (ls loginSubject) flow() metrics.Flow {
	if ls.key == nil {
		return metrics.UserLogin
	}
	return metrics.Login
}

func (ls loginSubject) keyID() string {
	if ls.key == nil {
		return ""
	}
	return ls.key.ID
}

func (m *Manager) login(ctx context.Context, who loginSubject, name string) (*authkit.Grant, error) {
	now := m.clock.Now()
	if len(name) > 128 {
		return nil, authkit.Invalid("session_id", "at most 128 characters")
	}
	for attempt := 0; attempt < 4; attempt++ {
		start := m.metrics.Start()
		sess, err := m.store.LoginSession(ctx, who.owner, who.keyID(), name)
		m.metrics.Stored(ctx, metrics.LoginSessionOp, start)
		switch {
		case errors.Is(err, authkit.ErrNotFound):
			g, err := m.openLogin(ctx, who, name, now)
			if errors.Is(err, authkit.ErrConflict) {
				continue // another login opened it first: use theirs
			}
			return g, err
		case err != nil:
			return nil, fmt.Errorf("sessions: login: %w", err)
		}
		if sess.TokenExpiresAt.Sub(now) > m.reuseMargin && sess.ExpiresAt.Sub(now) > m.reuseMargin {
			if g, err := m.reuse(sess); err == nil {
				return g, nil
			}
		}
		g, err := m.renewLogin(ctx, who, sess)
		if errors.Is(err, authkit.ErrConflict) || errors.Is(err, authkit.ErrNotFound) {
			continue // replaced or revoked meanwhile: look again
		}
		return g, err
	}
	return nil, fmt.Errorf("sessions: login: too much contention: %w", authkit.ErrConflict)
}

func (m *Manager) issueLogin(ctx context.Context, who loginSubject, sessID string) (string, *authkit.Claims, []byte, error) {
	r := authkit.TokenRequest{Key: who.key, SessionID: sessID, Scopes: who.scopes, TTL: m.loginTTL}
	if who.key == nil {
		r.User = who.owner
	}
	tok, c, err := m.tokens.Issue(ctx, r)
	if err != nil {
		return "", nil, nil, fmt.Errorf("sessions: login: %w", err)
	}
	// The session keeps the token alone, sealed: its claims are in it.
	return tok, c, m.sealer.Seal([]byte(tok), []byte(sessID)), nil
}

func (m *Manager) openLogin(ctx context.Context, who loginSubject, name string, now time.Time) (*authkit.Grant, error) {
	sess := &authkit.Session{ID: newID(), Kind: authkit.SessionLogin, KeyID: who.keyID(), Owner: who.owner, Name: name,
		Scopes: slices.Clone(who.scopes), CreatedAt: now}
	tok, c, sealed, err := m.issueLogin(ctx, who, sess.ID)
	if err != nil {
		return nil, err
	}
	sess.TokenSealed, sess.TokenID, sess.TokenExpiresAt, sess.ExpiresAt = sealed, c.ID, c.ExpiresAt(), c.ExpiresAt()
	if err := m.createSession(ctx, sess, nil); err != nil {
		return nil, fmt.Errorf("sessions: login: %w", err)
	}
	m.metrics.Opened(ctx, metrics.LoginSession)
	m.metrics.Issued(ctx, who.flow())
	if err := m.capSessions(ctx, sess.KeyID, now); err != nil {
		return nil, fmt.Errorf("sessions: login: %w", err)
	}
	return grant(tok, c, "", sess), nil
}

// capSessions ends the oldest sessions of keyID once a new one takes it
// over the cap, down to nine tenths of the cap, so that a key at its cap
// does not pay a write for every new session. The store counts the key's
// sessions only when the room this Manager knew of is used up (see room).
// An app's own users (keyID "") have no cap here.
func (m *Manager) capSessions(ctx context.Context, keyID string, now time.Time) error {
	if m.maxPerKey == 0 || keyID == "" || m.room.take(keyID) {
		return nil
	}
	keep := m.maxPerKey - m.maxPerKey/10
	start := m.metrics.Start()
	live, err := m.store.EndOldestSessions(ctx, keyID, m.maxPerKey, keep, now)
	m.metrics.Stored(ctx, metrics.EndOldestSessions, start)
	if err != nil {
		return err
	}
	m.room.set(keyID, min(m.maxPerKey-live, m.maxPerKey-keep))
	return nil
}

func (m *Manager) renewLogin(ctx context.Context, who loginSubject, sess *authkit.Session) (*authkit.Grant, error) {
	tok, c, sealed, err := m.issueLogin(ctx, who, sess.ID)
	if err != nil {
		return nil, err
	}
	start := m.metrics.Start()
	err = m.store.ReplaceSessionToken(ctx, sess.ID, sess.TokenID, sealed, c.ID, c.ExpiresAt(), c.ExpiresAt())
	m.metrics.Stored(ctx, metrics.ReplaceSessionToken, start)
	if err != nil {
		return nil, fmt.Errorf("sessions: login: %w", err)
	}
	m.metrics.Issued(ctx, who.flow())
	sess.TokenSealed, sess.TokenID, sess.TokenExpiresAt, sess.ExpiresAt = sealed, c.ID, c.ExpiresAt(), c.ExpiresAt()
	return grant(tok, c, "", sess), nil
}

func (m *Manager) reuse(sess *authkit.Session) (*authkit.Grant, error) {
	b, err := m.sealer.Open(sess.TokenSealed, []byte(sess.ID))
	if err != nil {
		return nil, err
	}
	tok := string(b)
	c, err := claimsOf(tok)
	if err != nil {
		return nil, err
	}
	return grant(tok, c, "", sess), nil
}

// List returns a page of the owner's live sessions, oldest first. A
// session is live while it is unrevoked, unexpired, and its key is alive: a
// session of a deleted or expired key is dead (its tokens are refused) and
// left out. The page may therefore hold fewer than p's limit although more
// follow; the next page starts after the last ID the store returned, which
// is the second result ("" on the last page).
func (m *Manager) List(ctx context.Context, owner string, p authkit.Page) ([]*authkit.Session, string, error) {
	ss, err := m.store.ListSessions(ctx, owner, p)
	if err != nil {
		return nil, "", fmt.Errorf("sessions: list: %w", err)
	}
	next := ""
	if len(ss) == p.Size() { // a full page: there may be more
		next = ss[len(ss)-1].ID
	}
	now := m.clock.Now()
	keyLive := map[string]bool{}
	out := ss[:0]
	for _, s := range ss {
		if !now.Before(s.ExpiresAt) {
			continue
		}
		live, seen := keyLive[s.KeyID]
		if s.KeyID == "" { // a user's session: no key to outlive
			live, seen = true, true
		}
		if !seen {
			_, err := m.keyAlive(ctx, s.KeyID, now)
			switch {
			case err == nil:
				live = true
			case errors.Is(err, authkit.ErrRevoked), errors.Is(err, authkit.ErrExpired):
			default:
				return nil, "", fmt.Errorf("sessions: list: %w", err)
			}
			keyLive[s.KeyID] = live
		}
		if live {
			s.TokenSealed = nil // never leaves the package
			out = append(out, s)
		}
	}
	return out, next, nil
}

// Revoke revokes the owner's session: its tokens stop verifying at once and
// its refresh tokens are refused. Returns authkit.ErrNotFound for another
// owner's session.
func (m *Manager) Revoke(ctx context.Context, owner, sessionID string) error {
	if err := m.store.RevokeSession(ctx, owner, sessionID, m.clock.Now()); err != nil {
		return fmt.Errorf("sessions: revoke: %w", err)
	}
	m.audit.Record(ctx, owner, authkit.AuditSessionRevoked, sessionID, "")
	return nil
}

// RevokeRefreshToken revokes the family of a refresh token (RFC 7009).
// Unknown, malformed and dead tokens are not an error; a store failure is.
func (m *Manager) RevokeRefreshToken(ctx context.Context, refreshToken string) error {
	_, sess, err := m.InspectRefreshToken(ctx, refreshToken)
	if err != nil {
		if deadCredential(err) {
			return nil
		}
		return err
	}
	if err := m.store.RevokeSession(ctx, sess.Owner, sess.ID, m.clock.Now()); err != nil && !errors.Is(err, authkit.ErrNotFound) {
		return fmt.Errorf("sessions: revoke refresh token: %w", err)
	}
	m.audit.Record(ctx, sess.Owner, authkit.AuditSessionRevoked, sess.ID, "its refresh token revoked")
	return nil
}

// deadCredential reports whether err says a credential is dead (not
// whether the store failed).
func deadCredential(err error) bool {
	return errors.Is(err, authkit.ErrUnauthenticated) || errors.Is(err, authkit.ErrRevoked) || errors.Is(err, authkit.ErrExpired)
}

// InspectRefreshToken returns the record and session of a live, unspent
// refresh token (for RFC 7662 introspection), by the same liveness rule as
// [Manager.Refresh]. Returns an error wrapping authkit.ErrUnauthenticated,
// ErrExpired or ErrRevoked for a dead one (a spent one is ErrRevoked), and
// a store failure wrapped, matching none of those.
func (m *Manager) InspectRefreshToken(ctx context.Context, refreshToken string) (*authkit.RefreshToken, *authkit.Session, error) {
	if !m.LooksLikeRefreshToken(refreshToken) {
		return nil, nil, errMalformed
	}
	hasher, err := m.hasher.Get(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("sessions: inspect: %w", err)
	}
	rt, sess, err := m.lookup(ctx, hasher.Sum(refreshToken))
	if err != nil {
		return nil, nil, err
	}
	if !rt.SpentAt.IsZero() {
		return nil, nil, fmt.Errorf("sessions: refresh token spent: %w", authkit.ErrRevoked)
	}
	if _, err := m.alive(ctx, rt, sess, m.clock.Now()); err != nil {
		return nil, nil, err
	}
	return rt, sess, nil
}
