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
// RFC 6749 error code and a description safe to show the client. Handlers
// may return their own; [ErrorFor] passes an *Error through unchanged.
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
	// Scheme is the scheme of the challenge: "Bearer" (RFC 6750) when
	// empty, or "Basic" for credentials that go in HTTP Basic, such as an
	// OAuth client's (which then gets no Bearer challenge).
	Scheme string
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

// The middleware's own errors.
var (
	errNoCredential  = &Error{Status: http.StatusUnauthorized, Description: "authentication required", Challenge: true}
	errBadCredential = &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the credential is not valid", Challenge: true}
	errInternal      = &Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "internal error"}
)

// ErrorFor maps an error from the authkit packages to its HTTP form. This is
// the one table of statuses:
//
//	*Error                                  itself
//	authkit.ErrInvalid (*FieldError)        400 invalid_request, naming the field
//	authkit.ErrExpired                      401 invalid_token, Expired set
//	authkit.ErrRevoked, ErrUnauthenticated  401 invalid_token
//	authkit.ErrDisabled                     401 invalid_token, "the key is disabled"
//	authkit.ErrForbidden                    403 forbidden
//	authkit.ErrAddressNotAllowed            403 address_not_allowed
//	authkit.ErrRateLimited (*LimitError)    429 rate_limited, Retry-After
//	authkit.ErrUsageExceeded                429 usage_exceeded
//	authkit.ErrUnavailable                  503 temporarily_unavailable
//	authkit.ErrNotFound                     404 not_found
//	authkit.ErrConflict                     409 conflict
//	anything else                           500 server_error, "internal error"
//
// The text of an unmapped error never reaches the client: [Responder.Error]
// logs it.
func ErrorFor(err error) *Error {
	var he *Error
	if errors.As(err, &he) {
		return he
	}
	var fe *authkit.FieldError
	var le *authkit.LimitError
	switch {
	case errors.As(err, &le) && errors.Is(le.Err, authkit.ErrRateLimited):
		return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Description: "the key is over its rate limit " + strconv.Quote(le.Name), RetryAfter: int(seconds(le.RetryAfter))}
	case errors.Is(err, authkit.ErrRateLimited):
		return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Description: "the key is over a rate limit"}
	case errors.Is(err, authkit.ErrUsageExceeded):
		e := &Error{Status: http.StatusTooManyRequests, Code: "usage_exceeded", Description: "the key has no usage credits left"}
		if le != nil {
			e.RetryAfter = int(seconds(le.RetryAfter))
		}
		return e
	case errors.Is(err, authkit.ErrAddressNotAllowed):
		return &Error{Status: http.StatusForbidden, Code: "address_not_allowed", Description: "the key may not be used from this address"}
	case errors.Is(err, authkit.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "try again later", RetryAfter: 1}
	case errors.As(err, &fe):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: fe.Field + ": " + fe.Reason}
	case errors.Is(err, authkit.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "malformed request"}
	case errors.Is(err, authkit.ErrExpired):
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the credential has expired", Expired: true, Challenge: true}
	case errors.Is(err, authkit.ErrRevoked):
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the credential was revoked", Challenge: true}
	case errors.Is(err, authkit.ErrDisabled):
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the key is disabled", Challenge: true}
	case errors.Is(err, authkit.ErrUnauthenticated):
		return errBadCredential
	case errors.Is(err, authkit.ErrForbidden):
		return &Error{Status: http.StatusForbidden, Code: "forbidden", Description: "not allowed"}
	case errors.Is(err, authkit.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Description: "not found"}
	case errors.Is(err, authkit.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: "conflict", Description: "already exists"}
	}
	return errInternal
}

// Envelope shapes every JSON body a [Responder] writes. status is the HTTP
// status; for an error, data is nil and e is set. A body with a method
// ContentType() string is written with that content type ([Problem] is
// application/problem+json); any other as application/json.
type Envelope func(status int, message string, data any, e *Error) any

// Plain is the default [Envelope]: data as it is; errors as
// {"error":…, "error_description":…} (RFC 6749 §5.2, RFC 6750 §3). A 401
// that answers a request without credentials carries no error code (RFC
// 6750 §3.1), and so no "error" member.
func Plain(status int, message string, data any, e *Error) any {
	if e != nil {
		return errorBody{Error: e.Code, Description: e.Description, Scope: e.Scope}
	}
	return data
}

// DataEnvelope is the [Envelope] that wraps every body as
// {"code":<status>,"ok":<status < 300>,"message":…,"data":…}. Errors carry
// the RFC 6750 members beside the envelope's.
func DataEnvelope(status int, message string, data any, e *Error) any {
	if e != nil {
		return dataError{Code: status, OK: false, Message: e.Description, Error: e.Code, Description: e.Description}
	}
	return dataBody{Code: status, OK: status < 300, Message: message, Data: data}
}

// ProblemDetails is the [Envelope] of RFC 9457: data as it is; errors as
// [Problem] objects (application/problem+json) whose type is "about:blank",
// title the status's text, detail the description, and whose "error"
// member is the RFC 6749 / RFC 6750 code.
func ProblemDetails(status int, message string, data any, e *Error) any {
	if e != nil {
		return ProblemFor(status, e)
	}
	return data
}

// Problem is an RFC 9457 problem details object with the error code as an
// extension member. An app's own envelope may embed it to add members of
// its own; the embedding keeps its content type.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"error,omitempty"` // the RFC 6749 / RFC 6750 code
	Scope  string `json:"scope,omitempty"` // for insufficient_scope: the scopes needed
}

// ProblemFor returns the Problem for e answered with status.
func ProblemFor(status int, e *Error) Problem {
	return Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: e.Description, Code: e.Code, Scope: e.Scope}
}

// ContentType is "application/problem+json" (RFC 9457 §3).
func (Problem) ContentType() string { return "application/problem+json" }

type errorBody struct {
	Error       string `json:"error,omitempty"`
	Description string `json:"error_description,omitempty"`
	Scope       string `json:"scope,omitempty"`
}

type dataBody struct {
	Code    int    `json:"code"`
	OK      bool   `json:"ok"`
	Message string `json:"message"`
	Data    any    `json:"data"`
}

type dataError struct {
	Code        int    `json:"code"`
	OK          bool   `json:"ok"`
	Message     string `json:"message"`
	Error       string `json:"error,omitempty"`
	Description string `json:"error_description,omitempty"`
}

// Responder writes JSON bodies and errors in one shape: the middleware and
// every authkit handler write through one, and an app's own handlers can
// use one to answer in the same shape. The zero value writes [Plain] bodies
// with the realm "authkit", 401 for expired credentials, and logs to
// slog.Default(). A Responder is a value; copy it freely.
type Responder struct {
	// Envelope is the shape of every body; nil means [Plain].
	Envelope Envelope
	// Realm is the realm of WWW-Authenticate challenges; default "authkit".
	Realm string
	// BasicChallenge adds `WWW-Authenticate: Basic realm=…` to 401s beside
	// the Bearer challenge, for routes whose callers sign in with HTTP Basic
	// (an app's users in a browser, OAuth clients).
	BasicChallenge bool
	// ExpiredStatus is the status for an expired credential: 401 by
	// default, 403 for clients that expect it. Either way the response
	// carries X-Access-Token-Expired: true.
	ExpiredStatus int
	// Logger receives unmapped errors (answered 500); default slog.Default().
	Logger *slog.Logger
}

// JSON writes data with status, in the Responder's envelope.
func (rs Responder) JSON(w http.ResponseWriter, status int, message string, data any) {
	writeJSON(w, status, rs.envelope()(status, message, data, nil))
}

// Error writes err as [ErrorFor] maps it, with the headers it calls for
// (WWW-Authenticate, X-Access-Token-Expired, Retry-After, no-store). An
// unmapped error is logged with the request's method and path and answered
// 500 "internal error": its text never reaches the client.
func (rs Responder) Error(w http.ResponseWriter, r *http.Request, err error) {
	e := ErrorFor(err)
	if e == errInternal {
		logger := rs.Logger
		if logger == nil {
			logger = slog.Default()
		}
		logger.ErrorContext(r.Context(), "authkit: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	status := e.Status
	h := w.Header()
	if e.Expired {
		h.Set("X-Access-Token-Expired", "true")
		h.Add("Access-Control-Expose-Headers", "X-Access-Token-Expired")
		if rs.ExpiredStatus != 0 {
			status = rs.ExpiredStatus
		}
	}
	basic := `Basic realm="` + quote(rs.realm()) + `", charset="UTF-8"`
	switch {
	case e.Scheme == "Basic":
		h.Set("WWW-Authenticate", basic)
	case e.Challenge || status == http.StatusUnauthorized:
		h.Set("WWW-Authenticate", challenge(rs.Realm, e))
		if rs.BasicChallenge && status == http.StatusUnauthorized {
			h.Add("WWW-Authenticate", basic)
		}
	}
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	var le *authkit.LimitError
	if errors.As(err, &le) {
		SetRateLimit(h, &le.Admission)
	}
	h.Set("Cache-Control", "no-store")
	writeJSON(w, status, rs.envelope()(status, e.Description, nil, e))
}

func (rs Responder) envelope() Envelope {
	if rs.Envelope == nil {
		return Plain
	}
	return rs.Envelope
}

func (rs Responder) realm() string {
	if rs.Realm == "" {
		return "authkit"
	}
	return rs.Realm
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

// quote drops the characters RFC 6750 does not allow inside its quoted
// strings (%x20-21 / %x23-5B / %x5D-7E), so that s can go into a challenge
// or an error description.
func quote(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	ct := "application/json"
	if c, ok := v.(interface{ ContentType() string }); ok {
		ct = c.ContentType()
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
