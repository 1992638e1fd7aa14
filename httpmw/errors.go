package httpmw

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/authkit/authkit"
)

// Error is an HTTP error as authkit answers it: a status, an RFC 6750 /
// RFC 6749 error code and a description safe to show the client.
type Error struct {
	Status      int    // HTTP status
	Code        string // "invalid_request", "invalid_token", "insufficient_scope", ...
	Description string // for humans; never holds a secret or an internal error's text
	Scope       string // for insufficient_scope: the scopes needed
	Expired     bool   // the credential had expired: sets X-Access-Token-Expired
	RetryAfter  int    // seconds, for 429
	// Challenge asks for a WWW-Authenticate header: set on 401s and on 403s
	// about tokens.
	Challenge bool
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

// errBodyTooLarge and friends are the HTTP layer's own errors.
var (
	errBodyTooLarge = &Error{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Description: "request body too large"}
	errNoCredential = &Error{Status: http.StatusUnauthorized, Code: "", Description: "authentication required", Challenge: true}
	errInternal     = &Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "internal error"}
)

// badRequest returns a 400 invalid_request error.
func badRequest(desc string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: desc}
}

// ErrorFor maps an error from the authkit packages to its HTTP form. This is
// the one table of statuses: ErrInvalid 400, ErrUnauthenticated, ErrRevoked
// and ErrExpired 401 invalid_token (ErrExpired marked Expired), ErrForbidden
// 403, ErrNotFound 404, ErrConflict 409. Anything else is a 500 whose text
// never reaches the client.
func ErrorFor(err error) *Error {
	var he *Error
	if errors.As(err, &he) {
		return he
	}
	var fe *authkit.FieldError
	switch {
	case errors.As(err, &fe):
		return badRequest(fe.Field + ": " + fe.Reason)
	case errors.Is(err, authkit.ErrInvalid):
		return badRequest("malformed request")
	case errors.Is(err, authkit.ErrExpired):
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the credential has expired", Expired: true, Challenge: true}
	case errors.Is(err, authkit.ErrRevoked):
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the credential was revoked", Challenge: true}
	case errors.Is(err, authkit.ErrUnauthenticated):
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the credential is not valid", Challenge: true}
	case errors.Is(err, authkit.ErrForbidden):
		return &Error{Status: http.StatusForbidden, Code: "forbidden", Description: "not allowed"}
	case errors.Is(err, authkit.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Description: "not found"}
	case errors.Is(err, authkit.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: "conflict", Description: "already exists"}
	}
	return errInternal
}

// Envelope shapes every JSON body a handler writes. status is the HTTP
// status; for an error, data is nil and e is set.
type Envelope func(status int, message string, data any, e *Error) any

// Plain is the default [Envelope]: data as it is; errors as
// {"error":…, "error_description":…} (RFC 6749 §5.2, RFC 6750 §3).
func Plain(status int, message string, data any, e *Error) any {
	if e != nil {
		return errorBody{Error: e.Code, Description: e.Description, Scope: e.Scope}
	}
	return data
}

// Inlive is the [Envelope] of Inlive's API:
// {"code":200,"ok":true,"message":"…","data":{…}}. Errors carry the RFC 6750
// fields beside the envelope's.
func Inlive(status int, message string, data any, e *Error) any {
	if e != nil {
		return inliveError{Code: status, OK: false, Message: e.Description, Error: e.Code, Description: e.Description}
	}
	return inliveBody{Code: status, OK: status < 300, Message: message, Data: data}
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	Scope       string `json:"scope,omitempty"`
}

type inliveBody struct {
	Code    int    `json:"code"`
	OK      bool   `json:"ok"`
	Message string `json:"message"`
	Data    any    `json:"data"`
}

type inliveError struct {
	Code        int    `json:"code"`
	OK          bool   `json:"ok"`
	Message     string `json:"message"`
	Error       string `json:"error,omitempty"`
	Description string `json:"error_description,omitempty"`
}

// responder writes JSON bodies and errors in one shape.
type responder struct {
	envelope      Envelope
	realm         string
	basic         bool // also challenge with Basic on 401s
	expiredStatus int
	logger        *slog.Logger
}

func (rs responder) json(w http.ResponseWriter, status int, message string, data any) {
	env := rs.envelope
	if env == nil {
		env = Plain
	}
	writeJSON(w, status, env(status, message, data, nil))
}

// error writes err, logging it when it is unmapped (a 500).
func (rs responder) error(w http.ResponseWriter, r *http.Request, err error) {
	e := ErrorFor(err)
	if e == errInternal {
		logger := rs.logger
		if logger == nil {
			logger = slog.Default()
		}
		logger.ErrorContext(r.Context(), "authkit: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	rs.writeError(w, e)
}

func (rs responder) writeError(w http.ResponseWriter, e *Error) {
	status := e.Status
	h := w.Header()
	if e.Expired {
		h.Set("X-Access-Token-Expired", "true")
		h.Add("Access-Control-Expose-Headers", "X-Access-Token-Expired")
		if rs.expiredStatus != 0 {
			status = rs.expiredStatus
		}
	}
	if e.Challenge || status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", challenge(rs.realm, e))
		if rs.basic && status == http.StatusUnauthorized {
			h.Add("WWW-Authenticate", basicChallenge(rs.realm))
		}
	}
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	env := rs.envelope
	if env == nil {
		env = Plain
	}
	h.Set("Cache-Control", "no-store")
	writeJSON(w, status, env(status, e.Description, nil, e))
}

// challenge builds an RFC 6750 §3 WWW-Authenticate value. With no error code
// (no credentials were sent) it names only the realm.
func challenge(realm string, e *Error) string {
	if realm == "" {
		realm = "authkit"
	}
	var b strings.Builder
	b.WriteString(`Bearer realm="`)
	b.WriteString(quote(realm))
	b.WriteString(`"`)
	if e.Code != "" {
		b.WriteString(`, error="`)
		b.WriteString(quote(e.Code))
		b.WriteString(`"`)
		if e.Description != "" {
			b.WriteString(`, error_description="`)
			b.WriteString(quote(e.Description))
			b.WriteString(`"`)
		}
	}
	if e.Scope != "" {
		b.WriteString(`, scope="`)
		b.WriteString(quote(e.Scope))
		b.WriteString(`"`)
	}
	return b.String()
}

// basicChallenge is the RFC 7617 challenge for the same realm.
func basicChallenge(realm string) string {
	if realm == "" {
		realm = "authkit"
	}
	return `Basic realm="` + quote(realm) + `", charset="UTF-8"`
}

// quote drops the characters RFC 6750 does not allow inside its quoted
// strings (%x20-21 / %x23-5B / %x5D-7E).
func quote(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
