package httpmw

import (
	"context"
	"errors"
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
	// AcceptBasicKey: `Authorization: Basic base64(<application key>:)`,
	// the key as user name and an empty password.
	AcceptBasicKey
	// AcceptUser: the app's own user authentication ([Auth.Users]).
	AcceptUser
)

// UserAuthenticator is the hook for the app's own user authentication
// (sessions, passwords, SSO: whatever the app has). It returns the signed-in
// user as a principal (see [authkit.UserPrincipal]), or the zero Principal
// and a nil error if the request carries no user credentials, or an error (wrapping
// authkit.ErrUnauthenticated) if it carries wrong ones.
type UserAuthenticator func(r *http.Request) (authkit.Principal, error)

// Auth authenticates requests. [Auth.Verify] finds and checks the
// credential and puts the result in the request context; [Auth.Require]
// answers 401/403 when Verify found nothing good or the principal lacks a
// scope. Apps that want their own error responses use Verify alone and read
// [ResultFrom] themselves.
//
// Set the verifier of each kind of credential the route accepts: Tokens for
// access tokens, Keys for application keys, Users for the app's own users.
// Accept defaults to AcceptBearerToken. A route that accepts a kind whose
// verifier is missing is a configuration error: Verify panics when it
// builds the middleware, at start-up, rather than refuse every request.
// An Auth must not be changed once its middleware is built; it is safe for
// concurrent use.
type Auth struct {
	Tokens authkit.TokenVerifier // verifies access tokens
	Keys   authkit.KeyVerifier   // verifies application keys (and tells them from tokens)
	Users  UserAuthenticator     // the app's user authentication, for AcceptUser
	Accept Accept                // 0 means AcceptBearerToken
	// Env, when set, admits only keys of that environment and the tokens
	// issued from them: a route of live data refuses test keys (401
	// invalid_token). The app's own users (AcceptUser) have none and pass.
	Env authkit.Env
	// Gate, when set, enforces the policy of the key behind every request
	// that a key or one of its tokens authenticates (rate limits, credits,
	// allowed addresses; see limits.Gate): a refused request gets 429 or
	// 403, and every admitted one of a rate-limited key the RateLimit
	// header fields. Its metadata comes with the principal.
	Gate authkit.Gate
	// Clients tells the client's address, for the Gate's allow-lists;
	// nil: RemoteAddr.
	Clients *ClientAddr
	// Limiter, when set, counts the credentials that fail here and
	// refuses (429) a blocked address the keys it would have to look up
	// (see [Limiter]).
	Limiter *Limiter
	// Responder writes the 401s and 403s: the body's envelope, the realm,
	// the status of an expired credential.
	Responder Responder
}

type resultKey struct{}

// Result is what [Auth.Verify] found: a principal, or the error that stopped
// it (neither when the request carried no credential).
type Result struct {
	Principal authkit.Principal // the zero Principal when there is none
	Err       error
}

// ResultFrom returns what Verify found for the request whose context is ctx.
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
// [authkit.NewContext]). It never answers the request itself. It panics if
// the Auth accepts a kind of credential it has no verifier for.
func (a *Auth) Verify(next http.Handler) http.Handler {
	a.check()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.authenticate(r)
		if err == nil && a.Gate != nil && p.KeyID() != "" {
			p, err = a.admit(w, r, p)
		}
		// On success, one context value (this runs on every request): the
		// principal, which ResultFrom reads first. Otherwise what stopped
		// it, under a nil principal that hides any an outer Verify found.
		var ctx context.Context
		if !p.IsZero() && err == nil {
			ctx = authkit.NewContext(r.Context(), p)
		} else {
			ctx = context.WithValue(authkit.NewContext(r.Context(), authkit.Principal{}), resultKey{}, &Result{Err: err})
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// check panics on a contradictory Auth: one that accepts a credential it
// cannot verify.
func (a *Auth) check() {
	switch {
	case a.accepts(AcceptBearerToken|AcceptBareToken) && a.Tokens == nil:
		panic("httpmw: Auth accepts access tokens but has no Tokens verifier")
	case a.accepts(AcceptBearerKey|AcceptBasicKey) && a.Keys == nil:
		panic("httpmw: Auth accepts application keys but has no Keys verifier")
	case a.accepts(AcceptUser) && a.Users == nil:
		panic("httpmw: Auth accepts users but has no Users authenticator")
	}
}

// Authenticate returns middleware that is Verify followed by Require(): a
// request with no valid credential is answered 401 (RFC 6750: no error code
// when none was sent, invalid_token otherwise), or the Responder's
// ExpiredStatus for an expired one.
func (a *Auth) Authenticate(next http.Handler) http.Handler {
	return a.Verify(a.Require()(next))
}

// Require returns middleware that answers for requests that Verify did not
// authenticate, and, when scopes are given, answers 403 insufficient_scope
// unless the principal holds every one of them. Use it after Verify.
func (a *Auth) Require(scopes ...string) func(http.Handler) http.Handler {
	needed := strings.Join(scopes, " ")
	insufficient := &Error{
		Status: http.StatusForbidden, Code: "insufficient_scope",
		Description: "the credential lacks a scope this request needs",
		Scope:       needed, Challenge: true,
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			res := ResultFrom(r.Context())
			switch {
			case res.Err != nil:
				a.Responder.Error(w, r, res.Err)
				return
			case res.Principal.IsZero():
				a.Responder.Error(w, r, errNoCredential)
				return
			}
			for _, s := range scopes {
				if !res.Principal.HasScope(s) {
					a.Responder.Error(w, r, insufficient)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

func (a *Auth) accepts(m Accept) bool {
	acc := a.Accept
	if acc == 0 {
		acc = AcceptBearerToken
	}
	return acc&m != 0
}

// authenticate finds the first credential the route accepts and checks it;
// a credential refused (401) counts against the client in the Limiter.
func (a *Auth) authenticate(r *http.Request) (authkit.Principal, error) {
	p, err := a.credential(r)
	if err != nil && a.Gate != nil {
		a.Gate.Refused(err) // a dead or disabled key's credential counts in its usage
	}
	if err != nil && ErrorFor(err).Status == http.StatusUnauthorized {
		a.Limiter.Fail(r, "", err)
	}
	if err == nil && a.Env != "" && !p.IsZero() && p.Method() != authkit.MethodUser && p.Env() != a.Env {
		return authkit.Principal{}, errOtherEnv
	}
	return p, err
}

// admit asks the Gate whether p's key may make the request, and sets the
// RateLimit header fields of the response.
func (a *Auth) admit(w http.ResponseWriter, r *http.Request, p authkit.Principal) (authkit.Principal, error) {
	ad, err := a.Gate.Admit(r.Context(), p.KeyID(), a.Clients.Of(r))
	if err != nil {
		if errors.Is(err, authkit.ErrNotFound) { // the key went since its credential was verified
			err = errBadCredential
		}
		return authkit.Principal{}, err
	}
	if len(ad.Quotas) > 0 {
		SetRateLimit(w.Header(), &ad)
	}
	if len(ad.Metadata) > 0 {
		p = p.WithMetadata(ad.Metadata)
	}
	return p, nil
}

// errOtherEnv refuses a credential of another environment than Auth.Env.
var errOtherEnv = &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the credential is for another environment", Challenge: true}

// credential finds and checks the request's credential.
func (a *Auth) credential(r *http.Request) (authkit.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if a.accepts(AcceptUser) {
			return a.Users(r)
		}
		return authkit.Principal{}, nil
	}
	if len(h) > MaxCredential {
		return authkit.Principal{}, errBadCredential
	}
	scheme, rest := splitAuth(h)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		if rest == "" {
			return authkit.Principal{}, errBadCredential
		}
		if a.isKey(rest) {
			if !a.accepts(AcceptBearerKey) {
				return authkit.Principal{}, errBadCredential
			}
			return a.keyPrincipal(r, rest)
		}
		if !a.accepts(AcceptBearerToken) {
			return authkit.Principal{}, errBadCredential
		}
		return a.tokenPrincipal(r, rest)
	case strings.EqualFold(scheme, "Basic"):
		if u := FromBasicUser(r); u != "" && a.isKey(u) && a.accepts(AcceptBasicKey) {
			return a.keyPrincipal(r, u)
		}
		if a.accepts(AcceptUser) {
			p, err := a.Users(r)
			if p.IsZero() && err == nil {
				return authkit.Principal{}, errBadCredential
			}
			return p, err
		}
		return authkit.Principal{}, errBadCredential
	case rest == "" && a.accepts(AcceptBareToken):
		if a.isKey(scheme) {
			return authkit.Principal{}, errBadCredential
		}
		return a.tokenPrincipal(r, scheme)
	}
	return authkit.Principal{}, errBadCredential
}

func (a *Auth) isKey(s string) bool { return a.Keys != nil && a.Keys.LooksLikeKey(s) }

// keyPrincipal verifies a key. With a Limiter, a key not verified
// recently is looked up only if the client's address is not blocked.
func (a *Auth) keyPrincipal(r *http.Request, secret string) (authkit.Principal, error) {
	if a.Limiter != nil {
		if p, ok := a.Keys.CachedKeyPrincipal(secret); ok {
			return p, nil
		}
		if err := a.Limiter.Check(r, ""); err != nil {
			return authkit.Principal{}, err
		}
	}
	p, err := a.Keys.KeyPrincipal(r.Context(), secret)
	if err != nil {
		return authkit.Principal{}, credentialError(err)
	}
	return p, nil
}

// tokenPrincipal verifies an access token: in memory, so even from a
// blocked address.
func (a *Auth) tokenPrincipal(r *http.Request, token string) (authkit.Principal, error) {
	p, err := a.Tokens.Verify(r.Context(), token)
	if err != nil {
		return authkit.Principal{}, credentialError(err)
	}
	return p, nil
}

// credentialError turns a verification failure into a 401: a credential
// that does not exist or does not parse is invalid_token, not 404 or 400.
// Anything unmapped (a store failure) stays as it is: a logged 500.
func credentialError(err error) error {
	e := ErrorFor(err)
	if e.Status == http.StatusNotFound || e.Status == http.StatusBadRequest || e.Status == http.StatusForbidden {
		return errBadCredential
	}
	return err
}
