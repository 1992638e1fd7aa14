package httpmw

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/sessions"
)

// ExchangeOptions shapes the key-for-token endpoint: Inlive's
// `POST /v1/keys/accesstoken` and api.video's `POST /auth/api-key`.
type ExchangeOptions struct {
	// KeyField is the JSON member that holds the key (api.video: "apiKey").
	// Empty: the key comes as `Authorization: Bearer <key>` (Inlive).
	KeyField string
	// AcceptRefreshBearer lets a refresh token stand where the key does
	// (`Authorization: Bearer <refresh token>`), to renew (Inlive).
	AcceptRefreshBearer bool
	// TTLField is the JSON member in which the client picks the token's
	// lifetime in seconds (Inlive: "expiry_seconds"); empty: TTL is fixed.
	TTLField string
	TTL      time.Duration // the lifetime when the client names none; 0: the issuer's default
	MaxTTL   time.Duration // the longest a client may ask for; default 24 h
	Fields   TokenFields   // response names; default OAuthFields
	Envelope Envelope      // default Plain
	Message  string        // the envelope's message on success
}

// Exchange returns the handler that exchanges an application key for an
// access token and a refresh token.
func (s *Server) Exchange(o ExchangeOptions) http.Handler {
	rs := s.responder(o.Envelope, 0)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := s.credentialBody(w, r, rs)
		if !ok {
			return
		}
		ttl, err := ttlFrom(f, o.TTLField, o.TTL, o.MaxTTL)
		if err != nil {
			rs.error(w, r, err)
			return
		}
		var secret string
		if o.KeyField != "" {
			if secret, err = f.required(o.KeyField); err != nil {
				rs.error(w, r, err)
				return
			}
		} else {
			secret = FromBearer(r)
			if secret == "" {
				rs.writeError(w, errNoCredential)
				return
			}
		}
		var g *sessions.Grant
		if o.AcceptRefreshBearer && s.Sessions.LooksLikeRefreshToken(secret) {
			g, err = s.Sessions.Refresh(r.Context(), secret, ttl)
		} else {
			var k *authkit.Key
			if k, err = s.Keys.VerifyKey(r.Context(), secret); err == nil {
				g, err = s.Sessions.Exchange(r.Context(), k, ttl, nil)
			}
		}
		if err != nil {
			s.credentialFailed(w, r, rs, err)
			return
		}
		noStore(w)
		rs.json(w, http.StatusOK, o.Message, o.Fields.body(g, s.Clock.Now()))
	})
}

// RefreshOptions shapes the refresh endpoint (api.video's `POST /auth/refresh`).
type RefreshOptions struct {
	TokenField string        // the JSON member holding the refresh token; default "refresh_token"
	TTL        time.Duration // the new access token's lifetime; 0: the issuer's default
	Fields     TokenFields   // default OAuthFields
	Envelope   Envelope      // default Plain
	Message    string
}

// Refresh returns the handler that spends a refresh token for a new access
// token and a new refresh token. A spent token is answered 401 and revokes
// its whole family.
func (s *Server) Refresh(o RefreshOptions) http.Handler {
	rs := s.responder(o.Envelope, 0)
	field := o.TokenField
	if field == "" {
		field = "refresh_token"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := s.credentialBody(w, r, rs)
		if !ok {
			return
		}
		rt, err := f.required(field)
		if err != nil {
			rs.error(w, r, err)
			return
		}
		g, err := s.Sessions.Refresh(r.Context(), rt, o.TTL)
		if err != nil {
			s.credentialFailed(w, r, rs, err)
			return
		}
		noStore(w)
		rs.json(w, http.StatusOK, o.Message, o.Fields.body(g, s.Clock.Now()))
	})
}

// LoginOptions shapes the login endpoint (`POST /auth/login`).
type LoginOptions struct {
	KeyField     string      // default "api_key"
	SessionField string      // default "session_id"
	Fields       TokenFields // default OAuthFields (no refresh token is issued)
	Envelope     Envelope    // default Plain
	Message      string
}

// Login returns the handler of the login guide: the same token comes back
// for the same (key, session id) while it is valid; a new session id forces
// a new one.
func (s *Server) Login(o LoginOptions) http.Handler {
	rs := s.responder(o.Envelope, 0)
	kf, sf := o.KeyField, o.SessionField
	if kf == "" {
		kf = "api_key"
	}
	if sf == "" {
		sf = "session_id"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := s.credentialBody(w, r, rs)
		if !ok {
			return
		}
		secret, err := f.required(kf)
		if err != nil {
			rs.error(w, r, err)
			return
		}
		sid, err := f.str(sf)
		if err != nil {
			rs.error(w, r, err)
			return
		}
		if len(sid) > 128 {
			rs.error(w, r, badRequest(sf+" must be at most 128 characters"))
			return
		}
		k, err := s.Keys.VerifyKey(r.Context(), secret)
		if err != nil {
			s.credentialFailed(w, r, rs, err)
			return
		}
		g, err := s.Sessions.Login(r.Context(), k, sid)
		if err != nil {
			rs.error(w, r, err)
			return
		}
		noStore(w)
		rs.json(w, http.StatusOK, o.Message, o.Fields.body(g, s.Clock.Now()))
	})
}

// credentialFailed answers a failed credential on a token endpoint with 401
// and counts it against the client's address.
// credentialBody starts a request to a token endpoint: 429 when the
// client's address is blocked for failed credentials, else its JSON body.
// On failure it has answered and returns false.
func (s *Server) credentialBody(w http.ResponseWriter, r *http.Request, rs responder) (fields, bool) {
	if blocked, d := s.limiter().Blocked(r); blocked {
		rs.writeError(w, tooMany(d))
		return nil, false
	}
	f, err := decodeJSON(w, r, s.MaxBody)
	if err != nil {
		rs.error(w, r, err)
		return nil, false
	}
	return f, true
}

func (s *Server) credentialFailed(w http.ResponseWriter, r *http.Request, rs responder, err error) {
	e := ErrorFor(err)
	if e == errInternal {
		rs.error(w, r, err)
		return
	}
	if e.Status == http.StatusForbidden { // a scope the key lacks: not a bad credential
		rs.writeError(w, e)
		return
	}
	s.limiter().Fail(r)
	if errors.Is(err, authkit.ErrInvalid) || e.Status == http.StatusNotFound || e.Status == http.StatusBadRequest {
		e = errBadCredential
	}
	rs.writeError(w, e)
}

// ttlFrom reads a lifetime in seconds from field, bounded by max.
func ttlFrom(f fields, field string, def, max time.Duration) (time.Duration, error) {
	if max <= 0 {
		max = 24 * time.Hour
	}
	if field == "" {
		return def, nil
	}
	n, ok, err := f.int(field)
	if err != nil {
		return 0, err
	}
	if !ok {
		return def, nil
	}
	if n < 1 || time.Duration(n) > max/time.Second {
		return 0, badRequest(field + " must be between 1 and " + strconv.FormatInt(int64(max/time.Second), 10))
	}
	return time.Duration(n) * time.Second, nil
}

// ValidateOptions shapes the validate endpoint (Inlive's `POST /v1/keys/validate`).
type ValidateOptions struct {
	Envelope      Envelope // default Plain
	ExpiredStatus int      // default 401; Inlive: 403
	Message       string
}

// Validate returns the handler that checks the access token in
// `Authorization: Bearer` and answers 200 with its claims.
func (s *Server) Validate(o ValidateOptions) http.Handler {
	a := &Auth{Tokens: s.Tokens, Realm: s.Realm, ExpiredStatus: o.ExpiredStatus, Envelope: o.Envelope, Logger: s.Logger}
	rs := s.responder(o.Envelope, o.ExpiredStatus)
	return a.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := authkit.FromContext(r.Context())
		rs.json(w, http.StatusOK, o.Message, p.Claims)
	}))
}

// JWKS returns the handler that publishes the public signing keys.
func (s *Server) JWKS() http.Handler {
	rs := s.responder(nil, 0)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := s.Tokens.JWKS(r.Context())
		if err != nil {
			rs.error(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(b)
	})
}
