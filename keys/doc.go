// Package keys creates, verifies, lists, rotates, reveals and deletes
// application keys: Inlive's application key, the keytoken API's long-lived
// key token, api.video's API key and the login API's api_key are all one
// [authkit.Key].
//
// Use [New] with a store and the server secret, then [Service.Create] to
// give a customer a key (its secret is returned once) and
// [Service.VerifyKey] on every request that presents one.
//
// # Format
//
//	ak_live_<30 base62 random characters><6 base62 checksum characters>
//
// The prefix ("ak") is configurable; the env is live or test. The random
// part carries about 178 bits from crypto/rand; the checksum is a CRC-32 of
// everything before it, so that a typo or a random string is refused by
// parsing alone, before any store is asked.
//
// # Security
//
// The store keeps only HMAC-SHA-256 of a secret under a key derived from the
// server secret, and a display hint (prefix, env and the first four random
// characters). A recoverable key's secret is also kept sealed with
// AES-256-GCM under another derived key, bound to the key's ID; without the
// server secret it cannot be opened. Hashes are compared in constant time.
// Secrets never appear in errors or logs.
package keys
