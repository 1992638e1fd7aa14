package handlers

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/httpmw"
	"github.com/authkit/authkit/internal/policyjson"
)

// KeyOptions shapes the key-management handlers (`/user/keys…`, say). They
// act for the principal in the request context (put there by an
// httpmw.Auth that accepts the app's users), and only on that principal's
// own keys: another owner's key is answered 404, exactly as a missing one.
type KeyOptions struct {
	// Param is the path wildcard naming the key, read with
	// r.PathValue: its handle (as in `/user/keys/{key}`). Default "key".
	Param string
	// Recoverable makes created keys recoverable, so that GetKey shows the
	// secret again to its owner.
	Recoverable bool
	// DefaultScopes are given to a key created with no scopes.
	DefaultScopes []string
	// MaxExpiresIn bounds expires_in; default 10 years.
	MaxExpiresIn time.Duration
	Envelope     httpmw.Envelope // default httpmw.Plain
}

func (o KeyOptions) param() string {
	if o.Param == "" {
		return "key"
	}
	return o.Param
}

// keyJSON is a key as the handlers show it. Token is set only where the
// secret is shown: at creation, rotation, and reading a recoverable key.
type keyJSON struct {
	ID         string      `json:"id"`
	Handle     string      `json:"handle"`
	Alias      string      `json:"alias"`
	Env        authkit.Env `json:"env"`
	Scopes     []string    `json:"scopes"`
	Hint       string      `json:"hint"`
	CreatedAt  time.Time   `json:"created_at"`
	ExpiresAt  *time.Time  `json:"expires_at"`
	LastUsedAt *time.Time  `json:"last_used_at"`
	Disabled   bool        `json:"disabled"`
	policyjson.Policy
	Token string `json:"token,omitempty"`
}

// keyJSON returns k as the handlers show it, with the credits it has left.
func (e *Endpoints) keyJSON(ctx context.Context, k *authkit.Key, token string) (keyJSON, error) {
	pj, err := e.showPolicy(ctx, k)
	if err != nil {
		return keyJSON{}, err
	}
	j := keyJSON{ID: k.ID, Handle: k.Handle, Alias: k.Alias, Env: k.Env, Scopes: k.Scopes, Hint: k.Hint, CreatedAt: k.CreatedAt, Disabled: k.Disabled, Policy: pj, Token: token}
	if j.Scopes == nil {
		j.Scopes = []string{}
	}
	if !k.ExpiresAt.IsZero() {
		t := k.ExpiresAt
		j.ExpiresAt = &t
	}
	if !k.LastUsedAt.IsZero() {
		t := k.LastUsedAt
		j.LastUsedAt = &t
	}
	return j, nil
}

// answerKey answers with k as the handlers show it.
func (e *Endpoints) answerKey(w http.ResponseWriter, r *http.Request, rs httpmw.Responder, status int, msg string, k *authkit.Key, token string) {
	j, err := e.keyJSON(r.Context(), k, token)
	if err != nil {
		rs.Error(w, r, err)
		return
	}
	noStore(w)
	rs.JSON(w, status, msg, j)
}

// owned returns the handler that runs fn for the principal's owner, or
// answers 401 when the request carries none. The changes fn makes are
// recorded in the audit trail as the principal's (authkit.WithActor).
func (e *Endpoints) owned(rs httpmw.Responder, fn func(w http.ResponseWriter, r *http.Request, own string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := authkit.FromContext(r.Context())
		if !ok || p.Owner() == "" {
			rs.Error(w, r, errNoCredential)
			return
		}
		fn(w, e.withActor(r, p), p.Owner())
	})
}

// withActor returns r with the actor of its changes in its context: the
// principal (a user, or a key), the client's address and the request id.
func (e *Endpoints) withActor(r *http.Request, p authkit.Principal) *http.Request {
	a := authkit.Actor{Kind: authkit.ActorUser, ID: p.Owner(), Addr: e.Clients.Of(r).String(), RequestID: httpmw.RequestID(r)}
	if p.KeyID() != "" {
		a.Kind, a.ID = authkit.ActorKey, p.KeyID()
	}
	return r.WithContext(authkit.WithActor(r.Context(), a))
}

// programActor returns r with a program's actor (a key, not yet known)
// in its context, for the token endpoints: what they change (a refresh
// family revoked on reuse) is recorded with the client's address.
func (e *Endpoints) programActor(r *http.Request) *http.Request {
	a := authkit.Actor{Kind: authkit.ActorKey, Addr: e.Clients.Of(r).String(), RequestID: httpmw.RequestID(r)}
	return r.WithContext(authkit.WithActor(r.Context(), a))
}

// CreateKey returns the handler that creates a key from
// {"handle", "alias"?, "scopes"?, "env"?, "expires_in"?} and the policy
// members "ratelimits", "credits", "allowed_ips" and "metadata" (see
// [Gate]), and answers 201 with the key and its secret as "token", shown
// this once (or again later for recoverable keys). A duplicate handle is
// 409.
func (e *Endpoints) CreateKey(o KeyOptions) http.Handler {
	rs := e.responder(o.Envelope)
	maxExp := o.MaxExpiresIn
	if maxExp <= 0 {
		maxExp = 10 * 365 * 24 * time.Hour
	}
	return e.owned(rs, func(w http.ResponseWriter, r *http.Request, own string) {
		f, err := decodeJSON(w, r, e.MaxBody)
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		req := authkit.KeyRequest{Owner: own, Recoverable: o.Recoverable}
		var env string
		for _, step := range []func() error{
			func() (err error) { req.Handle, err = f.str("handle"); return },
			func() (err error) { req.Alias, err = f.str("alias"); return },
			func() (err error) { env, err = f.str("env"); return },
			func() (err error) { req.Scopes, err = f.strings("scopes"); return },
		} {
			if err := step(); err != nil {
				rs.Error(w, r, err)
				return
			}
		}
		req.Env = authkit.Env(env)
		if req.Scopes == nil {
			req.Scopes = o.DefaultScopes
		}
		exp, ok, err := f.seconds("expires_in", time.Second, maxExp)
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		if ok {
			req.ExpiresAt = e.Clock.Now().Add(exp)
		}
		if _, _, err := f.readPolicy(&req.Policy); err != nil {
			rs.Error(w, r, err)
			return
		}
		k, secret, err := e.Keys.Create(r.Context(), req)
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		e.answerKey(w, r, rs, http.StatusCreated, "key created", k, secret)
	})
}

// ListKeys returns the handler that lists the principal's keys, without
// secrets, a page at a time: `?after=<id>&limit=<n>`; the answer is
// {"keys":[…], "next":"<id>"} with next empty on the last page.
func (e *Endpoints) ListKeys(o KeyOptions) http.Handler {
	rs := e.responder(o.Envelope)
	return e.owned(rs, func(w http.ResponseWriter, r *http.Request, own string) {
		page, err := pageFrom(r)
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		ks, err := e.Keys.List(r.Context(), own, page)
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		out := make([]keyJSON, len(ks))
		for i, k := range ks {
			if out[i], err = e.keyJSON(r.Context(), k, ""); err != nil {
				rs.Error(w, r, err)
				return
			}
		}
		next := ""
		if len(ks) == page.Size() { // a full page: there may be more
			next = ks[len(ks)-1].ID
		}
		noStore(w)
		rs.JSON(w, http.StatusOK, "", map[string]any{"keys": out, "next": next})
	})
}

// GetKey returns the handler that shows one of the principal's keys by
// handle, with its secret as "token" when the key is recoverable.
func (e *Endpoints) GetKey(o KeyOptions) http.Handler {
	rs := e.responder(o.Envelope)
	return e.owned(rs, func(w http.ResponseWriter, r *http.Request, own string) {
		k, err := e.Keys.GetByHandle(r.Context(), own, r.PathValue(o.param()))
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		token := ""
		if k.Recoverable {
			if token, err = e.Keys.Reveal(r.Context(), own, k.ID); err != nil {
				rs.Error(w, r, err)
				return
			}
		}
		e.answerKey(w, r, rs, http.StatusOK, "", k, token)
	})
}

// DeleteKey returns the handler that deletes one of the principal's keys by
// handle: 204, and the key and every token issued from it stop working.
func (e *Endpoints) DeleteKey(o KeyOptions) http.Handler {
	rs := e.responder(o.Envelope)
	return e.owned(rs, func(w http.ResponseWriter, r *http.Request, own string) {
		k, err := e.Keys.GetByHandle(r.Context(), own, r.PathValue(o.param()))
		if err == nil {
			err = e.Keys.Delete(r.Context(), own, k.ID)
		}
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// RotateKey returns the handler that gives one of the principal's keys a
// new secret, from {"grace_seconds"?: n}: the old secret keeps working for
// that long (0, the default, ends it at once). 200 with the new "token".
func (e *Endpoints) RotateKey(o KeyOptions) http.Handler {
	rs := e.responder(o.Envelope)
	return e.owned(rs, func(w http.ResponseWriter, r *http.Request, own string) {
		f, err := decodeJSON(w, r, e.MaxBody)
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		grace, _, err := f.seconds("grace_seconds", 0, 30*24*time.Hour)
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		k, err := e.Keys.GetByHandle(r.Context(), own, r.PathValue(o.param()))
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		k, secret, err := e.Keys.Rotate(r.Context(), own, k.ID, grace)
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		e.answerKey(w, r, rs, http.StatusOK, "key rotated", k, secret)
	})
}

// UpdateKey returns the handler that changes one of the principal's keys
// by handle, from any of {"alias", "disabled", "ratelimits", "credits",
// "allowed_ips", "metadata"}: a disabled key, and every token issued from
// it, is refused until it is enabled again; a policy member replaces the
// key's (null clears it), and credits with "remaining" set the balance
// left. 200 with the key; an unknown member is 400.
func (e *Endpoints) UpdateKey(o KeyOptions) http.Handler {
	rs := e.responder(o.Envelope)
	return e.owned(rs, func(w http.ResponseWriter, r *http.Request, own string) {
		f, err := decodeJSON(w, r, e.MaxBody)
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		for name := range f {
			if name != "disabled" && name != "alias" && !slices.Contains(policyjson.Fields, name) {
				rs.Error(w, r, badRequest(name+" cannot be changed"))
				return
			}
		}
		var u authkit.KeyUpdate
		if f.has("disabled") {
			d, err := f.bool("disabled")
			if err != nil {
				rs.Error(w, r, err)
				return
			}
			u.Disabled = &d
		}
		if f.has("alias") {
			a, err := f.str("alias")
			if err != nil {
				rs.Error(w, r, err)
				return
			}
			u.Alias = &a
		}
		k, err := e.Keys.GetByHandle(r.Context(), own, r.PathValue(o.param()))
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		p := k.Policy
		remaining, changed, err := f.readPolicy(&p)
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		if changed {
			u.Policy = &p
		}
		if k, err = e.Keys.Update(r.Context(), own, k.ID, u); err != nil {
			rs.Error(w, r, err)
			return
		}
		if remaining != nil && e.Gate != nil {
			if err := e.Gate.SetCredits(r.Context(), k.ID, *remaining); err != nil {
				rs.Error(w, r, err)
				return
			}
		}
		e.answerKey(w, r, rs, http.StatusOK, "key updated", k, "")
	})
}

// SessionOptions shapes the session handlers (`/user/sessions…`).
type SessionOptions struct {
	Param    string          // the path wildcard naming the session (its ID); default "id"
	Envelope httpmw.Envelope // default httpmw.Plain
}

type sessionJSON struct {
	ID        string    `json:"id"`
	SessionID string    `json:"session_id"`
	Kind      string    `json:"kind"`
	KeyID     string    `json:"key_id"`
	KeyHandle string    `json:"key_handle"`
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// ListSessions returns the handler that lists the principal's live
// sessions, a page at a time like ListKeys: {"sessions":[…], "next":"…"}.
func (e *Endpoints) ListSessions(o SessionOptions) http.Handler {
	rs := e.responder(o.Envelope)
	return e.owned(rs, func(w http.ResponseWriter, r *http.Request, own string) {
		page, err := pageFrom(r)
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		ss, next, err := e.Sessions.List(r.Context(), own, page)
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		handles := map[string]string{} // key ID → handle
		out := make([]sessionJSON, 0, len(ss))
		for _, x := range ss {
			h, seen := handles[x.KeyID]
			if x.KeyID == "" { // a user's own session: no key
				seen = true
			}
			if !seen {
				k, err := e.Keys.Get(r.Context(), own, x.KeyID)
				switch {
				case err == nil:
					h = k.Handle
				case errors.Is(err, authkit.ErrNotFound): // deleted since the list was read
				default:
					rs.Error(w, r, err)
					return
				}
				handles[x.KeyID] = h
			}
			if h == "" && x.KeyID != "" {
				continue
			}
			sc := x.Scopes
			if sc == nil {
				sc = []string{}
			}
			name := x.Name
			if x.Kind != authkit.SessionLogin {
				name = "" // a grant's Name is its flow, not a session id
			}
			out = append(out, sessionJSON{ID: x.ID, SessionID: name, Kind: string(x.Kind), KeyID: x.KeyID, KeyHandle: h, Scopes: sc, CreatedAt: x.CreatedAt, ExpiresAt: x.ExpiresAt})
		}
		noStore(w)
		rs.JSON(w, http.StatusOK, "", map[string]any{"sessions": out, "next": next})
	})
}

// RevokeSession returns the handler that revokes one of the principal's
// sessions by ID: 204, and its tokens stop verifying at once.
func (e *Endpoints) RevokeSession(o SessionOptions) http.Handler {
	rs := e.responder(o.Envelope)
	param := o.Param
	if param == "" {
		param = "id"
	}
	return e.owned(rs, func(w http.ResponseWriter, r *http.Request, own string) {
		if err := e.Sessions.Revoke(r.Context(), own, r.PathValue(param)); err != nil {
			rs.Error(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// pageFrom reads ?after= and ?limit= .
func pageFrom(r *http.Request) (authkit.Page, error) {
	q := r.URL.Query()
	p := authkit.Page{After: q.Get("after")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return p, badRequest("limit must be a positive integer")
		}
		p.Limit = n
	}
	return p, nil
}
