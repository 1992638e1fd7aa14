package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/matryer/is"
)

// The contract: openapi.json, as the tests hold the server to it. Every
// request the end-to-end tests make goes through contractTransport, which
// validates the request and the response against the document, so that the
// document cannot drift from what the server does.

var loadContract = sync.OnceValues(func() (routers.Router, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapiJSON)
	if err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, errors.New("openapi.json: not OpenAPI 3.1")
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	// The document's one server is "/", the host that serves it; the
	// router matches paths on whatever host the test server has.
	doc.Servers = nil
	return legacy.NewRouter(doc)
})

// offContract marks a request that breaks the document on purpose (a
// malformed body, a missing credential): only its response is checked.
type offContractKey struct{}

func offContract(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), offContractKey{}, true))
}

// contractTransport validates each request and its response against
// openapi.json, failing the test on any difference.
type contractTransport struct {
	t    testing.TB
	base http.RoundTripper
}

func (c *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	router, err := loadContract()
	if err != nil {
		c.t.Errorf("%v", err)
		return nil, err
	}
	base := c.base
	if base == nil {
		base = http.DefaultTransport
	}
	loose, _ := req.Context().Value(offContractKey{}).(bool)
	where := req.Method + " " + req.URL.Path
	route, params, err := router.FindRoute(req)
	if err != nil {
		if !loose {
			c.t.Errorf("openapi.json has no operation for %s: %v", where, err)
		}
		return base.RoundTrip(req)
	}
	// The body is read for validation and put back for the server.
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	check := req.Clone(req.Context())
	check.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{
		Request: check, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: credentialShape, IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil && !loose {
		c.t.Errorf("request %s does not match openapi.json: %v", where, err)
	}
	res, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	rb, err := io.ReadAll(res.Body)
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(rb))
	if err != nil {
		return nil, err
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: res.StatusCode, Header: res.Header, Options: in.Options,
	}
	out.SetBodyBytes(rb)
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		c.t.Errorf("response to %s (%d %s) does not match openapi.json: %v", where, res.StatusCode, truncate(rb), err)
	}
	return res, nil
}

// credentialShape checks that the Authorization header has the form the
// security scheme names; whether the credential is good is the server's
// business (and the tests').
func credentialShape(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	s := in.SecurityScheme
	want := ""
	switch {
	case s.Type == "http" && strings.EqualFold(s.Scheme, "basic"):
		want = "Basic "
	case s.Type == "http" && strings.EqualFold(s.Scheme, "bearer"), s.Type == "oauth2":
		want = "Bearer "
	case s.Type == "apiKey" && s.In == "header":
		if h != "" && !strings.Contains(h, " ") {
			return nil
		}
		return errors.New("no bare token in " + s.Name)
	}
	if want != "" && len(h) > len(want) && strings.EqualFold(h[:len(want)], want) {
		return nil
	}
	return fmt.Errorf("no %q credential", strings.TrimSpace(want))
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// TestOpenAPI_CoversEveryRoute: the document's operations are exactly the
// routes the app mounts, and the server serves the document it embeds.
func TestOpenAPI_CoversEveryRoute(t *testing.T) {
	is := is.New(t)
	_, err := loadContract() // the document is valid OpenAPI 3.1
	is.NoErr(err)
	doc, err := openapi3.NewLoader().LoadFromData(openapiJSON)
	is.NoErr(err)
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	e := newEnv(t)
	var mounted []string
	for _, p := range e.app.routes {
		mounted = append(mounted, p)
		if p == "GET /integration/" { // a subtree: the page and its assets
			mounted = append(mounted, "GET /integration/assets/{file}")
		}
	}
	slices.Sort(documented)
	slices.Sort(mounted)
	is.Equal(documented, mounted) // openapi.json and the mux name the same routes

	r := e.do(req{method: "GET", path: "/openapi.json"})
	is.Equal(r.status, 200)
	is.Equal(string(r.body), string(openapiJSON))
	is.Equal(r.header.Get("Content-Type"), "application/json")
}
