package httpmw

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"strings"

	"github.com/authkit/authkit"
)

// PageOptions shapes the key-management page ([Page]).
type PageOptions struct {
	// Path is where the page is mounted: the page answers Path and Path+"/",
	// its script and style sheet Path+"/assets/…". Default "/integration".
	Path string
	// Keys is the path of the key handlers: ListKeys and CreateKey at Keys,
	// DeleteKey at Keys+"/{key}", RotateKey at Keys+"/{key}/rotate".
	// Default "/user/keys".
	Keys string
	// Sessions is the path of ListSessions, with RevokeSession at
	// Sessions+"/{id}". Default "/user/sessions"; "-" leaves the sessions
	// section out.
	Sessions string
	// Title heads the page; default "API keys".
	Title string
	// Envs are the environments offered; default live and test.
	Envs []authkit.Env
	// Scopes, when set, are offered as check boxes; otherwise the page has
	// a free-text field (space-separated scopes).
	Scopes []string
}

//go:embed page
var pageFS embed.FS

var pageTmpl = template.Must(template.ParseFS(pageFS, "page/index.html"))

// PageCSP is the Content-Security-Policy the page is served with: its own
// script and style sheet only, network calls only to its own origin, no
// inline code, no frames, no forms posting anywhere, and DOM sinks closed
// by Trusted Types (the script writes text, never HTML).
const PageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'none'; frame-ancestors 'none'; base-uri 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

// Page returns the handler of a small, self-contained key-management page
// (HTML, script and style embedded in the binary, nothing from a CDN). A
// signed-in user lists their keys, creates one and sees its secret once
// with a copy button, rotates one with a grace period, deletes one after a
// confirmation, and lists and revokes their sessions.
//
// The page calls the same JSON handlers as any client (KeyOptions and
// SessionOptions at the paths in o), from its own origin only; it keeps no
// secret in a URL, in the browser's storage or in a log. Mount it behind
// the app's own user authentication, and the key and session handlers
// behind the same authentication and [CSRF]:
//
//	mux.Handle("GET /integration/", signedIn(httpmw.Page(httpmw.PageOptions{})))
//	mux.Handle("POST /user/keys", httpmw.CSRF()(signedIn(srv.CreateKey(ko))))
//
// The page is served with [PageCSP], nosniff, no-referrer, DENY framing and
// no-store.
func Page(o PageOptions) http.Handler {
	if o.Path == "" {
		o.Path = "/integration"
	}
	o.Path = strings.TrimSuffix(o.Path, "/")
	if o.Keys == "" {
		o.Keys = "/user/keys"
	}
	if o.Sessions == "" {
		o.Sessions = "/user/sessions"
	}
	if o.Title == "" {
		o.Title = "API keys"
	}
	if len(o.Envs) == 0 {
		o.Envs = []authkit.Env{authkit.EnvLive, authkit.EnvTest}
	}
	data := struct {
		PageOptions
		Assets       string
		ShowSessions bool
	}{o, o.Path + "/assets/", o.Sessions != "-"}
	var page bytes.Buffer
	if err := pageTmpl.Execute(&page, data); err != nil {
		panic("httpmw: page template: " + err.Error()) // the template is ours and fixed: a bug, found by the tests
	}
	js, _ := pageFS.ReadFile("page/app.js")
	css, _ := pageFS.ReadFile("page/app.css")
	icon, _ := pageFS.ReadFile("page/icon.svg")
	files := map[string]struct {
		body []byte
		ct   string
	}{
		o.Path:                   {page.Bytes(), "text/html; charset=utf-8"},
		o.Path + "/":             {page.Bytes(), "text/html; charset=utf-8"},
		data.Assets + "app.js":   {js, "text/javascript; charset=utf-8"},
		data.Assets + "app.css":  {css, "text/css; charset=utf-8"},
		data.Assets + "icon.svg": {icon, "image/svg+xml"},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", PageCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			(responder{}).writeError(w, &Error{Status: http.StatusMethodNotAllowed, Code: "invalid_request", Description: "method not allowed"})
			return
		}
		f, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h.Set("Content-Type", f.ct)
		w.Write(f.body)
	})
}
