package postgres_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/sessions"
	"github.com/authkit/authkit/storage/postgres"
	"github.com/authkit/authkit/tokens"
)

var ctx = context.Background()

// replica is one app process: its own pool, verifier cache and services.
type replica struct {
	store    *postgres.Store
	keys     *keys.Service
	tokens   *tokens.Service
	sessions *sessions.Manager
}

func newReplica(t testing.TB, schemaName string, grace time.Duration) *replica {
	t.Helper()
	secret, _ := authkit.NewSecret([]byte("replica-test-secret-0123456789abcdefgh"))
	r := &replica{store: open(t, schemaName)}
	var err error
	if r.keys, err = keys.New(keys.Config{Store: r.store, Secret: secret}); err != nil {
		t.Fatal(err)
	}
	if r.tokens, err = tokens.New(ctx, tokens.Config{Store: r.store, Secret: secret}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.tokens.Close)
	if r.sessions, err = sessions.New(sessions.Config{Store: r.store, Tokens: r.tokens, Secret: secret, RefreshGrace: grace}); err != nil {
		t.Fatal(err)
	}
	return r
}

func twoReplicas(t *testing.T, grace time.Duration) (*replica, *replica, *authkit.Key) {
	t.Helper()
	dsn(t)
	if testing.Short() {
		t.Skip("PostgreSQL tests are slow: skipped under -short")
	}
	name := schema(t)
	a := newReplica(t, name, grace)
	b := newReplica(t, name, grace)
	k, _, err := a.keys.Create(ctx, authkit.KeyRequest{Owner: "alice", Handle: "app", Scopes: []string{"videos:read"}})
	if err != nil {
		t.Fatal(err)
	}
	return a, b, k
}

func TestReplicas_100ConcurrentLoginsOneTokenOneSession(t *testing.T) {
	is := is.New(t)
	a, b, k := twoReplicas(t, 0)
	var wg sync.WaitGroup
	toks := make([]string, 100)
	errs := make([]error, 100)
	for i := range 100 {
		r := a
		if i%2 == 1 {
			r = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			g, err := r.sessions.Login(ctx, k, "shared-new-session")
			errs[i] = err
			if err == nil {
				toks[i] = g.AccessToken
			}
		}()
	}
	wg.Wait()
	for i := range 100 {
		is.NoErr(errs[i])
		is.Equal(toks[i], toks[0])
	}
	ss, _, err := b.sessions.List(ctx, "alice", authkit.Page{})
	is.NoErr(err)
	is.Equal(len(ss), 1)
	_, err = b.tokens.Verify(ctx, toks[0]) // signed by whichever replica won, verified by the other
	is.NoErr(err)
	_, err = a.tokens.Verify(ctx, toks[0])
	is.NoErr(err)
}

func TestReplicas_RefreshSpentOnOneIsSpentOnBoth(t *testing.T) {
	is := is.New(t)
	a, b, k := twoReplicas(t, 0)
	g, err := a.sessions.Exchange(ctx, authkit.ExchangeRequest{Key: k})
	is.NoErr(err)
	g2, err := b.sessions.Refresh(ctx, g.RefreshToken, 0)
	is.NoErr(err)
	_, err = a.sessions.Refresh(ctx, g.RefreshToken, 0) // a replay on the other replica
	is.True(errors.Is(err, authkit.ErrRevoked))
	_, err = a.sessions.Refresh(ctx, g2.RefreshToken, 0) // the family is revoked everywhere
	is.True(errors.Is(err, authkit.ErrRevoked))
}

func TestReplicas_ConcurrentRefreshesOneWinner(t *testing.T) {
	is := is.New(t)
	a, b, k := twoReplicas(t, 5*time.Second)
	g, err := a.sessions.Exchange(ctx, authkit.ExchangeRequest{Key: k})
	is.NoErr(err)
	var mu sync.Mutex
	children := map[string]int{}
	var wg sync.WaitGroup
	for i := range 40 {
		r := a
		if i%2 == 1 {
			r = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := r.sessions.Refresh(ctx, g.RefreshToken, 0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("refresh: %v", err)
				return
			}
			children[c.RefreshToken]++
		}()
	}
	wg.Wait()
	is.Equal(len(children), 1) // one winner; the others got its child inside the grace window
}

// TestReplicas_RevocationOnAStopsBWithinASecond: B has verified (and
// cached) a token; A revokes its session, then deletes a key; B must refuse
// within one second, through LISTEN/NOTIFY.
func TestReplicas_RevocationOnAStopsBWithinASecond(t *testing.T) {
	is := is.New(t)
	a, b, k := twoReplicas(t, 0)
	for _, revoke := range []string{"session", "key"} {
		g, err := a.sessions.Login(ctx, k, revoke)
		is.NoErr(err)
		_, err = b.tokens.Verify(ctx, g.AccessToken)
		is.NoErr(err) // cached on B now
		start := time.Now()
		if revoke == "session" {
			is.NoErr(a.sessions.Revoke(ctx, "alice", g.Session.ID))
		} else {
			is.NoErr(a.keys.Delete(ctx, "alice", k.ID))
		}
		for {
			_, err = b.tokens.Verify(ctx, g.AccessToken)
			if errors.Is(err, authkit.ErrRevoked) {
				break
			}
			is.NoErr(err)
			if time.Since(start) > time.Second {
				t.Fatalf("%s revoked on A still verifies on B after 1 s", revoke)
			}
			time.Sleep(2 * time.Millisecond)
		}
		t.Logf("%s revocation reached B after %v", revoke, time.Since(start).Round(time.Millisecond))
	}
}

// TestReplicas_KeyDeletedOrRotatedOnAIsRefusedOnB: B has verified (and
// cached) a key; A deletes it, or rotates it with no grace: B refuses the
// old secret as fast as it refuses a revoked session's token. A rotation
// with a grace keeps the old secret working on B until the grace ends.
func TestReplicas_KeyDeletedOrRotatedOnAIsRefusedOnB(t *testing.T) {
	is := is.New(t)
	a, b, _ := twoReplicas(t, 0)
	for _, change := range []string{"delete", "rotate"} {
		k, secret, err := a.keys.Create(ctx, authkit.KeyRequest{Owner: "alice", Handle: change})
		is.NoErr(err)
		_, err = b.keys.VerifyKey(ctx, secret)
		is.NoErr(err) // cached on B now
		start := time.Now()
		if change == "delete" {
			is.NoErr(a.keys.Delete(ctx, "alice", k.ID))
		} else {
			_, _, err := a.keys.Rotate(ctx, "alice", k.ID, 0)
			is.NoErr(err)
		}
		for {
			_, err = b.keys.VerifyKey(ctx, secret)
			if errors.Is(err, authkit.ErrRevoked) {
				break
			}
			is.NoErr(err)
			if time.Since(start) > time.Second {
				t.Fatalf("a key %sd on A still verifies on B after 1 s", change)
			}
			time.Sleep(2 * time.Millisecond)
		}
		t.Logf("key %s reached B after %v", change, time.Since(start).Round(time.Millisecond))
	}
	k, secret, err := a.keys.Create(ctx, authkit.KeyRequest{Owner: "alice", Handle: "grace"})
	is.NoErr(err)
	_, err = b.keys.VerifyKey(ctx, secret)
	is.NoErr(err)
	_, fresh, err := a.keys.Rotate(ctx, "alice", k.ID, time.Hour)
	is.NoErr(err)
	time.Sleep(50 * time.Millisecond) // the notification has long arrived
	_, err = b.keys.VerifyKey(ctx, secret)
	is.NoErr(err) // in its grace
	_, err = b.keys.VerifyKey(ctx, fresh)
	is.NoErr(err)
}

// killListeners terminates, through conn, the listening connections of
// s's schema (every replica's on it) and returns how many it ended.
func killListeners(t *testing.T, conn *pgx.Conn, s *postgres.Store) int {
	t.Helper()
	var killed int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, postgres.ListenerName(s)).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	return killed
}

// TestReplicas_ListenerDropReplaysMissedRevocations kills B's listening
// connection from the server side, revokes on A while B is deaf, and checks
// that B refuses the revoked token (reading the store while deaf, then
// from the replay) and listens again.
func TestReplicas_ListenerDropReplaysMissedRevocations(t *testing.T) {
	is := is.New(t)
	a, b, k := twoReplicas(t, 0)
	g, err := a.sessions.Login(ctx, k, "x")
	is.NoErr(err)
	_, err = b.tokens.Verify(ctx, g.AccessToken)
	is.NoErr(err)
	conn, err := pgx.Connect(ctx, dsn(t))
	is.NoErr(err)
	defer conn.Close(ctx)
	// Kill the listening connections of this schema (A's and B's), then
	// revoke before they are back.
	is.Equal(killListeners(t, conn, b.store), 2)
	is.NoErr(a.sessions.Revoke(ctx, "alice", g.Session.ID))
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err = b.tokens.Verify(ctx, g.AccessToken)
		if errors.Is(err, authkit.ErrRevoked) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("B never learnt of the revocation made while its listener was down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// B refuses at once while deaf (it reads the store), and listens again.
	for !postgres.Listening(b.store) {
		if time.Now().After(deadline) {
			t.Fatal("B never listened again")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func BenchmarkVerifyKey(b *testing.B) {
	dsn(b)
	r := newReplica(b, schema(b), 0)
	_, secret, err := r.keys.Create(ctx, authkit.KeyRequest{Owner: "a", Handle: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("postgres", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.keys.VerifyKey(ctx, secret); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkLogin(b *testing.B) {
	dsn(b)
	r := newReplica(b, schema(b), 0)
	k, _, err := r.keys.Create(ctx, authkit.KeyRequest{Owner: "a", Handle: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("new-session/postgres", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if _, err := r.sessions.Login(ctx, k, time.Now().String()+string(rune(i))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reuse/postgres", func(b *testing.B) {
		if _, err := r.sessions.Login(ctx, k, "reuse"); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.sessions.Login(ctx, k, "reuse"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestReplicas_FrozenListenerStillHonoursRevocationsWithin2s freezes the
// server processes of both replicas' listening connections (SIGSTOP: the
// connections stay open and silent, as after a half-open TCP connection),
// revokes a session and deletes a key through A, and checks that B, whose
// cache holds them alive, refuses both within 2 s: B's listener misses its
// own heartbeat, so B reads the store until it has listened again.
func TestReplicas_FrozenListenerStillHonoursRevocationsWithin2s(t *testing.T) {
	is := is.New(t)
	a, b, k := twoReplicas(t, 0)
	g, err := a.sessions.Login(ctx, k, "frozen")
	is.NoErr(err)
	_, secret, err := a.keys.Create(ctx, authkit.KeyRequest{Owner: "alice", Handle: "frozen"})
	is.NoErr(err)
	_, err = b.tokens.Verify(ctx, g.AccessToken)
	is.NoErr(err) // cached alive on B
	_, err = b.keys.VerifyKey(ctx, secret)
	is.NoErr(err) // cached on B

	conn, err := pgx.Connect(ctx, dsn(t))
	is.NoErr(err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, postgres.ListenerName(b.store))
	is.NoErr(err)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	is.NoErr(err)
	is.Equal(len(pids), 2)
	for _, pid := range pids {
		if err := syscall.Kill(int(pid), syscall.SIGSTOP); err != nil {
			t.Skipf("cannot freeze the PostgreSQL backend %d (the server must run on this machine, as the test's user may signal): %v", pid, err)
		}
		defer syscall.Kill(int(pid), syscall.SIGCONT)
	}

	start := time.Now()
	is.NoErr(a.sessions.Revoke(ctx, "alice", g.Session.ID))
	keys, err := a.keys.List(ctx, "alice", authkit.Page{})
	is.NoErr(err)
	for _, x := range keys {
		if x.Handle == "frozen" {
			is.NoErr(a.keys.Delete(ctx, "alice", x.ID))
		}
	}
	var tokenAt, keyAt time.Duration
	for tokenAt == 0 || keyAt == 0 {
		if _, err := b.tokens.Verify(ctx, g.AccessToken); tokenAt == 0 && errors.Is(err, authkit.ErrRevoked) {
			tokenAt = time.Since(start)
		}
		if _, err := b.keys.VerifyKey(ctx, secret); keyAt == 0 && errors.Is(err, authkit.ErrRevoked) {
			keyAt = time.Since(start)
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("B still trusts its cache 2 s after A revoked, with its listener frozen (token refused: %v, key refused: %v)", tokenAt, keyAt)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("listener frozen: B refused the revoked session's token after %v and the deleted key after %v", tokenAt.Round(time.Millisecond), keyAt.Round(time.Millisecond))
	// B listens again on a new connection.
	deadline := time.Now().Add(10 * time.Second)
	for b.store.ListeningSince().IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("B never listened again")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReplicas_SigningKeyRevokedOnAIsRefusedOnB: a leaked signing key
// revoked on A: B refuses its tokens within a second, cached or not.
func TestReplicas_SigningKeyRevokedOnAIsRefusedOnB(t *testing.T) {
	is := is.New(t)
	a, b, k := twoReplicas(t, 0)
	g, err := a.sessions.Login(ctx, k, "leak")
	is.NoErr(err)
	_, err = b.tokens.Verify(ctx, g.AccessToken)
	is.NoErr(err) // cached on B
	hdr, _, _ := strings.Cut(g.AccessToken, ".")
	raw, err := base64.RawURLEncoding.DecodeString(hdr)
	is.NoErr(err)
	var h struct {
		Kid string `json:"kid"`
	}
	is.NoErr(json.Unmarshal(raw, &h))
	start := time.Now()
	is.NoErr(a.tokens.RevokeSigningKey(ctx, h.Kid))
	for {
		if _, err := b.tokens.Verify(ctx, g.AccessToken); errors.Is(err, authkit.ErrUnauthenticated) {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatal("a signing key revoked on A still verifies on B after 1 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("signing key revocation reached B after %v", time.Since(start).Round(time.Millisecond))
}

// TestReplicas_ListenerDropReplaysAKeyDisabledMeanwhile: a key disabled on
// A while B's listener is down is refused by B once B listens again, from
// the replay (a disable leaves no time behind: every disabled key is
// replayed).
func TestReplicas_ListenerDropReplaysAKeyDisabledMeanwhile(t *testing.T) {
	is := is.New(t)
	a, b, _ := twoReplicas(t, 0)
	k, secret, err := a.keys.Create(ctx, authkit.KeyRequest{Owner: "alice", Handle: "to-disable"})
	is.NoErr(err)
	_, err = b.keys.VerifyKey(ctx, secret) // cached on B
	is.NoErr(err)
	time.Sleep(1500 * time.Millisecond) // older than any window the replay reads by time
	heard := make(chan authkit.Revocation, 16)
	defer b.store.Subscribe(func(r authkit.Revocation) { heard <- r })()
	conn, err := pgx.Connect(ctx, dsn(t))
	is.NoErr(err)
	defer conn.Close(ctx)
	is.Equal(killListeners(t, conn, b.store), 2)
	yes := true
	_, err = a.keys.Update(ctx, "alice", k.ID, authkit.KeyUpdate{Disabled: &yes})
	is.NoErr(err)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case r := <-heard:
			if r == (authkit.Revocation{Kind: authkit.ChangedKey, ID: k.ID}) {
				_, err = b.keys.VerifyKey(ctx, secret)
				is.True(errors.Is(err, authkit.ErrDisabled))
				return
			}
		case <-deadline:
			t.Fatal("B never heard of the key disabled while its listener was down")
		}
	}
}

// TestReplicas_AKeyReadBeforeAReconnectionIsReadAgain: B keeps a key it
// read while its listener was up fresh for ten times the cache's TTL
// (keys.Config.CacheTTL), for it would hear any change. A change made
// where no notification tells (here a raw UPDATE; a new policy set while
// B's listener is down, which its replay does not cover) is seen once B
// listens again: what B read before its new ListeningSince is read again
// at its next use, within a few seconds, not ten minutes.
func TestReplicas_AKeyReadBeforeAReconnectionIsReadAgain(t *testing.T) {
	is := is.New(t)
	dsn(t)
	if testing.Short() {
		t.Skip("PostgreSQL tests are slow: skipped under -short")
	}
	name := schema(t)
	a, b := newReplica(t, name, 0), newReplica(t, name, 0)
	free := authkit.Policy{Metadata: json.RawMessage(`{"plan":"free"}`)}
	k, secret, err := a.keys.Create(ctx, authkit.KeyRequest{Owner: "alice", Handle: "plan", Policy: free})
	is.NoErr(err)
	got, err := b.keys.VerifyKey(ctx, secret) // cached on B, vouched
	is.NoErr(err)
	is.Equal(string(got.Policy.Metadata), `{"plan":"free"}`)
	before := b.store.ListeningSince()
	is.True(!before.IsZero())

	conn, err := pgx.Connect(ctx, dsn(t))
	is.NoErr(err)
	defer conn.Close(ctx)
	tag, err := conn.Exec(ctx, `UPDATE "`+name+`".keys SET policy = replace(policy, 'free', 'pro') WHERE id = $1`, k.ID) // no notification
	is.NoErr(err)
	is.Equal(tag.RowsAffected(), int64(1))
	got, err = b.keys.VerifyKey(ctx, secret)
	is.NoErr(err)
	is.Equal(string(got.Policy.Metadata), `{"plan":"free"}`) // fresh: not read again

	time.Sleep(1500 * time.Millisecond) // the key older than any window the replay reads by time
	is.Equal(killListeners(t, conn, b.store), 2)
	deadline := time.Now().Add(10 * time.Second)
	for !b.store.ListeningSince().After(before) {
		if time.Now().After(deadline) {
			t.Fatal("B never listened again")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		got, err := b.keys.VerifyKey(ctx, secret)
		is.NoErr(err)
		if string(got.Policy.Metadata) == `{"plan":"pro"}` {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("B kept the policy it read before the reconnection")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
