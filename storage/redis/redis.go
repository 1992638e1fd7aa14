// Package redis keeps authkit.Counters in Redis (through go-redis), for
// replicas that share rate limits and credits without a round trip to
// their database. It passes storage/storagetest.RunCounters.
//
// Each call is one Lua script, which Redis runs atomically: concurrent
// callers on every replica are counted one after another. A window is one
// string key (its name and its end), which expires by itself a second after
// the window's length; a balance is one hash ("r" remaining, "t" when it was
// last set or refilled, Unix milliseconds), kept until it is set again.
//
// When Redis cannot be reached, every call returns the error wrapped, and
// the caller decides whether to let the request through.
package redis

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authkit/authkit"
)

// Config configures New and Open.
type Config struct {
	// Prefix starts every key authkit writes; default "authkit:". Two
	// apps sharing one Redis database need different prefixes.
	Prefix string
}

// Counters are authkit.Counters in Redis. Safe for concurrent use.
type Counters struct {
	rdb    goredis.UniversalClient
	prefix string
	owned  bool // Close closes rdb: Open made it
}

var _ authkit.Counters = (*Counters)(nil)

// New returns Counters on the app's own client, which Close leaves open.
func New(rdb goredis.UniversalClient, cfg Config) *Counters {
	if cfg.Prefix == "" {
		cfg.Prefix = "authkit:"
	}
	return &Counters{rdb: rdb, prefix: cfg.Prefix}
}

// Open connects to the Redis at url (redis:// or rediss://, as
// go-redis's ParseURL reads it) and checks that it answers.
func Open(ctx context.Context, url string, cfg Config) (*Counters, error) {
	opt, err := goredis.ParseURL(url)
	if err != nil {
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold a password
		}
		return nil, fmt.Errorf("redis: the URL does not parse: %w", err)
	}
	rdb := goredis.NewClient(opt)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis: %s: %w", opt.Addr, err)
	}
	c := New(rdb, cfg)
	c.owned = true
	return c, nil
}

// Close closes the client if Open made it.
func (c *Counters) Close() error {
	if c.owned {
		return c.rdb.Close()
	}
	return nil
}

// limitScript: KEYS[1] the window's key; ARGV cost, limit, the window's
// length in milliseconds. Returns {1 if counted, the count}.
var limitScript = goredis.NewScript(`
local cost, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c + cost > limit then return {0, c} end
c = redis.call('INCRBY', KEYS[1], cost)
if c == cost then redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) + 1000) end
return {1, c}
`)

// Limit implements authkit.Counters.
func (c *Counters) Limit(ctx context.Context, key string, cost, limit int64, window time.Duration, now time.Time) (authkit.Quota, error) {
	start, end := authkit.WindowOf(now, window)
	q := authkit.Quota{Limit: limit, Reset: time.UnixMilli(end).UTC()}
	k := fmt.Sprintf("%sw:%s:%d", c.prefix, key, end)
	r, err := limitScript.Run(ctx, c.rdb, []string{k}, cost, limit, end-start).Int64Slice()
	if err != nil {
		return q, fmt.Errorf("redis: limit: %w", err)
	}
	if len(r) != 2 {
		return q, errors.New("redis: limit: unexpected reply")
	}
	q.Allowed, q.Remaining = r[0] == 1, max(limit-r[1], 0)
	return q, nil
}

// spendScript: KEYS[1] the balance's key; ARGV cost, initial, refill
// amount, refill interval (ms, 0: never), now (Unix ms). Returns {1 if
// taken, what is left}.
var spendScript = goredis.NewScript(`
local cost, initial, amount, every, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local b = redis.call('HMGET', KEYS[1], 'r', 't')
local r, t = tonumber(b[1]), tonumber(b[2])
if r == nil or t == nil then r, t = initial, now end
if every > 0 and now >= t + every then
  t = t + math.floor((now - t) / every) * every
  r = amount
end
local ok = 0
if cost <= r then r, ok = r - cost, 1 end
redis.call('HSET', KEYS[1], 'r', string.format('%d', r), 't', string.format('%d', t))
return {ok, r}
`)

// Spend implements authkit.Counters.
func (c *Counters) Spend(ctx context.Context, key string, cost int64, cr authkit.Credits, now time.Time) (int64, bool, error) {
	r, err := spendScript.Run(ctx, c.rdb, []string{c.prefix + "b:" + key},
		cost, cr.Initial, cr.RefillAmount, cr.RefillEvery.Milliseconds(), now.UnixMilli()).Int64Slice()
	if err != nil {
		return 0, false, fmt.Errorf("redis: spend: %w", err)
	}
	if len(r) != 2 {
		return 0, false, errors.New("redis: spend: unexpected reply")
	}
	return r[1], r[0] == 1, nil
}

// SetBalance implements authkit.Counters.
func (c *Counters) SetBalance(ctx context.Context, key string, remaining int64, now time.Time) error {
	if err := c.rdb.HSet(ctx, c.prefix+"b:"+key, "r", remaining, "t", now.UnixMilli()).Err(); err != nil {
		return fmt.Errorf("redis: set balance: %w", err)
	}
	return nil
}
