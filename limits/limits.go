// Package limits enforces key policies: the rate limits, usage credits and
// address allow-lists of [authkit.Policy], and the limits an owner's keys
// share. A [Gate] is what the authentication middleware (httpmw.Auth.Gate)
// and the token endpoints (handlers.Endpoints.Gate) call once a credential
// is verified; server.New builds one.
//
//	g, err := limits.New(limits.Config{Keys: store, Counters: &memory.Counters{}})
//	a, err := g.Admit(ctx, keyID, clientAddr)
//
// # Where the counts live
//
// The counts are kept by an [authkit.Counters]: in the process
// (storage/memory: one replica), or shared by every replica (storage/redis,
// storage/postgres), so that two replicas allow exactly a limit between
// them and credits never go below zero. The policies themselves are read
// from the key store by key ID and kept in memory for Config.CacheTTL;
// a change the store publishes ([authkit.ChangedKey]) is seen at once.
//
// # When the counters fail
//
// If the counters cannot be reached (Redis is down), Admit refuses the
// request with an error wrapping [authkit.ErrUnavailable] (HTTP 503), or,
// with Config.FailOpen, lets it through uncounted. Either way the failure
// is logged, at most once every ten seconds.
//
// # Cost
//
// A key with no policy costs one read of an in-memory map. Each rate limit
// and the credits cost one call of the counters: about 0.1 µs in process, a
// round trip to Redis or PostgreSQL otherwise.
package limits

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/metrics"
	"github.com/authkit/authkit/internal/refresh"
	"github.com/authkit/authkit/internal/tick"
)

// Defaults of [Config].
const (
	DefaultCacheTTL   = time.Minute // keys.DefaultCacheTTL: see Config.CacheTTL
	DefaultCacheSize  = 100_000
	DefaultFlushEvery = time.Minute
)

// Config configures a [Gate]. Keys and Counters are required.
type Config struct {
	// Keys is read for a key's policy, by ID. If it is also an
	// authkit.Notifier (every authkit backend is), a changed or deleted
	// key is read again at once, on every replica the store reaches.
	Keys authkit.KeyStore
	// Cached, when set, answers a key from memory before Keys is read,
	// with when it was read from the store (by Clock): server.New gives the
	// key service's cache of verified keys (keys.Service.CachedKey), so
	// that a request costs no second read of the store for a key verified
	// a moment ago. A key read longer ago than CacheTTL allows is read
	// from Keys instead.
	Cached func(id string) (*authkit.Key, time.Time, bool)
	// Counters keep the counts: storage/memory's Counters in one process,
	// storage/redis or storage/postgres across replicas.
	Counters authkit.Counters
	// OwnerLimits returns the rate limits every key of owner counts
	// against together (a plan's limits, say), or nil. It is called when a
	// key's policy is read, not on every request, and must be safe for
	// concurrent use. nil: no owner limits.
	OwnerLimits func(owner string) []authkit.RateLimit
	// FailOpen lets requests through, uncounted, while the counters fail;
	// by default they are refused with authkit.ErrUnavailable.
	FailOpen bool
	// CacheTTL is how long a policy read from the store is used before it
	// is read again (changes the store publishes apply at once); default 1
	// minute. Ten times as long when the store's Notifier vouches that it
	// has heard every change since before the policy was read
	// (authkit.NotifierHealth.ListeningSince, compared with Clock's time).
	// A policy read from Keys is fresh for that less up to a fifth at
	// random, so that keys seen together are not read again together; one
	// taken from Cached, for all of it: with the key cache's TTL no longer
	// than this one (as by default), the key cache's own entry goes stale
	// first, and its read serves both. For ten minutes more, a policy past
	// its freshness is still used while one background read refreshes it,
	// so that no request waits for the store for a key it has seen.
	CacheTTL time.Duration
	// CacheSize bounds the policies kept in memory; default 100 000. Past
	// it, a policy read takes the place of one other, at random.
	CacheSize int
	// Usage, when set, receives usage analytics: every request's outcome
	// per key, counted in memory and written in one batch every
	// FlushEvery (default 1 minute: the counts are hourly, and each flush
	// writes a row per key used), off the request path. A crash loses at
	// most that much of the counts.
	Usage      authkit.UsageStore
	FlushEvery time.Duration
	Clock      authkit.Clock // nil: the system clock
	Logger     *slog.Logger  // nil: slog.Default()
	// MeterProvider, when set, receives the Gate's metrics: its refusals
	// (authkit.limiter.refusals, by reason) and the duration of the store
	// reads of policies (see the root README's Operations). nil: none.
	MeterProvider metric.MeterProvider
}

// Gate enforces key policies; it implements [authkit.Gate]. It is safe for
// concurrent use. Call Close when done with it.
type Gate struct {
	cfg     Config
	health  authkit.NotifierHealth // the store's, if it has one
	logger  *slog.Logger
	ttl     int64 // ns
	metrics *metrics.Metrics

	mu      sync.RWMutex
	entries map[string]*entry // by key ID
	epoch   atomic.Uint64     // moves on every forget: a read that began before must not be cached
	cancel  func()

	lastLog atomic.Int64 // Unix ns of the last logged counters failure

	refreshes *refresh.Queue[*entry] // stale entries, read again in the background

	usageMu sync.Mutex
	pending map[usageKey]int64 // counted since the last flush
	flushMu sync.Mutex         // one flush at a time
	flusher *tick.Loop         // nil without Usage
	stop    chan struct{}      // the refreshes'
	once    sync.Once
}

type usageKey struct {
	keyID   string
	start   int64 // the bucket's start, Unix seconds
	outcome authkit.Outcome
}

// maxPending bounds the counts held between two flushes; past it, counts
// of new buckets are dropped (and the drop logged at the flush).
const maxPending = 100_000

var _ authkit.Gate = (*Gate)(nil)

// entry is one key's policy as enforced, with the counters' names built
// once.
type entry struct {
	key      *authkit.Key
	read     int64       // when it was read from the store, Unix ns
	fresh    int64       // for how long after read it is fresh, unvouched (ns)
	reading  atomic.Bool // a background read is under way
	limits   []limit
	credits  string // the balance's name; "" when the key is not metered
	enforced bool   // anything to count or check beyond the key's state
}

type limit struct {
	authkit.RateLimit
	counter string
}

// New returns a Gate. Returns an error wrapping authkit.ErrInvalid if Keys
// or Counters is missing, or an owner limit is invalid.
func New(cfg Config) (*Gate, error) {
	switch {
	case cfg.Keys == nil:
		return nil, authkit.Invalid("Keys", "required")
	case cfg.Counters == nil:
		return nil, authkit.Invalid("Counters", "required")
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = DefaultFlushEvery
	}
	g := &Gate{cfg: cfg, logger: cfg.Logger, ttl: int64(cfg.CacheTTL), entries: map[string]*entry{},
		pending: map[usageKey]int64{}, stop: make(chan struct{})}
	if g.logger == nil {
		g.logger = slog.Default()
	}
	var err error
	if g.metrics, err = metrics.New(cfg.MeterProvider); err != nil {
		return nil, fmt.Errorf("limits: metrics: %w", err)
	}
	var after time.Duration
	if cfg.Cached != nil {
		// A request that finds its key's policy stale here has, as a
		// rule, found the key stale in the key cache a moment before,
		// and queued a read of it there: the policy is read a little
		// later, so as to find that read landed and take the key from
		// Cached, not read the same key from the store a second time.
		after = cachedFirst
	}
	g.refreshes = refresh.New(g.stop, g.reread, after)
	if cfg.Usage != nil {
		g.flusher = tick.Start(cfg.FlushEvery, func() {
			if err := g.Flush(context.Background()); err != nil {
				g.logger.Error("authkit: usage not written; kept for the next flush", "err", err)
			}
		})
	}
	g.health, _ = cfg.Keys.(authkit.NotifierHealth)
	if n, ok := cfg.Keys.(authkit.Notifier); ok {
		g.cancel = n.Subscribe(func(r authkit.Revocation) {
			if r.Kind == authkit.RevokedKey || r.Kind == authkit.ChangedKey {
				g.forget(r.ID)
			}
		})
	}
	return g, nil
}

// Close stops listening for the store's changes and writes the usage
// counted since the last flush. It may be called more than once.
func (g *Gate) Close() error {
	var err error
	g.once.Do(func() {
		if g.cancel != nil {
			g.cancel()
		}
		g.flusher.Stop()
		close(g.stop)
		err = g.Flush(context.Background())
	})
	return err
}

// Flush writes the usage counted since the last flush, in one batch. The
// Gate calls it every Config.FlushEvery and at Close. A failed write keeps
// the counts for the next flush.
func (g *Gate) Flush(ctx context.Context) error {
	if g.cfg.Usage == nil {
		return nil
	}
	g.flushMu.Lock()
	defer g.flushMu.Unlock()
	g.usageMu.Lock()
	batch := g.pending
	g.pending = make(map[usageKey]int64, len(batch))
	g.usageMu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	counts := make([]authkit.UsageCount, 0, len(batch))
	for k, n := range batch {
		counts = append(counts, authkit.UsageCount{KeyID: k.keyID, Start: time.Unix(k.start, 0).UTC(), Outcome: k.outcome, Count: n})
	}
	if err := g.cfg.Usage.AddUsage(ctx, counts); err != nil {
		g.usageMu.Lock()
		for k, n := range batch {
			g.pending[k] += n
		}
		g.usageMu.Unlock()
		return fmt.Errorf("limits: write usage: %w", err)
	}
	return nil
}

// record counts one outcome of key keyID at now.
func (g *Gate) record(keyID string, o authkit.Outcome, now time.Time) {
	if g.cfg.Usage == nil {
		return
	}
	k := usageKey{keyID, now.Unix() - now.Unix()%int64(authkit.UsageBucket/time.Second), o}
	g.usageMu.Lock()
	if _, ok := g.pending[k]; ok || len(g.pending) < maxPending {
		g.pending[k]++
	}
	g.usageMu.Unlock()
}

// Refused implements [authkit.Gate]: a [*authkit.KeyRefusal] counts in
// its key's usage.
func (g *Gate) Refused(err error) {
	var kr *authkit.KeyRefusal
	if g.cfg.Usage == nil || !errors.As(err, &kr) {
		return
	}
	if o, ok := authkit.OutcomeOf(err); ok {
		g.record(kr.KeyID, o, g.cfg.Clock.Now())
	}
}

// Usage returns the usage of key keyID in the buckets that start in
// [from, to): what the store holds and what this Gate counted since its
// last flush. Each bucket has one count per outcome seen.
func (g *Gate) Usage(ctx context.Context, keyID string, from, to time.Time) ([]authkit.UsageCount, error) {
	if g.cfg.Usage == nil {
		return nil, nil
	}
	stored, err := g.cfg.Usage.Usage(ctx, keyID, from, to)
	if err != nil {
		return nil, fmt.Errorf("limits: usage: %w", err)
	}
	g.usageMu.Lock()
	for k, n := range g.pending {
		if k.keyID != keyID || k.start < from.Unix() || k.start >= to.Unix() {
			continue
		}
		i := slices.IndexFunc(stored, func(c authkit.UsageCount) bool { return c.Start.Unix() == k.start && c.Outcome == k.outcome })
		if i < 0 {
			stored = append(stored, authkit.UsageCount{KeyID: keyID, Start: time.Unix(k.start, 0).UTC(), Outcome: k.outcome, Count: n})
		} else {
			stored[i].Count += n
		}
	}
	g.usageMu.Unlock()
	slices.SortFunc(stored, func(a, b authkit.UsageCount) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.Outcome, b.Outcome))
	})
	return stored, nil
}

func (g *Gate) forget(id string) {
	g.mu.Lock()
	g.epoch.Add(1)
	delete(g.entries, id)
	g.mu.Unlock()
}

// Admit implements [authkit.Gate]: it checks the key's state and
// allow-list, then counts the request against the key's rate limits, its
// owner's, and its credits, in that order, and stops at the first that
// refuses it (the limits before it have counted the request).
func (g *Gate) Admit(ctx context.Context, keyID string, addr netip.Addr) (authkit.Admission, error) {
	now := g.cfg.Clock.Now()
	a, err := g.admit(ctx, keyID, addr, now)
	if o, ok := authkit.OutcomeOf(err); ok {
		g.record(keyID, o, now)
	}
	if err != nil {
		if r, ok := metrics.ReasonOf(err); ok {
			g.metrics.Refused(ctx, r)
		}
	}
	return a, err
}

func (g *Gate) admit(ctx context.Context, keyID string, addr netip.Addr, now time.Time) (authkit.Admission, error) {
	e, err := g.entry(ctx, keyID, now)
	if err != nil {
		return authkit.Admission{}, err
	}
	k := e.key
	if err := k.Check(now); err != nil {
		return authkit.Admission{}, fmt.Errorf("limits: %w", err)
	}
	a := authkit.Admission{Metadata: k.Policy.Metadata, At: now}
	if !e.enforced {
		return a, nil
	}
	if !k.Policy.AllowsAddr(addr) {
		return authkit.Admission{}, errAddress
	}
	if len(e.limits) > 0 {
		a.Quotas = make([]authkit.NamedQuota, 0, len(e.limits))
	}
	for _, l := range e.limits {
		q, err := g.cfg.Counters.Limit(ctx, l.counter, l.CostOrOne(), l.Limit, l.Window, now)
		if err != nil {
			return g.failed(ctx, a, err)
		}
		a.Quotas = append(a.Quotas, authkit.NamedQuota{Name: l.Name, Window: l.Window, Quota: q})
		if !q.Allowed {
			return authkit.Admission{}, &authkit.LimitError{Err: authkit.ErrRateLimited, Name: l.Name, RetryAfter: q.Reset.Sub(now), Admission: a}
		}
	}
	if e.credits != "" {
		left, ok, err := g.cfg.Counters.Spend(ctx, e.credits, 1, *k.Policy.Credits, now)
		if err != nil {
			return g.failed(ctx, a, err)
		}
		a.Credits, a.Metered = left, true
		if !ok {
			return authkit.Admission{}, &authkit.LimitError{Err: authkit.ErrUsageExceeded, Admission: a}
		}
	}
	return a, nil
}

var errAddress = fmt.Errorf("limits: %w", authkit.ErrAddressNotAllowed)

// failed answers a failure of the counters: let the request through
// (FailOpen) or refuse it; either way logged, at most every ten seconds.
func (g *Gate) failed(ctx context.Context, a authkit.Admission, err error) (authkit.Admission, error) {
	if errors.Is(err, context.Canceled) {
		return authkit.Admission{}, err
	}
	now := time.Now().UnixNano()
	if last := g.lastLog.Load(); now-last >= int64(10*time.Second) && g.lastLog.CompareAndSwap(last, now) {
		g.logger.ErrorContext(ctx, "authkit: the counters failed", "fail_open", g.cfg.FailOpen, "err", err)
	}
	if g.cfg.FailOpen {
		return authkit.Admission{Metadata: a.Metadata}, nil
	}
	return authkit.Admission{}, fmt.Errorf("limits: counters: %w: %w", authkit.ErrUnavailable, err)
}

// cachedFirst is how long the Gate's background reads wait for the key
// cache's (Config.Cached): about a hundred of its store reads.
const cachedFirst = 20 * time.Millisecond

// staleFor is how long a policy past its freshness is still answered while
// it is read again.
const staleFor = int64(10 * time.Minute)

// entry returns the policy of key id, from memory or the store. A policy
// past its freshness is answered while a refresher reads it again; one
// past its stale window too is read before answering.
func (g *Gate) entry(ctx context.Context, id string, now time.Time) (*entry, error) {
	ns := now.UnixNano()
	g.mu.RLock()
	e := g.entries[id]
	g.mu.RUnlock()
	if e != nil {
		age, fresh := ns-e.read, e.fresh
		if age >= fresh && refresh.Vouched(g.health, e.read) { // asked only past the plain freshness
			fresh *= refresh.VouchedFor
		}
		switch {
		case age < fresh:
			return e, nil
		case age < fresh+staleFor:
			g.refreshes.Offer(&e.reading, e)
			return e, nil
		}
	}
	return g.load(ctx, id, now)
}

// load reads the policy of key id from the store and caches it, unless a
// change was heard since the read began.
func (g *Gate) load(ctx context.Context, id string, now time.Time) (*entry, error) {
	ep := g.epoch.Load()
	ns := now.UnixNano()
	k, read, ok := (*authkit.Key)(nil), ns, false
	if g.cfg.Cached != nil {
		var at time.Time
		if k, at, ok = g.cfg.Cached(id); ok {
			read = at.UnixNano()
			// Taken only if it would be fresh here, as this Gate's own
			// read would be: else every use would take it again.
			age := ns - read
			ok = age < g.ttl || age < refresh.VouchedFor*g.ttl && refresh.Vouched(g.health, read)
		}
	}
	var err error
	fresh := g.ttl // taken from Cached: its jitter spread the reads already
	if !ok {
		read, fresh = ns, refresh.Fresh(g.ttl)
		start := g.metrics.Start()
		k, err = g.cfg.Keys.KeyByID(ctx, id)
		g.metrics.Stored(ctx, metrics.KeyByID, start)
	}
	switch {
	case errors.Is(err, authkit.ErrNotFound):
		return nil, fmt.Errorf("limits: key %s: %w", id, authkit.ErrRevoked)
	case err != nil:
		return nil, fmt.Errorf("limits: %w", err)
	}
	e := g.compile(k)
	e.read, e.fresh = read, fresh
	g.mu.Lock()
	if g.epoch.Load() == ep {
		if _, ok := g.entries[id]; !ok && len(g.entries) >= g.cfg.CacheSize {
			for id := range g.entries { // one out, at random: a store a little larger than the cache does not empty half of it
				delete(g.entries, id)
				break
			}
		}
		g.entries[id] = e
	}
	g.mu.Unlock()
	return e, nil
}

// reread reads a stale policy again (refresh.Queue).
func (g *Gate) reread(e *entry) {
	if _, err := g.load(context.Background(), e.key.ID, g.cfg.Clock.Now()); err != nil {
		if errors.Is(err, authkit.ErrRevoked) {
			g.forget(e.key.ID) // gone: the next use reads it and is refused
		} else {
			e.reading.Store(false) // the store failed: answer on, try again later
		}
	}
}

// compile builds the entry of k.
func (g *Gate) compile(k *authkit.Key) *entry {
	e := &entry{key: k}
	for _, l := range k.Policy.RateLimits {
		e.limits = append(e.limits, limit{l, "rl:k:" + k.ID + ":" + l.Name})
	}
	if g.cfg.OwnerLimits != nil {
		for _, l := range g.cfg.OwnerLimits(k.Owner) {
			if l.Limit > 0 && l.Window > 0 {
				e.limits = append(e.limits, limit{l, "rl:o:" + k.Owner + ":" + l.Name})
			}
		}
	}
	if k.Policy.Credits != nil {
		e.credits = creditsName(k.ID)
	}
	e.enforced = len(e.limits) > 0 || e.credits != "" || len(k.Policy.AllowedIPs) > 0
	return e
}

func creditsName(keyID string) string { return "cr:" + keyID }

// Credits returns what is left of k's credits, and false if k is not
// metered.
func (g *Gate) Credits(ctx context.Context, k *authkit.Key) (int64, bool, error) {
	if k.Policy.Credits == nil {
		return 0, false, nil
	}
	left, _, err := g.cfg.Counters.Spend(ctx, creditsName(k.ID), 0, *k.Policy.Credits, g.cfg.Clock.Now())
	if err != nil {
		return 0, false, fmt.Errorf("limits: credits: %w", err)
	}
	return left, true, nil
}

// SetCredits sets what is left of the credits of key keyID to remaining;
// its refills count from now.
func (g *Gate) SetCredits(ctx context.Context, keyID string, remaining int64) error {
	if remaining < 0 {
		return authkit.Invalid("credits", "remaining must not be negative")
	}
	if err := g.cfg.Counters.SetBalance(ctx, creditsName(keyID), remaining, g.cfg.Clock.Now()); err != nil {
		return fmt.Errorf("limits: credits: %w", err)
	}
	return nil
}
