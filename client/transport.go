package client

import (
	"errors"
	"io"
	"net/http"
)

// Transport is an http.RoundTripper that sets a [TokenSource]'s access token
// on the requests to the source's BaseURL origin (same scheme, host and
// port), and sends every other request as it is. When the API refuses the
// token (401, or 403 with `X-Access-Token-Expired: true`), it renews the
// token and retries the request once, if the request has no body or its
// GetBody can replay it; otherwise the caller gets the refusal. Its zero
// Base is http.DefaultTransport. It is safe for concurrent use.
type Transport struct {
	Source *TokenSource      // required
	Base   http.RoundTripper // default http.DefaultTransport
}

// RoundTrip implements http.RoundTripper. As its contract requires, it
// closes the request's body on every path, errors included, and does not
// modify the request.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if t.Source == nil {
		closeBody(req)
		return nil, errors.New("client: Transport.Source is nil")
	}
	if origin(req.URL) != t.Source.origin {
		return base.RoundTrip(req) // not the API: no token, no renewal
	}
	tok, err := t.Source.Token()
	if err != nil {
		closeBody(req)
		return nil, err
	}
	res, err := base.RoundTrip(withToken(req, tok.AccessToken)) // closes req.Body
	if err != nil || !refused(res) || !replayable(req) {
		return res, err
	}
	t.Source.invalidate(tok.AccessToken)
	tok2, err := t.Source.Token()
	if err != nil || tok2.AccessToken == tok.AccessToken {
		return res, nil // nothing better to try: the caller sees the refusal
	}
	r2 := withToken(req, tok2.AccessToken)
	if req.GetBody != nil {
		if r2.Body, err = req.GetBody(); err != nil {
			return res, nil
		}
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	return base.RoundTrip(r2) // closes r2.Body
}

// refused reports a 401, or a 403 that says the token expired.
func refused(res *http.Response) bool {
	return res.StatusCode == http.StatusUnauthorized ||
		res.StatusCode == http.StatusForbidden && res.Header.Get("X-Access-Token-Expired") == "true"
}

// replayable reports whether req can be sent a second time.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// withToken returns a copy of req that carries the access token.
func withToken(req *http.Request, token string) *http.Request {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
