package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/httpmw"
)

// ExchangeOptions shapes the endpoint that exchanges an application key for
// an access token and a refresh token.
type ExchangeOptions struct {
	// KeyField is the JSON member that holds the key, e.g. "api_key".
	// Empty: the key comes as `Authorization: Bearer <key>`.
	KeyField string
	// AcceptRefreshBearer lets a refresh token stand where the key does
	// (`Authorization: Bearer <refresh token>`), so that one endpoint both
	// exchanges and renews.
	AcceptRefreshBearer bool
	// TTLField is the JSON member in which the client picks the token's
	// lifetime in seconds, e.g. "expiry_seconds"; empty: the lifetime is TTL.
	TTLField string
	TTL      time.Duration // the lifetime when the client names none; 0: the token service's default
	MaxTTL   time.Duration // the longest a client may ask for; default Endpoints.MaxTTL
	// SessionTTL is the lifetime of the grant session (and refresh
	// family) each exchange opens; 0: the session manager's RefreshTTL,
	// which it never exceeds. A client that exchanges its key again and
	// again leaves sessions that end this soon, at most the manager's
	// MaxSessionsPerKey of them.
	SessionTTL time.Duration
	Fields     TokenFields     // response names; default OAuthFields
	Envelope   httpmw.Envelope // default httpmw.Plain
	Message    string          // the envelope's message on success
	// RefusedStatus is the status of a refused key or refresh token: 401
	// invalid_token by default; 400 answers invalid_grant (RFC 6749 §5.2),
	// as some clients expect.
	RefusedStatus int
	// Flow names this endpoint's grants: their refresh tokens are redeemed
	// only at an endpoint with the same Flow (this one, with
	// AcceptRefreshBearer, or a Refresh whose RefreshOptions.Flow is the
	// same), under its lifetime caps. Refresh tokens of another flow are
	// refused (and stay unspent).
	Flow string
}

// Exchange returns the handler that exchanges an application key for an
// access token and a refresh token, in a new grant session. It panics if
// o.TTL or o.MaxTTL exceeds Endpoints.MaxTTL.
func (e *Endpoints) Exchange(o ExchangeOptions) http.Handler {
	rs := e.responder(o.Envelope)
	maxTTL := o.MaxTTL
	if maxTTL <= 0 {
		maxTTL = e.maxTTL()
	}
	e.checkTTL("Exchange", "MaxTTL", maxTTL)
	e.checkTTL("Exchange", "TTL", o.TTL)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = e.programActor(r)
		f, ok := e.credentialBody(w, r, rs)
		if !ok {
			return
		}
		ttl := o.TTL
		if o.TTLField != "" {
			t, ok, err := f.seconds(o.TTLField, time.Second, maxTTL)
			if err != nil {
				rs.Error(w, r, err)
				return
			}
			if ok {
				ttl = t
			}
		}
		var secret string
		if o.KeyField != "" {
			var err error
			if secret, err = f.required(o.KeyField); err != nil {
				rs.Error(w, r, err)
				return
			}
		} else if secret = httpmw.FromBearer(r); secret == "" {
			rs.Error(w, r, errNoCredential)
			return
		}
		var (
			g   *authkit.Grant
			err error
		)
		if o.AcceptRefreshBearer && e.Sessions.LooksLikeRefreshToken(secret) {
			if !e.startRefresh(w, r, rs, secret, o.Flow, o.RefusedStatus) {
				return
			}
			g, err = e.Sessions.Refresh(r.Context(), secret, ttl)
		} else {
			var k *authkit.Key
			if k, err = e.verifyKey(r, secret, ""); err == nil {
				if !e.admit(w, r, rs, k.ID) {
					return
				}
				g, err = e.Sessions.Exchange(r.Context(), authkit.ExchangeRequest{Key: k, TTL: ttl, SessionTTL: o.SessionTTL, Flow: o.Flow})
			}
		}
		if err != nil {
			e.credentialFailed(w, r, rs, err, o.RefusedStatus, "")
			return
		}
		noStore(w)
		rs.JSON(w, http.StatusOK, o.Message, o.Fields.body(g, e.Clock.Now()))
	})
}

// RefreshOptions shapes the refresh endpoint.
type RefreshOptions struct {
	TokenField string          // the JSON member holding the refresh token; default "refresh_token"
	TTL        time.Duration   // the new access token's lifetime; 0: the token service's default
	Fields     TokenFields     // default OAuthFields
	Envelope   httpmw.Envelope // default httpmw.Plain
	Message    string
	// RefusedStatus is the status of a refused refresh token: 401
	// invalid_token by default, or 400 invalid_grant.
	RefusedStatus int
	// Flow is the ExchangeOptions.Flow of the endpoint whose refresh
	// tokens this one redeems; others are refused, unspent.
	Flow string
}

// Refresh returns the handler that spends a refresh token for a new access
// token and a new refresh token. A spent token is answered 401 and revokes
// its whole family. It panics if o.TTL exceeds Endpoints.MaxTTL.
func (e *Endpoints) Refresh(o RefreshOptions) http.Handler {
	rs := e.responder(o.Envelope)
	e.checkTTL("Refresh", "TTL", o.TTL)
	field := o.TokenField
	if field == "" {
		field = "refresh_token"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = e.programActor(r)
		f, ok := e.credentialBody(w, r, rs)
		if !ok {
			return
		}
		rt, err := f.required(field)
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		if !e.startRefresh(w, r, rs, rt, o.Flow, o.RefusedStatus) {
			return
		}
		g, err := e.Sessions.Refresh(r.Context(), rt, o.TTL)
		if err != nil {
			e.credentialFailed(w, r, rs, err, o.RefusedStatus, "")
			return
		}
		noStore(w)
		rs.JSON(w, http.StatusOK, o.Message, o.Fields.body(g, e.Clock.Now()))
	})
}

// LoginOptions shapes the login endpoint. A request carries one of three
// credentials, each with an optional session id: an application key; a
// key's OAuth client credentials (its ID and the key); or the name and
// password of one of the app's own users, checked by Passwords.
type LoginOptions struct {
	KeyField          string // default "api_key"
	SessionField      string // default "session_id"
	ClientIDField     string // default "client_id"
	ClientSecretField string // default "client_secret"
	UserField         string // default "username"
	PasswordField     string // default "password"
	// Passwords checks a user's name and password; nil refuses them (400).
	Passwords PasswordVerifier
	Fields    TokenFields     // default OAuthFields (no refresh token is issued)
	Envelope  httpmw.Envelope // default httpmw.Plain
	Message   string
}

// PasswordVerifier checks the name and password of one of the app's own
// users for the login endpoint. It returns the user's ID (the owner of
// their keys and sessions) and the scopes the user's tokens get. For an
// unknown name or a wrong password it returns an error wrapping
// authkit.ErrUnauthenticated, after as long as a right pair would take. It
// must be safe for concurrent use.
type PasswordVerifier func(ctx context.Context, username, password string) (user string, scopes []string, err error)

// Login returns the handler of the login flow: the same token comes back
// for the same (credential, session id) while it is valid; a new session id
// opens a new session with a new token. A key and its client credentials
// are one credential.
func (e *Endpoints) Login(o LoginOptions) http.Handler {
	rs := e.responder(o.Envelope)
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	kf, sf := or(o.KeyField, "api_key"), or(o.SessionField, "session_id")
	idf, secf := or(o.ClientIDField, "client_id"), or(o.ClientSecretField, "client_secret")
	uf, pf := or(o.UserField, "username"), or(o.PasswordField, "password")
	missing := badRequest("one of " + kf + ", " + idf + " and " + secf + ", or " + uf + " and " + pf + " is required")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = e.programActor(r)
		f, ok := e.credentialBody(w, r, rs)
		if !ok {
			return
		}
		sid, err := f.str(sf)
		if err == nil && len(sid) > 128 {
			err = badRequest(sf + " must be at most 128 characters")
		}
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		var g *authkit.Grant
		switch {
		case f.has(kf):
			var secret string
			var k *authkit.Key
			if secret, err = f.required(kf); err != nil {
				break
			}
			if k, err = e.verifyKey(r, secret, ""); err != nil {
				e.credentialFailed(w, r, rs, err, 0, "")
				return
			}
			if !e.admit(w, r, rs, k.ID) {
				return
			}
			g, err = e.Sessions.Login(r.Context(), k, sid)
		case f.has(idf):
			var id, secret string
			var k *authkit.Key
			if id, err = f.required(idf); err != nil {
				break
			}
			if secret, err = f.required(secf); err != nil {
				break
			}
			k, err = e.verifyKey(r, secret, id)
			if err == nil && k.ID != id {
				err = authkit.ErrUnauthenticated // a good key, of another client
			}
			if err != nil {
				e.credentialFailed(w, r, rs, err, 0, id)
				return
			}
			if !e.admit(w, r, rs, k.ID) {
				return
			}
			g, err = e.Sessions.Login(r.Context(), k, sid)
		case f.has(uf):
			if o.Passwords == nil {
				err = badRequest(uf + " and " + pf + " sign-in is not enabled here")
				break
			}
			var name, password, user string
			var scopes []string
			if name, err = f.required(uf); err != nil {
				break
			}
			if password, err = f.required(pf); err != nil {
				break
			}
			if err = e.limiter().Check(r, name); err != nil {
				break
			}
			if user, scopes, err = o.Passwords(r.Context(), name, password); err != nil {
				e.credentialFailed(w, r, rs, err, 0, name)
				return
			}
			g, err = e.Sessions.LoginUser(r.Context(), user, scopes, sid)
		default:
			err = missing
		}
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		noStore(w)
		rs.JSON(w, http.StatusOK, o.Message, o.Fields.body(g, e.Clock.Now()))
	})
}

// credentialBody starts a request to a token endpoint: its JSON body. On
// failure it has answered and returns false.
func (e *Endpoints) credentialBody(w http.ResponseWriter, r *http.Request, rs httpmw.Responder) (fields, bool) {
	f, err := decodeJSON(w, r, e.MaxBody)
	if err != nil {
		rs.Error(w, r, err)
		return nil, false
	}
	return f, true
}

// credentialFailed answers a failed credential on a token endpoint with 401
// (or refused, if it is 400: invalid_grant) and counts it against the
// client's address and the credential's name ("" for none). A store
// failure is a logged 500 and counts for nothing; a scope the key lacks is
// 403; a blocked client is 429.
func (e *Endpoints) credentialFailed(w http.ResponseWriter, r *http.Request, rs httpmw.Responder, err error, refused int, name string) {
	if e.Gate != nil {
		e.Gate.Refused(err) // a dead or disabled key's credential counts in its usage
	}
	he := httpmw.ErrorFor(err)
	switch he.Status {
	case http.StatusInternalServerError, http.StatusForbidden, http.StatusTooManyRequests:
		rs.Error(w, r, err)
		return
	}
	e.limiter().Fail(r, name, err)
	if he.Status == http.StatusNotFound || he.Status == http.StatusBadRequest {
		he = errBadCredential
	}
	if refused == http.StatusBadRequest {
		he = &httpmw.Error{Status: http.StatusBadRequest, Code: "invalid_grant", Description: he.Description, Expired: he.Expired}
	}
	rs.Error(w, r, he)
}

// ValidateOptions shapes the endpoint that checks an access token for
// another service.
type ValidateOptions struct {
	Envelope      httpmw.Envelope // default httpmw.Plain
	ExpiredStatus int             // default 401; some clients expect 403
	Message       string
}

// Validate returns the handler that checks the access token in
// `Authorization: Bearer` and answers 200 with its claims.
func (e *Endpoints) Validate(o ValidateOptions) http.Handler {
	rs := e.responder(o.Envelope)
	rs.ExpiredStatus = o.ExpiredStatus
	a := &httpmw.Auth{Tokens: e.Tokens, Responder: rs}
	return a.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := authkit.FromContext(r.Context())
		c, _ := p.Claims()
		rs.JSON(w, http.StatusOK, o.Message, c)
	}))
}

// JWKS returns the handler that publishes the public signing keys
// (`GET /.well-known/jwks.json`).
func (e *Endpoints) JWKS() http.Handler {
	rs := e.responder(nil)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := e.Tokens.JWKS(r.Context())
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(b)
	})
}
