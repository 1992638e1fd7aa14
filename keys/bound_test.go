package keys_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/fakeclock"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/storage/memory"
)

// TestTouch_MapBoundedAfterAMillionKeys verifies 1,000,000 distinct keys,
// all within one touch interval (the worst case: no entry is old enough to
// forget), and checks that the service's map of recent LastUsedAt writes
// never holds more than its bound, and that every key still got its
// LastUsedAt. Slow (a million keys in the store), so not under -short nor
// -race (.ci/run runs it without the race detector).
func TestTouch_MapBoundedAfterAMillionKeys(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("slow: 1,000,000 keys created and verified (run without -short and -race)")
	}
	is := is.New(t)
	const n, bound = 1_000_000, 100_000
	ctx := context.Background()
	clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	store := memory.New()
	svc, err := keys.New(keys.Config{Store: store, Secret: testSecret(t), Clock: clock.Now})
	is.NoErr(err)
	most := 0
	var first *authkit.Key
	for i := range n {
		k, secret, err := svc.Create(ctx, authkit.KeyRequest{Owner: fmt.Sprint("owner-", i%1000), Handle: fmt.Sprint("k", i)})
		is.NoErr(err)
		if _, err := svc.VerifyKey(ctx, secret); err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = k
		}
		if i%1000 == 0 {
			most = max(most, keys.TouchedLen(svc))
		}
	}
	most = max(most, keys.TouchedLen(svc))
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("touched map: at most %d entries over %d keys, %d at the end", most, n, keys.TouchedLen(svc))
	is.True(most <= bound)
	got, err := svc.Get(ctx, first.Owner, first.ID)
	is.NoErr(err)
	is.True(got.LastUsedAt.Equal(clock.Now())) // every key was touched
}
