package feed_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/feed"
	"github.com/authkit/authkit/storage/memory"
)

var ctx = context.Background()

// follow opens the feed at url (with lastID, if any) and returns its lines.
func follow(t testing.TB, url, lastID string) (<-chan string, func()) {
	t.Helper()
	c, cancel := context.WithCancel(ctx)
	req, _ := http.NewRequestWithContext(c, "GET", url, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines, cancel
}

// until reads lines until one contains s, and returns the id seen last.
func until(t testing.TB, lines <-chan string, s string) (lastID string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the feed ended before %q", s)
			}
			if id, ok := strings.CutPrefix(l, "id: "); ok {
				lastID = id
			}
			if strings.Contains(l, s) {
				return lastID
			}
		case <-timeout:
			t.Fatalf("no %q on the feed", s)
		}
	}
}

func newFeed(t testing.TB) (*memory.Store, *httptest.Server) {
	store := memory.New()
	f, err := feed.New(feed.Config{Store: store, Heartbeat: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f)
	t.Cleanup(func() { srv.Close(); f.Close() })
	return store, srv
}

func session(t testing.TB, store *memory.Store, k *authkit.Key) *authkit.Session {
	t.Helper()
	s := &authkit.Session{ID: "s-" + time.Now().Format("150405.000000000"), Kind: authkit.SessionGrant, KeyID: k.ID, Owner: k.Owner,
		CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := store.CreateSession(ctx, s, nil); err != nil {
		t.Fatal(err)
	}
	return s
}

func key(t testing.TB, store *memory.Store, id string) *authkit.Key {
	t.Helper()
	k := &authkit.Key{ID: id, Owner: "alice", Handle: id, Env: authkit.EnvLive, CreatedAt: time.Now()}
	if err := store.CreateKey(ctx, k, &authkit.KeySecret{Hash: []byte(id), KeyID: id, CreatedAt: k.CreatedAt}); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestFeed_LiveCatchUpAndResumeWithoutAGap(t *testing.T) {
	is := is.New(t)
	store, srv := newFeed(t)
	k := key(t, store, "k1")
	before := session(t, store, k)
	is.NoErr(store.RevokeSession(ctx, "alice", before.ID, time.Now()))

	// A new follower is caught up first, then told it is live.
	lines, stop := follow(t, srv.URL, "")
	until(t, lines, `"kind":"session-revoked","id":"`+before.ID+`"`)
	until(t, lines, "event: ready")
	live := session(t, store, k)
	is.NoErr(store.RevokeSession(ctx, "alice", live.ID, time.Now()))
	until(t, lines, live.ID)
	u := *k
	u.Disabled = true
	is.NoErr(store.UpdateKey(ctx, &u))
	until(t, lines, `"kind":"key-disabled","id":"k1"`)
	lastID := until(t, lines, "event: ping")
	stop()

	// Missed while away, then resumed from the last id: nothing lost.
	missed := session(t, store, k)
	is.NoErr(store.RevokeSession(ctx, "alice", missed.ID, time.Now()))
	is.NoErr(store.RevokeKey(ctx, "alice", "k1", time.Now()))
	lines, stop = follow(t, srv.URL, lastID)
	defer stop()
	until(t, lines, missed.ID)
	until(t, lines, "event: ready")
}

func TestFeed_TokenWhenSet(t *testing.T) {
	is := is.New(t)
	f, err := feed.New(feed.Config{Store: memory.New(), Token: "s3cret-feed-token"})
	is.NoErr(err)
	defer f.Close()
	for auth, want := range map[string]int{"": 401, "Bearer wrong": 401} {
		r := httptest.NewRequest("GET", "/", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		f.ServeHTTP(w, r)
		is.Equal(w.Code, want)
	}
}

// BenchmarkFeed_RevocationToFollower is the cost of one revocation on the
// feed: from the store's publication to the line a follower reads over
// loopback HTTP.
func BenchmarkFeed_RevocationToFollower(b *testing.B) {
	store, srv := newFeed(b)
	k := key(b, store, "k1")
	lines, stop := follow(b, srv.URL, "")
	defer stop()
	until(b, lines, "event: ready")
	ids := make([]string, 0, 1024)
	for range 1024 {
		ids = append(ids, session(b, store, k).ID)
	}
	i := 0
	for b.Loop() {
		id := ids[i%len(ids)]
		i++
		store.Publish(authkit.Revocation{Kind: authkit.RevokedSession, ID: id})
		until(b, lines, id)
	}
}
