package tokens

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/authkit/authkit"
)

// Issue signs an access token for r with the active signing key and returns
// it with its claims, which the caller owns. The claims are iss and aud from
// the Config, sub the key's owner, client_id the key's ID, a UUIDv7 jti,
// iat, exp, scope (r.Scopes space-joined, or the key's scopes when r.Scopes
// is nil), sid r.SessionID and env the key's environment. The token never
// outlives the key: exp is cut to the key's ExpiresAt. For a user (r.User,
// no Key), sub is the user, scope r.Scopes, and there is no client_id or
// env.
//
// Returns an error wrapping [authkit.ErrInvalid] (a [*authkit.FieldError])
// for a missing key or session ID, a TTL below one second or above MaxTTL
// (0 means DefaultTTL); one wrapping [authkit.ErrForbidden] for a scope the
// key was not granted; one wrapping [authkit.ErrRevoked] or
// [authkit.ErrExpired] if r.Key is dead.
func (s *Service) Issue(ctx context.Context, r authkit.TokenRequest) (string, *authkit.Claims, error) {
	if r.SessionID == "" {
		return "", nil, authkit.Invalid("session_id", "required")
	}
	ttl := r.TTL
	if ttl == 0 {
		ttl = s.defaultTTL
	}
	if ttl < time.Second || ttl > s.maxTTL {
		return "", nil, authkit.Invalid("ttl", fmt.Sprintf("must be between 1s and %s", s.maxTTL))
	}
	now := s.clock.Now()
	exp := now.Add(ttl)
	c := &authkit.Claims{Issuer: s.issuer, Audience: s.audience, IssuedAt: now.Unix(), SessionID: r.SessionID}
	scopes := r.Scopes
	switch {
	case r.Key != nil:
		if r.Key.ID == "" || r.Key.Owner == "" {
			return "", nil, authkit.Invalid("key", "a key with an ID and an owner is required")
		}
		if scopes == nil {
			scopes = r.Key.Scopes
		} else {
			if err := authkit.CheckScopes(scopes); err != nil {
				return "", nil, err
			}
			if err := r.Key.Allows(scopes); err != nil {
				return "", nil, fmt.Errorf("tokens: issue: %w", err)
			}
		}
		if err := r.Key.Check(now); err != nil {
			return "", nil, fmt.Errorf("tokens: issue for key %s: %w", r.Key.ID, err)
		}
		if !r.Key.ExpiresAt.IsZero() && r.Key.ExpiresAt.Before(exp) {
			exp = r.Key.ExpiresAt // the token never outlives its key
		}
		c.Subject, c.ClientID, c.Env = r.Key.Owner, r.Key.ID, r.Key.Env
	case r.User != "":
		if err := authkit.CheckScopes(scopes); err != nil {
			return "", nil, err
		}
		c.Subject = r.User
	default:
		return "", nil, authkit.Invalid("key", "a key or a user is required")
	}
	c.Expiry, c.Scope = exp.Unix(), strings.Join(scopes, " ")
	k, err := s.signingKey(ctx, now)
	if err != nil {
		return "", nil, err
	}
	jti, err := uuid.NewV7()
	if err != nil {
		return "", nil, fmt.Errorf("tokens: jti: %w", err)
	}
	c.ID = jti.String()
	payload, err := json.Marshal(c)
	if err != nil {
		return "", nil, fmt.Errorf("tokens: encode claims: %w", err)
	}
	obj, err := k.signer.Sign(payload)
	if err != nil {
		return "", nil, fmt.Errorf("tokens: sign: %w", err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		return "", nil, fmt.Errorf("tokens: serialize: %w", err)
	}
	return tok, c, nil
}
