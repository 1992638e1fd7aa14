package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/matryer/is"
)

// browser is headless Chromium driven over the DevTools protocol. It signs
// in the way a person would: the server's Basic challenge is answered with
// the user's name and password (Fetch.authRequired), and the browser then
// resends them by itself. It records every URL the page asks for, and every
// console error, exception and CSP report.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	urls     []string
	problems []string
}

func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium on this machine: install Debian's chromium package (.ci/run does)")
	return ""
}

func newBrowser(t *testing.T, user, password string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("no-sandbox", true), // CI runs as root
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	b := &browser{ctx: ctx}

	type paused struct {
		id   fetch.RequestID
		auth bool
	}
	work := make(chan paused, 256)
	go func() { // answers paused requests off the event loop, as Listen requires
		for p := range work {
			if p.auth {
				chromedp.Call(ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: p.id,
					AuthChallengeResponse: &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: user, Password: password}})
			} else {
				chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: p.id})
			}
		}
	}()
	if err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *fetch.EventRequestPaused:
			b.mu.Lock()
			b.urls = append(b.urls, ev.Request.URL)
			b.mu.Unlock()
			work <- paused{id: ev.RequestID}
		case *fetch.EventAuthRequired:
			work <- paused{id: ev.RequestID, auth: true}
		case *runtime.EventExceptionThrown:
			b.problem("exception: " + ev.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				b.problem("console." + string(ev.Type))
			}
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				b.problem("log: " + ev.Entry.Text)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	handle := true
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: &handle}); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *browser) problem(s string) {
	b.mu.Lock()
	b.problems = append(b.problems, s)
	b.mu.Unlock()
}

func (b *browser) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func runB[T any](t *testing.T, b *browser, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func eval[T any](t *testing.T, b *browser, js string) T {
	t.Helper()
	return runB(t, b, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
}

// screenshot saves the page under testdata/output (not committed) for a
// person to look at.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	png := runB(t, b, chromedp.FullScreenshot(100))
	dir := filepath.Join("testdata", "output")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: examples/server/%s", p)
}

// TestBrowser_IntegrationPage drives the integration page in headless
// Chromium: sign in, create a key, read its secret once, use it with the
// api.video flow, reload (the secret is gone), rotate, revoke a session,
// delete; and checks that the page's only requests are to its own origin,
// that its CSP holds, and that no secret lands in a URL or in storage.
func TestBrowser_IntegrationPage(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: starts a browser")
	}
	is := is.New(t)
	e := newEnv(t)
	b := newBrowser(t, "alice", "alice-password")
	page := e.srv.URL + "/integration/"

	// Sign in (the Basic challenge, answered) and see an empty list.
	b.do(t, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)))
	is.True(runB(t, b, chromedp.Text(chromedp.ID("keys-empty"))) != "")

	// Create a key with the form: one scope, the test environment.
	b.do(t,
		chromedp.SendKeys(chromedp.ID("handle"), "browser-key"),
		chromedp.SendKeys(chromedp.ID("alias"), "made in a browser"),
		chromedp.SetValue(chromedp.ID("env"), "test"),
		chromedp.Click(chromedp.CSS(`input[name=scope][value="videos:read"]`)),
		chromedp.Click(chromedp.CSS(`#create button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("secret")),
	)
	secret := runB(t, b, chromedp.Value(chromedp.ID("secret-value")))
	is.True(e.app.Keys.LooksLikeKey(secret))
	is.True(strings.HasPrefix(secret, "ak_test_"))
	warning := runB(t, b, chromedp.Text(chromedp.ID("secret")))
	is.True(strings.Contains(warning, "you can read it again")) // the example's keys are recoverable: the page says so
	is.True(!strings.Contains(warning, "You won't see it again"))
	is.True(eval[bool](t, b, `document.activeElement.closest("#secret") !== null`)) // focus moves to the secret
	row := runB(t, b, chromedp.Text(chromedp.CSS(`tr[data-handle="browser-key"]`)))
	is.True(strings.Contains(row, "made in a browser") && strings.Contains(row, "videos:read") && strings.Contains(row, "test"))
	keyID := str(e.do(req{method: "GET", path: "/user/keys/browser-key", auth: alice}).json, "id")
	is.True(strings.Contains(row, keyID)) // the key's ID, its OAuth client id, is shown
	is.True(strings.Contains(runB(t, b, chromedp.Text(chromedp.ID("scopes-help"))), "With none chosen, the key gets videos:read, videos:write"))

	// The copy button puts it on the clipboard (or says how to copy).
	b.do(t, chromedp.Click(chromedp.ID("copy")), chromedp.WaitVisible(chromedp.CSS(`#copy-status:not(:empty)`)))

	// The key read from the page works with the api.video flow.
	r := e.do(req{method: "POST", path: "/auth/api-key", body: `{"apiKey":"` + secret + `"}`})
	is.Equal(r.status, 200)
	r = e.do(req{method: "GET", path: "/videos", auth: bearer(str(r.json, "access_token"))})
	is.Equal(r.status, 200)
	r = e.do(req{method: "POST", path: "/auth/login", body: `{"api_key":"` + secret + `","session_id":"browser-session"}`})
	is.Equal(r.status, 200)
	loginToken := str(r.json, "access_token")

	// Nothing kept: no storage, no cookie, not in the URL.
	is.Equal(eval[int](t, b, `localStorage.length + sessionStorage.length`), 0)
	is.Equal(eval[string](t, b, `document.cookie`), "")
	is.True(!strings.Contains(eval[string](t, b, `location.href`), secret))

	// Reload: the secret is not shown again, the key is listed with its hint.
	b.do(t, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)))
	is.True(!strings.Contains(runB(t, b, chromedp.OuterHTML(chromedp.CSS("html"))), secret))
	is.Equal(runB(t, b, chromedp.Value(chromedp.ID("secret-value"))), "")
	is.True(eval[bool](t, b, `document.getElementById("secret").hidden`))
	row = runB(t, b, chromedp.Text(chromedp.CSS(`tr[data-handle="browser-key"]`)))
	is.True(strings.Contains(row, secret[:len("ak_test_")+4]+"…")) // the hint: the first characters
	sessions := runB(t, b, chromedp.Text(chromedp.ID("sessions")))
	is.True(strings.Contains(sessions, "sign-in browser-session with browser-key"))
	is.True(strings.Contains(sessions, "tokens for browser-key, ")) // the grant, by key and start, not by UUID
	b.screenshot(t, "integration.png")

	// Rotate with no grace: a new secret, shown once; the old one is dead.
	b.do(t,
		chromedp.Click(chromedp.CSS(`button[aria-label="Rotate browser-key"]`)),
		chromedp.WaitVisible(chromedp.ID("rotate-dialog")),
		chromedp.SetValue(chromedp.ID("grace"), "0"),
		chromedp.Click(chromedp.CSS(`#rotate-dialog .confirm`)),
		chromedp.WaitVisible(chromedp.ID("secret")),
	)
	rotated := runB(t, b, chromedp.Value(chromedp.ID("secret-value")))
	is.True(rotated != secret && e.app.Keys.LooksLikeKey(rotated))
	is.Equal(e.do(req{method: "POST", path: "/auth/api-key", body: `{"apiKey":"` + secret + `"}`}).status, 400) // api.video's refusal
	is.Equal(e.do(req{method: "POST", path: "/auth/api-key", body: `{"apiKey":"` + rotated + `"}`}).status, 200)
	b.do(t, chromedp.Click(chromedp.ID("secret-done")), chromedp.WaitNotVisible(chromedp.ID("secret")))
	is.Equal(runB(t, b, chromedp.Value(chromedp.ID("secret-value"))), "")
	row = runB(t, b, chromedp.Text(chromedp.CSS(`tr[data-handle="browser-key"]`)))
	is.True(strings.Contains(row, rotated[:len("ak_test_")+4]+"…")) // the listed hint is the new secret's
	is.True(!strings.Contains(row, secret[:len("ak_test_")+4]+"…") || rotated[:12] == secret[:12])

	// The rotation ended what the old secret obtained: its login token is
	// refused. The new secret signs in again under the same session id.
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: bearer(loginToken)}).status, 401)
	r = e.do(req{method: "POST", path: "/auth/login", body: `{"api_key":"` + rotated + `","session_id":"browser-session"}`})
	is.Equal(r.status, 200)
	is.True(str(r.json, "access_token") != loginToken)
	loginToken = str(r.json, "access_token")

	// Revoke the login session, after the confirmation: its token stops.
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: bearer(loginToken)}).status, 200)
	b.do(t, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)),
		chromedp.Click(chromedp.CSS(`button[aria-label="Revoke sign-in browser-session with browser-key"]`)),
		chromedp.WaitVisible(chromedp.ID("confirm-dialog")),
		chromedp.Click(chromedp.CSS(`#confirm-dialog .confirm`)),
		chromedp.WaitNotPresent(chromedp.CSS(`button[aria-label="Revoke sign-in browser-session with browser-key"]`)),
	)
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: bearer(loginToken)}).status, 401)

	// Cancelling a delete (with the button, or Escape) deletes nothing;
	// confirming it does.
	b.do(t,
		chromedp.Click(chromedp.CSS(`button[aria-label="Delete browser-key"]`)),
		chromedp.WaitVisible(chromedp.ID("confirm-dialog")),
		chromedp.Click(chromedp.CSS(`#confirm-dialog .cancel`)),
		chromedp.WaitNotVisible(chromedp.ID("confirm-dialog")),
		chromedp.Click(chromedp.CSS(`button[aria-label="Delete browser-key"]`)),
		chromedp.WaitVisible(chromedp.ID("confirm-dialog")),
		chromedp.KeyEvent(kb.Escape),
		chromedp.WaitNotVisible(chromedp.ID("confirm-dialog")),
	)
	is.Equal(e.do(req{method: "POST", path: "/auth/api-key", body: `{"apiKey":"` + rotated + `"}`}).status, 200)
	b.do(t,
		chromedp.Click(chromedp.CSS(`button[aria-label="Delete browser-key"]`)),
		chromedp.WaitVisible(chromedp.ID("confirm-dialog")),
		chromedp.Click(chromedp.CSS(`#confirm-dialog .confirm`)),
		chromedp.WaitNotPresent(chromedp.CSS(`tr[data-handle="browser-key"]`)),
		chromedp.WaitVisible(chromedp.ID("keys-empty")),
		chromedp.WaitVisible(chromedp.ID("sessions-empty")), // its sessions died with it
	)
	is.Equal(e.do(req{method: "POST", path: "/auth/api-key", body: `{"apiKey":"` + rotated + `"}`}).status, 400)

	// Keyboard only: type a name, press Enter; the secret panel takes focus.
	b.do(t, chromedp.Focus(chromedp.ID("handle")), chromedp.SendKeys(chromedp.ID("handle"), "kbd-key\r"),
		chromedp.WaitVisible(chromedp.ID("secret")))
	is.True(eval[bool](t, b, `document.activeElement.closest("#secret") !== null`))
	is.Equal(eval[string](t, b, `document.getElementById("secret-handle").textContent`), "kbd-key")
	// Every field has a label.
	is.Equal(eval[int](t, b, `[...document.querySelectorAll("input:not([type=checkbox]), select")].filter(e => !e.labels || e.labels.length === 0).length`), 0)

	// The CSP holds: no call to another origin, no HTML from a string.
	other := strings.Replace(e.srv.URL, "127.0.0.1", "localhost", 1) + "/healthz"
	is.Equal(eval[string](t, b, `fetch(`+quoteJS(other)+`, {mode: "no-cors"}).then(() => "reached", () => "blocked")`), "blocked")
	is.Equal(eval[string](t, b, `(() => { try { document.body.innerHTML = "<img src=x>"; return "assigned" } catch (e) { return e.name } })()`), "TypeError")

	// On a phone: no sideways scrolling.
	b.do(t, chromedp.EmulateViewport(390, 844), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)))
	is.True(eval[bool](t, b, `document.documentElement.scrollWidth <= window.innerWidth`))
	b.screenshot(t, "integration-phone.png")

	// Every request the page made went to its own origin, with no secret in
	// its URL.
	b.mu.Lock()
	urls, problems := append([]string(nil), b.urls...), append([]string(nil), b.problems...)
	b.mu.Unlock()
	is.True(len(urls) > 10)
	for _, u := range urls {
		is.True(strings.HasPrefix(u, e.srv.URL+"/"))
		is.True(!strings.Contains(u, secret) && !strings.Contains(u, rotated))
	}
	// The only problems reported are the two the test provoked on purpose
	// (the blocked fetch and the refused innerHTML).
	csp := 0
	for _, p := range problems {
		if strings.Contains(p, "Content Security Policy") {
			csp++
		}
		if !strings.Contains(p, "Content Security Policy") && !strings.Contains(p, "TrustedHTML") {
			t.Errorf("the page reported a problem: %s", p)
		}
	}
	is.True(csp > 0) // the blocked fetch was the CSP's doing
	is.True(!strings.Contains(e.logs.String(), secret) && !strings.Contains(e.logs.String(), rotated))
}

// TestBrowser_OtherSitesCannotUseTheSignedInUser: a page on another origin,
// in the same browser where the user signed in, posts to the key endpoint
// with the browser's remembered credentials; CSRF refuses it.
func TestBrowser_OtherSitesCannotUseTheSignedInUser(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: starts a browser")
	}
	is := is.New(t)
	e := newEnv(t)
	b := newBrowser(t, "alice", "alice-password")
	b.do(t, chromedp.Navigate(e.srv.URL+"/integration/"), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)))

	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><title>evil</title>`))
	}))
	defer evil.Close()
	b.do(t, chromedp.Navigate(strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)))
	target := e.srv.URL + "/user/keys"
	got := eval[string](t, b, `fetch(`+quoteJS(target)+`, {method: "POST", mode: "no-cors", credentials: "include",
		headers: {"Content-Type": "text/plain"}, body: JSON.stringify({handle: "planted"})}).then(() => "sent", () => "failed")`)
	is.Equal(got, "sent")                                                                // the browser sent it, with whatever it remembers for that origin
	is.True(strings.Contains(e.logs.String(), "method=POST path=/user/keys status=403")) // CSRF refused it
	r := e.do(req{method: "GET", path: "/user/keys/planted", auth: alice})
	is.Equal(r.status, 404) // nothing was created
}

// quoteJS makes a JavaScript string literal of s.
func quoteJS(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestBrowser_PageOpenedWithCredentialsInItsAddress: a user who opens
// http://name:password@host/integration/ (no challenge answered by the
// browser) gets a working page: its requests go to the origin, not to the
// address with credentials, which fetch refuses.
func TestBrowser_PageOpenedWithCredentialsInItsAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: starts a browser")
	}
	is := is.New(t)
	e := newEnv(t)
	e.createKey(alice, `{"handle":"listed"}`)
	b := newBrowser(t, "", "") // answers no challenge: the address carries the credentials
	u := strings.Replace(e.srv.URL, "http://", "http://alice:alice-password@", 1) + "/integration/"
	b.do(t, chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)))
	is.True(strings.Contains(runB(t, b, chromedp.Text(chromedp.ID("keys"))), "listed"))
	is.True(eval[bool](t, b, `document.getElementById("error").hidden`))
}

// TestBrowser_LimitsAndUsageChart: the signed-in user sets a rate limit on
// a key from the page, the key's program goes over it (a 429), and the
// page's usage chart counts it: its numbers are read from the table the
// chart carries for screen readers.
func TestBrowser_LimitsAndUsageChart(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: starts a browser")
	}
	is := is.New(t)
	e := newEnv(t)
	key := str(e.createKey(alice, `{"handle":"metered-key"}`), "token")
	b := newBrowser(t, "alice", "alice-password")
	b.do(t, chromedp.Navigate(e.srv.URL+"/integration/"), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)))
	is.True(strings.Contains(runB(t, b, chromedp.Text(chromedp.CSS(`tr[data-handle="metered-key"]`))), "none")) // no limits yet

	// Set 2 requests a minute, 100 credits, metadata; save.
	e.toWindowStart(time.Minute)
	b.do(t,
		chromedp.Click(chromedp.CSS(`button[aria-label="Limits of metered-key"]`)),
		chromedp.WaitVisible(chromedp.ID("policy-dialog")),
		chromedp.SendKeys(chromedp.ID("p-limit"), "2"),
		chromedp.SetValue(chromedp.ID("p-window"), "60"),
		chromedp.SendKeys(chromedp.ID("p-credits"), "100"),
		chromedp.SendKeys(chromedp.ID("p-metadata"), `{"plan":"trial"}`),
		chromedp.Click(chromedp.CSS(`#policy-dialog .confirm`)),
		chromedp.WaitNotVisible(chromedp.ID("policy-dialog")),
		chromedp.WaitVisible(chromedp.CSS(`#status:not(:empty)`)),
	)
	row := runB(t, b, chromedp.Text(chromedp.CSS(`tr[data-handle="metered-key"]`)))
	is.True(strings.Contains(row, "2 per minute"))
	is.True(strings.Contains(row, "100 credits left"))
	k := e.do(req{method: "GET", path: "/user/keys/metered-key", auth: alice}).json
	is.Equal(fmt.Sprint(k["metadata"]), "map[plan:trial]")

	// The key's program: two requests pass, the third is refused.
	for _, want := range []int{200, 200, 429} {
		is.Equal(e.do(req{method: "GET", path: "/videos", auth: basic(key, "")}).status, want)
	}

	// The chart counts them; its table says how many.
	b.do(t,
		chromedp.Click(chromedp.CSS(`button[aria-label="Usage of metered-key"]`)),
		chromedp.WaitVisible(chromedp.ID("usage")),
		chromedp.WaitReady(chromedp.CSS(`#usage-chart svg rect`)),
	)
	last := `#usage-table tbody tr:last-child td[data-outcome=`
	is.Equal(runB(t, b, chromedp.TextContent(chromedp.CSS(last+`valid]`))), "2")
	is.Equal(runB(t, b, chromedp.TextContent(chromedp.CSS(last+`rate_limited]`))), "1")
	is.Equal(runB(t, b, chromedp.TextContent(chromedp.CSS(last+`total]`))), "3")
	is.Equal(eval[int](t, b, `document.querySelectorAll("#usage-table tbody tr").length`), 24)
	is.Equal(eval[int](t, b, `document.querySelectorAll("#usage-chart rect[data-outcome]").length`), 2) // a bar part per outcome seen
	is.True(strings.Contains(runB(t, b, chromedp.Text(chromedp.ID("usage-summary"))), "3 requests, 1 refused"))
	is.True(eval[bool](t, b, `document.activeElement.id === "usage-heading"`))
	b.screenshot(t, "integration-usage.png")

	// Disable it from the dialog: the key is refused.
	b.do(t,
		chromedp.Click(chromedp.CSS(`button[aria-label="Limits of metered-key"]`)),
		chromedp.WaitVisible(chromedp.ID("policy-dialog")),
		chromedp.Click(chromedp.ID("p-disabled")),
		chromedp.Click(chromedp.CSS(`#policy-dialog .confirm`)),
		chromedp.WaitNotVisible(chromedp.ID("policy-dialog")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-handle="metered-key"] .disabled-note`)), // saved and listed again
	)
	is.Equal(e.do(req{method: "GET", path: "/user/keys/metered-key", auth: alice}).json["disabled"], true)
	e.clock.Advance(time.Minute)
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: basic(key, "")}).status, 401)

	// The activity list says what was done, by whom, from where, newest first.
	b.do(t, chromedp.WaitVisible(chromedp.CSS(`#activity tr[data-action="key.disabled"]`)))
	activity := runB(t, b, chromedp.Text(chromedp.ID("activity")))
	is.True(strings.Contains(activity, "key disabled"))
	is.True(strings.Contains(activity, "limits or name changed"))
	is.True(strings.Contains(activity, "key created"))
	is.True(strings.Contains(activity, "metered-key") && strings.Contains(activity, "you") && strings.Contains(activity, "127.0.0.1"))
	is.Equal(eval[string](t, b, `document.querySelector("#activity tbody tr").dataset.action`), "key.disabled") // newest first

	b.mu.Lock()
	problems := append([]string(nil), b.problems...)
	b.mu.Unlock()
	is.Equal(len(problems), 0)
}
