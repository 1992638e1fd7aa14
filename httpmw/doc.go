// Package httpmw is authkit's net/http layer: handlers for every endpoint
// and middleware for an app's protected routes. It is the only authkit
// package that knows HTTP, and the only one that turns errors into statuses
// (see [ErrorFor], the one table).
//
// # Middleware
//
// [Auth] authenticates a request. Its Verify middleware finds the
// credential the route accepts ([Accept]: a bearer access token, a bare
// token, the application key as bearer or as a Basic user name, or the app's
// own users through [UserAuthenticator]), checks it, and puts the
// [authkit.Principal] in the context (read it with [authkit.FromContext]).
// Its Require middleware answers what Verify could not accept, following
// RFC 6750: 401 with `WWW-Authenticate: Bearer realm=…, error="invalid_token"`
// (no error code when no credential was sent), 403 with
// error="insufficient_scope" and the scope needed. An expired credential
// also gets `X-Access-Token-Expired: true`, and routes configured like
// Inlive's answer it 403. Authenticate is Verify then Require.
//
//	auth := &httpmw.Auth{Tokens: tokenService, Accept: httpmw.AcceptBearerToken}
//	mux.Handle("GET /videos", auth.Verify(auth.Require("videos:read")(videos)))
//
// # Handlers
//
// [Server] holds the services and returns one http.Handler per endpoint,
// shaped by an options struct (field names, TTLs, the response [Envelope]):
// key management (CreateKey, ListKeys, GetKey, DeleteKey, RotateKey),
// sessions (ListSessions, RevokeSession), the key exchange (Exchange),
// Refresh, Login, Validate, the OAuth 2.0 endpoints (OAuthToken,
// Introspect, Revoke) and JWKS. Mount them on any mux; examples/server
// mounts them at the paths of the five guides.
//
// # The integration page
//
// [Page] serves a self-contained key-management page (HTML, script and
// style embedded; no CDN) for an app's signed-in users: list, create (the
// secret shown once, with a copy button), rotate with a grace period,
// delete after a confirmation, list and revoke sessions. It calls the key
// and session handlers above from its own origin, under [PageCSP]. Mount it
// and those handlers behind the app's user authentication, and wrap the
// handlers in [CSRF] when that authentication travels by itself (cookies,
// or Basic remembered by the browser: see Auth.BasicChallenge).
//
//	signedIn := func(h http.Handler) http.Handler { return httpmw.CSRF()(users.Authenticate(h)) }
//	mux.Handle("GET /integration/", signedIn(httpmw.Page(httpmw.PageOptions{})))
//	mux.Handle("POST /user/keys", signedIn(srv.CreateKey(ko)))
//
// # Limits
//
// Bodies are capped at [DefaultMaxBody] (413 beyond it); JSON members of the
// wrong type are 400; credentials longer than [MaxCredential] are refused
// unparsed; failed credentials on the token endpoints are counted per client
// address by a [Limiter] and answered 429 with Retry-After beyond its limit.
// Error bodies never carry an internal error's text: an unmapped error is
// logged and answered 500 "internal error".
package httpmw
