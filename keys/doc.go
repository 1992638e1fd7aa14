// Package keys creates, verifies, lists, rotates, reveals and deletes
// application keys ([authkit.Key]): the long-lived credential a customer's
// program presents, by itself (as a bearer token or a Basic user name) or
// exchanged for short-lived access tokens.
//
// # Which names to use
//
// Build one [Service] with [New] from a store and the server secret, and
// [Service.Close] it when done. Then:
//
//   - [Service.Create] gives a customer a key; its secret is returned once.
//   - [Service.VerifyKey] turns a presented secret into its key, and
//     [Service.KeyPrincipal] into the principal of the request that carries
//     it ([Service] implements [authkit.KeyVerifier]).
//   - [Service.LooksLikeKey] tells, without any I/O, whether a credential is shaped
//     like one of this service's keys, so that middleware can tell a key from
//     a JWT.
//   - [Service.Get], [Service.GetByHandle], [Service.List] and
//     [Service.Delete] manage an owner's keys; another owner's key is
//     authkit.ErrNotFound, as if it did not exist.
//   - [Service.Rotate] gives a key a new secret, the old one working on for a
//     grace period; [Service.Reveal] gives back the secret of a key created
//     Recoverable.
//
// # Format
//
//	ak_live_<30 base62 random characters><6 base62 checksum characters>
//
// The prefix ("ak") is configurable; the env is live or test. The random
// part carries about 178 bits from crypto/rand; the checksum is a CRC-32 of
// everything before it, so that a typo or a random string is refused by
// parsing alone ([Service.Parse]), before any store is asked.
//
// # Security
//
// The store keeps only HMAC-SHA-256 of a secret under a key derived from the
// server secret ("authkit/keys/hash"), and a display hint (prefix, env and
// the first four random characters). A recoverable key's secret is also kept
// sealed with AES-256-GCM under another derived key ("authkit/keys/seal"),
// bound to the key's ID; without the server secret it cannot be opened.
// Stored and computed hashes are compared in constant time. Secrets never
// appear in errors or logs. Prefer plain keys: a recoverable key can be read
// back by anyone holding both the database and the server secret.
//
// # Verification on every request
//
// A key verified before is answered from memory (about 0.4 µs, no
// allocation through [Service.KeyPrincipal]): a bounded cache of the
// secrets verified, whose keyed hash decides a hit, fresh for
// [Config.CacheTTL] (ten times that while the store's Notifier vouches
// that it has heard every change since: [authkit.NotifierHealth]), then
// answered for a few minutes more while one background read refreshes it.
// A deletion, a rotation or any other change forgets the key at once, on
// every replica the store's [authkit.Notifier] reaches; an unknown secret
// never enters the cache. At a hundred thousand keys the cache outgrows
// the CPU's caches: the line a lookup reads is fetched while the keyed
// hash is computed, so that a large cache costs little more than a small
// one.
// Nothing on the request path writes: the last uses are kept in memory and
// written in one batch every [Config.FlushEvery] (KeyStore.TouchKeys), and
// at [Service.Close]; a crash loses at most that much of LastUsedAt.
package keys
