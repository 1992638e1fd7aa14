package limits_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/limits"
	"github.com/authkit/authkit/storage/memory"
)

// A key with a rate limit of 2 a minute and 5 credits: the third request
// in the minute is refused, with when to retry.
func Example() {
	ctx := context.Background()
	now := func() time.Time { return time.Date(2026, 5, 1, 12, 0, 15, 0, time.UTC) }
	store := memory.New()
	secret, _ := authkit.NewSecret([]byte("example-secret-from-config-0123456789"))
	ks, _ := keys.New(keys.Config{Store: store, Secret: secret, Clock: now})
	defer ks.Close()
	k, _, _ := ks.Create(ctx, authkit.KeyRequest{Owner: "alice", Handle: "ci", Policy: authkit.Policy{
		RateLimits: []authkit.RateLimit{{Name: "burst", Limit: 2, Window: time.Minute}},
		Credits:    &authkit.Credits{Initial: 5},
	}})

	g, _ := limits.New(limits.Config{Keys: store, Counters: &memory.Counters{}, Clock: now})
	defer g.Close()
	client := netip.MustParseAddr("192.0.2.1")
	for range 3 {
		a, err := g.Admit(ctx, k.ID, client)
		var le *authkit.LimitError
		if errors.As(err, &le) {
			fmt.Println("refused:", le.Name, "retry after", le.RetryAfter)
			continue
		}
		fmt.Println("admitted:", a.Quotas[0].Remaining, "left this minute,", a.Credits, "credits")
	}
	// Output:
	// admitted: 1 left this minute, 4 credits
	// admitted: 0 left this minute, 3 credits
	// refused: burst retry after 45s
}
