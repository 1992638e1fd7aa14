// Package authkit gives a Go API product application keys, access tokens,
// refresh tokens and sessions for its own customers, with pluggable storage.
//
// This root package holds the domain only: the types ([Key], [Session],
// [RefreshToken], [SigningKey], [Claims], [Principal]), the interfaces the
// other packages plug into ([Store] and its parts, [TokenIssuer],
// [TokenVerifier]), the sentinel errors, the server [Secret], the [Clock],
// and the context helpers for the [Principal]. It does no I/O and knows
// nothing of HTTP.
//
// # Which package to use
//
//   - keys: create, verify, list, rotate, reveal and delete application keys
//     (`ak_live_…`). Start here.
//   - tokens: sign access tokens (JWT, EdDSA by default) and verify them;
//     publish the public keys as JWKS.
//   - sessions: exchange a key for an access token and a refresh token,
//     refresh with reuse detection, and the login flow that hands back the
//     same token for the same session id while it is valid.
//   - httpmw: net/http handlers for every endpoint and middleware that
//     authenticates requests and checks scopes.
//   - storage/memory, storage/sqlite: the backends; storage/storagetest is the
//     conformance suite every backend passes.
//
// A typical app builds one store, one [Secret], and from them a
// keys.Service, a tokens.Service (issuer and verifier in one), and a sessions.Manager;
// examples/server wires all of it together.
//
// # Errors
//
// Operations return errors that wrap one of [ErrNotFound], [ErrConflict],
// [ErrInvalid], [ErrExpired], [ErrRevoked], [ErrUnauthenticated] or
// [ErrForbidden]; test them with [errors.Is]. A [*FieldError] names the field
// of a bad input and also matches [ErrInvalid]. Only httpmw turns these into
// HTTP statuses.
//
// # Security
//
// Key secrets, refresh tokens and the access tokens kept for session reuse
// are never stored as they are: keys and refresh tokens are stored as
// HMAC-SHA-256 under a key derived from the server [Secret]; what must be
// given back later (a recoverable key, a session's current token, a signing
// key) is sealed with AES-256-GCM under another derived key. A reader of the
// database without the server secret can use none of it. Secrets are never
// logged: [Key] and [Session] carry no secret in their String or JSON forms.
package authkit
