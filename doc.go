// Package authkit gives a Go API product application keys, access tokens,
// refresh tokens and sessions for its own customers, with pluggable storage.
//
// This root package holds the domain: the types ([Key], [Policy],
// [Session], [RefreshToken], [SigningKey], [Claims], [Grant], [Principal],
// [UsageCount]), the interfaces the other packages plug into ([Store] and
// its parts, [KeyVerifier], [TokenIssuer], [TokenVerifier], [Gate],
// [Counters]), the sentinel errors, the server [Secret], the [Clock], and the context helpers for
// the [Principal]. It knows nothing of HTTP or SQL; its only I/O is reading (or
// creating) the server secret's file in [LoadSecret] and
// [LoadOrCreateSecret].
//
// # Which package to use
//
//   - server: start here. server.New builds everything below from one
//     Config, checks the settings against each other, and runs the
//     housekeeping (expired records deleted, signing keys rotated) until
//     Close. Its Config.MeterProvider takes OpenTelemetry metrics
//     (verifications, tokens issued, refusals, store latency…).
//   - keys: create, verify, list, rotate, reveal and delete application keys
//     (`ak_live_…`).
//   - tokens: sign access tokens (JWT, EdDSA by default) and verify them;
//     publish the public keys as a JWKS; rotate the signing key.
//   - sessions: exchange a key for an access token and a refresh token,
//     refresh with reuse detection, and the login flow that hands back the
//     same token for the same session id while it is valid.
//   - limits: the [Gate] that enforces key policies (rate limits, credits,
//     allowed addresses) on every request a key makes, itself or through its
//     tokens, and counts its usage.
//   - httpmw: middleware that authenticates requests and checks scopes, the
//     failed-credential limiter, and the one table of error statuses. It imports nothing but the standard
//     library and this package.
//   - handlers: the HTTP endpoints (token, refresh, login, OAuth 2.0, JWKS,
//     key and session management); page: a key-management page for an
//     app's signed-in users.
//   - storage/memory, storage/sqlite, storage/postgres: the backends;
//     storage/storagetest is the conformance suite every backend passes.
//     The counters behind rate limits and credits ([Counters]) live in
//     process (storage/memory), in PostgreSQL, or in Redis (storage/redis).
//   - feed, verifier: for product APIs on other machines: the token
//     service streams its revocations (feed); a product API verifies its
//     tokens locally and follows that stream (verifier).
//   - client: the calling side, for an API's customers: exchange a key for
//     tokens and keep them fresh.
//   - cmd/authkit: the admin command, for operators: keys, sessions and
//     signing keys managed from a shell, the audit trail read, tokens
//     inspected, on the store the servers run on.
//
// # Errors
//
// Operations return errors that wrap one of [ErrNotFound], [ErrConflict],
// [ErrInvalid], [ErrExpired], [ErrRevoked], [ErrDisabled],
// [ErrUnauthenticated], [ErrForbidden], [ErrRateLimited],
// [ErrUsageExceeded], [ErrAddressNotAllowed] or [ErrUnavailable]; test them
// with [errors.Is]. A [*FieldError] names the field
// of a bad input and also matches [ErrInvalid]. Any other error (a store
// that fails) is returned wrapped and matches none of them: only a record
// that is not found makes a credential dead, never an outage. Only httpmw
// turns these into HTTP statuses.
//
// # Security
//
// Key secrets, refresh tokens and the access tokens kept for session reuse
// are never stored as they are: keys and refresh tokens are stored as
// HMAC-SHA-256 under a hash key that the store keeps sealed under the
// server [Secret]; what must be given back later (a recoverable key, a
// session's current token, a signing key) is sealed with AES-256-GCM under
// a key of its own, derived from the secret, that names the secret it came
// from. A reader of the database without the server secret can use none of
// it. The Secret is a keyring, so that it can be rotated ([SealedStore]). Secrets are never
// logged: [Key] and [Session] carry no secret in their String or JSON forms,
// and errors never quote one.
package authkit
