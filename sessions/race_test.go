package sessions_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
)

// TestConcurrency_200GoroutinesMixingEveryOperation runs login, refresh,
// verify, revoke and signing-key rotation from 200 goroutines on one SQLite
// store for a bounded time, then checks the invariants: one live session
// per (key, session id), no refresh token spent twice, no token of a
// revoked session verifying.
func TestConcurrency_200GoroutinesMixingEveryOperation(t *testing.T) {
	is := is.New(t)
	f := newFx(t, openSQLite(t), 0)
	run := 2 * time.Second
	if testing.Short() {
		run = 300 * time.Millisecond
	}
	names := []string{"a", "b", "c", "d"}

	var mu sync.Mutex
	issued := map[string]string{} // access token → session ID
	spentBy := map[string]int{}   // refresh token → successful refreshes of it
	var refreshPool []string      // refresh tokens to race on
	revoked := map[string]bool{}  // session IDs revoked

	seed, _ := f.m.Exchange(ctx, authkit.ExchangeRequest{Key: f.key})
	refreshPool = append(refreshPool, seed.RefreshToken)
	issued[seed.AccessToken] = seed.Session.ID

	deadline := time.Now().Add(run)
	var wg sync.WaitGroup
	var unexpected []error
	for w := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for time.Now().Before(deadline) {
				switch op := r.IntN(10); {
				case op < 3: // login
					g, err := f.m.Login(ctx, f.key, names[r.IntN(len(names))])
					if err != nil {
						mu.Lock()
						unexpected = append(unexpected, fmt.Errorf("login: %w", err))
						mu.Unlock()
						continue
					}
					mu.Lock()
					issued[g.AccessToken] = g.Session.ID
					mu.Unlock()
				case op < 5: // refresh a token others may also be refreshing
					mu.Lock()
					rt := refreshPool[r.IntN(len(refreshPool))]
					mu.Unlock()
					g, err := f.m.Refresh(ctx, rt, 0)
					mu.Lock()
					if err == nil {
						spentBy[rt]++
						issued[g.AccessToken] = g.Session.ID
						refreshPool = append(refreshPool, g.RefreshToken)
					} else if !errors.Is(err, authkit.ErrRevoked) && !errors.Is(err, authkit.ErrConflict) {
						unexpected = append(unexpected, fmt.Errorf("refresh: %w", err))
					}
					mu.Unlock()
				case op < 6: // a new grant now and then, so refresh has families to race on
					g, err := f.m.Exchange(ctx, authkit.ExchangeRequest{Key: f.key})
					if err == nil {
						mu.Lock()
						issued[g.AccessToken] = g.Session.ID
						refreshPool = append(refreshPool, g.RefreshToken)
						mu.Unlock()
					}
				case op < 9: // verify some token
					mu.Lock()
					var tok string
					for tok = range issued {
						break
					}
					mu.Unlock()
					f.tokens.Verify(ctx, tok)
				default: // revoke a session, or rotate the signing key
					if r.IntN(4) == 0 {
						if err := f.tokens.Rotate(ctx); err != nil {
							mu.Lock()
							unexpected = append(unexpected, fmt.Errorf("rotate: %w", err))
							mu.Unlock()
						}
						continue
					}
					ss, _, err := f.m.List(ctx, "alice", authkit.Page{Limit: 20})
					if err != nil || len(ss) == 0 {
						continue
					}
					s := ss[r.IntN(len(ss))]
					if err := f.m.Revoke(ctx, "alice", s.ID); err == nil {
						mu.Lock()
						revoked[s.ID] = true
						mu.Unlock()
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range unexpected {
		t.Error(err)
	}

	// One live login session per (key, session id).
	per := map[string]int{}
	p := authkit.Page{Limit: authkit.MaxPageLimit}
	for {
		ss, err := f.store.ListSessions(ctx, "alice", p)
		is.NoErr(err)
		for _, s := range ss {
			if s.Kind == authkit.SessionLogin {
				per[s.Name]++
			}
		}
		if len(ss) < p.Size() {
			break
		}
		p.After = ss[len(ss)-1].ID
	}
	for name, n := range per {
		if n > 1 {
			t.Errorf("%d live login sessions named %q", n, name)
		}
	}
	// No refresh token spent twice.
	for _, n := range spentBy {
		is.True(n <= 1)
	}
	// No token of a revoked session verifies.
	checked := 0
	for tok, sid := range issued {
		if revoked[sid] {
			_, err := f.tokens.Verify(ctx, tok)
			is.True(errors.Is(err, authkit.ErrRevoked))
			checked++
		}
	}
	t.Logf("%d tokens issued, %d refreshes, %d sessions revoked, %d revoked tokens checked", len(issued), len(spentBy), len(revoked), checked)
}
