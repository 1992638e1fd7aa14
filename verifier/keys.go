package verifier

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/metrics"
	"github.com/authkit/authkit/internal/opaque"
)

// DefaultKeyCacheTTL is how long a key the token service vouched for is
// trusted without asking again (the feed's revocations, disablings and
// rotations of it apply at once regardless).
const DefaultKeyCacheTTL = 30 * time.Second

// keyEntry is a key the token service vouched for, by the hash of its
// secret.
type keyEntry struct {
	p     authkit.Principal
	key   authkit.Key // without a secret; a copy is handed out
	until int64       // Unix ns
}

var _ authkit.KeyVerifier = (*Verifier)(nil)

// LooksLikeKey implements authkit.KeyVerifier: s has the token service's
// key shape (Config.KeyPrefix, env, length, checksum).
func (v *Verifier) LooksLikeKey(s string) bool {
	p := v.keyPrefix()
	return opaque.Valid(s, p+"_live_") || opaque.Valid(s, p+"_test_")
}

func (v *Verifier) keyPrefix() string {
	if v.cfg.KeyPrefix == "" {
		return "ak"
	}
	return v.cfg.KeyPrefix
}

var (
	errNoKeyCheck = fmt.Errorf("verifier: the token service checks no keys (no authkit_key_check_endpoint): %w", authkit.ErrUnauthenticated)
	errKeyRefused = fmt.Errorf("verifier: the token service refused the key: %w", authkit.ErrUnauthenticated)
	errNotAKey    = fmt.Errorf("verifier: not a key: %w", authkit.ErrUnauthenticated)
)

// VerifyKey implements authkit.KeyVerifier: it asks the token service's
// key-check endpoint about secret, or answers from a cache of the keys it
// vouched for in the last Config.KeyCacheTTL, which the feed's events
// about a key clear at once. The returned Key has the owner, ID, env and
// scopes. Returns an error wrapping authkit.ErrUnauthenticated for a key
// the service refuses, ErrRevoked or ErrDisabled when the feed said so,
// ErrUnavailable when the service cannot be asked (or the feed is stale,
// with Refuse).
func (v *Verifier) VerifyKey(ctx context.Context, secret string) (*authkit.Key, error) {
	e, err := v.countedKeyEntry(ctx, secret)
	if err != nil {
		return nil, err
	}
	k := e.key
	k.Scopes = append([]string(nil), k.Scopes...)
	return &k, nil
}

// KeyPrincipal implements authkit.KeyVerifier.
func (v *Verifier) KeyPrincipal(ctx context.Context, secret string) (authkit.Principal, error) {
	e, err := v.countedKeyEntry(ctx, secret)
	if err != nil {
		return authkit.Principal{}, err
	}
	return e.p, nil
}

// CachedKeyPrincipal implements authkit.KeyVerifier, from the cache only.
func (v *Verifier) CachedKeyPrincipal(secret string) (authkit.Principal, bool) {
	if !v.LooksLikeKey(secret) {
		return authkit.Principal{}, false
	}
	e := v.cachedKey(sha256.Sum256([]byte(secret)), v.cfg.Clock.Now())
	if e == nil || v.aliveKey(e.key.ID) != nil || v.stale(v.cfg.Clock.Now()) {
		return authkit.Principal{}, false // not counted: the caller asks KeyPrincipal next
	}
	v.metrics.Verified(metrics.Key, metrics.Hit, nil)
	return e.p, true
}

func (v *Verifier) cachedKey(h [32]byte, now time.Time) *keyEntry {
	v.keyMu.RLock()
	defer v.keyMu.RUnlock()
	if e := v.keyCache[h]; e != nil && now.UnixNano() < e.until {
		return e
	}
	return nil
}

// aliveKey checks what the feed said of key id.
func (v *Verifier) aliveKey(id string) error {
	v.stateMu.RLock()
	defer v.stateMu.RUnlock()
	if _, ok := v.revoked[id]; ok {
		return errKey
	}
	if v.disabled[id] {
		return errDisabled
	}
	return nil
}

// countedKeyEntry is keyEntry, counted in the metrics.
func (v *Verifier) countedKeyEntry(ctx context.Context, secret string) (*keyEntry, error) {
	e, l, err := v.keyEntry(ctx, secret)
	v.metrics.Verified(metrics.Key, l, err)
	return e, err
}

// keyEntry verifies secret, and says what the cache of keys said.
func (v *Verifier) keyEntry(ctx context.Context, secret string) (*keyEntry, metrics.Lookup, error) {
	if !v.LooksLikeKey(secret) {
		return nil, metrics.NoLookup, errNotAKey
	}
	now := v.cfg.Clock.Now()
	h := sha256.Sum256([]byte(secret))
	if e := v.cachedKey(h, now); e != nil {
		if err := v.aliveKey(e.key.ID); err != nil {
			return nil, metrics.Hit, err
		}
		if !v.stale(now) {
			return e, metrics.Hit, nil
		}
		// Stale: the cache may have missed a change; the service's own
		// answer, asked now, is current whatever the policy.
	}
	e, err := v.checkKey(ctx, secret, now)
	if err != nil {
		return nil, metrics.Miss, err
	}
	if err := v.aliveKey(e.key.ID); err != nil {
		return nil, metrics.Miss, err
	}
	v.keyMu.Lock()
	if len(v.keyCache) >= v.cfg.CacheSize {
		clear(v.keyCache) // rare: refilled on demand
		clear(v.keysByID)
	}
	if _, had := v.keyCache[h]; !had { // a refreshed entry is listed already
		v.keysByID[e.key.ID] = append(v.keysByID[e.key.ID], h)
	}
	v.keyCache[h] = e
	v.keyMu.Unlock()
	return e, metrics.Miss, nil
}

// checkKey asks the token service about secret.
func (v *Verifier) checkKey(ctx context.Context, secret string, now time.Time) (*keyEntry, error) {
	if v.meta.KeyCheck == "" {
		return nil, errNoKeyCheck
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.meta.KeyCheck, nil)
	if err != nil {
		return nil, errStale
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	res, err := v.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("verifier: key check: %w", authkit.ErrUnavailable)
	}
	defer res.Body.Close()
	switch res.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
		return nil, errKeyRefused
	default:
		return nil, fmt.Errorf("verifier: key check: %s: %w", res.Status, authkit.ErrUnavailable)
	}
	var j struct {
		Owner  string      `json:"owner"`
		KeyID  string      `json:"key_id"`
		Scopes []string    `json:"scopes"`
		Env    authkit.Env `json:"env"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&j); err != nil || j.KeyID == "" || j.Owner == "" {
		return nil, fmt.Errorf("verifier: key check: a malformed answer: %w", authkit.ErrUnavailable)
	}
	k := authkit.Key{ID: j.KeyID, Owner: j.Owner, Env: j.Env, Scopes: j.Scopes}
	return &keyEntry{p: k.Principal(), key: k, until: now.Add(v.keyTTL()).UnixNano()}, nil
}

func (v *Verifier) keyTTL() time.Duration {
	if v.cfg.KeyCacheTTL > 0 {
		return v.cfg.KeyCacheTTL
	}
	return DefaultKeyCacheTTL
}

// forgetKey drops the cached secrets of key id: the feed said it changed.
func (v *Verifier) forgetKey(id string) {
	v.keyMu.Lock()
	for _, h := range v.keysByID[id] {
		delete(v.keyCache, h)
	}
	delete(v.keysByID, id)
	v.keyMu.Unlock()
}
