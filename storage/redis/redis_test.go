package redis_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/matryer/is"
	goredis "github.com/redis/go-redis/v9"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/storage/redis"
	"github.com/authkit/authkit/storage/storagetest"
)

// url returns the Redis to test against, or skips.
func url(t *testing.T) string {
	t.Helper()
	u := os.Getenv("AUTHKIT_TEST_REDIS")
	if u == "" {
		t.Skip("AUTHKIT_TEST_REDIS is not set: no Redis to test against (e.g. redis://127.0.0.1:6379/0)")
	}
	if testing.Short() {
		t.Skip("Redis tests are slow: skipped under -short")
	}
	return u
}

// open returns Counters on their own client under prefix.
func open(t *testing.T, prefix string) *redis.Counters {
	t.Helper()
	c, err := redis.Open(context.Background(), url(t), redis.Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newPrefix returns a prefix of the test's own, whose keys are deleted
// when it ends.
func newPrefix(t *testing.T) string {
	u := url(t)
	prefix := "authkit-test:" + uuid.NewString()[:8] + ":"
	t.Cleanup(func() {
		opt, _ := goredis.ParseURL(u)
		rdb := goredis.NewClient(opt)
		defer rdb.Close()
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
	return prefix
}

// TestCounters: two clients on one prefix are two replicas.
func TestCounters(t *testing.T) {
	url(t)
	prefix := newPrefix(t)
	a, b := open(t, prefix), open(t, prefix)
	storagetest.RunCounters(t, func(*testing.T) (authkit.Counters, authkit.Counters) { return a, b })
}

// TestCounters_PrefixesKeepAppsApart: the same names under two prefixes
// are two counters.
func TestCounters_PrefixesKeepAppsApart(t *testing.T) {
	is := is.New(t)
	a, b := open(t, newPrefix(t)), open(t, newPrefix(t))
	ctx, now := context.Background(), time.Now()
	q, err := a.Limit(ctx, "k", 1, 1, time.Minute, now)
	is.NoErr(err)
	is.True(q.Allowed)
	q, err = b.Limit(ctx, "k", 1, 1, time.Minute, now)
	is.NoErr(err)
	is.True(q.Allowed)
}

// TestCounters_WindowsExpireInRedis: a window's key lives about its
// window's length, by Redis's clock.
func TestCounters_WindowsExpireInRedis(t *testing.T) {
	is := is.New(t)
	prefix := newPrefix(t)
	c := open(t, prefix)
	ctx := context.Background()
	_, err := c.Limit(ctx, "k", 1, 5, 10*time.Second, time.Now())
	is.NoErr(err)
	opt, _ := goredis.ParseURL(url(t))
	rdb := goredis.NewClient(opt)
	defer rdb.Close()
	keys, err := rdb.Keys(ctx, prefix+"w:k:*").Result()
	is.NoErr(err)
	is.Equal(len(keys), 1)
	ttl, err := rdb.PTTL(ctx, keys[0]).Result()
	is.NoErr(err)
	is.True(ttl > 9*time.Second && ttl <= 11*time.Second)
}

// TestCounters_UnreachableIsAnError: a Redis that does not answer is an
// error of every call, never a verdict.
func TestCounters_UnreachableIsAnError(t *testing.T) {
	is := is.New(t)
	url(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	is.NoErr(err)
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	_, err = redis.Open(context.Background(), "redis://"+addr, redis.Config{})
	is.True(err != nil)

	rdb := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	c := redis.New(rdb, redis.Config{})
	ctx, now := context.Background(), time.Now()
	q, err := c.Limit(ctx, "k", 1, 5, time.Minute, now)
	is.True(err != nil)
	is.True(!q.Allowed)
	_, ok, err := c.Spend(ctx, "k", 1, authkit.Credits{Initial: 5}, now)
	is.True(err != nil)
	is.True(!ok)
	is.True(c.SetBalance(ctx, "k", 1, now) != nil)
	var oe *net.OpError
	is.True(errors.As(err, &oe)) // the cause, wrapped
}

// BenchmarkCounters: one Lua script round trip per call, to the Redis of
// AUTHKIT_TEST_REDIS.
func BenchmarkCounters(b *testing.B) {
	u := os.Getenv("AUTHKIT_TEST_REDIS")
	if u == "" {
		b.Skip("AUTHKIT_TEST_REDIS is not set")
	}
	c, err := redis.Open(context.Background(), u, redis.Config{Prefix: "authkit-bench:" + uuid.NewString()[:8] + ":"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	storagetest.BenchCounters(b, c)
}

// TestOpen_ABadURLsErrorHoldsNoPassword: a URL that does not parse is
// refused without quoting it (it may hold a password).
func TestOpen_ABadURLsErrorHoldsNoPassword(t *testing.T) {
	is := is.New(t)
	_, err := redis.Open(context.Background(), "redis://user:s3cret-pass@127.0.0.1:notaport/0", redis.Config{})
	is.True(err != nil)
	is.True(!strings.Contains(err.Error(), "s3cret-pass"))
}
