package keys_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/fakeclock"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/storage/memory"
)

// TestCache_BoundedAfterAMillionKeys verifies 1,000,000 distinct keys,
// all within one flush interval (the worst case: nothing is written and
// nothing is stale), and checks that the cache of verified keys and the
// uses waiting for the flush never hold more than their bounds, and that
// the flush writes the last uses it kept. Slow (a million keys in the
// store), so not under -short nor -race (.ci/run runs it without the race
// detector).
func TestCache_BoundedAfterAMillionKeys(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("slow: 1,000,000 keys created and verified (run without -short and -race)")
	}
	is := is.New(t)
	const n, bound = 1_000_000, 100_000
	ctx := context.Background()
	clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	store := memory.New()
	quiet := slog.New(slog.DiscardHandler) // not a million audit lines in the test's output
	svc, err := keys.New(keys.Config{Store: store, Secret: testSecret(t), Clock: clock.Now, FlushEvery: -1, Logger: quiet})
	is.NoErr(err)
	defer svc.Close()
	most, mostWaiting := 0, 0
	var last *authkit.Key
	for i := range n {
		k, secret, err := svc.Create(ctx, authkit.KeyRequest{Owner: fmt.Sprint("owner-", i%1000), Handle: fmt.Sprint("k", i)})
		is.NoErr(err)
		if _, err := svc.VerifyKey(ctx, secret); err != nil {
			t.Fatal(err)
		}
		last = k
		if i%1000 == 0 {
			entries, waiting := keys.CacheLen(svc)
			most, mostWaiting = max(most, entries), max(mostWaiting, waiting)
		}
	}
	entries, waiting := keys.CacheLen(svc)
	most, mostWaiting = max(most, entries), max(mostWaiting, waiting)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("cache: at most %d entries over %d keys (%d at the end); uses waiting for the flush: at most %d", most, n, entries, mostWaiting)
	is.True(most <= bound)
	is.True(mostWaiting <= bound)
	is.NoErr(svc.Flush(ctx))
	got, err := svc.Get(ctx, last.Owner, last.ID)
	is.NoErr(err)
	is.True(got.LastUsedAt.Equal(clock.Now())) // the recent uses were written
}
