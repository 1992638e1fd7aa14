package httpmw_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/httpmw"
	"github.com/authkit/authkit/internal/fakeclock"
	"github.com/authkit/authkit/internal/fixture"
	"github.com/authkit/authkit/internal/opaque"
	"github.com/authkit/authkit/storage/redis"
)

// behindProxy trusts the loopback proxy, so that tests can speak from any
// address with X-Forwarded-For over real HTTP.
var behindProxy = &httpmw.ClientAddr{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}

// from makes a request as the client at xff (through the loopback proxy).
func from(t *testing.T, f *fixture.Fx, xff, path, auth string) int {
	t.Helper()
	r, _ := http.NewRequest("GET", f.Srv.URL+path, nil)
	r.Header.Set("Authorization", auth)
	r.Header.Set("X-Forwarded-For", xff)
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func basicKey(k string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(k+":")) }

// wrongKey is well formed (prefix, length, checksum), as a guesser's would
// be, and unknown.
var wrongKey = basicKey(opaque.New("ak_live_"))

func TestLimiter_MiddlewareBlocksGuessesNotTheNeighbour(t *testing.T) {
	is := is.New(t)
	f := fixture.New(t, &httpmw.Limiter{Limit: 3, Clients: behindProxy})
	at := f.Exchange(t)
	is.Equal(from(t, f, "198.51.100.9", "/r", basicKey(f.Secret)), 200) // the neighbour's key, verified once

	for range 3 {
		is.Equal(from(t, f, "198.51.100.9", "/r", wrongKey), 401)
	}
	is.Equal(from(t, f, "198.51.100.9", "/r", wrongKey), 429) // the attacker cannot keep guessing
	// Behind the same address: a known key and a valid token still pass.
	is.Equal(from(t, f, "198.51.100.9", "/r", basicKey(f.Secret)), 200)
	is.Equal(from(t, f, "198.51.100.9", "/r", "Bearer "+at), 200)
	// A key that would have to be looked up is refused unchecked.
	_, other, err := f.AK.Keys.Create(context.Background(), authkit.KeyRequest{Owner: "o", Handle: "other", Scopes: []string{"read"}})
	is.NoErr(err)
	is.Equal(from(t, f, "198.51.100.9", "/r", basicKey(other)), 429)
	is.Equal(from(t, f, "198.51.100.10", "/r", basicKey(other)), 200) // from elsewhere: fine
	// Bad tokens count too.
	is.Equal(from(t, f, "198.51.100.11", "/r", "Bearer x.y.z"), 401)
}

func TestLimiter_IPv6IsCountedPer64(t *testing.T) {
	is := is.New(t)
	f := fixture.New(t, &httpmw.Limiter{Limit: 3, Clients: behindProxy})
	for _, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2::ffff", "2001:db8:1:2:abcd::9"} {
		is.Equal(from(t, f, a, "/r", wrongKey), 401)
	}
	is.Equal(from(t, f, "2001:db8:1:2:ffff::1", "/r", wrongKey), 429) // another address of the same /64
	is.Equal(from(t, f, "2001:db8:1:3::1", "/r", wrongKey), 401)      // the next /64 is another host
}

func TestLimiter_ForwardedForIsReadOnlyFromTrustedProxies(t *testing.T) {
	is := is.New(t)
	f := fixture.New(t, &httpmw.Limiter{Limit: 3}) // no trusted proxy
	for i := range 3 {
		// A client that names itself anew each time is still one address.
		is.Equal(from(t, f, "203.0.113."+string(rune('1'+i)), "/r", wrongKey), 401)
	}
	is.Equal(from(t, f, "203.0.113.99", "/r", wrongKey), 429)

	for _, tc := range []struct {
		peer, xff, want string
	}{
		{"127.0.0.1:5000", "", "127.0.0.1"},
		{"127.0.0.1:5000", "203.0.113.5", "203.0.113.5"},
		{"127.0.0.1:5000", "198.51.100.1, 203.0.113.5", "203.0.113.5"}, // the rightmost hop not a proxy
		{"127.0.0.1:5000", "203.0.113.5, 127.0.0.2", "203.0.113.5"},    // through two trusted proxies
		{"127.0.0.1:5000", "garbage, 203.0.113.5", "203.0.113.5"},      // what the client wrote is never reached
		{"127.0.0.1:5000", "203.0.113.5, garbage", "127.0.0.1"},        // a hop we cannot read: trust nothing beyond
		{"198.51.100.7:5000", "203.0.113.5", "198.51.100.7"},           // not from a proxy: the header is ignored
		{"[::ffff:198.51.100.7]:5000", "", "198.51.100.7"},             // unmapped
		{"[::1]:5000", "2001:db8::7", "2001:db8::7"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		is.Equal(behindProxy.Of(r).String(), tc.want)
	}
}

func TestLimiter_CredentialNameCountedAcrossAddresses(t *testing.T) {
	is := is.New(t)
	clock := fakeclock.New(time.Date(2026, 6, 1, 0, 0, 30, 0, time.UTC))
	l := &httpmw.Limiter{Limit: 3, NameLimit: 5, Clients: behindProxy, Clock: clock.Now}
	req := func(addr string) *http.Request {
		r := httptest.NewRequest("POST", "/login", nil)
		r.RemoteAddr = "127.0.0.1:4000" // the proxy
		r.Header.Set("X-Forwarded-For", addr)
		return r
	}
	for i := range 5 { // one guess each from five addresses
		r := req("203.0.113." + string(rune('1'+i)))
		is.NoErr(l.Check(r, "alice"))
		l.Fail(r, "alice", authkit.ErrUnauthenticated)
	}
	err := l.Check(req("203.0.113.200"), "alice") // a sixth address: alice's name is blocked
	is.True(err != nil)
	is.Equal(httpmw.ErrorFor(err).Status, 429)
	is.Equal(httpmw.ErrorFor(err).RetryAfter, 30)
	is.NoErr(l.Check(req("203.0.113.200"), "bob")) // other names are not
	clock.Advance(30 * time.Second)                // the next window
	is.NoErr(l.Check(req("203.0.113.200"), "alice"))
}

// TestLimiter_ReplicasShareTheCountInRedis: two limiters on one Redis (two
// replicas) allow the limit between them, not each.
func TestLimiter_ReplicasShareTheCountInRedis(t *testing.T) {
	url := os.Getenv("AUTHKIT_TEST_REDIS")
	if url == "" {
		t.Skip("AUTHKIT_TEST_REDIS is not set: no Redis to test against (e.g. redis://127.0.0.1:6379/0)")
	}
	if testing.Short() {
		t.Skip("Redis tests are slow: skipped under -short")
	}
	is := is.New(t)
	ctx := context.Background()
	prefix := "test-" + uuid.NewString() + ":"
	a, err := redis.Open(ctx, url, redis.Config{Prefix: prefix})
	is.NoErr(err)
	defer a.Close()
	b, err := redis.Open(ctx, url, redis.Config{Prefix: prefix})
	is.NoErr(err)
	defer b.Close()
	la, lb := &httpmw.Limiter{Limit: 4, Counters: a}, &httpmw.Limiter{Limit: 4, Counters: b}
	r := httptest.NewRequest("POST", "/token", nil)
	for _, l := range []*httpmw.Limiter{la, lb, la, lb} {
		is.NoErr(l.Check(r, ""))
		l.Fail(r, "", authkit.ErrUnauthenticated)
	}
	is.Equal(httpmw.ErrorFor(la.Check(r, "")).Status, 429)
	is.Equal(httpmw.ErrorFor(lb.Check(r, "")).Status, 429)
}

// FuzzClientAddr: whatever a client writes in X-Forwarded-For, the address
// read is the peer's or one the header holds, never a panic, and never one
// from a peer that is not a trusted proxy.
func FuzzClientAddr(f *testing.F) {
	f.Add("127.0.0.1:1", "203.0.113.5, 127.0.0.2")
	f.Add("198.51.100.7:1", "203.0.113.5")
	f.Add("[::1]:1", "2001:db8::1,,  ,::ffff:1.2.3.4")
	f.Fuzz(func(t *testing.T, peer, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer
		r.Header.Set("X-Forwarded-For", xff)
		got := behindProxy.Of(r)
		p, err := netip.ParseAddrPort(peer)
		if err != nil || !p.Addr().Unmap().IsLoopback() {
			if err == nil && got != p.Addr().Unmap() {
				t.Fatalf("untrusted peer %q: read %v from its header", peer, got)
			}
			return
		}
		if got == p.Addr().Unmap() {
			return
		}
		for _, hop := range strings.Split(xff, ",") {
			if a, err := netip.ParseAddr(strings.TrimSpace(hop)); err == nil && a.Unmap() == got {
				return
			}
		}
		t.Fatalf("read %v, which is neither the peer nor in %q", got, xff)
	})
}

// TestLimiter_ExpiredTokensAndDisabledKeysDoNotCount: an honest client
// whose token expired, or whose key was disabled, is not a guesser.
func TestLimiter_ExpiredTokensAndDisabledKeysDoNotCount(t *testing.T) {
	is := is.New(t)
	f := fixture.New(t, &httpmw.Limiter{Limit: 3, Clients: behindProxy})
	at := f.Exchange(t)
	f.Clock.Advance(2 * time.Hour)
	for range 5 {
		is.Equal(from(t, f, "198.51.100.20", "/r", "Bearer "+at), 401)
	}
	is.NoErr(setDisabled(f.AK.Keys, "o", f.Key.ID, true))
	for range 5 {
		is.Equal(from(t, f, "198.51.100.20", "/r", basicKey(f.Secret)), 401)
	}
	is.Equal(from(t, f, "198.51.100.20", "/r", wrongKey), 401) // the first real failure: not blocked
}

// TestAuth_GateHandsTheKeysMetadataWithThePrincipal: the app reads a key's
// metadata from the principal, for the key itself and for its tokens.
func TestAuth_GateHandsTheKeysMetadataWithThePrincipal(t *testing.T) {
	is := is.New(t)
	f := fixture.New(t, nil)
	p := authkit.Policy{Metadata: []byte(`{"plan":"pro"}`)}
	_, err := f.AK.Keys.Update(context.Background(), "o", f.Key.ID, authkit.KeyUpdate{Policy: &p})
	is.NoErr(err)
	auth := f.AK.Auth(httpmw.AcceptBearerToken | httpmw.AcceptBasicKey)
	srv := httptest.NewServer(auth.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := authkit.FromContext(r.Context())
		w.Write(p.Metadata())
	})))
	defer srv.Close()
	at := f.Exchange(t)
	for _, a := range []string{basicKey(f.Secret), "Bearer " + at} {
		r, _ := http.NewRequest("GET", srv.URL, nil)
		r.Header.Set("Authorization", a)
		res, err := http.DefaultClient.Do(r)
		is.NoErr(err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		is.Equal(string(b), `{"plan":"pro"}`)
	}
}
