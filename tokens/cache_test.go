package tokens_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/storage/memory"
	"github.com/authkit/authkit/tokens"
)

// TestCache_BoundedAfterAMillionTokens verifies 1,000,000 distinct tokens
// through one Service and checks that the verified-token cache never holds
// more than its configured size, and that the heap is back to about where
// it started. HS256 keeps issuing fast; the cache does not care which
// algorithm signed. Slow (about 15 s), so not under -short nor -race
// (.ci/run runs it without the race detector).
func TestCache_BoundedAfterAMillionTokens(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("slow: 1,000,000 issues and verifications (run without -short and -race)")
	}
	is := is.New(t)
	const size, n = 1000, 1_000_000
	f := newFixture(t, backends[0].open(t), tokens.Config{Algorithm: tokens.HS256, CacheSize: size})
	ctx := context.Background()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	maxEntries := 0
	for i := range n {
		tok, _ := f.issue(t)
		if _, err := f.svc.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if i%10_000 == 0 {
			entries, ring := tokens.CacheLen(f.svc)
			maxEntries = max(maxEntries, entries)
			is.Equal(ring, size)
		}
	}
	entries, ring := tokens.CacheLen(f.svc)
	maxEntries = max(maxEntries, entries)
	is.True(maxEntries <= size) // never over the bound
	is.Equal(entries, size)     // and full: the newest thousand
	is.Equal(ring, size)
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("cache %d/%d entries after %d tokens; heap %+.1f MiB", entries, size, n, float64(grown)/(1<<20))
	is.True(grown < 16<<20) // a thousand tokens and their claims, not a million
}

// TestLiveness_RevocationStormStaysBounded publishes 300,000 revocations
// at one instant (none old enough to forget by age): the set of revoked
// IDs stays bounded, and the newest revocation is still honoured.
func TestLiveness_RevocationStormStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: 300,000 revocations")
	}
	is := is.New(t)
	store := memory.New()
	f := newFixture(t, store, tokens.Config{})
	tok, _ := f.issue(t)
	_, err := f.svc.Verify(context.Background(), tok)
	is.NoErr(err)
	for i := range 300_000 {
		store.Publish(authkit.Revocation{Kind: authkit.RevokedSession, ID: fmt.Sprint("storm-", i)})
	}
	store.Publish(authkit.Revocation{Kind: authkit.RevokedSession, ID: f.sess.ID})
	_, dead := tokens.LivenessLen(f.svc)
	t.Logf("revoked IDs held after 300,001 revocations: %d", dead)
	is.True(dead <= 100_000)
	_, err = f.svc.Verify(context.Background(), tok) // cached, but its session is revoked
	is.True(errors.Is(err, authkit.ErrRevoked))
}
