// Package httpmw authenticates an app's requests: middleware that finds the
// credential a route accepts, verifies it, puts the [authkit.Principal] in
// the request context, and answers what it cannot accept with RFC 6750
// errors. It also holds the one table that turns authkit's errors into
// HTTP statuses ([ErrorFor]) and the [Responder] that writes them, so that
// an app answers its own errors in the same shape.
//
// It imports only the standard library and the root package: a product API
// that only verifies requests links no handler, page or template. The
// endpoints that issue and manage credentials are in package handlers; the
// key-management page is in package page.
//
// # Middleware
//
// [Auth] is configured with the verifiers of the credentials a route
// accepts ([Accept]: a bearer access token, a bare token, the application
// key as bearer or as a Basic user name, or the app's own users through
// [UserAuthenticator]). [Auth.Verify] checks the credential and stores the
// principal (read it with [authkit.FromContext]) or the failure
// ([ResultFrom]); [Auth.Require] answers what Verify could not accept:
// 401 with `WWW-Authenticate: Bearer realm=…, error="invalid_token"` (no
// error code when no credential was sent), 403 with
// error="insufficient_scope" and the scope needed. An expired credential
// also gets `X-Access-Token-Expired: true`, and the status its Responder
// names (401 by default). [Auth.Authenticate] is Verify then Require.
//
//	auth := &httpmw.Auth{Tokens: tokenService, Keys: keyService,
//		Accept: httpmw.AcceptBearerToken | httpmw.AcceptBasicKey}
//	mux.Handle("GET /videos", auth.Verify(auth.Require("videos:read")(videos)))
//
// The principal is immutable and, for a token seen before, shared with
// every request that presents it: the middleware adds about a microsecond
// and two allocations over the bare handler (bench/README.md).
//
// # Responses and limits
//
// Bodies are JSON in the Responder's [Envelope]: [Plain] (RFC 6749 errors)
// by default, or [DataEnvelope] ({"code","ok","message","data"}). An
// unmapped error is logged and answered 500 "internal error": its text, and
// any secret it might hold, never reaches the client. Credentials longer
// than [MaxCredential] are refused unparsed. A [Limiter] counts failed
// credentials per client address and answers 429 with Retry-After beyond
// its limit. [CSRF] refuses cross-origin browser writes for routes whose
// credentials travel by themselves (cookies, Basic remembered by a
// browser).
package httpmw
