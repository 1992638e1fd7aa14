package httpmw

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
)

// An Extractor finds a credential in a request, or returns "".
type Extractor func(r *http.Request) string

// MaxCredential is the longest credential authkit reads from a header;
// anything longer is treated as absent-and-invalid without parsing.
const MaxCredential = 8 << 10

// FromBearer returns the token of an `Authorization: Bearer <token>` header
// (the scheme is case-insensitive, RFC 7235 §2.1).
func FromBearer(r *http.Request) string {
	scheme, rest := splitAuth(r.Header.Get("Authorization"))
	if !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return rest
}

// FromBare returns the value of an `Authorization: <token>` header that has
// no scheme (some clients send an access token that way).
func FromBare(r *http.Request) string {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if h == "" || strings.ContainsAny(h, " \t") {
		return ""
	}
	return h
}

// FromBasicUser returns the user name of `Authorization: Basic` credentials
// whose password is empty (`curl -u <key>:`).
func FromBasicUser(r *http.Request) string {
	u, p, ok := BasicAuth(r)
	if !ok || p != "" {
		return ""
	}
	return u
}

// BasicAuth parses `Authorization: Basic` credentials and URL-decodes both
// parts, as RFC 6749 §2.3.1 asks of OAuth clients. ok is false if the header
// is absent or malformed.
func BasicAuth(r *http.Request) (user, password string, ok bool) {
	scheme, rest := splitAuth(r.Header.Get("Authorization"))
	if !strings.EqualFold(scheme, "Basic") || rest == "" {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return "", "", false
	}
	u, p, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	if uu, err := url.QueryUnescape(u); err == nil {
		u = uu
	}
	if pp, err := url.QueryUnescape(p); err == nil {
		p = pp
	}
	return u, p, true
}

// splitAuth splits an Authorization header into its scheme and the rest.
func splitAuth(h string) (scheme, rest string) {
	if h == "" || len(h) > MaxCredential {
		return "", ""
	}
	scheme, rest, _ = strings.Cut(h, " ")
	return scheme, strings.TrimSpace(rest)
}
