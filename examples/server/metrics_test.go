package main

import (
	"bufio"
	"strconv"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// scrape reads GET /metrics and returns a function that sums the samples
// of one metric whose labels include every name="value" pair given.
func (e *env) scrape() func(name string, labels ...string) float64 {
	e.t.Helper()
	r := e.do(req{method: "GET", path: "/metrics"})
	if r.status != 200 {
		e.t.Fatalf("GET /metrics: %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		e.t.Fatalf("GET /metrics: Content-Type %q", ct)
	}
	text := string(r.body)
	return func(name string, labels ...string) float64 {
		sum := 0.0
		sc := bufio.NewScanner(strings.NewReader(text))
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "#") {
				continue
			}
			series, value, ok := strings.Cut(line, " ")
			metric, lbls, _ := strings.Cut(series, "{")
			if !ok || metric != name {
				continue
			}
			all := true
			for _, l := range labels {
				all = all && strings.Contains(lbls, l)
			}
			if all {
				v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
				if err != nil {
					e.t.Fatalf("GET /metrics: %q: %v", line, err)
				}
				sum += v
			}
		}
		return sum
	}
}

// TestMetrics_VerificationCounterMovesWithTraffic scrapes /metrics, makes
// requests with a key, then with tokens, and scrapes again after each: the
// verification counter moved by exactly as many verifications, under the
// right credential and outcome, and so did the cache lookups, the tokens
// issued and the sessions opened.
func TestMetrics_VerificationCounterMovesWithTraffic(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	key := str(e.createKey(alice, `{"handle":"metered"}`), "token")
	const verifications = "authkit_verifications_total"
	keyOK := []string{`credential="key"`, `outcome="ok"`}
	tokOK := []string{`credential="token"`, `outcome="ok"`}
	tokInvalid := []string{`credential="token"`, `outcome="invalid"`}

	m0 := e.scrape()
	for range 3 {
		is.Equal(e.do(req{method: "GET", path: "/videos", auth: basic(key, "")}).status, 200)
	}
	m1 := e.scrape()
	is.Equal(m1(verifications, keyOK...)-m0(verifications, keyOK...), 3.0) // three requests with the key
	is.Equal(m1(verifications, tokOK...), m0(verifications, tokOK...))     // and no token
	is.Equal(m1("authkit_cache_lookups_total", `cache="keys"`, `result="miss"`)-m0("authkit_cache_lookups_total", `cache="keys"`, `result="miss"`), 1.0)
	is.Equal(m1("authkit_cache_lookups_total", `cache="keys"`, `result="hit"`)-m0("authkit_cache_lookups_total", `cache="keys"`, `result="hit"`), 2.0)

	r := e.do(req{method: "POST", path: "/auth/api-key", body: `{"apiKey":"` + key + `"}`})
	is.Equal(r.status, 200)
	at := str(r.json, "access_token")
	for range 2 {
		is.Equal(e.do(req{method: "GET", path: "/videos", auth: at}).status, 200)
	}
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: at[:len(at)-4] + "AAAA"}).status, 401) // a bad signature
	m2 := e.scrape()
	is.Equal(m2(verifications, tokOK...)-m1(verifications, tokOK...), 2.0)
	is.Equal(m2(verifications, tokInvalid...)-m1(verifications, tokInvalid...), 1.0)
	is.Equal(m2(verifications, keyOK...)-m1(verifications, keyOK...), 1.0) // the exchange verified the key
	is.Equal(m2("authkit_tokens_issued_total", `flow="exchange"`)-m1("authkit_tokens_issued_total", `flow="exchange"`), 1.0)
	is.Equal(m2("authkit_sessions_opened_total", `kind="grant"`)-m1("authkit_sessions_opened_total", `kind="grant"`), 1.0)
	is.True(m2("authkit_store_duration_seconds_count", `op="create_session"`) >= 1) // the latency histogram
}
