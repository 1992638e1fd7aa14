package limits_test

import (
	"testing"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/limits"
	"github.com/authkit/authkit/storage/memory"
)

// BenchmarkAdmit is the Gate's own cost per request, in process: a key
// without a policy, and one with a rate limit and credits, with usage
// analytics on.
func BenchmarkAdmit(b *testing.B) {
	store := memory.New()
	g, err := limits.New(limits.Config{Keys: store, Counters: &memory.Counters{}, Usage: store, FlushEvery: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	for _, tc := range []struct {
		name string
		p    authkit.Policy
	}{
		{"none", authkit.Policy{}},
		{"limit+credits", authkit.Policy{
			RateLimits: []authkit.RateLimit{{Name: "bench", Limit: 1 << 40, Window: 30 * 24 * time.Hour}},
			Credits:    &authkit.Credits{Initial: 1 << 50},
		}},
	} {
		k := &authkit.Key{ID: "k-" + tc.name, Owner: "o", Handle: tc.name, Env: authkit.EnvLive, CreatedAt: time.Now(), Policy: tc.p}
		if err := store.CreateKey(ctx, k, &authkit.KeySecret{Hash: []byte(tc.name), KeyID: k.ID, CreatedAt: k.CreatedAt}); err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := g.Admit(ctx, k.ID, addr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
