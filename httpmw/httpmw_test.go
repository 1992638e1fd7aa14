package httpmw_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/httpmw"
	"github.com/authkit/authkit/internal/fixture"
	"github.com/authkit/authkit/keys"
)

func TestAuth_BasicKeyAndBearerTokenAndScopes(t *testing.T) {
	is := is.New(t)
	f := fixture.New(t, nil)
	res := f.Do(t, "GET", "/r", "Basic "+base64.StdEncoding.EncodeToString([]byte(f.Secret+":")), "")
	is.Equal(res.StatusCode, 200)
	res = f.Do(t, "POST", "/token", "", `{"key":"`+f.Secret+`"}`)
	is.Equal(res.StatusCode, 200)
	var tok map[string]any
	is.NoErr(json.NewDecoder(res.Body).Decode(&tok))
	at := tok["access_token"].(string)
	is.Equal(f.Do(t, "GET", "/r", "Bearer "+at, "").StatusCode, 200)
	is.Equal(f.Do(t, "GET", "/r", "bearer "+at, "").StatusCode, 200) // scheme is case-insensitive
	res = f.Do(t, "GET", "/w", "Bearer "+at, "")
	is.Equal(res.StatusCode, 403)
	is.True(strings.Contains(res.Header.Get("WWW-Authenticate"), `scope="write"`))
	// A key where only tokens and Basic keys are accepted: refused as bearer.
	is.Equal(f.Do(t, "GET", "/r", "Bearer "+f.Secret, "").StatusCode, 401)
	// Basic with a password is not a key.
	is.Equal(f.Do(t, "GET", "/r", "Basic "+base64.StdEncoding.EncodeToString([]byte(f.Secret+":pw")), "").StatusCode, 401)
	// Expired: 401 with the header.
	f.Clock.Advance(2 * time.Hour)
	res = f.Do(t, "GET", "/r", "Bearer "+at, "")
	is.Equal(res.StatusCode, 401)
	is.Equal(res.Header.Get("X-Access-Token-Expired"), "true")
}

func TestErrorFor_UnmappedIs500WithoutItsText(t *testing.T) {
	is := is.New(t)
	e := httpmw.ErrorFor(context.DeadlineExceeded)
	is.Equal(e.Status, 500)
	is.True(!strings.Contains(e.Description, "deadline"))
	is.Equal(httpmw.ErrorFor(authkit.Invalid("handle", "bad")).Status, 400)
	is.Equal(httpmw.ErrorFor(authkit.ErrConflict).Status, 409)
	is.Equal(httpmw.ErrorFor(authkit.ErrNotFound).Status, 404)
	is.True(httpmw.ErrorFor(authkit.ErrExpired).Expired)
}

func FuzzBasicAuth(f *testing.F) {
	f.Add("Basic " + base64.StdEncoding.EncodeToString([]byte("a%3Ab:c")))
	f.Add("Basic !!")
	f.Add("Bearer x")
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", h)
		httpmw.BasicAuth(r)
		httpmw.FromBearer(r)
		httpmw.FromBare(r)
		httpmw.FromBasicUser(r)
	})
}

// TestVerify_InnerFailureHidesOuterPrincipal: when a route nests two Auths
// and the inner one refuses the credential, Require answers for the inner
// one, not with the principal the outer one found.
func TestVerify_InnerFailureHidesOuterPrincipal(t *testing.T) {
	is := is.New(t)
	f := fixture.New(t, nil)
	g := f.Exchange(t)
	outer := f.AK.Auth(0)
	inner := f.AK.Auth(httpmw.AcceptBasicKey)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	for _, c := range []struct {
		h    http.Handler
		want int
	}{
		{outer.Verify(outer.Require()(ok)), 200},
		{outer.Verify(inner.Verify(inner.Require()(ok))), 401},
		{inner.Verify(outer.Verify(outer.Require()(ok))), 200},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+g)
		w := httptest.NewRecorder()
		c.h.ServeHTTP(w, r)
		is.Equal(w.Code, c.want)
	}
}

func TestCSRF_RefusesCrossOriginBrowserWrites(t *testing.T) {
	is := is.New(t)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	h := httpmw.CSRF("https://admin.example.com")(ok)
	srv := httptest.NewServer(h)
	defer srv.Close()

	send := func(method string, hdr map[string]string) *http.Response {
		r, _ := http.NewRequest(method, srv.URL+"/user/keys", strings.NewReader(`{}`))
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(r)
		is.NoErr(err)
		return res
	}
	// A browser on another site: refused with a JSON body.
	res := send("POST", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
	is.Equal(res.StatusCode, 403)
	var body map[string]string
	is.NoErr(json.NewDecoder(res.Body).Decode(&body))
	res.Body.Close()
	is.Equal(body["error"], "cross_origin_request")
	is.Equal(res.Header.Get("Content-Type"), "application/json")
	// An older browser with only Origin, from elsewhere: refused.
	res = send("DELETE", map[string]string{"Origin": "https://evil.example"})
	res.Body.Close()
	is.Equal(res.StatusCode, 403)
	// The page itself (same origin), an API client (no header), a trusted
	// origin, and a cross-site GET (safe method): let through.
	for _, c := range []struct {
		method string
		hdr    map[string]string
	}{
		{"POST", map[string]string{"Sec-Fetch-Site": "same-origin"}},
		{"POST", nil},
		{"POST", map[string]string{"Origin": "https://admin.example.com", "Sec-Fetch-Site": "cross-site"}},
		{"GET", map[string]string{"Sec-Fetch-Site": "cross-site"}},
	} {
		res := send(c.method, c.hdr)
		res.Body.Close()
		is.Equal(res.StatusCode, 204)
	}
}

// TestAuth_AcceptingWhatItCannotVerifyPanicsAtMount: a route that accepts a
// kind of credential its Auth has no verifier for is a configuration error,
// refused when the middleware is built, not a 401 on every request.
func TestAuth_AcceptingWhatItCannotVerifyPanicsAtMount(t *testing.T) {
	f := fixture.New(t, nil)
	for _, c := range []struct {
		name string
		auth *httpmw.Auth
		want string
	}{
		{"zero Auth", &httpmw.Auth{}, "no Tokens verifier"},
		{"keys without Keys", &httpmw.Auth{Tokens: f.AK.Tokens, Accept: httpmw.AcceptBearerKey}, "no Keys verifier"},
		{"users without Users", &httpmw.Auth{Accept: httpmw.AcceptUser}, "no Users authenticator"},
	} {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			defer func() {
				r := recover()
				is.True(r != nil)
				is.True(strings.Contains(fmt.Sprint(r), c.want))
			}()
			c.auth.Verify(http.NotFoundHandler())
		})
	}
}

// TestPrincipal_HandlerCannotChangeWhatTheNextRequestSees: a handler does
// everything it can to the principal of a cached token; the next request
// with the same token sees the principal as it was.
func TestPrincipal_HandlerCannotChangeWhatTheNextRequestSees(t *testing.T) {
	is := is.New(t)
	f := fixture.New(t, nil)
	_, err := f.AK.Keys.Update(context.Background(), "o", f.Key.ID, authkit.KeyUpdate{Policy: &authkit.Policy{Metadata: json.RawMessage(`{"plan":"free"}`)}})
	is.NoErr(err)
	at := f.Exchange(t)
	auth := f.AK.Auth(0)
	var seen []string
	h := auth.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := authkit.FromContext(r.Context())
		seen = append(seen, p.Owner()+"|"+strings.Join(p.Scopes(), ",")+"|"+fmt.Sprint(p.HasScope("admin"))+"|"+string(p.Metadata()))
		sc := p.Scopes()
		sc[0] = "admin"
		_ = append(sc, "admin")
		md := p.Metadata()
		copy(md, `{"plan":"paid"}`) // the same length: written in place if shared
		_ = append(md[:1], `"x":1}`...)
		c, _ := p.Claims()
		c.Subject, c.Scope = "mallory", "admin"
		p = authkit.UserPrincipal("mallory") // only this handler's copy
		_ = p
		*r = *r.WithContext(authkit.NewContext(r.Context(), authkit.UserPrincipal("mallory")))
	}))
	for range 3 {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", "Bearer "+at)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	is.Equal(seen, []string{`o|read|false|{"plan":"free"}`, `o|read|false|{"plan":"free"}`, `o|read|false|{"plan":"free"}`})
}

// TestMiddleware_LinksNoTemplateNoHandlers: a program that only
// authenticates requests (httpmw and a verifier) links no html/template,
// no page, no handlers and no storage: `go list -deps` says so.
func TestMiddleware_LinksNoTemplateNoHandlers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	is := is.New(t)
	out, err := exec.Command("go", "list", "-deps", "github.com/authkit/authkit/httpmw").CombinedOutput()
	is.NoErr(err)
	deps := strings.Fields(string(out))
	is.True(slices.Contains(deps, "net/http"))
	for _, bad := range []string{"html/template", "text/template", "github.com/authkit/authkit/page",
		"github.com/authkit/authkit/handlers", "github.com/authkit/authkit/keys", "github.com/authkit/authkit/tokens",
		"database/sql", "github.com/go-jose/go-jose/v4"} {
		if slices.Contains(deps, bad) {
			t.Errorf("httpmw links %s", bad)
		}
	}
	out, err = exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "github.com/authkit/authkit/httpmw").CombinedOutput()
	is.NoErr(err)
	is.Equal(strings.Fields(string(out)), []string{"github.com/authkit/authkit", "github.com/authkit/authkit/httpmw"}) // the root and itself, nothing else

}

// TestAuth_EnvAdmitsOnlyItsOwnKeysAndTokens: a route of live data refuses
// a test key, as Basic credentials and through the tokens issued from it;
// a route without Env takes both.
func TestAuth_EnvAdmitsOnlyItsOwnKeysAndTokens(t *testing.T) {
	is := is.New(t)
	f := fixture.New(t, nil)
	_, testSecret, err := f.AK.Keys.Create(context.Background(), authkit.KeyRequest{Owner: "o", Handle: "t", Env: authkit.EnvTest, Scopes: []string{"read"}})
	is.NoErr(err)
	basic := func(secret string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(secret+":")) }
	res := f.Do(t, "GET", "/live", basic(testSecret), "")
	is.Equal(res.StatusCode, 401)
	var body map[string]any
	is.NoErr(json.NewDecoder(res.Body).Decode(&body))
	is.Equal(body["error_description"], "the credential is for another environment")
	res = f.Do(t, "POST", "/token", "", `{"key":"`+testSecret+`"}`)
	is.Equal(res.StatusCode, 200)
	var tok map[string]any
	is.NoErr(json.NewDecoder(res.Body).Decode(&tok))
	testToken := tok["access_token"].(string)
	is.Equal(f.Do(t, "GET", "/live", "Bearer "+testToken, "").StatusCode, 401)
	// The live key and its token pass; the route without Env takes the test ones.
	is.Equal(f.Do(t, "GET", "/live", basic(f.Secret), "").StatusCode, 200)
	is.Equal(f.Do(t, "GET", "/live", "Bearer "+f.Exchange(t), "").StatusCode, 200)
	is.Equal(f.Do(t, "GET", "/r", basic(testSecret), "").StatusCode, 200)
	is.Equal(f.Do(t, "GET", "/r", "Bearer "+testToken, "").StatusCode, 200)
}

// TestOAuth_IntrospectAndRevokeStayInTheCallersEnvironment: a test key,
// as an OAuth client, sees its owner's live tokens as inactive and cannot
// revoke them; a live client of the same owner can.
func TestOAuth_IntrospectAndRevokeStayInTheCallersEnvironment(t *testing.T) {
	is := is.New(t)
	f := fixture.New(t, nil)
	testKey, testSecret, err := f.AK.Keys.Create(context.Background(), authkit.KeyRequest{Owner: "o", Handle: "t", Env: authkit.EnvTest, Scopes: []string{"read"}})
	is.NoErr(err)
	res := f.Do(t, "POST", "/token", "", `{"key":"`+f.Secret+`"}`)
	is.Equal(res.StatusCode, 200)
	var pair map[string]any
	is.NoErr(json.NewDecoder(res.Body).Decode(&pair))
	at, rt := pair["access_token"].(string), pair["refresh_token"].(string)
	form := func(client *authkit.Key, secret, path, token string) map[string]any {
		r, _ := http.NewRequest("POST", f.Srv.URL+path, strings.NewReader("token="+token))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(client.ID, secret)
		res, err := http.DefaultClient.Do(r)
		is.NoErr(err)
		defer res.Body.Close()
		is.Equal(res.StatusCode, 200)
		var out map[string]any
		if path == "/oauth/introspect" {
			is.NoErr(json.NewDecoder(res.Body).Decode(&out))
		}
		return out
	}
	for _, tok := range []string{at, rt} {
		is.Equal(form(testKey, testSecret, "/oauth/introspect", tok)["active"], false)
		is.Equal(form(f.Key, f.Secret, "/oauth/introspect", tok)["active"], true)
	}
	form(testKey, testSecret, "/oauth/revoke", at) // foreign: nothing happens
	form(testKey, testSecret, "/oauth/revoke", rt)
	is.Equal(f.Do(t, "GET", "/r", "Bearer "+at, "").StatusCode, 200)
	form(f.Key, f.Secret, "/oauth/revoke", rt) // its own: the session ends
	is.Equal(f.Do(t, "GET", "/r", "Bearer "+at, "").StatusCode, 401)
}

// TestAuth_DisabledKeyAndItsTokens: over HTTP, a disabled key and its
// tokens get 401 invalid_token "the key is disabled"; enabled, 200 again.
func TestAuth_DisabledKeyAndItsTokens(t *testing.T) {
	is := is.New(t)
	f := fixture.New(t, nil)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(f.Secret+":"))
	at := f.Exchange(t)
	is.Equal(f.Do(t, "GET", "/r", "Bearer "+at, "").StatusCode, 200)
	is.NoErr(setDisabled(f.AK.Keys, "o", f.Key.ID, true))
	for _, auth := range []string{basic, "Bearer " + at} {
		res := f.Do(t, "GET", "/r", auth, "")
		is.Equal(res.StatusCode, 401)
		var body map[string]any
		is.NoErr(json.NewDecoder(res.Body).Decode(&body))
		is.Equal(body["error"], "invalid_token")
		is.Equal(body["error_description"], "the key is disabled")
	}
	is.Equal(f.Do(t, "POST", "/token", "", `{"key":"`+f.Secret+`"}`).StatusCode, 401)
	is.NoErr(setDisabled(f.AK.Keys, "o", f.Key.ID, false))
	is.Equal(f.Do(t, "GET", "/r", basic, "").StatusCode, 200)
	is.Equal(f.Do(t, "GET", "/r", "Bearer "+at, "").StatusCode, 200)
}

func setDisabled(ks *keys.Service, owner, id string, b bool) error {
	_, err := ks.Update(context.Background(), owner, id, authkit.KeyUpdate{Disabled: &b})
	return err
}

// discard is a ResponseWriter that allocates nothing.
type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }

// TestVerify_WarmTokenAllocatesTwice: behind Verify, a request with a
// token seen before costs two allocations (the context value and the
// request copy that carries it), as the package documents; the principal
// itself is shared.
func TestVerify_WarmTokenAllocatesTwice(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are counted without the race detector")
	}
	is := is.New(t)
	f := fixture.New(t, nil)
	ctx := context.Background()
	g, err := f.AK.Sessions.Exchange(ctx, authkit.ExchangeRequest{Key: f.Key})
	is.NoErr(err)
	var seen authkit.Principal
	h := f.AK.Auth(httpmw.AcceptBearerToken).Verify(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = authkit.FromContext(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	r := httptest.NewRequest(http.MethodGet, "/videos", nil)
	r.Header.Set("Authorization", "Bearer "+g.AccessToken)
	w := &discard{h: http.Header{}}
	h.ServeHTTP(w, r) // now warm
	is.Equal(w.code, http.StatusNoContent)
	is.Equal(seen.KeyID(), f.Key.ID)
	allocs := testing.AllocsPerRun(1000, func() {
		w.code = 0
		h.ServeHTTP(w, r)
		if w.code != http.StatusNoContent {
			t.Fatal(w.code)
		}
	})
	is.True(allocs <= 2) // allocations per warm request
	t.Logf("%.0f allocations per warm request", allocs)
}
