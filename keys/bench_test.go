package keys_test

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/storage/memory"
)

// benchStores lists the backends the benchmarks run on; files for other
// backends add to it in init.
var benchStores = []struct {
	name string
	open func(b *testing.B) authkit.Store
}{
	{"memory", func(b *testing.B) authkit.Store { return memory.New() }},
}

// BenchmarkVerifyKey measures key verification on each backend:
//
//   - seen: one key, verified before (the cache of verified keys);
//
//   - KeyPrincipal/seen: the same, as the middleware calls it;
//
//   - uncached: the same key with the cache off (a store read each time);
//
//   - random-of-1000, random-of-100000: every key out of that many in an
//     order unrelated to the cache's, each verified once before, and the
//     same with the cache off (memory and SQLite only: 100 000 keys take a
//     while to make).
//
//     go test -run '^$' -bench VerifyKey -benchmem ./keys
func BenchmarkVerifyKey(b *testing.B) {
	for _, bs := range benchStores {
		b.Run(bs.name, func(b *testing.B) {
			store := bs.open(b)
			svc, err := keys.New(keys.Config{Store: store, Secret: testSecret(b)})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { svc.Close() })
			uncached, err := keys.New(keys.Config{Store: store, Secret: testSecret(b), CacheTTL: -1})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { uncached.Close() })
			_, secret, err := svc.Create(ctx, authkit.KeyRequest{Owner: "a", Handle: "bench", Scopes: []string{"videos:read"}})
			if err != nil {
				b.Fatal(err)
			}
			b.Run("seen", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := svc.VerifyKey(ctx, secret); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("KeyPrincipal/seen", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := svc.KeyPrincipal(ctx, secret); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("uncached", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := uncached.VerifyKey(ctx, secret); err != nil {
						b.Fatal(err)
					}
				}
			})
			if bs.name == "postgres" {
				return
			}
			for _, n := range []int{1_000, 100_000} {
				// The secrets side by side in one array, in an order of their
				// own (shuffled: their entries sit in the cache in creation
				// order) and walked in it, so that the secret at hand is in
				// the CPU cache as a request's header is when the server has
				// just read it: what is measured is the verifier's memory
				// traffic at n keys, not the harness's.
				secrets := make([]string, 0, n)
				for i := range n {
					_, secret, err := svc.Create(ctx, authkit.KeyRequest{Owner: fmt.Sprint("o", i%100), Handle: fmt.Sprint("k", n, "-", i)})
					if err != nil {
						b.Fatal(err)
					}
					secrets = append(secrets, secret)
				}
				rand.New(rand.NewPCG(1, 2)).Shuffle(n, func(i, j int) { secrets[i], secrets[j] = secrets[j], secrets[i] })
				// Seen by a service of their own, just before they are
				// measured: making 100 000 keys takes longer than an entry
				// stays fresh, and a stale entry is read again in the
				// background, which is not what "seen before" measures.
				seen, err := keys.New(keys.Config{Store: store, Secret: testSecret(b)}) // the default size: 100 000
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { seen.Close() })
				for _, secret := range secrets {
					if _, err := seen.KeyPrincipal(ctx, secret); err != nil {
						b.Fatal(err)
					}
				}
				all, size := []byte(strings.Join(secrets, "")), len(secrets[0])
				for _, c := range []struct {
					name string
					svc  *keys.Service
				}{{"random-of-", seen}, {"uncached/random-of-", uncached}} {
					b.Run(fmt.Sprint(c.name, n), func(b *testing.B) {
						b.ReportAllocs()
						i := 0
						for b.Loop() {
							if _, err := c.svc.KeyPrincipal(ctx, unsafe.String(&all[i*size], size)); err != nil {
								b.Fatal(err)
							}
							if i++; i == n {
								i = 0
							}
						}
					})
				}
			}
		})
	}
}

// BenchmarkVerifyKeyAtScale compares, in one run, the verification of keys
// seen before out of 1,000 and out of 100,000 (each set verified once by a
// service of its own, on the memory store: a seen key never reaches the
// store), in alternating blocks of 256 verifications, the order swapped
// every block, so that the machine's drift falls on both alike. It reports
// the time of each and their ratio (ns of 1,000 / ns of 100,000: the rate at
// 100,000 keys as a share of the rate at 1,000).
//
//	go test -run '^$' -bench VerifyKeyAtScale -count 5 ./keys
func BenchmarkVerifyKeyAtScale(b *testing.B) {
	store := memory.New()
	maker, err := keys.New(keys.Config{Store: store, Secret: testSecret(b), CacheTTL: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { maker.Close() })
	type set struct {
		svc  *keys.Service
		all  []byte
		size int
		n, i int
	}
	build := func(n int) *set {
		secrets := make([]string, 0, n)
		for i := range n {
			_, secret, err := maker.Create(ctx, authkit.KeyRequest{Owner: fmt.Sprint("o", i%100), Handle: fmt.Sprint("s", n, "-", i)})
			if err != nil {
				b.Fatal(err)
			}
			secrets = append(secrets, secret)
		}
		rand.New(rand.NewPCG(1, 2)).Shuffle(n, func(i, j int) { secrets[i], secrets[j] = secrets[j], secrets[i] })
		svc, err := keys.New(keys.Config{Store: store, Secret: testSecret(b)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { svc.Close() })
		for _, s := range secrets {
			if _, err := svc.KeyPrincipal(ctx, s); err != nil {
				b.Fatal(err)
			}
		}
		return &set{svc: svc, all: []byte(strings.Join(secrets, "")), size: len(secrets[0]), n: n}
	}
	small, large := build(1_000), build(100_000)
	const block = 256
	run := func(s *set) time.Duration {
		start := time.Now()
		for range block {
			if _, err := s.svc.KeyPrincipal(ctx, unsafe.String(&s.all[s.i*s.size], s.size)); err != nil {
				b.Fatal(err)
			}
			if s.i++; s.i == s.n {
				s.i = 0
			}
		}
		return time.Since(start)
	}
	var tSmall, tLarge time.Duration
	n := 0
	b.ResetTimer()
	for i := 0; n < b.N; i++ {
		if i%2 == 0 {
			tSmall += run(small)
			tLarge += run(large)
		} else {
			tLarge += run(large)
			tSmall += run(small)
		}
		n += block
	}
	b.ReportMetric(float64(tSmall.Nanoseconds())/float64(n), "ns/op-of-1000")
	b.ReportMetric(float64(tLarge.Nanoseconds())/float64(n), "ns/op-of-100000")
	b.ReportMetric(float64(tSmall)/float64(tLarge), "ratio")
}
