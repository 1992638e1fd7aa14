package limits_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/fakeclock"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/limits"
	"github.com/authkit/authkit/storage/memory"
	"github.com/authkit/authkit/storage/redis"
	"github.com/authkit/authkit/storage/sqlite"
)

var ctx = context.Background()

// t0 is at the start of a minute, so that windows of 10 s are whole.
var t0 = time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)

type fixture struct {
	clock *fakeclock.Clock
	keys  *keys.Service
	gate  *limits.Gate
	store authkit.Store
}

func newFixture(t *testing.T, cfg limits.Config) *fixture {
	t.Helper()
	store := openSQLite(t)
	clock := fakeclock.New(t0)
	ks := newKeys(t, store, clock)
	cfg.Keys, cfg.Clock = store, clock.Now
	if cfg.Counters == nil {
		cfg.Counters = &memory.Counters{}
	}
	g, err := limits.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return &fixture{clock: clock, keys: ks, gate: g, store: store}
}

func (f *fixture) key(t *testing.T, owner string, p authkit.Policy) *authkit.Key {
	t.Helper()
	k, _, err := f.keys.Create(ctx, authkit.KeyRequest{Owner: owner, Handle: fmt.Sprintf("k%d", time.Now().UnixNano()), Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var addr = netip.MustParseAddr("192.0.2.7")

func TestAdmit_AKeyWithoutPolicyIsAdmittedUncounted(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, limits.Config{})
	k := f.key(t, "alice", authkit.Policy{})
	a, err := f.gate.Admit(ctx, k.ID, netip.Addr{})
	is.NoErr(err)
	is.Equal(len(a.Quotas), 0)
	is.True(!a.Metered)
}

func TestAdmit_RateLimitPerWindowWithCost(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, limits.Config{})
	k := f.key(t, "alice", authkit.Policy{RateLimits: []authkit.RateLimit{{Name: "burst", Limit: 5, Window: 10 * time.Second}}})
	for i := range 5 {
		a, err := f.gate.Admit(ctx, k.ID, addr)
		is.NoErr(err)
		is.Equal(len(a.Quotas), 1)
		is.Equal(a.Quotas[0].Name, "burst")
		is.Equal(a.Quotas[0].Remaining, int64(4-i))
		is.Equal(a.Quotas[0].Reset, t0.Add(10*time.Second))
	}
	f.clock.Advance(3 * time.Second)
	_, err := f.gate.Admit(ctx, k.ID, addr)
	var le *authkit.LimitError
	is.True(errors.As(err, &le))
	is.True(errors.Is(err, authkit.ErrRateLimited))
	is.Equal(le.Name, "burst")
	is.Equal(le.RetryAfter, 7*time.Second)
	f.clock.Advance(7 * time.Second) // the next window
	_, err = f.gate.Admit(ctx, k.ID, addr)
	is.NoErr(err)

	// A request may count more than 1.
	k2 := f.key(t, "alice", authkit.Policy{RateLimits: []authkit.RateLimit{{Name: "heavy", Limit: 5, Window: time.Minute, Cost: 2}}})
	for range 2 {
		_, err := f.gate.Admit(ctx, k2.ID, addr)
		is.NoErr(err)
	}
	_, err = f.gate.Admit(ctx, k2.ID, addr)
	is.True(errors.Is(err, authkit.ErrRateLimited)) // 6 > 5
}

func TestAdmit_CreditsRunOutAndRefill(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, limits.Config{})
	k := f.key(t, "alice", authkit.Policy{Credits: &authkit.Credits{Initial: 3, RefillAmount: 2, RefillEvery: time.Hour}})
	for i := range 3 {
		a, err := f.gate.Admit(ctx, k.ID, addr)
		is.NoErr(err)
		is.True(a.Metered)
		is.Equal(a.Credits, int64(2-i))
	}
	_, err := f.gate.Admit(ctx, k.ID, addr)
	is.True(errors.Is(err, authkit.ErrUsageExceeded))
	left, ok, err := f.gate.Credits(ctx, k)
	is.NoErr(err)
	is.True(ok)
	is.Equal(left, int64(0))
	f.clock.Advance(time.Hour)
	for range 2 {
		_, err := f.gate.Admit(ctx, k.ID, addr)
		is.NoErr(err)
	}
	_, err = f.gate.Admit(ctx, k.ID, addr)
	is.True(errors.Is(err, authkit.ErrUsageExceeded))
	is.NoErr(f.gate.SetCredits(ctx, k.ID, 1)) // the owner tops it up
	_, err = f.gate.Admit(ctx, k.ID, addr)
	is.NoErr(err)
}

func TestAdmit_AllowedIPs(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, limits.Config{})
	k := f.key(t, "alice", authkit.Policy{AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}})
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"10.1.2.3", true}, {"::ffff:10.1.2.3", true}, {"2001:db8::1", true},
		{"192.0.2.7", false}, {"2001:db9::1", false}, {"", false},
	} {
		var a netip.Addr
		if tc.addr != "" {
			a = netip.MustParseAddr(tc.addr)
		}
		_, err := f.gate.Admit(ctx, k.ID, a)
		if tc.ok {
			is.NoErr(err)
		} else {
			is.True(errors.Is(err, authkit.ErrAddressNotAllowed))
		}
	}
}

func TestAdmit_PolicyChangesAndStateApplyAtOnce(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, limits.Config{})
	k := f.key(t, "alice", authkit.Policy{Metadata: json.RawMessage(`{"plan":"free"}`)})
	a, err := f.gate.Admit(ctx, k.ID, addr)
	is.NoErr(err)
	is.Equal(string(a.Metadata), `{"plan":"free"}`)

	p := authkit.Policy{RateLimits: []authkit.RateLimit{{Name: "one", Limit: 1, Window: time.Minute}}, Metadata: json.RawMessage(`{"plan":"pro"}`)}
	_, err = f.keys.Update(ctx, "alice", k.ID, authkit.KeyUpdate{Policy: &p})
	is.NoErr(err)
	a, err = f.gate.Admit(ctx, k.ID, addr) // read again: the store published the change
	is.NoErr(err)
	is.Equal(string(a.Metadata), `{"plan":"pro"}`)
	_, err = f.gate.Admit(ctx, k.ID, addr)
	is.True(errors.Is(err, authkit.ErrRateLimited))

	yes := true
	_, err = f.keys.Update(ctx, "alice", k.ID, authkit.KeyUpdate{Disabled: &yes})
	is.NoErr(err)
	_, err = f.gate.Admit(ctx, k.ID, addr)
	is.True(errors.Is(err, authkit.ErrDisabled))
	is.NoErr(f.keys.Delete(ctx, "alice", k.ID))
	_, err = f.gate.Admit(ctx, k.ID, addr)
	is.True(errors.Is(err, authkit.ErrRevoked))
	_, err = f.gate.Admit(ctx, "no-such-key", addr)
	is.True(errors.Is(err, authkit.ErrRevoked))
}

func TestAdmit_OwnerLimitIsSharedByTheOwnersKeys(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, limits.Config{OwnerLimits: func(owner string) []authkit.RateLimit {
		return []authkit.RateLimit{{Name: "plan", Limit: 3, Window: time.Minute}}
	}})
	a1, a2, b := f.key(t, "alice", authkit.Policy{}), f.key(t, "alice", authkit.Policy{}), f.key(t, "bob", authkit.Policy{})
	for _, id := range []string{a1.ID, a2.ID, a1.ID} {
		_, err := f.gate.Admit(ctx, id, addr)
		is.NoErr(err)
	}
	for _, id := range []string{a1.ID, a2.ID} {
		_, err := f.gate.Admit(ctx, id, addr)
		is.True(errors.Is(err, authkit.ErrRateLimited)) // the owner's 3 are spent, by either key
	}
	a, err := f.gate.Admit(ctx, b.ID, addr) // another owner's are their own
	is.NoErr(err)
	is.Equal(a.Quotas[0].Remaining, int64(2))
}

// TestAdmit_RedisStoppedMidRun runs a Redis server of its own, stops it in
// the middle, and checks both configurations: refused with ErrUnavailable
// by default, admitted uncounted with FailOpen.
func TestAdmit_RedisStoppedMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis server: skipped under -short")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed")
	}
	for _, failOpen := range []bool{false, true} {
		t.Run("FailOpen="+strconv.FormatBool(failOpen), func(t *testing.T) {
			is := is.New(t)
			port := freePort(t)
			srv := exec.Command(bin, "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no")
			is.NoErr(srv.Start())
			defer srv.Process.Kill()
			url := "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"
			var c *redis.Counters
			for range 100 {
				if c, err = redis.Open(ctx, url, redis.Config{}); err == nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			is.NoErr(err)
			defer c.Close()
			f := newFixture(t, limits.Config{Counters: c, FailOpen: failOpen})
			k := f.key(t, "alice", authkit.Policy{RateLimits: []authkit.RateLimit{{Name: "burst", Limit: 2, Window: time.Minute}}})
			for range 2 {
				_, err := f.gate.Admit(ctx, k.ID, addr)
				is.NoErr(err)
			}
			_, err = f.gate.Admit(ctx, k.ID, addr)
			is.True(errors.Is(err, authkit.ErrRateLimited)) // counted in Redis

			is.NoErr(srv.Process.Kill())
			srv.Wait()
			a, err := f.gate.Admit(ctx, k.ID, addr)
			if failOpen {
				is.NoErr(err)
				is.Equal(len(a.Quotas), 0) // uncounted
			} else {
				is.True(errors.Is(err, authkit.ErrUnavailable))
				is.True(!errors.Is(err, authkit.ErrRateLimited))
			}
		})
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestUsage_CountedInMemoryWrittenInBatches(t *testing.T) {
	is := is.New(t)
	store := memory.New()
	h0 := t0.Truncate(time.Hour)
	clock := fakeclock.New(h0.Add(30 * time.Minute))
	g, err := limits.New(limits.Config{Keys: store, Counters: &memory.Counters{}, Usage: store, FlushEvery: time.Hour, Clock: clock.Now})
	is.NoErr(err)
	defer g.Close()
	k := &authkit.Key{ID: "k1", Owner: "alice", Handle: "h", Env: authkit.EnvLive, CreatedAt: t0,
		Policy: authkit.Policy{RateLimits: []authkit.RateLimit{{Name: "one", Limit: 1, Window: time.Hour}}}}
	is.NoErr(store.CreateKey(ctx, k, &authkit.KeySecret{Hash: []byte("h1"), KeyID: "k1", CreatedAt: t0}))
	_, err = g.Admit(ctx, "k1", addr)
	is.NoErr(err)
	_, err = g.Admit(ctx, "k1", addr)
	is.True(errors.Is(err, authkit.ErrRateLimited))
	g.Refused(&authkit.KeyRefusal{KeyID: "k1", Err: authkit.ErrExpired})
	g.Refused(authkit.ErrExpired) // no key named: not counted

	stored, err := store.Usage(ctx, "k1", h0, h0.Add(time.Hour))
	is.NoErr(err)
	is.Equal(len(stored), 0) // nothing written on the request path
	want := []authkit.UsageCount{
		{KeyID: "k1", Start: h0, Outcome: authkit.OutcomeExpired, Count: 1},
		{KeyID: "k1", Start: h0, Outcome: authkit.OutcomeRateLimited, Count: 1},
		{KeyID: "k1", Start: h0, Outcome: authkit.OutcomeValid, Count: 1},
	}
	got, err := g.Usage(ctx, "k1", h0, h0.Add(time.Hour)) // the pending counts are seen
	is.NoErr(err)
	is.Equal(got, want)
	is.NoErr(g.Flush(ctx))
	stored, err = store.Usage(ctx, "k1", h0, h0.Add(time.Hour))
	is.NoErr(err)
	is.Equal(stored, want)
	got, err = g.Usage(ctx, "k1", h0, h0.Add(time.Hour)) // not counted twice
	is.NoErr(err)
	is.Equal(got, want)

	clock.Advance(time.Hour) // the next bucket
	_, err = g.Admit(ctx, "k1", addr)
	is.NoErr(err)
	is.NoErr(g.Close()) // Close writes what is left
	stored, err = store.Usage(ctx, "k1", h0.Add(time.Hour), h0.Add(2*time.Hour))
	is.NoErr(err)
	is.Equal(stored, []authkit.UsageCount{{KeyID: "k1", Start: h0.Add(time.Hour), Outcome: authkit.OutcomeValid, Count: 1}})
}

// silentKeys is a store's keys without its notifications, and counts its
// reads: only the Gate's freshness bounds what it serves.
type silentKeys struct {
	authkit.KeyStore
	reads atomic.Int64
}

func (s *silentKeys) KeyByID(ctx context.Context, id string) (*authkit.Key, error) {
	s.reads.Add(1)
	return s.KeyStore.KeyByID(ctx, id)
}

// TestAdmit_AStalePolicyIsAnsweredWhileItIsReadAgain: past its freshness,
// a policy is still used, at once, while a background read refreshes it;
// no request waits for the store for a key the Gate has seen, until the
// stale window too is past.
func TestAdmit_AStalePolicyIsAnsweredWhileItIsReadAgain(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, limits.Config{})
	k := f.key(t, "alice", authkit.Policy{Metadata: json.RawMessage(`{"plan":"free"}`)})
	store := &silentKeys{KeyStore: f.store}
	g, err := limits.New(limits.Config{Keys: store, Counters: &memory.Counters{}, Clock: f.clock.Now, CacheTTL: time.Minute})
	is.NoErr(err)
	defer g.Close()
	a, err := g.Admit(ctx, k.ID, addr)
	is.NoErr(err)
	is.Equal(store.reads.Load(), int64(1))
	p := authkit.Policy{Metadata: json.RawMessage(`{"plan":"pro"}`)}
	_, err = f.keys.Update(ctx, "alice", k.ID, authkit.KeyUpdate{Policy: &p}) // unheard by g
	is.NoErr(err)
	a, err = g.Admit(ctx, k.ID, addr)
	is.NoErr(err)
	is.Equal(string(a.Metadata), `{"plan":"free"}`) // fresh: not read again

	f.clock.Advance(time.Minute) // stale: answered as it was, and read again
	a, err = g.Admit(ctx, k.ID, addr)
	is.NoErr(err)
	is.Equal(string(a.Metadata), `{"plan":"free"}`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		a, err = g.Admit(ctx, k.ID, addr)
		is.NoErr(err)
		if string(a.Metadata) == `{"plan":"pro"}` {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stale policy was never read again")
		}
		time.Sleep(5 * time.Millisecond)
	}
	is.Equal(store.reads.Load(), int64(2))

	f.clock.Advance(time.Hour) // past the stale window: read before answering
	_, err = g.Admit(ctx, k.ID, addr)
	is.NoErr(err)
	is.Equal(store.reads.Load(), int64(3))
}

// TestAdmit_AStalePolicyIsTakenFromTheKeyCachesRead: a request that finds
// its key stale in the key cache and its policy stale in the Gate costs one
// read of the store, not two: the Gate's background read waits for the
// key cache's, and takes the key from it (Config.Cached).
func TestAdmit_AStalePolicyIsTakenFromTheKeyCachesRead(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, limits.Config{})
	k, secret, err := f.keys.Create(ctx, authkit.KeyRequest{Owner: "alice", Handle: "cached", Policy: authkit.Policy{Metadata: json.RawMessage(`{"plan":"free"}`)}})
	is.NoErr(err)
	store := &silentKeys{KeyStore: f.store} // hears no change: only reads tell
	secretKeys, err := authkit.NewSecret([]byte("limits-test-secret-0123456789abcdef"))
	is.NoErr(err)
	ks, err := keys.New(keys.Config{Store: store, Secret: secretKeys, Clock: f.clock.Now})
	is.NoErr(err)
	defer ks.Close()
	g, err := limits.New(limits.Config{Keys: store, Cached: ks.CachedKey, Counters: &memory.Counters{}, Clock: f.clock.Now})
	is.NoErr(err)
	defer g.Close()

	request := func() authkit.Admission { // the middleware: the key, then the Gate
		p, err := ks.KeyPrincipal(ctx, secret)
		is.NoErr(err)
		a, err := g.Admit(ctx, p.KeyID(), addr)
		is.NoErr(err)
		return a
	}
	is.Equal(string(request().Metadata), `{"plan":"free"}`)
	is.Equal(store.reads.Load(), int64(0)) // the key cache had it

	pro := authkit.Policy{Metadata: json.RawMessage(`{"plan":"pro"}`)}
	_, err = f.keys.Update(ctx, "alice", k.ID, authkit.KeyUpdate{Policy: &pro}) // unheard by ks and g
	is.NoErr(err)
	f.clock.Advance(2 * time.Minute) // both stale
	deadline := time.Now().Add(5 * time.Second)
	for string(request().Metadata) != `{"plan":"pro"}` {
		if time.Now().After(deadline) {
			t.Fatal("the stale policy was never read again")
		}
		time.Sleep(5 * time.Millisecond)
	}
	is.Equal(store.reads.Load(), int64(0)) // the Gate took the key cache's read
}

// TestAdmit_AFullCacheLetsOnePolicyGo: past Config.CacheSize, a new policy
// takes the place of one other, so that a store a key larger than the
// cache does not send half of its keys back to the store.
func TestAdmit_AFullCacheLetsOnePolicyGo(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, limits.Config{})
	store := &silentKeys{KeyStore: f.store}
	g, err := limits.New(limits.Config{Keys: store, Counters: &memory.Counters{}, Clock: f.clock.Now, CacheSize: 100})
	is.NoErr(err)
	defer g.Close()
	var ids []string
	for range 101 {
		ids = append(ids, f.key(t, "alice", authkit.Policy{}).ID)
	}
	for _, id := range ids {
		_, err := g.Admit(ctx, id, addr)
		is.NoErr(err)
	}
	is.Equal(store.reads.Load(), int64(101))
	for _, id := range ids { // again: only the few pushed out are read
		_, err := g.Admit(ctx, id, addr)
		is.NoErr(err)
	}
	again := store.reads.Load() - 101
	t.Logf("read again: %d of 101", again)
	is.True(again >= 1 && again <= 25) // dropping half would read 51 or more
}

// TestAdmit_APolicyIsFreshLongerWhileTheStoreVouches: an SQLite store
// hears every change since it opened (authkit.NotifierHealth), so a policy
// read after that stays fresh ten times CacheTTL; a Gate whose clock puts
// the read before that gets the plain CacheTTL.
func TestAdmit_APolicyIsFreshLongerWhileTheStoreVouches(t *testing.T) {
	is := is.New(t)
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"))
	is.NoErr(err)
	defer store.Close()
	now := time.Now()
	ahead, behind := fakeclock.New(now), fakeclock.New(now.Add(-time.Hour))
	silent := &silentKeys{KeyStore: store} // the reads counted; the health is the store's
	gate := func(c *fakeclock.Clock) *limits.Gate {
		g, err := limits.New(limits.Config{Keys: vouching{silent, store}, Counters: &memory.Counters{}, Clock: c.Now})
		is.NoErr(err)
		t.Cleanup(func() { g.Close() })
		return g
	}
	a, b := gate(ahead), gate(behind)
	secret, err := authkit.NewSecret([]byte("limits-test-secret-0123456789abcdef"))
	is.NoErr(err)
	ks, err := keys.New(keys.Config{Store: store, Secret: secret})
	is.NoErr(err)
	defer ks.Close()
	k, _, err := ks.Create(ctx, authkit.KeyRequest{Owner: "o", Handle: "h"})
	is.NoErr(err)
	_, err = a.Admit(ctx, k.ID, addr)
	is.NoErr(err)
	_, err = b.Admit(ctx, k.ID, addr)
	is.NoErr(err)
	is.Equal(silent.reads.Load(), int64(2))

	ahead.Advance(2 * time.Minute) // past the TTL (1 minute), not past ten times it
	behind.Advance(2 * time.Minute)
	_, err = a.Admit(ctx, k.ID, addr)
	is.NoErr(err)
	_, err = b.Admit(ctx, k.ID, addr)
	is.NoErr(err)
	deadline := time.Now().Add(5 * time.Second)
	for silent.reads.Load() < 3 { // b's background read
		if time.Now().After(deadline) {
			t.Fatal("b never read its stale policy again")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	is.Equal(silent.reads.Load(), int64(3)) // and a did not
}

// vouching is a KeyStore that counts reads (silentKeys) and has the health
// of a real store.
type vouching struct {
	*silentKeys
	authkit.NotifierHealth
}

// countingStore is a real SQLite store (its Notifier and its health
// included) that counts the reads of keys by secret (the key cache's) and
// by ID (the Gate's).
type countingStore struct {
	*sqlite.Store
	bySecret, byID atomic.Int64
}

func (s *countingStore) KeyBySecret(ctx context.Context, hash []byte) (*authkit.Key, *authkit.KeySecret, error) {
	s.bySecret.Add(1)
	return s.Store.KeyBySecret(ctx, hash)
}

func (s *countingStore) KeyByID(ctx context.Context, id string) (*authkit.Key, error) {
	s.byID.Add(1)
	return s.Store.KeyByID(ctx, id)
}

// newCounting returns a countingStore on a fresh file, a clock set after
// it began listening (so that it vouches for every read), and a key
// service on both at its defaults.
func newCounting(t *testing.T) (*countingStore, *fakeclock.Clock, *keys.Service) {
	t.Helper()
	store := &countingStore{Store: openSQLite(t)}
	clock := fakeclock.New(time.Now())
	return store, clock, newKeys(t, store, clock)
}

// openSQLite opens a store on a fresh file, closed at the end of t.
func openSQLite(t *testing.T) *sqlite.Store {
	t.Helper()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// newKeys returns a key service on store, by clock, closed at the end of t.
func newKeys(t *testing.T, store authkit.KeyStore, clock *fakeclock.Clock) *keys.Service {
	t.Helper()
	secret, err := authkit.NewSecret([]byte("limits-test-secret-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keys.New(keys.Config{Store: store, Secret: secret, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ks.Close() })
	return ks
}

// TestAdmit_TheKeyCachesReadsServeTheGateAtTheDefaults: with the key
// cache and the Gate at their default TTLs, on a store that vouches, a key
// used now and then for ten minutes is read from the store twice (when
// first seen, and when its key goes stale), never by the Gate: a policy
// taken from the key cache is fresh for as long as the key's entry can be.
func TestAdmit_TheKeyCachesReadsServeTheGateAtTheDefaults(t *testing.T) {
	is := is.New(t)
	store, clock, ks := newCounting(t)
	g, err := limits.New(limits.Config{Keys: store, Cached: ks.CachedKey, Counters: &memory.Counters{}, Clock: clock.Now})
	is.NoErr(err)
	defer g.Close()

	const n = 50
	var secrets []string
	for i := range n {
		_, s, err := ks.Create(ctx, authkit.KeyRequest{Owner: "alice", Handle: fmt.Sprint("k", i)})
		is.NoErr(err)
		secrets = append(secrets, s)
	}
	useAll := func() {
		for _, s := range secrets {
			p, err := ks.KeyPrincipal(ctx, s)
			is.NoErr(err)
			_, err = g.Admit(ctx, p.KeyID(), addr)
			is.NoErr(err)
		}
	}
	settled := func(bySecret int64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); store.bySecret.Load() < bySecret; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d reads by secret, want %d", store.bySecret.Load(), bySecret)
			}
		}
		time.Sleep(100 * time.Millisecond) // for the Gate's background reads, if any
	}
	useAll()
	settled(n)
	for range 3 { // at 2, 4 and 6 minutes: both fresh (the Gate's used to go stale at 4 to 5)
		clock.Advance(2 * time.Minute)
		useAll()
		settled(n)
	}
	// At ten minutes less a millisecond, every key is stale in the key
	// cache (each fresh for eight to ten minutes) and read again; every
	// policy is still fresh. Two milliseconds later the policies are
	// stale, and read from the key cache.
	clock.Advance(4*time.Minute - time.Millisecond)
	useAll()
	settled(2 * n)
	clock.Advance(2 * time.Millisecond)
	useAll()
	settled(2 * n)
	is.Equal(store.bySecret.Load(), int64(2*n))
	is.Equal(store.byID.Load(), int64(0)) // the Gate read nothing itself
}

// TestAdmit_PoliciesReadTogetherGoStaleOverAFifthOfTheirFreshness: a
// hundred policies read at once from a store that vouches are fresh for
// between eight and ten minutes each: at nine, about half are read again,
// not all of them in the same second.
func TestAdmit_PoliciesReadTogetherGoStaleOverAFifthOfTheirFreshness(t *testing.T) {
	is := is.New(t)
	store, clock, ks := newCounting(t)
	g, err := limits.New(limits.Config{Keys: store, Counters: &memory.Counters{}, Clock: clock.Now}) // no key cache: the Gate reads
	is.NoErr(err)
	defer g.Close()
	var ids []string
	for i := range 100 {
		k, _, err := ks.Create(ctx, authkit.KeyRequest{Owner: "alice", Handle: fmt.Sprint("k", i)})
		is.NoErr(err)
		ids = append(ids, k.ID)
	}
	admitAll := func() {
		for _, id := range ids {
			_, err := g.Admit(ctx, id, addr)
			is.NoErr(err)
		}
	}
	admitAll()
	is.Equal(store.byID.Load(), int64(100))
	clock.Advance(9 * time.Minute)
	admitAll()
	time.Sleep(200 * time.Millisecond) // the background reads
	again := store.byID.Load() - 100
	t.Logf("read again at 9 minutes: %d of 100", again)
	is.True(again >= 15 && again <= 85)
}
