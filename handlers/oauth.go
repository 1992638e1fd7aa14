package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/httpmw"
)

// OAuth errors (RFC 6749 §5.2).
var (
	errInvalidClient = &httpmw.Error{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "client authentication failed", Scheme: "Basic"}
	errInvalidGrant  = &httpmw.Error{Status: http.StatusBadRequest, Code: "invalid_grant", Description: "the grant is invalid, expired or revoked"}
	errInvalidScope  = &httpmw.Error{Status: http.StatusBadRequest, Code: "invalid_scope", Description: "the client was not granted a scope it asked for"}
)

// client authenticates an OAuth client: HTTP Basic (URL-decoded, RFC 6749
// §2.3.1) or the form's client_id and client_secret, never both. The
// client id is the key's ID and the secret is the key itself.
func (e *Endpoints) client(r *http.Request, form url.Values) (*authkit.Key, error) {
	id, secret, basic := httpmw.BasicAuth(r)
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
	k, err := e.verifyKey(r, secret, id)
	if err != nil && (internal(err) || httpmw.ErrorFor(err).Status == http.StatusTooManyRequests) {
		return nil, err
	}
	if err != nil || k.ID != id {
		return nil, errInvalidClient
	}
	return k, nil
}

// ownSession reports whether sess, which a refresh token names, is of
// client's owner and of its environment (its key's): introspection and
// revocation answer a client about nothing else. A key that is gone is not
// of it; a store failure is returned.
func (e *Endpoints) ownSession(ctx context.Context, client *authkit.Key, sess *authkit.Session) (bool, error) {
	if sess.Owner != client.Owner {
		return false, nil
	}
	if sess.KeyID == client.ID {
		return true, nil
	}
	k, err := e.Keys.Get(ctx, sess.Owner, sess.KeyID)
	switch {
	case errors.Is(err, authkit.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return k.Env == client.Env, nil
}

// oauthResponder is the responder of the OAuth endpoints: Plain bodies.
// Their only 401, invalid_client, challenges with Basic alone (RFC 6749
// §5.2: the client authenticates with HTTP Basic).
func (e *Endpoints) oauthResponder() httpmw.Responder { return e.responder(nil) }

// oauthClient starts a request to an OAuth endpoint: the form body and the
// authenticated client (429 when the client's address or id is blocked for
// failed credentials and the key is not one verified recently), a failed
// authentication counting towards the block. On failure it has answered and returns false.
func (e *Endpoints) oauthClient(w http.ResponseWriter, r *http.Request, rs httpmw.Responder) (url.Values, *authkit.Key, bool) {
	form, err := decodeForm(w, r, e.MaxBody)
	if err != nil {
		rs.Error(w, r, err)
		return nil, nil, false
	}
	k, err := e.client(r, form)
	if err != nil {
		if err == errInvalidClient {
			id, _, _ := httpmw.BasicAuth(r)
			if id == "" {
				id = form.Get("client_id")
			}
			e.limiter().Fail(r, id, err)
		}
		rs.Error(w, r, err)
		return nil, nil, false
	}
	return form, k, true
}

// oauthFlow is the Flow of the OAuth token endpoint's grants: its refresh
// tokens are redeemed there only.
const oauthFlow = "oauth"

// OAuthOptions shapes the OAuth 2.0 token endpoint.
type OAuthOptions struct {
	// RefreshTokens issues a refresh token with client_credentials grants.
	// Off by default, as RFC 6749 §4.4.3 advises: the client authenticates
	// again instead, and its grant session ends with its access token.
	RefreshTokens bool
}

// OAuthToken returns the RFC 6749 token endpoint (`POST /oauth/token`) for
// the client_credentials and refresh_token grants. The client id is the
// key's ID and the client secret the key, by HTTP Basic (URL-encoded, RFC
// 6749 §2.3.1) or in the form.
func (e *Endpoints) OAuthToken(o OAuthOptions) http.Handler {
	rs := e.oauthResponder()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = e.programActor(r)
		form, k, ok := e.oauthClient(w, r, rs)
		if !ok {
			return
		}
		fields := OAuthFields
		fields.Scope = "scope"
		if !e.admit(w, r, rs, k.ID) {
			return
		}
		switch form.Get("grant_type") {
		case "client_credentials":
			var scopes []string
			if sc := form.Get("scope"); sc != "" {
				scopes = strings.Fields(sc)
				if k.Allows(scopes) != nil {
					rs.Error(w, r, errInvalidScope)
					return
				}
			}
			g, err := e.Sessions.Exchange(r.Context(), authkit.ExchangeRequest{Key: k, Scopes: scopes, NoRefresh: !o.RefreshTokens, Flow: oauthFlow})
			if err != nil {
				rs.Error(w, r, err)
				return
			}
			noStore(w)
			rs.JSON(w, http.StatusOK, "", fields.body(g, e.Clock.Now()))
		case "refresh_token":
			rt := form.Get("refresh_token")
			if rt == "" {
				rs.Error(w, r, badRequest("refresh_token is required"))
				return
			}
			tok, sess, err := e.Sessions.InspectRefreshToken(r.Context(), rt)
			switch {
			case err != nil && internal(err):
				rs.Error(w, r, err)
				return
			case err == nil && tok.KeyID != k.ID:
				rs.Error(w, r, errInvalidGrant) // another client's token
				return
			case err == nil && sess.Name != oauthFlow:
				rs.Error(w, r, errInvalidGrant) // another endpoint's
				return
			}
			g, err := e.Sessions.Refresh(r.Context(), rt, 0)
			if err != nil {
				if internal(err) {
					rs.Error(w, r, err)
					return
				}
				rs.Error(w, r, errInvalidGrant)
				return
			}
			noStore(w)
			rs.JSON(w, http.StatusOK, "", fields.body(g, e.Clock.Now()))
		case "":
			rs.Error(w, r, badRequest("grant_type is required"))
		default:
			rs.Error(w, r, &httpmw.Error{Status: http.StatusBadRequest, Code: "unsupported_grant_type", Description: "supported: client_credentials, refresh_token"})
		}
	})
}

// Introspect returns the RFC 7662 endpoint (`POST /oauth/introspect`). The
// caller authenticates as a client; it learns about tokens of its own owner
// and its own environment (live or test) only. A dead, unknown or foreign
// token is answered {"active":false} and nothing more.
func (e *Endpoints) Introspect() http.Handler {
	rs := e.oauthResponder()
	inactive := map[string]any{"active": false}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = e.programActor(r)
		form, k, ok := e.oauthClient(w, r, rs)
		if !ok {
			return
		}
		tok := form.Get("token")
		noStore(w)
		if tok == "" {
			rs.Error(w, r, badRequest("token is required"))
			return
		}
		if e.Sessions.LooksLikeRefreshToken(tok) {
			rt, sess, err := e.Sessions.InspectRefreshToken(r.Context(), tok)
			if err != nil && internal(err) {
				rs.Error(w, r, err)
				return
			}
			ours := false
			if err == nil {
				if ours, err = e.ownSession(r.Context(), k, sess); err != nil {
					rs.Error(w, r, err)
					return
				}
			}
			if !ours {
				rs.JSON(w, http.StatusOK, "", inactive)
				return
			}
			rs.JSON(w, http.StatusOK, "", map[string]any{
				"active": true, "token_type": "refresh_token", "client_id": rt.KeyID, "sub": sess.Owner,
				"scope": strings.Join(sess.Scopes, " "), "exp": rt.ExpiresAt.Unix(), "iat": rt.CreatedAt.Unix(), "sid": sess.ID,
			})
			return
		}
		p, err := e.Tokens.Verify(r.Context(), tok)
		if err != nil && internal(err) {
			rs.Error(w, r, err)
			return
		}
		if err != nil || p.Owner() != k.Owner || p.Env() != k.Env {
			rs.JSON(w, http.StatusOK, "", inactive)
			return
		}
		c, _ := p.Claims()
		rs.JSON(w, http.StatusOK, "", map[string]any{
			"active": true, "token_type": "Bearer", "scope": c.Scope, "client_id": c.ClientID, "sub": c.Subject,
			"iss": c.Issuer, "aud": c.Audience, "exp": c.Expiry, "iat": c.IssuedAt, "jti": c.ID, "sid": c.SessionID, "env": c.Env,
		})
	})
}

// Revoke returns the RFC 7009 endpoint (`POST /oauth/revoke`). Revoking a
// refresh token or an access token revokes its whole session, if the
// token is of the client's owner and environment. It answers 200 for
// unknown, invalid and foreign tokens alike (RFC 7009 §2.2).
func (e *Endpoints) Revoke() http.Handler {
	rs := e.oauthResponder()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = e.programActor(r)
		form, k, ok := e.oauthClient(w, r, rs)
		if !ok {
			return
		}
		tok := form.Get("token")
		if tok == "" {
			rs.Error(w, r, badRequest("token is required"))
			return
		}
		ctx := r.Context()
		var owner, sessionID string
		if e.Sessions.LooksLikeRefreshToken(tok) {
			_, sess, err := e.Sessions.InspectRefreshToken(ctx, tok)
			if err != nil && internal(err) {
				rs.Error(w, r, err)
				return
			}
			if err == nil {
				ours, err := e.ownSession(ctx, k, sess)
				if err != nil {
					rs.Error(w, r, err)
					return
				}
				if ours {
					owner, sessionID = sess.Owner, sess.ID
				}
			}
		} else {
			p, err := e.Tokens.Verify(ctx, tok)
			if err != nil && internal(err) {
				rs.Error(w, r, err)
				return
			}
			if err == nil && p.Env() == k.Env {
				owner, sessionID = p.Owner(), p.SessionID()
			}
		}
		if sessionID != "" && owner == k.Owner {
			if err := e.Sessions.Revoke(ctx, owner, sessionID); err != nil && !errors.Is(err, authkit.ErrNotFound) {
				rs.Error(w, r, err)
				return
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	})
}
