package page_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authkit/authkit/page"
	"github.com/matryer/is"
)

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestPage_ServesPageAndAssetsUnderItsPath(t *testing.T) {
	is := is.New(t)
	mux := http.NewServeMux()
	mux.Handle("/keys-page/", page.New(page.Options{
		Path: "/keys-page", Keys: "/api/keys", Sessions: "-", Title: `Keys & "tokens"`, Scopes: []string{"read", "<write>"},
	}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	res, body := get(t, srv.URL+"/keys-page/")
	is.Equal(res.StatusCode, 200)
	is.Equal(res.Header.Get("Content-Type"), "text/html; charset=utf-8")
	is.Equal(res.Header.Get("Content-Security-Policy"), page.CSP)
	is.Equal(res.Header.Get("X-Frame-Options"), "DENY")
	is.Equal(res.Header.Get("X-Content-Type-Options"), "nosniff")
	is.Equal(res.Header.Get("Referrer-Policy"), "no-referrer")
	is.Equal(res.Header.Get("Cache-Control"), "no-store")
	is.True(strings.Contains(body, `data-keys="/api/keys"`))
	is.True(strings.Contains(body, `data-sessions=""`))                           // "-" leaves sessions out
	is.True(!strings.Contains(body, `id="sessions"`))                             // the section too
	is.True(strings.Contains(body, `<title>Keys &amp; &#34;tokens&#34;</title>`)) // escaped
	is.True(strings.Contains(body, `value="&lt;write&gt;"`))                      // scopes as check boxes, escaped
	is.True(strings.Contains(body, `src="/keys-page/assets/app.js"`))
	is.True(!strings.Contains(body, "<script>"))                                       // no inline script: the CSP forbids it
	is.True(!strings.Contains(body, " style="))                                        // nor inline style
	is.True(!strings.Contains(body, "http://") && !strings.Contains(body, "https://")) // nothing from elsewhere
	is.True(strings.Contains(body, "You won't see it again"))                          // not recoverable: shown once
	is.True(strings.Contains(body, "the key has no scope"))                            // what no scope means

	res, js := get(t, srv.URL+"/keys-page/assets/app.js")
	is.Equal(res.StatusCode, 200)
	is.Equal(res.Header.Get("Content-Type"), "text/javascript; charset=utf-8")
	is.True(!strings.Contains(js, "innerHTML"))    // text only: Trusted Types would refuse it anyway
	is.True(!strings.Contains(js, "localStorage")) // no secret in the browser's storage
	is.True(!strings.Contains(js, "sessionStorage"))
	is.True(!strings.Contains(js, "console.")) // nor in its console
	is.True(!strings.Contains(js, "http://") && !strings.Contains(js, "https://"))

	res, _ = get(t, srv.URL+"/keys-page/assets/app.css")
	is.Equal(res.StatusCode, 200)
	is.Equal(res.Header.Get("Content-Type"), "text/css; charset=utf-8")

	res, _ = get(t, srv.URL+"/keys-page/assets/../../etc/passwd")
	is.Equal(res.StatusCode, 404)
	res, _ = get(t, srv.URL+"/keys-page/nope")
	is.Equal(res.StatusCode, 404)

	res, err := http.Post(srv.URL+"/keys-page/", "text/plain", nil)
	is.NoErr(err)
	res.Body.Close()
	is.Equal(res.StatusCode, 405)
	is.Equal(res.Header.Get("Allow"), "GET, HEAD")
}

// TestPage_SaysWhatIsTrue: for recoverable keys the page does not claim the
// secret is shown once; it names the default scopes a key gets.
func TestPage_SaysWhatIsTrue(t *testing.T) {
	is := is.New(t)
	srv := httptest.NewServer(page.New(page.Options{Path: "/p", Recoverable: true, Scopes: []string{"a", "b"}, DefaultScopes: []string{"a", "b"}}))
	defer srv.Close()
	res, body := get(t, srv.URL+"/p/")
	is.Equal(res.StatusCode, 200)
	is.True(!strings.Contains(body, "You won't see it again"))
	is.True(strings.Contains(body, "you can read it again"))
	is.True(strings.Contains(body, "With none chosen, the key gets a, b."))
}
