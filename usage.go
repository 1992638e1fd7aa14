package authkit

import (
	"context"
	"errors"
	"time"
)

// Outcome is what became of one request made with a key, by itself or
// through a token issued from it: the unit of usage analytics.
type Outcome string

// The outcomes counted.
const (
	OutcomeValid          Outcome = "valid"
	OutcomeRateLimited    Outcome = "rate_limited"
	OutcomeUsageExceeded  Outcome = "usage_exceeded"
	OutcomeDisabled       Outcome = "disabled"
	OutcomeAddressRefused Outcome = "address_refused"
	OutcomeExpired        Outcome = "expired"
	OutcomeRevoked        Outcome = "revoked"
)

// Outcomes lists every [Outcome], in the order reports show them.
var Outcomes = []Outcome{OutcomeValid, OutcomeRateLimited, OutcomeUsageExceeded, OutcomeDisabled, OutcomeAddressRefused, OutcomeExpired, OutcomeRevoked}

// OutcomeOf returns the outcome an error of a key's request stands for,
// and false for an error that is none of them (a store failure).
func OutcomeOf(err error) (Outcome, bool) {
	switch {
	case err == nil:
		return OutcomeValid, true
	case errors.Is(err, ErrRateLimited):
		return OutcomeRateLimited, true
	case errors.Is(err, ErrUsageExceeded):
		return OutcomeUsageExceeded, true
	case errors.Is(err, ErrDisabled):
		return OutcomeDisabled, true
	case errors.Is(err, ErrAddressNotAllowed):
		return OutcomeAddressRefused, true
	case errors.Is(err, ErrExpired):
		return OutcomeExpired, true
	case errors.Is(err, ErrRevoked):
		return OutcomeRevoked, true
	}
	return "", false
}

// KeyRefusal is the error of a credential refused because its key, or the
// session or token issued from it, is revoked, expired or disabled. It
// names the key (never a secret), so that the refusal is counted in the
// key's usage, and wraps the reason.
type KeyRefusal struct {
	KeyID string
	Err   error
}

func (e *KeyRefusal) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *KeyRefusal) Unwrap() error { return e.Err }

// UsageBucket is the length of a usage bucket: counts are kept per key,
// per hour (UTC), per outcome.
const UsageBucket = time.Hour

// UsageCount is the count of one outcome of one key in one bucket.
type UsageCount struct {
	KeyID   string
	Start   time.Time // the bucket's start: a whole hour, UTC
	Outcome Outcome
	Count   int64
}

// UsageStore keeps usage analytics. Implementations must be safe for
// concurrent use by multiple goroutines.
type UsageStore interface {
	// AddUsage adds each count to its bucket's (key, start, outcome), in
	// one atomic write: a batch, flushed off the request path. counts
	// holds each (key, start, outcome) at most once.
	AddUsage(ctx context.Context, counts []UsageCount) error
	// Usage returns the counts of key keyID whose buckets start in
	// [from, to), ordered by start, then outcome.
	Usage(ctx context.Context, keyID string, from, to time.Time) ([]UsageCount, error)
	// DeleteUsage deletes the buckets that start before before, and
	// returns how many counts it deleted.
	DeleteUsage(ctx context.Context, before time.Time) (int, error)
}
