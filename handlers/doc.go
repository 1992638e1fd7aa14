// Package handlers serves authkit's endpoints over net/http: the token
// endpoints (exchange a key, refresh, log in), OAuth 2.0 (token,
// introspection, revocation), the JSON Web Key Set, and the key and session
// management an app's signed-in users call.
//
// [Endpoints] holds the services behind small interfaces ([Keys],
// [Tokens], [Sessions]: keys.Service, tokens.Service and sessions.Manager
// implement them) and returns one plain http.Handler per endpoint, shaped by
// an options struct: the JSON member names, the lifetimes, the response
// envelope. Mount them on any mux, at the paths the app's clients already
// speak:
//
//	ep := &handlers.Endpoints{Keys: ks, Tokens: ts, Sessions: sm}
//	mux.Handle("POST /auth/token", ep.Exchange(handlers.ExchangeOptions{KeyField: "api_key"}))
//	mux.Handle("POST /auth/refresh", ep.Refresh(handlers.RefreshOptions{}))
//	mux.Handle("POST /oauth/token", ep.OAuthToken(handlers.OAuthOptions{}))
//	mux.Handle("GET /.well-known/jwks.json", ep.JWKS())
//
// server.New builds an Endpoints with the rest of authkit from one Config.
//
// # Key and session management
//
// CreateKey, ListKeys, GetKey, RotateKey, DeleteKey, ListSessions and
// RevokeSession act for the principal in the request context, on that
// principal's own keys and sessions only: mount them behind an httpmw.Auth
// that accepts the app's users, and behind httpmw.CSRF when those users'
// credentials travel by themselves (cookies, Basic remembered by a
// browser).
//
// # Errors and limits
//
// Every error goes through httpmw's one table (httpmw.ErrorFor): a store
// failure is logged and answered 500, never reported as a dead credential.
// Bodies are capped at [DefaultMaxBody] (413 beyond it); JSON members of the
// wrong type are 400; failed credentials on the token and OAuth endpoints
// are counted per client address by an httpmw.Limiter and answered 429 with
// Retry-After beyond its limit. Responses that carry credentials are
// `Cache-Control: no-store`.
package handlers
