package bench

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/handlers"
	"github.com/authkit/authkit/httpmw"
	"github.com/authkit/authkit/server"
	"github.com/authkit/authkit/storage/memory"
	"github.com/authkit/authkit/verifier"
)

// metricsServer is a server.Server on a memory store, with metrics into an
// SDK MeterProvider read by a ManualReader (reader nil: no metrics).
func metricsServer(tb testing.TB, on bool, limiter *httpmw.Limiter) (*server.Server, *sdkmetric.ManualReader) {
	tb.Helper()
	cfg := server.Config{Store: memory.New(), CleanupEvery: -1, RotateEvery: -1, Limiter: limiter}
	cfg.Secret, _ = authkit.NewSecret([]byte("bench-metrics-secret-0123456789abcdef"))
	var reader *sdkmetric.ManualReader
	if on {
		reader = sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		tb.Cleanup(func() { mp.Shutdown(context.Background()) })
		cfg.MeterProvider = mp
	}
	ak, err := server.New(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ak.Close() })
	return ak, reader
}

// collected is what a ManualReader holds: name → the values of its data
// points, by their attributes ("k=v,k=v", sorted); a histogram's value is
// its count.
type collected map[string]map[string]float64

func collect(tb testing.TB, r *sdkmetric.ManualReader) collected {
	tb.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		tb.Fatal(err)
	}
	out := collected{}
	key := func(s attribute.Set) string {
		k := ""
		for _, kv := range s.ToSlice() {
			if k != "" {
				k += ","
			}
			k += string(kv.Key) + "=" + kv.Value.Emit()
		}
		return k
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			pts := map[string]float64{}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					pts[key(p.Attributes)] += float64(p.Value)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					pts[key(p.Attributes)] += float64(p.Count)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					pts[key(p.Attributes)] = p.Value
				}
			default:
				tb.Fatalf("%s: unexpected data %T", m.Name, m.Data)
			}
			out[m.Name] = pts
		}
	}
	return out
}

// TestMetrics_EveryInstrumentMoves drives each kind of event through a
// server with metrics into the OpenTelemetry SDK, and reads each
// instrument back with its attributes.
func TestMetrics_EveryInstrumentMoves(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	ak, reader := metricsServer(t, true, &httpmw.Limiter{Limit: 1})

	k, secret, err := ak.Keys.Create(ctx, authkit.KeyRequest{Owner: "o", Handle: "k", Scopes: []string{"videos:read"}})
	is.NoErr(err)
	for range 3 { // a miss (the store read), then two hits
		_, err := ak.Keys.KeyPrincipal(ctx, secret)
		is.NoErr(err)
	}
	_, err = ak.Keys.KeyPrincipal(ctx, "ak_live_not-a-key")
	is.True(err != nil) // malformed: invalid, no lookup

	g, err := ak.Sessions.Exchange(ctx, authkit.ExchangeRequest{Key: k})
	is.NoErr(err)
	for range 2 { // a miss, then a hit
		_, err := ak.Tokens.Verify(ctx, g.AccessToken)
		is.NoErr(err)
	}
	_, err = ak.Tokens.Verify(ctx, "a.b.c")
	is.True(err != nil) // invalid
	_, err = ak.Sessions.Refresh(ctx, g.RefreshToken, 0)
	is.NoErr(err)
	_, err = ak.Sessions.Refresh(ctx, g.RefreshToken, 0) // replayed: the family is revoked
	is.True(err != nil)
	_, err = ak.Tokens.Verify(ctx, g.AccessToken) // its session is revoked: a hit, revoked
	is.True(err != nil)
	_, err = ak.Sessions.Login(ctx, k, "worker-1")
	is.NoErr(err)
	_, err = ak.Sessions.LoginUser(ctx, "alice", nil, "laptop")
	is.NoErr(err)

	lim, _, err := ak.Keys.Create(ctx, authkit.KeyRequest{Owner: "o", Handle: "limited",
		Policy: authkit.Policy{RateLimits: []authkit.RateLimit{{Name: "burst", Limit: 1, Window: time.Hour}}}})
	is.NoErr(err)
	_, err = ak.Gate.Admit(ctx, lim.ID, netip.MustParseAddr("192.0.2.1"))
	is.NoErr(err)
	_, err = ak.Gate.Admit(ctx, lim.ID, netip.MustParseAddr("192.0.2.1")) // over the limit
	is.True(err != nil)

	// A client that failed once is refused by the Limiter (Limit 1) at a
	// key the cache does not know, through the middleware.
	h := ak.Auth(httpmw.AcceptBasicKey).Authenticate(ok)
	bad := httptest.NewRequest(http.MethodGet, "/", nil)
	bad.SetBasicAuth("ak_live_not-a-key", "")
	h.ServeHTTP(httptest.NewRecorder(), bad) // fails: counted by the Limiter (not a verification: it does not look like a key)
	_, other, err := ak.Keys.Create(ctx, authkit.KeyRequest{Owner: "o", Handle: "other"})
	is.NoErr(err)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(other+":")))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	is.Equal(w.Code, http.StatusTooManyRequests)

	got := collect(t, reader)
	t.Log(got)
	is.Equal(got["authkit.verifications"], map[string]float64{
		"credential=key,outcome=ok": 3, "credential=key,outcome=invalid": 1,
		"credential=token,outcome=ok": 2, "credential=token,outcome=invalid": 1, "credential=token,outcome=revoked": 1,
	})
	is.Equal(got["authkit.cache.lookups"], map[string]float64{
		"cache=keys,result=hit": 2, "cache=keys,result=miss": 1,
		"cache=tokens,result=hit": 2, "cache=tokens,result=miss": 2,
	})
	is.Equal(got["authkit.tokens.issued"], map[string]float64{"flow=exchange": 1, "flow=refresh": 1, "flow=login": 1, "flow=user_login": 1})
	is.Equal(got["authkit.sessions.opened"], map[string]float64{"kind=grant": 1, "kind=login": 2})
	is.Equal(got["authkit.refresh.reuse_detected"], map[string]float64{"": 1})
	is.Equal(got["authkit.limiter.refusals"], map[string]float64{"reason=rate_limited": 1, "reason=failed_credentials": 1})
	st := got["authkit.store.duration"]
	for _, op := range []string{"key_by_secret", "key_by_id", "session", "refresh_token", "create_session", "spend_refresh_token", "login_session", "end_oldest_sessions"} {
		if st["op="+op] < 1 {
			t.Errorf("store.duration: no %s timed: %v", op, st)
		}
	}

	// Closed, the services report no more verifications.
	is.NoErr(ak.Close())
	got = collect(t, reader)
	is.Equal(len(got["authkit.verifications"]), 0)
}

// TestMetrics_TheVerifierReportsItsVerificationsAndTheFeedsAge: a
// verifier.Verifier on a product API, with metrics into the OpenTelemetry
// SDK, counts its verifications of tokens and keys as the token service
// counts its own, and reports how long ago the feed last spoke.
func TestMetrics_TheVerifierReportsItsVerificationsAndTheFeedsAge(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String() // the token service's, and its tokens' iss
	sec, _ := authkit.NewSecret([]byte("bench-metrics-secret-0123456789abcdef"))
	ak, err := server.New(ctx, server.Config{Store: memory.New(), Secret: sec, Issuer: issuer, CleanupEvery: -1, RotateEvery: -1})
	is.NoErr(err)
	defer ak.Close()
	mux := http.NewServeMux()
	mux.Handle("GET "+verifier.MetadataPath, ak.Endpoints.Metadata(handlers.MetadataOptions{
		Issuer: issuer, Token: "/token", JWKS: "/jwks", Feed: "/feed", KeyCheck: "/check-key"}))
	mux.Handle("GET /jwks", ak.Endpoints.JWKS())
	mux.Handle("GET /feed", ak.Feed)
	mux.Handle("POST /check-key", ak.Endpoints.CheckKey())
	srv.Config.Handler = mux
	srv.Start()
	defer srv.Close()

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)
	v, err := verifier.New(ctx, verifier.Config{Issuer: issuer, MeterProvider: mp})
	is.NoErr(err)
	defer v.Close()

	k, secret, err := ak.Keys.Create(ctx, authkit.KeyRequest{Owner: "o", Handle: "k", Scopes: []string{"videos:read"}})
	is.NoErr(err)
	g, err := ak.Sessions.Exchange(ctx, authkit.ExchangeRequest{Key: k})
	is.NoErr(err)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) { // caught up with the feed
		if _, ok := collect(t, reader)["authkit.verifier.feed.age"]; ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the feed's age was never reported")
		}
	}
	for range 2 { // a miss (the signature checked), then a hit
		_, err := v.Verify(ctx, g.AccessToken)
		is.NoErr(err)
	}
	_, err = v.Verify(ctx, "a.b.c")
	is.True(err != nil) // invalid
	for range 2 {       // a miss (asked the token service), then a hit
		_, err := v.KeyPrincipal(ctx, secret)
		is.NoErr(err)
	}
	_, ok := v.CachedKeyPrincipal(secret) // a hit
	is.True(ok)

	got := collect(t, reader)
	t.Log(got)
	is.Equal(got["authkit.verifications"], map[string]float64{
		"credential=key,outcome=ok": 3, "credential=token,outcome=ok": 2, "credential=token,outcome=invalid": 1,
	})
	is.Equal(got["authkit.cache.lookups"], map[string]float64{
		"cache=keys,result=hit": 2, "cache=keys,result=miss": 1,
		"cache=tokens,result=hit": 1, "cache=tokens,result=miss": 2,
	})
	age := got["authkit.verifier.feed.age"][""]
	is.True(age >= 0 && age < verifier.DefaultMaxStale.Seconds()) // the feed pings every 2 s

	v.Close() // closed, it reports nothing more
	got = collect(t, reader)
	is.Equal(len(got["authkit.verifications"]), 0)
	is.Equal(len(got["authkit.verifier.feed.age"]), 0)
}

// BenchmarkMetrics measures what metrics add to the warm verification
// paths, and that they allocate nothing: each path without metrics ("off":
// no MeterProvider) and then with them into the OpenTelemetry SDK ("on": a
// MeterProvider with a ManualReader, which collects only when asked, as an
// exporter scraped every few seconds does), one after the other:
//
//   - key: Keys.KeyPrincipal of a key verified before;
//   - token: Tokens.Verify of a token verified before;
//   - middleware: httpmw.Auth.Authenticate (with the server's Gate and
//     Limiter) of that token, the request and writer reused.
//
// The overhead is the difference between an "on" row and the "off" row
// before it. bench/README.md has the method and the figures.
func BenchmarkMetrics(b *testing.B) {
	runs := warmPaths(b)
	for _, path := range paths {
		for _, mode := range []string{"off", "on"} {
			run := runs[mode][path]
			b.Run(path+"/"+mode, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					run()
				}
			})
		}
	}
}

// BenchmarkMetricsOverhead runs each warm path of BenchmarkMetrics off
// and on in alternating blocks of 256 iterations inside one benchmark (the
// order swapped every block), so that the shared VM's drift falls on both
// alike, and reports off-ns/op, on-ns/op and their difference, delta-ns/op
// (its ns/op is off and on together).
func BenchmarkMetricsOverhead(b *testing.B) {
	runs := warmPaths(b)
	for _, path := range paths {
		off, on := runs["off"][path], runs["on"][path]
		b.Run(path, func(b *testing.B) {
			const block = 256
			var tOff, tOn time.Duration
			timed := func(run func(), t *time.Duration) {
				start := time.Now()
				for range block {
					run()
				}
				*t += time.Since(start)
			}
			n := 0
			for i := 0; n < b.N; i++ {
				if i%2 == 0 {
					timed(off, &tOff)
					timed(on, &tOn)
				} else {
					timed(on, &tOn)
					timed(off, &tOff)
				}
				n += block
			}
			per := func(t time.Duration) float64 { return float64(t.Nanoseconds()) / float64(n) }
			b.ReportMetric(per(tOff), "off-ns/op")
			b.ReportMetric(per(tOn), "on-ns/op")
			b.ReportMetric(per(tOn)-per(tOff), "delta-ns/op")
		})
	}
}

var paths = []string{"key", "token", "middleware"}

// warmPaths returns, for "off" (no MeterProvider) and "on" (the SDK's),
// each warm path as a function of one verification, verified once
// already. A verification that fails stops the benchmark.
func warmPaths(b *testing.B) map[string]map[string]func() {
	ctx := context.Background()
	out := map[string]map[string]func(){}
	for _, mode := range []string{"off", "on"} {
		ak, _ := metricsServer(b, mode == "on", nil)
		k, secret, err := ak.Keys.Create(ctx, authkit.KeyRequest{Owner: "o", Handle: "k", Scopes: []string{"videos:read"}})
		if err != nil {
			b.Fatal(err)
		}
		g, err := ak.Sessions.Exchange(ctx, authkit.ExchangeRequest{Key: k})
		if err != nil {
			b.Fatal(err)
		}
		h := ak.Auth(httpmw.AcceptBearerToken).Authenticate(ok)
		r := httptest.NewRequest(http.MethodGet, "/videos", nil)
		r.Header.Set("Authorization", "Bearer "+g.AccessToken)
		w := &writer{h: http.Header{}}
		out[mode] = map[string]func(){
			"key": func() {
				if _, err := ak.Keys.KeyPrincipal(ctx, secret); err != nil {
					b.Fatal(err)
				}
			},
			"token": func() {
				if _, err := ak.Tokens.Verify(ctx, g.AccessToken); err != nil {
					b.Fatal(err)
				}
			},
			"middleware": func() {
				w.code = 0
				h.ServeHTTP(w, r)
				if w.code != http.StatusOK {
					b.Fatalf("status %d", w.code)
				}
			},
		}
		for _, run := range out[mode] {
			run() // warm
		}
	}
	return out
}

// TestMetrics_ATokenEndpointCountsACachedKeyOnce: a key verified before
// and exchanged at a token endpoint is one more verification and one more
// cache hit, not two (the endpoint asks the cache alone first).
func TestMetrics_ATokenEndpointCountsACachedKeyOnce(t *testing.T) {
	is := is.New(t)
	ak, reader := metricsServer(t, true, nil)
	_, secret, err := ak.Keys.Create(context.Background(), authkit.KeyRequest{Owner: "o", Handle: "k"})
	is.NoErr(err)
	_, err = ak.Keys.KeyPrincipal(context.Background(), secret) // a miss: read, verified, cached
	is.NoErr(err)
	h := ak.Endpoints.Exchange(handlers.ExchangeOptions{KeyField: "api_key"})
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(`{"api_key":"`+secret+`"}`))
	r.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(w, r)
	is.Equal(w.Code, http.StatusOK)
	got := collect(t, reader)
	is.Equal(got["authkit.verifications"], map[string]float64{"credential=key,outcome=ok": 2})
	is.Equal(got["authkit.cache.lookups"], map[string]float64{"cache=keys,result=hit": 1, "cache=keys,result=miss": 1})
}
