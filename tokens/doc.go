// Package tokens issues and verifies authkit's access tokens: JWTs with
// header typ "at+jwt" (RFC 9068), signed with go-jose, whose claims are
// exactly [authkit.Claims]. It also publishes the public signing keys as a
// JSON Web Key Set.
//
// # Which names to use
//
// Build one [Service] per process with [New] from a [Config] holding the
// store and the server secret. The Service is both the
// [authkit.TokenIssuer] ([Service.Issue]) and the [authkit.TokenVerifier]
// ([Service.Verify]); [Service.JWKS] gives the key set to serve at
// /.well-known/jwks.json, [Service.Rotate] starts a new signing key, and
// [Service.Close] stops listening for revocations.
//
// # Verification
//
// Verify checks, in order: the length (at most [MaxTokenLen]), the JWS
// structure and algorithm allow-list (go-jose), the kid (keys come only from
// the store, never from a jwk, jku, x5u or x5c header), that the header alg
// is the key's own algorithm, the typ, the absence of crit, the signature,
// then exp, nbf, iat, iss and aud, and last that the key and the session the
// token names are still alive. An expired token gives an error wrapping
// [authkit.ErrExpired], a token of a revoked key or session one wrapping
// [authkit.ErrRevoked], anything else one wrapping
// [authkit.ErrUnauthenticated] with a short reason that never quotes the
// token.
//
// Two in-memory caches make a repeated verification cheap: verified tokens
// (bounded by [Config.CacheSize]) and the liveness of keys and sessions
// (trusted for [Config.LivenessTTL]). Revocations published by the store's
// [authkit.Notifier] take effect at once in both, so a revoked key or
// session fails at the next Verify in this process even for a cached token.
// A cached token is answered in about 0.2 µs with no allocation;
// [Service.VerifyPrincipal] hands back the request principal built when the
// token was first verified, so that httpmw allocates nothing for it.
//
// go-jose signs every token, publishes the JWKS, and parses and checks every
// protected header the first time it is seen. A later token whose header
// segment is that very one, byte for byte, has its signature checked by the
// crypto primitive of its key's algorithm over its own "header.payload"
// bytes (internal/jws), which gives go-jose's verdict exactly (a
// differential fuzz target holds it to that) at about 1.07 × the bare
// ed25519.Verify for a new EdDSA token (bench/README.md has the figures).
//
// # Security
//
// Signing keys are generated with crypto/rand (Ed25519 by default; ECDSA
// P-256 or a 32-byte HMAC key on request). Their private halves are stored
// sealed with AES-256-GCM under a key derived from the server secret, bound
// to the key's ID, and opened once, at load. HS256 keys are never published
// in the JWKS, and a token can verify only under the algorithm of the key its
// kid names, so an attacker cannot turn a public key into an HMAC secret.
// The claims Verify returns may be shared with other callers through the
// cache: treat them as read-only.
package tokens
