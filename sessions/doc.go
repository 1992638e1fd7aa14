// Package sessions turns a verified application key into access tokens: the
// key exchange with refresh tokens (a key for a token pair, or OAuth client
// credentials), and the login flow that hands back the same token for the
// same session id while it is valid.
//
// # The model
//
// Every access token belongs to an [authkit.Session] and carries its ID as
// the "sid" claim; revoking the session kills all its tokens at once, since
// the verifier checks that the session is alive.
//
//   - A grant session is opened by each [Manager.Exchange]. It is one
//     refresh-token family: [Manager.Refresh] spends a refresh token for a
//     new access token and a new refresh token in the same session.
//     Presenting a spent refresh token again (RFC 9700 §4.14 reuse
//     detection) revokes the whole family, unless it arrives inside the
//     optional grace window, when it gets the very same child pair back so
//     that two tabs refreshing at once do not sign the user out.
//   - A login session is one (key, session id) pair of [Manager.Login]. While
//     its current token has more than ReuseMargin left, Login hands back the
//     same token string; a new session id forces a new token; after expiry
//     the next Login issues a new one in the same session.
//
// One key holds at most [Config.MaxSessionsPerKey] live sessions (1,000 by
// default): opening one more ends the oldest (down to nine tenths of the
// cap, in one write), and their tokens and refresh
// tokens stop working at once, on every replica. A Manager counts a key's
// sessions only once it has used up the room its last count left (at most
// a tenth of the cap), so a key opening session after session pays the
// count about once in a hundred; replicas each keep their own room, so
// with several a key may pass its cap by a tenth per other replica until
// the next count. A grant session lives
// [Config.RefreshTTL] (30 days), or less where an exchange asks for less
// ([authkit.ExchangeRequest].SessionTTL, handlers.ExchangeOptions.SessionTTL):
// a client that exchanges its key again and again so leaves behind at most
// the cap, and only as many as fit in that lifetime.
//
// # Security
//
// Refresh tokens (`rt_…`, random with a checksum) are stored only as
// HMAC-SHA-256 under a key derived from the server secret. The token a login
// session hands back is stored sealed with AES-256-GCM under another derived
// key, bound to the session ID: a reader of the database cannot use it. We
// seal rather than re-sign deterministically because ES256 signatures are
// not deterministic, and because opening a seal costs about a microsecond
// where a signature costs tens.
package sessions
