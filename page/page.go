// Package page serves a self-contained key-management page for an app's
// signed-in users: list their keys, create one and copy its secret (shown
// once), rotate one with a grace period, delete one after a confirmation,
// set its limits (rate limit, credits, allowed addresses, metadata,
// disabled), draw its usage per hour (an SVG chart with its numbers in a
// table), list and revoke their sessions, and read their activity (the
// audit trail). HTML, script, style sheet and icon are
// embedded in the binary; nothing comes from a CDN and there is no build
// step.
//
// The page calls the JSON key and session handlers of package handlers,
// from its own origin, at the paths in [Options]. Mount it, and those
// handlers, behind the app's user authentication, and the handlers behind
// httpmw.CSRF as well:
//
//	signedIn := func(h http.Handler) http.Handler { return httpmw.CSRF()(users.Authenticate(h)) }
//	mux.Handle("GET /integration/", signedIn(page.New(page.Options{})))
//	mux.Handle("POST /user/keys", signedIn(ep.CreateKey(ko)))
//
// # Security
//
// The page is served under [CSP]: its own script and style only, network
// calls to its own origin only, no inline code, no frames, and DOM sinks
// closed by Trusted Types (the script writes text, never HTML). A new
// secret lives only in the field that shows it, never in a URL, the
// browser's storage, a cookie or a log.
package page

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"strings"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/httpmw"
)

// Options shapes the page. The zero value serves it at /integration over
// handlers at /user/keys and /user/sessions.
type Options struct {
	// Path is where the page is mounted: the page answers Path and Path+"/",
	// its script and style sheet Path+"/assets/…". Default "/integration".
	Path string
	// Keys is the path of the key handlers: ListKeys and CreateKey at Keys,
	// DeleteKey and UpdateKey at Keys+"/{key}", RotateKey at
	// Keys+"/{key}/rotate", KeyUsage at Keys+"/{key}/usage". Default
	// "/user/keys".
	Keys string
	// Sessions is the path of ListSessions, with RevokeSession at
	// Sessions+"/{id}". Default "/user/sessions"; "-" leaves the sessions
	// section out.
	Sessions string
	// Audit is the path of AuditLog, for the page's activity list; default
	// "/user/audit"; "-" leaves the activity section out.
	Audit string
	// Title heads the page; default "API keys".
	Title string
	// Envs are the environments offered; default live and test.
	Envs []authkit.Env
	// Scopes, when set, are offered as check boxes; otherwise the page has
	// a free-text field (space-separated scopes).
	Scopes []string
	// DefaultScopes are what the key handlers give a key created with none
	// (handlers.KeyOptions.DefaultScopes), for the page to say so.
	DefaultScopes []string
	// Recoverable tells the page that the key handlers keep keys
	// recoverable (handlers.KeyOptions.Recoverable), so that it says a new
	// secret can be read again rather than that it is shown once.
	Recoverable bool
}

//go:embed assets
var assets embed.FS

var pageTmpl = template.Must(template.ParseFS(assets, "assets/index.html"))

// CSP is the Content-Security-Policy the page is served with: its own
// script and style sheet only, network calls only to its own origin, no
// inline code, no frames, no forms posting anywhere, and DOM sinks closed
// by Trusted Types (the script writes text, never HTML).
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'none'; frame-ancestors 'none'; base-uri 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

// New returns the page's handler: the page at o.Path and o.Path+"/", its
// assets under o.Path+"/assets/". It is served with [CSP], nosniff,
// no-referrer, DENY framing and no-store; any method but GET and HEAD is
// answered 405.
func New(o Options) http.Handler {
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
	if o.Audit == "" {
		o.Audit = "/user/audit"
	}
	if o.Title == "" {
		o.Title = "API keys"
	}
	if len(o.Envs) == 0 {
		o.Envs = []authkit.Env{authkit.EnvLive, authkit.EnvTest}
	}
	data := struct {
		Options
		Assets       string
		ShowSessions bool
		ShowAudit    bool
	}{o, o.Path + "/assets/", o.Sessions != "-", o.Audit != "-"}
	var page bytes.Buffer
	if err := pageTmpl.Execute(&page, data); err != nil {
		panic("httpmw: page template: " + err.Error()) // the template is ours and fixed: a bug, found by the tests
	}
	js, _ := assets.ReadFile("assets/app.js")
	css, _ := assets.ReadFile("assets/app.css")
	icon, _ := assets.ReadFile("assets/icon.svg")
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
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			httpmw.Responder{}.Error(w, r, &httpmw.Error{Status: http.StatusMethodNotAllowed, Code: "invalid_request", Description: "method not allowed"})
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
