package tokens

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/atjwt"
	"github.com/authkit/authkit/internal/jws"
	"github.com/authkit/authkit/internal/metrics"
)

// Verify checks token and returns the request's principal, with the
// token's claims (Principal.Claims). See the package documentation for what
// is checked and in which order.
//
// Returns an error wrapping [authkit.ErrExpired] for an expired token (or a
// token of an expired key or session), [authkit.ErrRevoked] for a token of a
// revoked or deleted key or session, and [authkit.ErrUnauthenticated] for
// anything else that is wrong with it; a store failure is returned wrapped,
// matching none of them.
//
// A token verified before is answered from the cache with the principal
// built then, without allocating. The principal is immutable, so sharing it
// is safe. The cache keeps token itself, not a copy: a token cut from a much
// larger string (a whole request body) keeps that string alive while it is
// cached, so pass such a token through strings.Clone first. A header value
// is fine as it is.
func (s *Service) Verify(ctx context.Context, token string) (authkit.Principal, error) {
	p, l, err := s.verify(ctx, token)
	s.metrics.Verified(metrics.Token, l, err)
	return p, err
}

// verify is Verify, also telling what the cache said.
func (s *Service) verify(ctx context.Context, token string) (authkit.Principal, metrics.Lookup, error) {
	if token == "" {
		return authkit.Principal{}, metrics.NoLookup, errEmpty
	}
	if len(token) > MaxTokenLen {
		return authkit.Principal{}, metrics.NoLookup, errTooLong
	}
	now := s.clock.Now()
	var h uint64
	lookup := metrics.NoLookup
	if s.cache != nil {
		h = s.cache.hash(token)
		if p, c, deadline, ok := s.cache.get(h, token); ok {
			if now.UnixNano() >= deadline {
				s.cache.remove(h)
				return authkit.Principal{}, metrics.Hit, refusal(c, errExpired)
			}
			if err := s.alive(ctx, c, now); err != nil {
				return authkit.Principal{}, metrics.Hit, refusal(c, err)
			}
			return p, metrics.Hit, nil
		}
		lookup = metrics.Miss
	}
	c, deadline, err := s.verifySigned(ctx, token, now)
	if err != nil {
		if c != nil {
			err = refusal(c, err)
		}
		return authkit.Principal{}, lookup, err
	}
	if err := s.alive(ctx, c, now); err != nil {
		return authkit.Principal{}, lookup, refusal(c, err)
	}
	if err := s.bound(ctx, c, now); err != nil {
		return authkit.Principal{}, lookup, err
	}
	p := c.Principal()
	if s.cache != nil {
		s.cache.put(h, token, p, c, deadline)
	}
	return p, lookup, nil
}

// refusal names the key of c in err, a refusal of the token for its key's
// usage analytics, if err is one (revoked, expired, disabled) and the token
// has a key.
func refusal(c *authkit.Claims, err error) error {
	if _, ok := authkit.OutcomeOf(err); !ok || c.ClientID == "" {
		return err
	}
	return &authkit.KeyRefusal{KeyID: strings.Clone(c.ClientID), Err: err} // kept apart from the token's buffer
}

// verifySigned checks the JWS and the claims, not liveness. It returns the
// claims and the instant (Unix nanoseconds) the token stops verifying.
func (s *Service) verifySigned(ctx context.Context, token string, now time.Time) (*authkit.Claims, int64, error) {
	// The header names the path; the known-header check (internal/jws) or
	// go-jose check the rest of the structure.
	hdr, _, ok := strings.Cut(token, ".")
	if !ok {
		return nil, 0, errMalformed
	}
	var (
		k       *signingKey
		payload []byte
		err     error
	)
	if e := s.headers.get(hdr); e != nil {
		if k = s.ring.Load().byID[e.kid]; k != nil {
			if payload, err = k.fast.Verify(token); err != nil {
				if errors.Is(err, jws.ErrNotCanonical) {
					k = nil // go-jose decides
				} else if errors.Is(err, jws.ErrSignature) {
					err = errSignature
				} else {
					err = errMalformed
				}
			}
		}
	}
	if k == nil {
		payload, k, err = s.parseAndVerify(ctx, token, hdr, now)
	}
	if err != nil {
		return nil, 0, err
	}
	var w atjwt.Wire
	if err := atjwt.Decode(payload, &w); err != nil {
		return nil, 0, errClaims
	}
	c := &w.Claims
	deadline, err := w.Check(s.issuer, s.audience, now, s.leeway)
	switch {
	case err == errExpired:
		return c, 0, errExpired // the claims, for the refusal's key
	case err != nil:
		return nil, 0, err
	}
	if !k.usable(now, s.leeway) {
		return nil, 0, errKeyRetired
	}
	return c, deadline.UnixNano(), nil
}

// parseAndVerify parses token with go-jose, checks its header, verifies its
// signature and returns the payload and the key. A header that verified is
// remembered for verifyKnownHeader.
func (s *Service) parseAndVerify(ctx context.Context, token, hdr string, now time.Time) ([]byte, *signingKey, error) {
	obj, err := jose.ParseSignedCompact(token, s.allowed)
	if err != nil {
		var alg *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &alg) {
			return nil, nil, errAlgorithm
		}
		return nil, nil, errMalformed
	}
	if len(obj.Signatures) != 1 {
		return nil, nil, errSignatures
	}
	h := obj.Signatures[0].Protected
	if h.KeyID == "" {
		return nil, nil, errNoKid
	}
	k, err := s.key(ctx, h.KeyID, now)
	if err != nil {
		return nil, nil, err
	}
	if k == nil {
		return nil, nil, errUnknownKid
	}
	if jose.SignatureAlgorithm(h.Algorithm) != k.alg {
		return nil, nil, errKeyAlg
	}
	if err := atjwt.Header(h); err != nil {
		return nil, nil, err
	}
	payload, err := obj.Verify(k.verify)
	if err != nil {
		return nil, nil, errSignature
	}
	if jws.Canonical(hdr) { // see package internal/jws
		s.headers.add(strings.Clone(hdr), &headerEntry{kid: k.id})
	}
	return payload, k, nil
}

// alive checks that the key (if the token has one: a user's has none) and
// the session c names are alive at now, through the liveness cache.
func (s *Service) alive(ctx context.Context, c *authkit.Claims, now time.Time) error {
	if c.ClientID != "" {
		if err := s.keyAlive(ctx, c.ClientID, now); err != nil {
			return err
		}
	}
	return s.sessionAlive(ctx, c.SessionID, now)
}

func (s *Service) keyAlive(ctx context.Context, id string, now time.Time) error {
	return s.checkAlive(ctx, liveKey{kind: authkit.RevokedKey, id: id}, now, errKeyRevoked, errKeyExpired, "key",
		func(ctx context.Context, id string) (time.Time, binding, error) {
			start := s.metrics.Start()
			k, err := s.store.KeyByID(ctx, id)
			s.metrics.Stored(ctx, metrics.KeyByID, start)
			if err != nil {
				return time.Time{}, binding{}, err
			}
			return k.ExpiresAt, binding{}, k.Check(now)
		})
}

func (s *Service) sessionAlive(ctx context.Context, id string, now time.Time) error {
	return s.checkAlive(ctx, liveKey{kind: authkit.RevokedSession, id: id}, now, errSessRevoked, errSessExpired, "session",
		func(ctx context.Context, id string) (time.Time, binding, error) {
			start := s.metrics.Start()
			sess, err := s.store.Session(ctx, id)
			s.metrics.Stored(ctx, metrics.Session, start)
			if err != nil {
				return time.Time{}, binding{}, err
			}
			return sess.ExpiresAt, bindingOf(sess), sess.Check(now)
		})
}

func bindingOf(sess *authkit.Session) binding {
	return binding{keyID: sess.KeyID, owner: sess.Owner, scopes: slices.Clone(sess.Scopes)}
}

// deaf reports whether the store's Notifier says it is not hearing other
// processes' revocations now: then a key or session cached alive is read
// again (one found dead stays dead).
func (s *Service) deaf() bool { return s.health != nil && s.health.ListeningSince().IsZero() }

// checkAlive answers from the liveness cache, or loads the key or session
// (load returns its expiry, its binding and its Check) and remembers it
// alive until then. Missing or revoked is revoked; expired is expired; any
// other failure is returned wrapped.
func (s *Service) checkAlive(ctx context.Context, lk liveKey, now time.Time, revoked, expired error, what string,
	load func(ctx context.Context, id string) (time.Time, binding, error)) error {
	switch st := s.live.state(lk, now); {
	case st == stateDead:
		return revoked
	case st == stateAlive && !s.deaf():
		return nil
	}
	expiresAt, b, err := load(ctx, lk.id)
	switch {
	case errors.Is(err, authkit.ErrNotFound), errors.Is(err, authkit.ErrRevoked):
		return revoked
	case errors.Is(err, authkit.ErrExpired):
		return expired
	case errors.Is(err, authkit.ErrDisabled):
		return errKeyDisabled // until enabled: not remembered as dead
	case err != nil:
		return fmt.Errorf("tokens: check %s: %w", what, err)
	}
	s.live.markAlive(lk, now, expiresAt, b)
	return nil
}

// bound checks, once per token (the first time it is verified), that the
// token agrees with its session: the session's key is its client_id (none
// for a user's session), the session's owner its sub, and its scopes are
// within the session's. Signing keys sign only what sessions allow, so a
// token that disagrees was not made by this service's issuer: a leaked
// signing key cannot mint a token for a session it likes.
func (s *Service) bound(ctx context.Context, c *authkit.Claims, now time.Time) error {
	st, b := s.live.lookup(liveKey{kind: authkit.RevokedSession, id: c.SessionID}, now)
	if st != stateAlive { // the liveness cache is off: read the session itself
		start := s.metrics.Start()
		sess, err := s.store.Session(ctx, c.SessionID)
		s.metrics.Stored(ctx, metrics.Session, start)
		switch {
		case errors.Is(err, authkit.ErrNotFound):
			return errSessRevoked
		case err != nil:
			return fmt.Errorf("tokens: check session: %w", err)
		}
		b = bindingOf(sess)
	}
	_, wider := authkit.MissingScope(strings.FieldsSeq(c.Scope), b.scopes)
	if b.keyID != c.ClientID || b.owner != c.Subject || wider {
		return errUnbound
	}
	return nil
}
