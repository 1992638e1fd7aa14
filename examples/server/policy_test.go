package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

// toWindowStart moves the env's clock to the start of the next window of
// length w, so that a test's requests fall in one window.
func (e *env) toWindowStart(w time.Duration) {
	now := e.clock.Now()
	e.clock.Advance(now.Truncate(w).Add(w).Sub(now))
}

func TestPolicy_RateLimitSharedByBasicAndTokens(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	k := e.createKey(alice, `{"handle":"limited","ratelimits":[{"name":"burst","limit":5,"window_seconds":10}]}`)
	key := str(k, "token")
	rl := k["ratelimits"].([]any)[0].(map[string]any)
	is.Equal(rl["name"], "burst")
	is.Equal(rl["limit"], float64(5))
	is.Equal(rl["window_seconds"], float64(10))
	is.Equal(rl["cost"], float64(1))

	r := e.do(req{method: "POST", path: "/auth/api-key", body: `{"apiKey":"` + key + `"}`})
	is.Equal(r.status, 200)
	is.Equal(r.header.Get("RateLimit-Policy"), `"burst";q=5;w=10`) // the exchange counted too
	at, rt := str(r.json, "access_token"), str(r.json, "refresh_token")

	e.toWindowStart(10 * time.Second)
	e.clock.Advance(3 * time.Second)
	for i, a := range []string{basic(key, ""), bearer(at), basic(key, ""), at, basic(key, "")} {
		r := e.do(req{method: "GET", path: "/videos", auth: a})
		is.Equal(r.status, 200)
		is.Equal(r.header.Get("RateLimit-Policy"), `"burst";q=5;w=10`)
		is.Equal(r.header.Get("RateLimit"), fmt.Sprintf(`"burst";r=%d;t=7`, 4-i))
	}
	for _, a := range []string{basic(key, ""), bearer(at)} { // the 6th of either kind
		r := e.do(req{method: "GET", path: "/videos", auth: a})
		is.Equal(r.status, 429)
		is.Equal(r.header.Get("Content-Type"), "application/problem+json") // api.video's shape
		is.Equal(r.json["error"], "rate_limited")
		is.Equal(r.json["name"], "rate_limited")
		is.Equal(r.header.Get("Retry-After"), "7")
		is.Equal(r.header.Get("RateLimit"), `"burst";r=0;t=7`)
	}
	// The token endpoints count and refuse too, each in its own shape.
	r = e.do(req{method: "POST", path: "/v1/keys/accesstoken", auth: bearer(key)})
	is.Equal(r.status, 429)
	is.Equal(r.json["ok"], false) // Inlive's envelope
	is.Equal(r.json["error"], "rate_limited")
	r = e.do(req{method: "POST", path: "/auth/login", body: `{"api_key":"` + key + `"}`})
	is.Equal(r.status, 429)
	is.Equal(r.json["error"], "rate_limited")

	// A refresh is refused before its token is spent: it works in the next window.
	r = e.do(req{method: "POST", path: "/auth/refresh", body: `{"refreshToken":"` + rt + `"}`})
	is.Equal(r.status, 429)
	is.Equal(r.json["error"], "rate_limited")

	e.clock.Advance(7 * time.Second) // the next window
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: bearer(at)}).status, 200)
	r = e.do(req{method: "POST", path: "/auth/refresh", body: `{"refreshToken":"` + rt + `"}`})
	is.Equal(r.status, 200)
	is.Equal(r.header.Get("RateLimit"), `"burst";r=3;t=10`)

	// A key without limits carries no RateLimit fields.
	free := str(e.createKey(alice, `{"handle":"free"}`), "token")
	r = e.do(req{method: "GET", path: "/videos", auth: basic(free, "")})
	is.Equal(r.status, 200)
	is.Equal(r.header.Get("RateLimit"), "")
}

func TestPolicy_CreditsRunOutRefillAndAreTopped(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	k := e.createKey(alice, `{"handle":"metered","credits":{"remaining":3,"refill":{"amount":2,"interval_seconds":3600}}}`)
	key := str(k, "token")
	is.Equal(k["credits"].(map[string]any)["remaining"], float64(3))
	is.Equal(k["credits"].(map[string]any)["refill"].(map[string]any)["interval_seconds"], float64(3600))
	for range 3 {
		is.Equal(e.do(req{method: "GET", path: "/videos", auth: basic(key, "")}).status, 200)
	}
	r := e.do(req{method: "GET", path: "/videos", auth: basic(key, "")})
	is.Equal(r.status, 429)
	is.Equal(r.json["error"], "usage_exceeded")
	r = e.do(req{method: "POST", path: "/auth/api-key", body: `{"apiKey":"` + key + `"}`})
	is.Equal(r.status, 429)
	is.Equal(r.json["error"], "usage_exceeded")
	credits := func() float64 {
		r := e.do(req{method: "GET", path: "/user/keys/metered", auth: alice})
		is.Equal(r.status, 200)
		return r.json["credits"].(map[string]any)["remaining"].(float64)
	}
	is.Equal(credits(), float64(0)) // never below zero

	e.clock.Advance(time.Hour) // refilled to 2
	is.Equal(credits(), float64(2))
	for range 2 {
		is.Equal(e.do(req{method: "GET", path: "/videos", auth: basic(key, "")}).status, 200)
	}
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: basic(key, "")}).status, 429)

	// The owner tops it up (and, sending no refill, ends the refills).
	r = e.do(req{method: "PATCH", path: "/user/keys/metered", auth: alice, body: `{"credits":{"remaining":10}}`})
	is.Equal(r.status, 200)
	is.Equal(r.json["credits"].(map[string]any)["remaining"], float64(10))
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: basic(key, "")}).status, 200)
	is.Equal(credits(), float64(9))
	// And lifts the meter.
	r = e.do(req{method: "PATCH", path: "/user/keys/metered", auth: alice, body: `{"credits":null}`})
	is.Equal(r.status, 200)
	is.Equal(r.json["credits"], nil)
}

func TestPolicy_AddressOutsideTheAllowList(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	k := e.createKey(alice, `{"handle":"office","allowed_ips":["203.0.113.0/24","2001:db8::1"]}`)
	key := str(k, "token")
	is.Equal(fmt.Sprint(k["allowed_ips"]), "[203.0.113.0/24 2001:db8::1/128]")
	r := e.do(req{method: "GET", path: "/videos", auth: basic(key, "")}) // from 127.0.0.1
	is.Equal(r.status, 403)
	is.Equal(r.json["error"], "address_not_allowed")
	r = e.do(req{method: "POST", path: "/auth/api-key", body: `{"apiKey":"` + key + `"}`})
	is.Equal(r.status, 403)
	is.Equal(r.json["error"], "address_not_allowed")

	r = e.do(req{method: "PATCH", path: "/user/keys/office", auth: alice, body: `{"allowed_ips":["127.0.0.0/8"]}`})
	is.Equal(r.status, 200)
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: basic(key, "")}).status, 200)
}

func TestPolicy_BadPoliciesAre400(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	for _, body := range []string{
		`{"handle":"a","ratelimits":[{"name":"x","limit":0,"window_seconds":10}]}`,
		`{"handle":"a","ratelimits":[{"name":"x","limit":5,"window_seconds":0}]}`,
		`{"handle":"a","ratelimits":[{"name":"x","limit":5,"window_seconds":10,"cost":6}]}`,
		`{"handle":"a","ratelimits":[{"name":"x","limit":5,"window_seconds":10},{"name":"x","limit":5,"window_seconds":10}]}`,
		`{"handle":"a","ratelimits":[{"name":"Bad Name","limit":5,"window_seconds":10}]}`,
		`{"handle":"a","ratelimits":[{"name":"x","limit":5,"window_seconds":10,"extra":1}]}`,
		`{"handle":"a","credits":{"remaining":-1}}`,
		`{"handle":"a","credits":{}}`,
		`{"handle":"a","credits":{"remaining":1,"refill":{"amount":1,"interval_seconds":0}}}`,
		`{"handle":"a","allowed_ips":["not-an-ip"]}`,
		`{"handle":"a","allowed_ips":"10.0.0.0/8"}`,
		`{"handle":"a","metadata":[1,2]}`,
		`{"handle":"a","metadata":{"big":"` + strings.Repeat("x", 5000) + `"}}`,
	} {
		r := e.do(req{method: "POST", path: "/user/keys", auth: alice, body: body, offContract: true})
		is.Equal(r.status, http.StatusBadRequest)
		is.True(r.json["error_description"] != "")
	}
	// Nothing was half-written.
	is.Equal(len(e.do(req{method: "GET", path: "/user/keys", auth: alice}).json["keys"].([]any)), 0)

	k := e.createKey(alice, `{"handle":"meta","metadata":{"plan":"pro","seats":3}}`)
	is.Equal(fmt.Sprint(k["metadata"]), "map[plan:pro seats:3]")
}

func TestPolicy_UsageCountsEachOutcomePerHour(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	key := str(e.createKey(alice, `{"handle":"counted","ratelimits":[{"name":"burst","limit":3,"window_seconds":60}]}`), "token")
	e.toWindowStart(time.Hour)
	r := e.do(req{method: "POST", path: "/auth/api-key", body: `{"apiKey":"` + key + `"}`})
	is.Equal(r.status, 200) // valid 1
	at := str(r.json, "access_token")
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: basic(key, "")}).status, 200) // valid 2
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: bearer(at)}).status, 200)     // valid 3
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: bearer(at)}).status, 429)     // rate_limited 1
	is.Equal(e.do(req{method: "PATCH", path: "/user/keys/counted", auth: alice, body: `{"disabled":true}`}).status, 200)
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: bearer(at)}).status, 401)     // disabled 1
	is.Equal(e.do(req{method: "GET", path: "/videos", auth: basic(key, "")}).status, 401) // disabled 2

	r = e.do(req{method: "GET", path: "/user/keys/counted/usage", auth: alice})
	is.Equal(r.status, 200)
	is.Equal(r.json["bucket_seconds"], float64(3600))
	buckets := r.json["buckets"].([]any)
	is.Equal(len(buckets), 24)
	last := buckets[23].(map[string]any)
	is.Equal(last["start"], e.clock.Now().Truncate(time.Hour).Format(time.RFC3339))
	counts := last["counts"].(map[string]any)
	is.Equal(counts["valid"], float64(3))
	is.Equal(counts["rate_limited"], float64(1))
	is.Equal(counts["disabled"], float64(2))
	is.Equal(counts["usage_exceeded"], float64(0))
	is.Equal(last["total"], float64(6))
	is.Equal(buckets[0].(map[string]any)["total"], float64(0))

	// Written to the database in a batch: still there after a restart.
	e.restart()
	r = e.do(req{method: "GET", path: "/user/keys/counted/usage", auth: alice})
	is.Equal(r.json["buckets"].([]any)[23].(map[string]any)["total"], float64(6))
	// Another user's key is a 404; a bad range a 400.
	is.Equal(e.do(req{method: "GET", path: "/user/keys/counted/usage", auth: bob}).status, 404)
	is.Equal(e.do(req{method: "GET", path: "/user/keys/counted/usage?from=2020-01-01T00:00:00Z", auth: alice}).status, 400)
}
