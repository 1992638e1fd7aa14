package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// BenchmarkLoopback serves real HTTP over loopback from an httptest.Server
// with the example app on SQLite, several client goroutines at once, for
// profiling in one process (-cpuprofile, -blockprofile). bench/cmd/load
// measures the built server from outside; this is its in-process twin.
//
//	go test -run '^$' -bench Loopback -cpuprofile cpu.out ./examples/server
func BenchmarkLoopback(b *testing.B) {
	e := newEnv(b)
	key := str(e.createKey(alice, `{"handle":"bench"}`), "token")
	tok := str(e.do(req{method: "POST", path: "/auth/api-key", body: `{"apiKey":"` + key + `"}`}).json, "access_token")
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var n atomic.Int64
	for _, c := range []struct {
		name, method, path, auth string
		body                     func() string
	}{
		{"healthz", "GET", "/healthz", "", nil},
		{"videos", "GET", "/videos", "Bearer " + tok, nil},
		{"login-new-session", "POST", "/auth/login", "", func() string {
			return `{"api_key":"` + key + `","session_id":"s` + strconv.FormatInt(n.Add(1), 10) + `"}`
		}},
		{"exchange", "POST", "/auth/api-key", "", func() string { return `{"apiKey":"` + key + `"}` }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, 4096)
				for pb.Next() {
					var body io.Reader
					if c.body != nil {
						body = strings.NewReader(c.body())
					}
					r, _ := http.NewRequest(c.method, e.srv.URL+c.path, body)
					if c.auth != "" {
						r.Header.Set("Authorization", c.auth)
					}
					if body != nil {
						r.Header.Set("Content-Type", "application/json")
					}
					res, err := hc.Do(r)
					if err != nil {
						b.Fatal(err)
					}
					io.CopyBuffer(io.Discard, res.Body, buf)
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						b.Fatal(res.StatusCode)
					}
				}
			})
		})
	}
}
