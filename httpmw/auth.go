package httpmw

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/authkit/authkit"
)

// Accept is a set of ways a route accepts credentials.
type Accept uint

// The ways a credential may be presented. Combine them with |.
const (
	// AcceptBearerToken: `Authorization: Bearer <access token>`.
	AcceptBearerToken Accept = 1 << iota
	// AcceptBareToken: `Authorization: <access token>` with no scheme.
	AcceptBareToken
	// AcceptBearerKey: `Authorization: Bearer <application key>`.
	AcceptBearerKey
	// AcceptBasicKey: `Authorization: Basic base64(<application key>:)`.
	AcceptBasicKey
	// AcceptUser: the app's own user authentication ([Auth.Users]).
	AcceptUser
)

// UserAuthenticator is the hook for the app's own user authentication (the
// keytoken guide's "credentials"). It returns the signed-in user as a
// Principal with Method [authkit.MethodUser], or (nil, nil) if the request
// carries no user credentials, or an error (wrapping
// authkit.ErrUnauthenticated) if it carries wrong ones.
type UserAuthenticator func(r *http.Request) (*authkit.Principal, error)

// Auth authenticates requests. Its Verify middleware finds and checks the
// credential and puts the result in the request context; its Authenticate
// middleware answers 401/403 when Verify found nothing good. Apps that want
// their own error responses use Verify and read [Result] themselves.
//
// The zero value accepts nothing; set Tokens (and Accept) at least. An Auth
// is safe for concurrent use once built.
type Auth struct {
	Tokens authkit.TokenVerifier // verifies access tokens
	Keys   authkit.KeyVerifier   // verifies application keys; nil: keys are refused
	// LooksLikeKey tells a key from an access token without asking a store
	// (keys.Service.Looks). Required with Keys and AcceptBearerKey.
	LooksLikeKey func(string) bool
	Users        UserAuthenticator // the app's user authentication, for AcceptUser
	Accept       Accept            // 0 means AcceptBearerToken
	Realm        string            // the realm of WWW-Authenticate; default "authkit"
	// ExpiredStatus is the status for an expired credential: 401 by
	// default; Inlive's routes answer 403. Either way the response carries
	// X-Access-Token-Expired: true.
	ExpiredStatus int
	Envelope      Envelope     // the error body's shape; default Plain
	Logger        *slog.Logger // for unmapped errors; default slog.Default()
	// BasicChallenge adds `WWW-Authenticate: Basic realm=…` to 401s, for
	// apps whose users sign in with HTTP Basic in a browser: the browser
	// then asks for the user's name and password once and sends them again
	// by itself to every route of the realm (see [Page]). Such ambient
	// credentials need [CSRF] on the routes that change state.
	BasicChallenge bool
}

type resultKey struct{}

// Result is what [Auth.Verify] found: a principal, or the error that stopped
// it (nil and nil when the request carried no credential).
type Result struct {
	Principal *authkit.Principal
	Err       error
}

// ResultFrom returns what Verify found for r.
func ResultFrom(ctx context.Context) Result {
	if p, ok := authkit.FromContext(ctx); ok {
		return Result{Principal: p}
	}
	res, _ := ctx.Value(resultKey{}).(*Result)
	if res == nil {
		return Result{}
	}
	return *res
}

// Verify returns middleware that checks the request's credential and stores
// the [Result] in the context (and, on success, the principal with
// [authkit.NewContext]). It never answers the request itself.
func (a *Auth) Verify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.authenticate(r)
		// On success, one context value (this runs on every request): the
		// principal, which ResultFrom reads first. Otherwise what stopped
		// it, under a nil principal that hides any an outer Verify found.
		var ctx context.Context
		if p != nil && err == nil {
			ctx = authkit.NewContext(r.Context(), p)
		} else {
			ctx = context.WithValue(authkit.NewContext(r.Context(), nil), resultKey{}, &Result{Err: err})
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Authenticate returns middleware that is Verify followed by a check: a
// request with no valid credential is answered 401 (RFC 6750: no error code
// when none was sent, invalid_token otherwise), or the ExpiredStatus for an
// expired one.
func (a *Auth) Authenticate(next http.Handler) http.Handler {
	return a.Verify(a.Require()(next))
}

// Require returns middleware that answers for requests that Verify did not
// authenticate, and, when scopes are given, answers 403 insufficient_scope
// unless the principal holds every one of them. Use it after Verify.
func (a *Auth) Require(scopes ...string) func(http.Handler) http.Handler {
	needed := strings.Join(scopes, " ")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			res := ResultFrom(r.Context())
			switch {
			case res.Err != nil:
				a.responder().error(w, r, res.Err)
				return
			case res.Principal == nil:
				a.responder().writeError(w, errNoCredential)
				return
			}
			for _, s := range scopes {
				if !res.Principal.HasScope(s) {
					a.responder().writeError(w, &Error{
						Status: http.StatusForbidden, Code: "insufficient_scope",
						Description: "the credential lacks a scope this request needs",
						Scope:       needed, Challenge: true,
					})
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

func (a *Auth) responder() responder {
	return responder{envelope: a.Envelope, realm: a.Realm, basic: a.BasicChallenge, expiredStatus: a.ExpiredStatus, logger: a.Logger}
}

func (a *Auth) accepts(m Accept) bool {
	acc := a.Accept
	if acc == 0 {
		acc = AcceptBearerToken
	}
	return acc&m != 0
}

var errBadCredential = &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the credential is not valid", Challenge: true}

// authenticate finds the first credential the route accepts and checks it.
func (a *Auth) authenticate(r *http.Request) (*authkit.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if a.accepts(AcceptUser) && a.Users != nil {
			return a.Users(r)
		}
		return nil, nil
	}
	if len(h) > MaxCredential {
		return nil, errBadCredential
	}
	scheme, rest := splitAuth(h)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		if rest == "" {
			return nil, errBadCredential
		}
		if a.isKey(rest) {
			if !a.accepts(AcceptBearerKey) {
				return nil, errBadCredential
			}
			return a.keyPrincipal(r.Context(), rest)
		}
		if !a.accepts(AcceptBearerToken) {
			return nil, errBadCredential
		}
		return a.tokenPrincipal(r.Context(), rest)
	case strings.EqualFold(scheme, "Basic"):
		if u := FromBasicUser(r); u != "" && a.isKey(u) && a.accepts(AcceptBasicKey) {
			return a.keyPrincipal(r.Context(), u)
		}
		if a.accepts(AcceptUser) && a.Users != nil {
			p, err := a.Users(r)
			if p == nil && err == nil {
				return nil, errBadCredential
			}
			return p, err
		}
		return nil, errBadCredential
	case rest == "" && a.accepts(AcceptBareToken):
		if a.isKey(scheme) {
			return nil, errBadCredential
		}
		return a.tokenPrincipal(r.Context(), scheme)
	}
	return nil, errBadCredential
}

func (a *Auth) isKey(s string) bool { return a.LooksLikeKey != nil && a.LooksLikeKey(s) }

func (a *Auth) keyPrincipal(ctx context.Context, secret string) (*authkit.Principal, error) {
	if a.Keys == nil {
		return nil, errBadCredential
	}
	k, err := a.Keys.VerifyKey(ctx, secret)
	if err != nil {
		return nil, credentialError(err)
	}
	return &authkit.Principal{Owner: k.Owner, KeyID: k.ID, Env: k.Env, Scopes: k.Scopes, Method: authkit.MethodKey}, nil
}

func (a *Auth) tokenPrincipal(ctx context.Context, token string) (*authkit.Principal, error) {
	if a.Tokens == nil {
		return nil, errBadCredential
	}
	if pv, ok := a.Tokens.(authkit.PrincipalVerifier); ok { // shared, built once per token
		p, err := pv.VerifyPrincipal(ctx, token)
		if err != nil {
			return nil, credentialError(err)
		}
		return p, nil
	}
	c, err := a.Tokens.Verify(ctx, token)
	if err != nil {
		return nil, credentialError(err)
	}
	return c.Principal(), nil
}

// credentialError turns a verification failure into a 401: a credential
// that does not exist or does not parse is invalid_token, not 404 or 400.
func credentialError(err error) error {
	e := ErrorFor(err)
	if e.Status == http.StatusNotFound || e.Status == http.StatusBadRequest || e.Status == http.StatusForbidden {
		return errBadCredential
	}
	return err
}
