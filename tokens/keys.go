package tokens

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/jws"
)

// hmacKeyLen is the size of an HS256 key: the output size of SHA-256.
const hmacKeyLen = 32

// reloadEvery is how often an unknown kid (or a JWKS call) may make the
// Service reload the signing keys from the store.
const reloadEvery = time.Second

// signingKey is a signing key opened from the store, ready to use.
type signingKey struct {
	id        string
	alg       jose.SignatureAlgorithm
	verify    any              // ed25519.PublicKey, *ecdsa.PublicKey or []byte
	public    crypto.PublicKey // nil for HS256
	signer    jose.Signer
	fast      *jws.Verifier // the known-header path (internal/jws)
	createdAt time.Time
	retiredAt time.Time
	expiresAt time.Time
}

// usable reports whether k may still verify at now: it is active, or retired
// and not past its ExpiresAt (plus leeway).
func (k *signingKey) usable(now time.Time, leeway time.Duration) bool {
	return k.expiresAt.IsZero() || now.Before(k.expiresAt.Add(leeway))
}

// keyRing is an immutable snapshot of the signing keys.
type keyRing struct {
	byID     map[string]*signingKey
	all      []*signingKey // oldest first
	active   *signingKey   // the newest unretired key; nil if there is none
	loadedAt time.Time
}

// signRefresh is how long Issue signs with the keys it loaded before it
// reloads them, so that a rotation by another replica reaches its signing
// within that time (its verifying, at once: see [Service.key]).
const signRefresh = time.Minute

// generate makes a new signing key record for alg, sealed.
func (s *Service) generate(alg string, now time.Time) (*authkit.SigningKey, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("tokens: key id: %w", err)
	}
	rec := &authkit.SigningKey{ID: id.String(), Algorithm: alg, CreatedAt: now}
	var priv []byte
	switch alg {
	case EdDSA:
		pub, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("tokens: generate Ed25519 key: %w", err)
		}
		if priv, err = x509.MarshalPKCS8PrivateKey(key); err != nil {
			return nil, fmt.Errorf("tokens: encode Ed25519 key: %w", err)
		}
		if rec.Public, err = x509.MarshalPKIXPublicKey(pub); err != nil {
			return nil, fmt.Errorf("tokens: encode Ed25519 key: %w", err)
		}
	case ES256:
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("tokens: generate P-256 key: %w", err)
		}
		if priv, err = x509.MarshalPKCS8PrivateKey(key); err != nil {
			return nil, fmt.Errorf("tokens: encode P-256 key: %w", err)
		}
		if rec.Public, err = x509.MarshalPKIXPublicKey(&key.PublicKey); err != nil {
			return nil, fmt.Errorf("tokens: encode P-256 key: %w", err)
		}
	case HS256:
		priv = make([]byte, hmacKeyLen)
		rand.Read(priv)
	default:
		return nil, authkit.Invalid("algorithm", "must be EdDSA, ES256 or HS256")
	}
	rec.Sealed = s.sealer.Seal(priv, []byte(rec.ID))
	clear(priv)
	return rec, nil
}

// open unseals rec and makes it ready to sign and verify. The public key is
// derived from the sealed private key, which is authenticated; rec.Public,
// which is not, must agree with it.
func (s *Service) open(rec *authkit.SigningKey) (*signingKey, error) {
	raw, err := s.sealer.Open(rec.Sealed, []byte(rec.ID))
	if err != nil {
		return nil, fmt.Errorf("tokens: signing key %s does not open under this server secret", rec.ID)
	}
	k := &signingKey{id: rec.ID, alg: jose.SignatureAlgorithm(rec.Algorithm), createdAt: rec.CreatedAt, retiredAt: rec.RetiredAt, expiresAt: rec.ExpiresAt}
	var signWith any
	switch rec.Algorithm {
	case EdDSA, ES256:
		parsed, err := x509.ParsePKCS8PrivateKey(raw)
		if err != nil {
			return nil, fmt.Errorf("tokens: signing key %s: bad private key", rec.ID)
		}
		switch p := parsed.(type) {
		case ed25519.PrivateKey:
			if rec.Algorithm != EdDSA {
				return nil, fmt.Errorf("tokens: signing key %s: an Ed25519 key is not %s", rec.ID, rec.Algorithm)
			}
			pub := p.Public().(ed25519.PublicKey)
			signWith, k.verify, k.public = p, pub, pub
		case *ecdsa.PrivateKey:
			if rec.Algorithm != ES256 || p.Curve != elliptic.P256() {
				return nil, fmt.Errorf("tokens: signing key %s: an ECDSA key is not %s", rec.ID, rec.Algorithm)
			}
			signWith, k.verify, k.public = p, &p.PublicKey, &p.PublicKey
		default:
			return nil, fmt.Errorf("tokens: signing key %s: unexpected key type %T", rec.ID, parsed)
		}
		der, err := x509.MarshalPKIXPublicKey(k.public)
		if err != nil || subtle.ConstantTimeCompare(der, rec.Public) != 1 {
			return nil, fmt.Errorf("tokens: signing key %s: stored public key does not match", rec.ID)
		}
	case HS256:
		if len(raw) != hmacKeyLen {
			return nil, fmt.Errorf("tokens: signing key %s: HMAC key of the wrong size", rec.ID)
		}
		signWith, k.verify = raw, raw
	default:
		return nil, fmt.Errorf("tokens: signing key %s: unknown algorithm %q", rec.ID, rec.Algorithm)
	}
	if k.fast, err = jws.New(rec.Algorithm, k.verify); err != nil {
		return nil, fmt.Errorf("tokens: signing key %s: %w", rec.ID, err)
	}
	opts := (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", rec.ID)
	k.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: signWith}, opts)
	if err != nil {
		return nil, fmt.Errorf("tokens: signing key %s: %w", rec.ID, err)
	}
	return k, nil
}

// loadLocked reads the signing keys from the store and installs a new ring.
// Keys already open are reused; keys past their ExpiresAt are left out.
// s.loadMu must be held.
func (s *Service) loadLocked(ctx context.Context) error {
	recs, err := s.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("tokens: load signing keys: %w", err)
	}
	now := s.clock.Now()
	old := s.ring.Load()
	ring := &keyRing{byID: make(map[string]*signingKey, len(recs)), loadedAt: now}
	for _, rec := range recs {
		if !rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt.Add(s.leeway)) {
			continue
		}
		var k *signingKey
		if old != nil {
			if o := old.byID[rec.ID]; o != nil && string(o.alg) == rec.Algorithm {
				c := *o
				c.retiredAt, c.expiresAt = rec.RetiredAt, rec.ExpiresAt
				k = &c
			}
		}
		if k == nil {
			if k, err = s.open(rec); err != nil {
				return err
			}
		}
		ring.byID[k.id] = k
		ring.all = append(ring.all, k)
		if k.retiredAt.IsZero() && k.expiresAt.IsZero() {
			ring.active = k // oldest first: the newest unretired key wins
		}
	}
	s.ring.Store(ring)
	return nil
}

// reload reloads the keys unless an unknown kid or a JWKS call did so less
// than a second ago.
func (s *Service) reload(ctx context.Context, now time.Time) error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if !s.lastMiss.IsZero() && !now.Before(s.lastMiss) && now.Sub(s.lastMiss) < reloadEvery {
		return nil
	}
	s.lastMiss = now
	return s.loadLocked(ctx)
}

// signingKey returns the key to sign with at now, reloading the keys first
// if they were loaded more than signRefresh ago.
func (s *Service) signingKey(ctx context.Context, now time.Time) (*signingKey, error) {
	ring := s.ring.Load()
	if age := now.Sub(ring.loadedAt); age >= signRefresh || age < 0 {
		s.loadMu.Lock()
		if ring = s.ring.Load(); now.Sub(ring.loadedAt) >= signRefresh || now.Before(ring.loadedAt) {
			if err := s.loadLocked(ctx); err != nil {
				s.loadMu.Unlock()
				return nil, err
			}
		}
		ring = s.ring.Load()
		s.loadMu.Unlock()
	}
	if ring.active == nil { // revoked under us: another process has rotated, then revoked
		// Read the keys now, unthrottled (reload may have run within the
		// second, for a JWKS request): the new key is in the store before
		// the revocation is heard.
		s.loadMu.Lock()
		if s.ring.Load().active == nil {
			if err := s.loadLocked(ctx); err != nil {
				s.loadMu.Unlock()
				return nil, err
			}
		}
		ring = s.ring.Load()
		s.loadMu.Unlock()
		if ring.active == nil {
			return nil, errNoSigningKey
		}
	}
	return ring.active, nil
}

// revoked is the store subscription: a revoked signing key leaves the ring
// and every token verified with it leaves the cache, at once; any other
// revocation goes to the liveness cache. It never calls the store (it may
// run under loadMu, inside RevokeSigningKey).
func (s *Service) revoked(r authkit.Revocation) {
	if r.Kind != authkit.RevokedSigningKey {
		s.live.revoked(r)
		return
	}
	for {
		old := s.ring.Load()
		if old.byID[r.ID] == nil {
			break
		}
		ring := &keyRing{byID: make(map[string]*signingKey, len(old.byID)), loadedAt: old.loadedAt}
		for _, k := range old.all {
			if k.id == r.ID {
				continue
			}
			ring.byID[k.id] = k
			ring.all = append(ring.all, k)
			if k == old.active {
				ring.active = k
			}
		}
		if s.ring.CompareAndSwap(old, ring) {
			break
		}
	}
	if s.cache != nil {
		s.cache.clear() // the tokens it signed verify no more: none may answer from here
	}
}

// RevokeSigningKey stops signing key kid at once (a leak): its tokens are
// refused from now on, here and on every replica and product API the
// store's notifications and the revocation feed reach, and it leaves the
// JWKS. If it is the key that signs, a new one takes over first. Returns
// authkit.ErrNotFound for an unknown kid, or the store's error.
func (s *Service) RevokeSigningKey(ctx context.Context, kid string) error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	now := s.clock.Now()
	if err := s.loadLocked(ctx); err != nil {
		return err
	}
	if a := s.ring.Load().active; a != nil && a.id == kid {
		if err := s.rotateLocked(ctx, now); err != nil {
			return err
		}
	}
	if err := s.store.RevokeSigningKey(ctx, kid, now); err != nil {
		return fmt.Errorf("tokens: revoke signing key: %w", err)
	}
	s.audit.Record(ctx, "", authkit.AuditSigningKeyRevoked, kid, "")
	return s.loadLocked(ctx)
}

// key returns the key kid names. On an unknown kid it reloads the keys from
// the store (at most once a second: another replica may have rotated), then
// gives up with nil.
func (s *Service) key(ctx context.Context, kid string, now time.Time) (*signingKey, error) {
	if k := s.ring.Load().byID[kid]; k != nil {
		return k, nil
	}
	if err := s.reload(ctx, now); err != nil {
		return nil, err
	}
	return s.ring.Load().byID[kid], nil
}

// Rotate makes a new signing key (of Config.Algorithm) sign from now on.
// Every other active key is retired with ExpiresAt now + MaxTTL, when the
// last token it signed expires, and keeps verifying until then. Other
// Services on the same store verify the new key's tokens at once (an
// unknown kid makes them reload) and sign with it within a minute. Returns
// the store's error.
func (s *Service) Rotate(ctx context.Context) error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	return s.rotateLocked(ctx, s.clock.Now())
}

// RotateIfOlder rotates, as [Service.Rotate] does, if the active signing
// key was created more than age ago, and reports whether it did. It reads
// the keys from the store first, so that Services sharing a store and
// running it on the same schedule rotate once between them: a rotation by
// one makes the others' active key new.
func (s *Service) RotateIfOlder(ctx context.Context, age time.Duration) (bool, error) {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if err := s.loadLocked(ctx); err != nil {
		return false, err
	}
	now := s.clock.Now()
	if a := s.ring.Load().active; a != nil && now.Sub(a.createdAt) < age {
		return false, nil
	}
	return true, s.rotateLocked(ctx, now)
}

// rotateLocked is Rotate; s.loadMu must be held.
func (s *Service) rotateLocked(ctx context.Context, now time.Time) error {
	rec, err := s.generate(s.alg, now)
	if err != nil {
		return err
	}
	if err := s.store.CreateSigningKey(ctx, rec); err != nil {
		return fmt.Errorf("tokens: rotate: store the new key: %w", err)
	}
	recs, err := s.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("tokens: rotate: %w", err)
	}
	for _, r := range recs {
		if r.ID == rec.ID || !r.RetiredAt.IsZero() {
			continue
		}
		if err := s.store.RetireSigningKey(ctx, r.ID, now, now.Add(s.maxTTL)); err != nil {
			return fmt.Errorf("tokens: rotate: retire key %s: %w", r.ID, err)
		}
	}
	s.audit.Record(ctx, "", authkit.AuditSigningKeyRotated, rec.ID, "the new key signs; the old ones verify until "+now.Add(s.maxTTL).Format(time.RFC3339))
	return s.loadLocked(ctx)
}

// JWKS returns the JSON Web Key Set of the public signing keys: each with
// kid, alg and use "sig". HS256 keys are never published; keys past their
// ExpiresAt are left out. It reloads the keys from the store first (at most
// once a second), so that a rotation by another replica shows. Returns the
// store's error.
func (s *Service) JWKS(ctx context.Context) ([]byte, error) {
	now := s.clock.Now()
	if err := s.reload(ctx, now); err != nil {
		return nil, err
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range s.ring.Load().all {
		if k.public == nil || (!k.expiresAt.IsZero() && !now.Before(k.expiresAt)) {
			continue
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.public, KeyID: k.id, Algorithm: string(k.alg), Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("tokens: encode JWKS: %w", err)
	}
	return b, nil
}
