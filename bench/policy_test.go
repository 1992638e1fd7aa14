package bench

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/httpmw"
	"github.com/authkit/authkit/server"
	"github.com/authkit/authkit/storage/memory"
	"github.com/authkit/authkit/storage/redis"
)

// writer is a ResponseWriter that keeps only the status and the header
// map, reused from one iteration to the next: the benchmark measures the
// middleware, not httptest's allocations.
type writer struct {
	h    http.Header
	code int
}

func (w *writer) Header() http.Header { return w.h }
func (w *writer) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *writer) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(b), nil
}

// BenchmarkPolicy measures what enforcing a key's policy adds to a request
// the middleware answers from its caches: a key verified before (Basic)
// and a warm access token (Bearer), each through httpmw.Auth
//
//   - without a Gate ("off"),
//   - with a Gate and a key without a policy ("none"),
//   - with a key holding a rate limit and credits, counted in process
//     ("limit+credits"), and
//   - the same counted in Redis ("limit+credits-redis", with
//     AUTHKIT_TEST_REDIS set).
//
// The enforcement's cost is the difference between a "limit+credits" row
// and its "off" row of the same run. The request and the writer's header
// map are reused, so that what is measured is the middleware's own work.
func BenchmarkPolicy(b *testing.B) {
	ctx := context.Background()
	counters := map[string]authkit.Counters{"memory": &memory.Counters{}}
	if u := os.Getenv("AUTHKIT_TEST_REDIS"); u != "" {
		rc, err := redis.Open(ctx, u, redis.Config{Prefix: "bench-" + time.Now().Format("150405.000") + ":"})
		if err != nil {
			b.Fatal(err)
		}
		defer rc.Close()
		counters["redis"] = rc
	}
	for _, cname := range []string{"memory", "redis"} {
		c := counters[cname]
		if c == nil {
			continue
		}
		store := memory.New()
		secret, _ := authkit.NewSecret([]byte("bench-policy-secret-0123456789abcdef"))
		ak, err := server.New(ctx, server.Config{Store: store, Secret: secret, Counters: c, CleanupEvery: -1, RotateEvery: -1})
		if err != nil {
			b.Fatal(err)
		}
		defer ak.Close()
		mk := func(handle string, p authkit.Policy) (basic, bearer string) {
			k, secret, err := ak.Keys.Create(ctx, authkit.KeyRequest{Owner: "o", Handle: handle, Scopes: []string{"videos:read"}, Policy: p})
			if err != nil {
				b.Fatal(err)
			}
			g, err := ak.Sessions.Exchange(ctx, authkit.ExchangeRequest{Key: k})
			if err != nil {
				b.Fatal(err)
			}
			return "Basic " + base64.StdEncoding.EncodeToString([]byte(secret+":")), "Bearer " + g.AccessToken
		}
		freeBasic, freeBearer := mk("free", authkit.Policy{})
		limBasic, limBearer := mk("limited", authkit.Policy{
			RateLimits: []authkit.RateLimit{{Name: "bench", Limit: 1 << 40, Window: 30 * 24 * time.Hour}},
			Credits:    &authkit.Credits{Initial: 1 << 50},
		})
		ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
		withGate := ak.Auth(httpmw.AcceptBasicKey | httpmw.AcceptBearerToken)
		noGate := ak.Auth(httpmw.AcceptBasicKey | httpmw.AcceptBearerToken)
		noGate.Gate = nil
		cases := []struct {
			name  string
			auth  *httpmw.Auth
			authz string
		}{
			{"key/off", noGate, freeBasic},
			{"key/none", withGate, freeBasic},
			{"key/limit+credits", withGate, limBasic},
			{"token/off", noGate, freeBearer},
			{"token/none", withGate, freeBearer},
			{"token/limit+credits", withGate, limBearer},
		}
		for _, tc := range cases {
			name := tc.name
			if cname == "redis" {
				if tc.auth == noGate || tc.authz == freeBasic || tc.authz == freeBearer {
					continue // the same as in memory
				}
				name += "-redis"
			}
			h := tc.auth.Authenticate(ok)
			r := httptest.NewRequest(http.MethodGet, "/videos", nil)
			r.Header.Set("Authorization", tc.authz)
			w := &writer{h: http.Header{}}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					clear(w.h)
					w.code = 0
					h.ServeHTTP(w, r)
					if w.code != http.StatusOK {
						b.Fatalf("status %d", w.code)
					}
				}
			})
		}
	}
}
