package httpmw

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/authkit/authkit"
)

// OAuth errors (RFC 6749 §5.2).
var (
	errInvalidClient = &Error{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "client authentication failed"}
	errInvalidGrant  = &Error{Status: http.StatusBadRequest, Code: "invalid_grant", Description: "the grant is invalid, expired or revoked"}
)

// client authenticates an OAuth client: HTTP Basic (URL-decoded, RFC 6749
// §2.3.1) or the form's client_id and client_secret, never both. The
// client id is the key's ID and the secret is the key itself.
func (s *Server) client(r *http.Request, form url.Values) (*authkit.Key, *Error) {
	id, secret, basic := BasicAuth(r)
	fid, fsecret := form.Get("client_id"), form.Get("client_secret")
	switch {
	case basic && fsecret != "":
		return nil, badRequest("use one client authentication method")
	case !basic:
		id, secret = fid, fsecret
	}
	if id == "" || secret == "" {
		return nil, errInvalidClient
	}
	k, err := s.Keys.VerifyKey(r.Context(), secret)
	if err != nil || k.ID != id {
		return nil, errInvalidClient
	}
	return k, nil
}

// oauthResponder is the responder of the OAuth endpoints: Plain bodies,
// and a Basic challenge beside the Bearer one on 401 (RFC 6749 §5.2: the
// client authenticates with HTTP Basic).
func (s *Server) oauthResponder() responder {
	rs := s.responder(nil, 0)
	rs.basic = true
	return rs
}

// oauthClient starts a request to an OAuth endpoint: 429 when the client's
// address is blocked for failed credentials, else the form body and the
// authenticated client, a failed authentication counting towards the
// block. On failure it has answered and returns false.
func (s *Server) oauthClient(w http.ResponseWriter, r *http.Request, rs responder) (url.Values, *authkit.Key, bool) {
	if blocked, d := s.limiter().Blocked(r); blocked {
		rs.writeError(w, tooMany(d))
		return nil, nil, false
	}
	form, err := decodeForm(w, r, s.MaxBody)
	if err != nil {
		rs.error(w, r, err)
		return nil, nil, false
	}
	k, e := s.client(r, form)
	if e != nil {
		if e == errInvalidClient {
			s.limiter().Fail(r)
		}
		rs.writeError(w, e)
		return nil, nil, false
	}
	return form, k, true
}

// OAuthToken returns the RFC 6749 token endpoint (`POST /oauth/token`) for
// the client_credentials and refresh_token grants. The response carries a
// refresh token for client_credentials too, so that a client can renew
// without sending its key again.
func (s *Server) OAuthToken() http.Handler {
	rs := s.oauthResponder()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, k, ok := s.oauthClient(w, r, rs)
		if !ok {
			return
		}
		fields := OAuthFields
		fields.Scope = "scope"
		switch form.Get("grant_type") {
		case "client_credentials":
			var scopes []string
			if sc := form.Get("scope"); sc != "" {
				scopes = strings.Fields(sc)
				for _, want := range scopes {
					if !slices.Contains(k.Scopes, want) {
						rs.writeError(w, &Error{Status: http.StatusBadRequest, Code: "invalid_scope", Description: "the key does not hold scope " + quote(want)})
						return
					}
				}
			}
			g, err := s.Sessions.Exchange(r.Context(), k, 0, scopes)
			if err != nil {
				rs.error(w, r, err)
				return
			}
			noStore(w)
			rs.json(w, http.StatusOK, "", fields.body(g, s.Clock.Now()))
		case "refresh_token":
			rt := form.Get("refresh_token")
			if rt == "" {
				rs.writeError(w, badRequest("refresh_token is required"))
				return
			}
			if tok, _, err := s.Sessions.InspectRefreshToken(r.Context(), rt); err == nil && tok.KeyID != k.ID {
				rs.writeError(w, errInvalidGrant) // another client's token
				return
			}
			g, err := s.Sessions.Refresh(r.Context(), rt, 0)
			if err != nil {
				if ErrorFor(err) == errInternal {
					rs.error(w, r, err)
					return
				}
				rs.writeError(w, errInvalidGrant)
				return
			}
			noStore(w)
			rs.json(w, http.StatusOK, "", fields.body(g, s.Clock.Now()))
		case "":
			rs.writeError(w, badRequest("grant_type is required"))
		default:
			rs.writeError(w, &Error{Status: http.StatusBadRequest, Code: "unsupported_grant_type", Description: "supported: client_credentials, refresh_token"})
		}
	})
}

// Introspect returns the RFC 7662 endpoint (`POST /oauth/introspect`). The
// caller authenticates as a client; it learns about tokens of its own owner
// only. A dead, unknown or foreign token is answered {"active":false} and
// nothing more.
func (s *Server) Introspect() http.Handler {
	rs := s.oauthResponder()
	inactive := map[string]any{"active": false}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, k, ok := s.oauthClient(w, r, rs)
		if !ok {
			return
		}
		tok := form.Get("token")
		noStore(w)
		if tok == "" {
			rs.writeError(w, badRequest("token is required"))
			return
		}
		if s.Sessions.LooksLikeRefreshToken(tok) {
			rt, sess, err := s.Sessions.InspectRefreshToken(r.Context(), tok)
			if err != nil || sess.Owner != k.Owner {
				rs.json(w, http.StatusOK, "", inactive)
				return
			}
			rs.json(w, http.StatusOK, "", map[string]any{
				"active": true, "token_type": "refresh_token", "client_id": rt.KeyID, "sub": sess.Owner,
				"scope": strings.Join(sess.Scopes, " "), "exp": rt.ExpiresAt.Unix(), "iat": rt.CreatedAt.Unix(), "sid": sess.ID,
			})
			return
		}
		c, err := s.Tokens.Verify(r.Context(), tok)
		if err != nil || c.Subject != k.Owner {
			if err != nil && ErrorFor(err) == errInternal {
				rs.error(w, r, err)
				return
			}
			rs.json(w, http.StatusOK, "", inactive)
			return
		}
		rs.json(w, http.StatusOK, "", map[string]any{
			"active": true, "token_type": "Bearer", "scope": c.Scope, "client_id": c.ClientID, "sub": c.Subject,
			"iss": c.Issuer, "aud": c.Audience, "exp": c.Expiry, "iat": c.IssuedAt, "jti": c.ID, "sid": c.SessionID, "env": c.Env,
		})
	})
}

// Revoke returns the RFC 7009 endpoint (`POST /oauth/revoke`). Revoking a
// refresh token or an access token revokes its whole session. It answers
// 200 for unknown, invalid and foreign tokens alike (RFC 7009 §2.2).
func (s *Server) Revoke() http.Handler {
	rs := s.oauthResponder()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, k, ok := s.oauthClient(w, r, rs)
		if !ok {
			return
		}
		tok := form.Get("token")
		if tok == "" {
			rs.writeError(w, badRequest("token is required"))
			return
		}
		ctx := r.Context()
		if s.Sessions.LooksLikeRefreshToken(tok) {
			if _, sess, err := s.Sessions.InspectRefreshToken(ctx, tok); err == nil && sess.Owner == k.Owner {
				err = s.Sessions.Revoke(ctx, sess.Owner, sess.ID)
				if err != nil && !errors.Is(err, authkit.ErrNotFound) {
					rs.error(w, r, err)
					return
				}
			}
		} else if c, err := s.Tokens.Verify(ctx, tok); err == nil && c.Subject == k.Owner && c.SessionID != "" {
			err = s.Sessions.Revoke(ctx, c.Subject, c.SessionID)
			if err != nil && !errors.Is(err, authkit.ErrNotFound) {
				rs.error(w, r, err)
				return
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	})
}
