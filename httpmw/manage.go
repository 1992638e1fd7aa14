package httpmw

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/keys"
)

// KeyOptions shapes the key-management handlers (`/user/keys…`). They act
// for the principal in the request context (put there by an [Auth] that
// accepts the app's users), and only on that principal's own keys: another
// owner's key is answered 404, exactly as a missing one.
type KeyOptions struct {
	// Param is the path wildcard naming the key, read with
	// r.PathValue: its handle (as in `/user/keys/{key}`). Default "key".
	Param string
	// Recoverable makes created keys recoverable, so that Get can show the
	// secret again (the keytoken guide reads the token back).
	Recoverable bool
	// DefaultScopes are given to a key created with no scopes.
	DefaultScopes []string
	// MaxExpiresIn bounds expires_in; default 10 years.
	MaxExpiresIn time.Duration
	Envelope     Envelope // default Plain
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
	Token      string      `json:"token,omitempty"`
}

func toKeyJSON(k *authkit.Key, token string) keyJSON {
	j := keyJSON{ID: k.ID, Handle: k.Handle, Alias: k.Alias, Env: k.Env, Scopes: k.Scopes, Hint: k.Hint, CreatedAt: k.CreatedAt, Token: token}
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
	return j
}

// owned returns the handler that runs fn for the principal's owner, or
// answers 401 when the request carries none.
func owned(rs responder, fn func(w http.ResponseWriter, r *http.Request, own string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := authkit.FromContext(r.Context())
		if !ok || p.Owner == "" {
			rs.writeError(w, errNoCredential)
			return
		}
		fn(w, r, p.Owner)
	})
}

// CreateKey returns the handler that creates a key from
// {"handle", "alias"?, "scopes"?, "env"?, "expires_in"?} and answers 201
// with the key and its secret as "token", shown this once (or again later
// for recoverable keys). A duplicate handle is 409.
func (s *Server) CreateKey(o KeyOptions) http.Handler {
	rs := s.responder(o.Envelope, 0)
	maxExp := o.MaxExpiresIn
	if maxExp <= 0 {
		maxExp = 10 * 365 * 24 * time.Hour
	}
	return owned(rs, func(w http.ResponseWriter, r *http.Request, own string) {
		f, err := decodeJSON(w, r, s.MaxBody)
		if err != nil {
			rs.error(w, r, err)
			return
		}
		req := keys.CreateRequest{Owner: own, Recoverable: o.Recoverable}
		var env string
		for _, step := range []func() error{
			func() (err error) { req.Handle, err = f.str("handle"); return },
			func() (err error) { req.Alias, err = f.str("alias"); return },
			func() (err error) { env, err = f.str("env"); return },
			func() (err error) { req.Scopes, err = f.strings("scopes"); return },
		} {
			if err := step(); err != nil {
				rs.error(w, r, err)
				return
			}
		}
		req.Env = authkit.Env(env)
		if req.Scopes == nil {
			req.Scopes = o.DefaultScopes
		}
		n, ok, err := f.int("expires_in")
		switch {
		case err != nil:
			rs.error(w, r, err)
			return
		case ok && (n < 1 || time.Duration(n) > maxExp/time.Second):
			rs.error(w, r, badRequest("expires_in must be between 1 and "+strconv.FormatInt(int64(maxExp/time.Second), 10)+" seconds"))
			return
		case ok:
			req.ExpiresAt = time.Now().Add(time.Duration(n) * time.Second)
		}
		k, secret, err := s.Keys.Create(r.Context(), req)
		if err != nil {
			rs.error(w, r, err)
			return
		}
		noStore(w)
		rs.json(w, http.StatusCreated, "key created", toKeyJSON(k, secret))
	})
}

// ListKeys returns the handler that lists the principal's keys, without
// secrets, a page at a time: `?after=<id>&limit=<n>`; the answer is
// {"keys":[…], "next":"<id>"} with next empty on the last page.
func (s *Server) ListKeys(o KeyOptions) http.Handler {
	rs := s.responder(o.Envelope, 0)
	return owned(rs, func(w http.ResponseWriter, r *http.Request, own string) {
		page, err := pageFrom(r)
		if err != nil {
			rs.error(w, r, err)
			return
		}
		ks, err := s.Keys.List(r.Context(), own, page)
		if err != nil {
			rs.error(w, r, err)
			return
		}
		out := make([]keyJSON, len(ks))
		for i, k := range ks {
			out[i] = toKeyJSON(k, "")
		}
		next := ""
		if len(ks) == page.Size() { // a full page: there may be more
			next = ks[len(ks)-1].ID
		}
		rs.json(w, http.StatusOK, "", map[string]any{"keys": out, "next": next})
	})
}

// GetKey returns the handler that shows one of the principal's keys by
// handle, with its secret as "token" when the key is recoverable.
func (s *Server) GetKey(o KeyOptions) http.Handler {
	rs := s.responder(o.Envelope, 0)
	return owned(rs, func(w http.ResponseWriter, r *http.Request, own string) {
		k, err := s.Keys.GetByHandle(r.Context(), own, r.PathValue(o.param()))
		if err != nil {
			rs.error(w, r, err)
			return
		}
		token := ""
		if k.Recoverable {
			if token, err = s.Keys.Reveal(r.Context(), own, k.ID); err != nil {
				rs.error(w, r, err)
				return
			}
			noStore(w)
		}
		rs.json(w, http.StatusOK, "", toKeyJSON(k, token))
	})
}

// DeleteKey returns the handler that deletes one of the principal's keys by
// handle: 204, and the key and every token issued from it stop working.
func (s *Server) DeleteKey(o KeyOptions) http.Handler {
	rs := s.responder(o.Envelope, 0)
	return owned(rs, func(w http.ResponseWriter, r *http.Request, own string) {
		k, err := s.Keys.GetByHandle(r.Context(), own, r.PathValue(o.param()))
		if err == nil {
			err = s.Keys.Delete(r.Context(), own, k.ID)
		}
		if err != nil {
			rs.error(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// RotateKey returns the handler that gives one of the principal's keys a
// new secret, from {"grace_seconds"?: n}: the old secret keeps working for
// that long (0, the default, ends it at once). 200 with the new "token".
func (s *Server) RotateKey(o KeyOptions) http.Handler {
	rs := s.responder(o.Envelope, 0)
	return owned(rs, func(w http.ResponseWriter, r *http.Request, own string) {
		f, err := decodeJSON(w, r, s.MaxBody)
		if err != nil {
			rs.error(w, r, err)
			return
		}
		grace, _, err := f.int("grace_seconds")
		if err != nil {
			rs.error(w, r, err)
			return
		}
		if grace < 0 || grace > 30*24*3600 {
			rs.error(w, r, badRequest("grace_seconds must be between 0 and 2592000"))
			return
		}
		k, err := s.Keys.GetByHandle(r.Context(), own, r.PathValue(o.param()))
		if err != nil {
			rs.error(w, r, err)
			return
		}
		secret, err := s.Keys.Rotate(r.Context(), own, k.ID, time.Duration(grace)*time.Second)
		if err != nil {
			rs.error(w, r, err)
			return
		}
		noStore(w)
		rs.json(w, http.StatusOK, "key rotated", toKeyJSON(k, secret))
	})
}

// SessionOptions shapes the session handlers (`/user/sessions…`).
type SessionOptions struct {
	Param    string   // the path wildcard naming the session (its ID); default "id"
	Envelope Envelope // default Plain
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
func (s *Server) ListSessions(o SessionOptions) http.Handler {
	rs := s.responder(o.Envelope, 0)
	return owned(rs, func(w http.ResponseWriter, r *http.Request, own string) {
		page, err := pageFrom(r)
		if err != nil {
			rs.error(w, r, err)
			return
		}
		ss, err := s.Sessions.List(r.Context(), own, page)
		if err != nil {
			rs.error(w, r, err)
			return
		}
		// A session of a deleted or expired key is dead (its tokens are
		// refused): it is left out, as a revoked one is.
		type keyInfo struct {
			handle string
			live   bool
		}
		keyOf := map[string]keyInfo{}
		out := make([]sessionJSON, 0, len(ss))
		for _, x := range ss {
			ki, seen := keyOf[x.KeyID]
			if !seen {
				k, err := s.Keys.Get(r.Context(), own, x.KeyID)
				switch {
				case err == nil:
					ki = keyInfo{handle: k.Handle, live: k.Check(s.Clock.Now()) == nil}
				case errors.Is(err, authkit.ErrNotFound), errors.Is(err, authkit.ErrRevoked):
				default:
					rs.error(w, r, err)
					return
				}
				keyOf[x.KeyID] = ki
			}
			if !ki.live {
				continue
			}
			h := ki.handle
			sc := x.Scopes
			if sc == nil {
				sc = []string{}
			}
			out = append(out, sessionJSON{ID: x.ID, SessionID: x.Name, Kind: string(x.Kind), KeyID: x.KeyID, KeyHandle: h, Scopes: sc, CreatedAt: x.CreatedAt, ExpiresAt: x.ExpiresAt})
		}
		next := ""
		if len(ss) == page.Size() {
			next = ss[len(ss)-1].ID
		}
		rs.json(w, http.StatusOK, "", map[string]any{"sessions": out, "next": next})
	})
}

// RevokeSession returns the handler that revokes one of the principal's
// sessions by ID: 204, and its tokens stop verifying at once.
func (s *Server) RevokeSession(o SessionOptions) http.Handler {
	rs := s.responder(o.Envelope, 0)
	param := o.Param
	if param == "" {
		param = "id"
	}
	return owned(rs, func(w http.ResponseWriter, r *http.Request, own string) {
		if err := s.Sessions.Revoke(r.Context(), own, r.PathValue(param)); err != nil {
			rs.error(w, r, err)
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
