package tokens

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authkit/authkit"
)

// tokenCache maps verified tokens to their claims, bounded. It is keyed by
// a seeded hash of the token, so that each lookup hashes the (long) token
// once, and keeps the token to compare: a hash collision is a miss, never a
// wrong answer. It evicts in insertion order (a ring of the keys it
// inserted), which for tokens of similar lifetimes is close to expiry order,
// and costs O(1) per insertion.
type tokenCache struct {
	seed maphash.Seed
	mu   sync.RWMutex
	m    map[uint64]cacheEntry
	ring []uint64 // the keys in insertion order; ring[next] is the oldest
	used int      // how much of ring is filled
	next int
}

type cacheEntry struct {
	token     string
	principal authkit.Principal // immutable, shared by every request with this token
	claims    *authkit.Claims   // what liveness checks read; never handed out
	deadline  int64             // Unix nanoseconds: the entry is dead from then on
}

func newTokenCache(size int) *tokenCache {
	return &tokenCache{seed: maphash.MakeSeed(), m: make(map[uint64]cacheEntry, min(size, 1024)), ring: make([]uint64, size)}
}

// hash returns the cache key of token: a seeded hash of its signature
// segment alone, which is as unique as the token and a fifth of its
// length. A hit still compares the whole token, so tokens that share a
// signature segment (forgeries: they never verify) merely miss.
func (c *tokenCache) hash(token string) uint64 {
	return maphash.String(c.seed, token[strings.LastIndexByte(token, '.')+1:])
}

func (c *tokenCache) get(h uint64, token string) (authkit.Principal, *authkit.Claims, int64, bool) {
	c.mu.RLock()
	e, ok := c.m[h]
	c.mu.RUnlock()
	if !ok || e.token != token {
		return authkit.Principal{}, nil, 0, false
	}
	return e.principal, e.claims, e.deadline, true
}

func (c *tokenCache) put(h uint64, token string, p authkit.Principal, claims *authkit.Claims, deadline int64) {
	// Not cloned: Verify documents that it keeps the token as given.
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[h]; ok {
		return
	}
	// The oldest key goes. It may be gone already (expired and removed), or
	// be a later insertion under the same key, which then merely misses.
	if c.used == len(c.ring) {
		delete(c.m, c.ring[c.next])
	} else {
		c.used++
	}
	c.ring[c.next] = h
	c.next = (c.next + 1) % len(c.ring)
	c.m[h] = cacheEntry{token: token, principal: p, claims: claims, deadline: deadline}
}

// clear empties the cache.
func (c *tokenCache) clear() {
	c.mu.Lock()
	clear(c.m)
	c.used, c.next = 0, 0
	c.mu.Unlock()
}

func (c *tokenCache) remove(h uint64) {
	c.mu.Lock()
	delete(c.m, h)
	c.mu.Unlock()
}

// liveness remembers which keys and sessions were found alive in the store,
// until when, and which were revoked. Both maps are bounded: when the alive
// map is full, an entry is dropped (the store is asked again for it); the
// dead set forgets revocations older than keep, and past maxDead entries the
// oldest half, since the store answers for them as well.
type liveness struct {
	mu    sync.RWMutex
	alive map[liveKey]aliveEntry
	dead  map[liveKey]int64 // revoked, noted at (Unix nanoseconds)
	ttl   time.Duration     // negative: never trust the alive map
	keep  time.Duration     // how long a revocation is remembered
	clock authkit.Clock
	prune int // prune the dead set when it grows past this
}

type liveKey struct {
	kind authkit.RevocationKind
	id   string
}

// aliveEntry is a key or session found alive: until when it is trusted
// (Unix nanoseconds), and for a session what a token of it must say.
type aliveEntry struct {
	until int64
	bind  binding
}

// binding is what a session's tokens must agree with: its key, its owner,
// and the scopes it was granted.
type binding struct {
	keyID, owner string
	scopes       []string
}

// maxAlive bounds the alive map, maxDead the set of revocations.
const (
	maxAlive = 100_000
	maxDead  = 100_000
)

// evictScan is how many entries an insertion into the full alive map looks
// at for expired ones.
const evictScan = 8

type liveState int

const (
	stateUnknown liveState = iota
	stateAlive
	stateDead
)

func newLiveness(ttl, keep time.Duration, clock authkit.Clock) *liveness {
	return &liveness{
		alive: make(map[liveKey]aliveEntry),
		dead:  make(map[liveKey]int64),
		ttl:   ttl,
		keep:  keep,
		clock: clock,
		prune: 1024,
	}
}

func (l *liveness) state(k liveKey, now time.Time) liveState {
	s, _ := l.lookup(k, now)
	return s
}

// lookup is state with the entry's binding.
func (l *liveness) lookup(k liveKey, now time.Time) (liveState, binding) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if _, ok := l.dead[k]; ok {
		return stateDead, binding{}
	}
	if e, ok := l.alive[k]; ok && now.UnixNano() < e.until {
		return stateAlive, e.bind
	}
	return stateUnknown, binding{}
}

// markAlive records that k was found alive at now; it is trusted until
// now + ttl, or expiresAt if that is sooner. A revocation noted meanwhile
// wins: a store read that raced with it cannot bring k back.
func (l *liveness) markAlive(k liveKey, now, expiresAt time.Time, b binding) {
	if l.ttl < 0 {
		return
	}
	until := now.Add(l.ttl)
	if !expiresAt.IsZero() && expiresAt.Before(until) {
		until = expiresAt
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.dead[k]; ok {
		return
	}
	if _, ok := l.alive[k]; !ok && len(l.alive) >= maxAlive {
		nowNs := now.UnixNano()
		n := 0
		for old, e := range l.alive {
			if e.until <= nowNs || n == 0 {
				delete(l.alive, old)
			}
			if n++; n == evictScan {
				break
			}
		}
	}
	l.alive[k] = aliveEntry{until: until.UnixNano(), bind: b}
}

// revoked is the store subscription: it forgets r's entity as alive and
// remembers it as dead. It is quick and never calls the store.
func (l *liveness) revoked(r authkit.Revocation) {
	if r.Kind == authkit.ChangedKey {
		// Disabled, enabled or rotated: read the key again, dead or not.
		l.mu.Lock()
		delete(l.alive, liveKey{kind: authkit.RevokedKey, id: r.ID})
		l.mu.Unlock()
		return
	}
	k := liveKey{kind: r.Kind, id: r.ID}
	now := l.clock.Now().UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.alive, k)
	l.dead[k] = now
	if len(l.dead) > l.prune {
		l.forget(now - int64(l.keep))
		if len(l.dead) > maxDead/2 { // a storm of revocations: keep the newer ones
			ats := make([]int64, 0, len(l.dead))
			for _, at := range l.dead {
				ats = append(ats, at)
			}
			slices.Sort(ats)
			l.forget(ats[len(ats)-maxDead/2] + 1)
		}
		// Prune again once the set has doubled: amortized O(log n) a
		// revocation, and never more than maxDead entries.
		l.prune = max(1024, 2*len(l.dead))
	}
}

// forget drops the revocations noted before limit (Unix nanoseconds).
// l.mu must be held.
func (l *liveness) forget(limit int64) {
	for d, at := range l.dead {
		if at < limit {
			delete(l.dead, d)
		}
	}
}

// headerEntry is what the header cache keeps of a protected header
// segment that go-jose parsed and checked and that verified a signature of
// ours: the key it names. Tokens that carry it are verified by that key's
// [jws.Verifier].
type headerEntry struct {
	kid string
}

// maxHeaders bounds the header cache. Only headers that verified a
// signature get in, so in practice it holds one entry per signing key.
const maxHeaders = 64

// headerCache maps protected header segments to their parsed form. Reads
// take no lock: writers replace the whole (small) map.
type headerCache struct {
	m  atomic.Pointer[map[string]*headerEntry]
	mu sync.Mutex
}

func (c *headerCache) get(h string) *headerEntry {
	if m := c.m.Load(); m != nil {
		return (*m)[h]
	}
	return nil
}

func (c *headerCache) add(h string, e *headerEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	m := make(map[string]*headerEntry, maxHeaders)
	if old != nil {
		for k, v := range *old {
			if len(m) < maxHeaders-1 {
				m[k] = v
			}
		}
	}
	m[h] = e
	c.m.Store(&m)
}
