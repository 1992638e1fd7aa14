// Package atjwt holds what the token service (package tokens) and a
// product API (package verifier) both check of an access token (RFC 9068),
// so that the two verify alike: its protected header, and its claims,
// decoded by Decode.
package atjwt

import (
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authkit/authkit"
)

func unauthenticated(what string) error {
	return fmt.Errorf("tokens: %s: %w", what, authkit.ErrUnauthenticated)
}

// The errors of Header and Check. Each wraps a root sentinel.
var (
	ErrTyp         = unauthenticated("typ is not at+jwt")
	ErrCrit        = unauthenticated("critical header not understood")
	ErrClaims      = unauthenticated("malformed claims")
	ErrNoExp       = unauthenticated("no exp claim")
	ErrNotYet      = unauthenticated("token not valid yet")
	ErrIssuedLater = unauthenticated("token issued in the future")
	ErrIssuer      = unauthenticated("wrong issuer")
	ErrAudience    = unauthenticated("wrong audience")
	ErrSubject     = unauthenticated("no sub or sid claim")
	ErrExpired     = fmt.Errorf("tokens: token expired: %w", authkit.ErrExpired)
)

// Header checks the protected header of a token whose signature is being
// verified: typ at+jwt (or application/at+jwt), and no extension authkit
// does not understand (crit; b64, RFC 7797, which would change what the
// signature covers).
func Header(h jose.Header) error {
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return ErrTyp
	}
	if _, ok := h.ExtraHeaders["crit"]; ok {
		return ErrCrit
	}
	if _, ok := h.ExtraHeaders["b64"]; ok {
		return ErrCrit
	}
	return nil
}

// maxUnix bounds the NumericDates accepted (the end of year 9999), so that
// time arithmetic on them cannot overflow.
const maxUnix = 253402300799

// Check checks the claims of a verified payload at now, allowing leeway of
// clock skew: exp present and not past, nbf and iat not in the future, iss
// and aud as given, sub and sid present. It sets w.Claims.Audience to
// audience and returns the instant the token stops verifying. An expired
// token is ErrExpired, its claims still filled in (for the refusal's key).
func (w *Wire) Check(issuer, audience string, now time.Time, leeway time.Duration) (time.Time, error) {
	c := &w.Claims
	switch {
	case c.Expiry == 0:
		return time.Time{}, ErrNoExp
	case c.Expiry < 0 || c.Expiry > maxUnix || c.IssuedAt < 0 || c.IssuedAt > maxUnix || w.NotBefore < 0 || w.NotBefore > maxUnix:
		return time.Time{}, ErrClaims
	}
	deadline := time.Unix(c.Expiry, 0).Add(leeway)
	if !now.Before(deadline) {
		return time.Time{}, ErrExpired
	}
	late := now.Add(leeway)
	switch {
	case w.NotBefore != 0 && time.Unix(w.NotBefore, 0).After(late):
		return time.Time{}, ErrNotYet
	case time.Unix(c.IssuedAt, 0).After(late):
		return time.Time{}, ErrIssuedLater
	case c.Issuer != issuer:
		return time.Time{}, ErrIssuer
	case !w.Aud.Has(audience):
		return time.Time{}, ErrAudience
	}
	c.Audience = audience
	if c.Subject == "" || c.SessionID == "" {
		return time.Time{}, ErrSubject
	}
	return deadline, nil
}
