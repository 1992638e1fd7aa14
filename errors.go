package authkit

import "errors"

// The sentinel errors. Every error an authkit operation returns wraps one of
// these (test with [errors.Is]); the HTTP layer maps them to statuses.
var (
	// ErrNotFound: the thing asked for does not exist, or belongs to another
	// owner (the two are never told apart).
	ErrNotFound = errors.New("authkit: not found")
	// ErrConflict: the write collides with an existing record (a duplicate
	// handle), or lost a race that the caller may retry.
	ErrConflict = errors.New("authkit: conflict")
	// ErrInvalid: the input is malformed. A [*FieldError] says which field.
	ErrInvalid = errors.New("authkit: invalid input")
	// ErrExpired: the key or token was valid once and its time has passed.
	ErrExpired = errors.New("authkit: expired")
	// ErrRevoked: the key, session or token was revoked or deleted.
	ErrRevoked = errors.New("authkit: revoked")
	// ErrUnauthenticated: no credential, or one that is not ours (a bad
	// signature, an unknown key).
	ErrUnauthenticated = errors.New("authkit: unauthenticated")
	// ErrForbidden: the caller is known but may not do this (a missing scope).
	ErrForbidden = errors.New("authkit: forbidden")
	// ErrDisabled: the key was disabled by its owner; it and its tokens
	// work again once it is enabled.
	ErrDisabled = errors.New("authkit: disabled")
	// ErrRateLimited: the key went over one of its rate limits; see
	// [LimitError] for which and when to retry.
	ErrRateLimited = errors.New("authkit: rate limited")
	// ErrUsageExceeded: the key has no usage credits left.
	ErrUsageExceeded = errors.New("authkit: usage exceeded")
	// ErrAddressNotAllowed: the key may not be used from the client's
	// address (its policy's allow-list).
	ErrAddressNotAllowed = errors.New("authkit: address not allowed")
	// ErrUnavailable: a service authkit depends on (the shared counters)
	// is down and the configuration says to refuse rather than guess.
	ErrUnavailable = errors.New("authkit: unavailable")
)

// FieldError reports a bad input field. It matches [ErrInvalid] with
// [errors.Is].
type FieldError struct {
	Field  string // the field's name as the caller knows it, e.g. "handle"
	Reason string // what is wrong, for a human; never contains a secret
}

// Invalid returns a [*FieldError] for field.
func Invalid(field, reason string) error { return &FieldError{Field: field, Reason: reason} }

func (e *FieldError) Error() string { return "authkit: invalid " + e.Field + ": " + e.Reason }

// Unwrap makes a FieldError match [ErrInvalid].
func (e *FieldError) Unwrap() error { return ErrInvalid }
