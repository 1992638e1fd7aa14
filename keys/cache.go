package keys

import (
	"crypto/subtle"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authkit/authkit"
)

// keyCache holds keys verified recently, by the keyed hash of the secret
// that was presented, so that a key seen before is answered without the
// store. It is bounded (oldest insertion out first); an entry is fresh for
// ttl, then stale for staleFor more, during which it is still answered while
// one background read of the store refreshes it; a revocation or a rotation
// the store publishes forgets the key's entries at once. Only keys that
// verified get in: an unknown secret never fills it.
type keyCache struct {
	mu sync.RWMutex
	// m is keyed by the first 8 bytes of the keyed hash (the entry holds
	// the rest, compared on every hit): a compact table, a few cache lines
	// touched per lookup even at a hundred thousand keys.
	m     map[uint64]*entry
	byKey map[string][]uint64 // key ID → its cached hashes, to forget a key at once
	ring  []uint64            // insertion order; ring[next] is the oldest
	used  int
	next  int
	ttl   int64 // nanoseconds an entry is fresh
	stale int64 // nanoseconds more it is answered while being refreshed

	// epoch moves on every forget: a store read that began before a
	// revocation must not put back what the revocation removed.
	epoch atomic.Uint64

	// unflushed holds the last uses of entries that left the cache before
	// they were written; the flusher takes it.
	unflushed map[string]int64
}

// entry is one verified key, as the store had it, with what verification
// needs to recheck it and the principal of requests that present it.
type entry struct {
	hash      [32]byte     // the keyed hash of the secret it was verified with
	key       *authkit.Key // a snapshot; handed out only as a copy
	principal authkit.Principal
	keyExp    int64 // the key's ExpiresAt, Unix ns; 0: never
	secretExp int64 // the presented secret's ExpiresAt, Unix ns; 0: the current secret
	fresh     int64 // fresh until, Unix ns
	stale     int64 // answered (and refreshed) until, Unix ns

	refreshing atomic.Bool  // a background read of the store is under way
	used       atomic.Int64 // the last verification, Unix ns
	flushed    int64        // the last use written to the store; the flusher's
}

func newKeyCache(size int, ttl, stale time.Duration) *keyCache {
	return &keyCache{
		m: make(map[uint64]*entry, min(size, 1024)), byKey: map[string][]uint64{},
		ring: make([]uint64, size), ttl: int64(ttl), stale: int64(stale), unflushed: map[string]int64{},
	}
}

// get returns the entry for h if it may answer at now, and whether it is
// stale (answer it, and refresh it). With a ttl of 0 (caching off) nothing
// answers: the cache then only tracks uses.
func (c *keyCache) get(h *[32]byte, now int64) (e *entry, stale bool) {
	c.mu.RLock()
	e = c.m[slot(h)]
	c.mu.RUnlock()
	if e == nil || now >= e.stale || subtle.ConstantTimeCompare(e.hash[:], h[:]) != 1 { // another hash of the same slot: a miss
		return nil, false
	}
	return e, now >= e.fresh
}

// slot is the cache's key for hash h: its first 8 bytes.
func slot(h *[32]byte) uint64 { return binary.LittleEndian.Uint64(h[:8]) }

// put adds e (for e.hash), unless a key was forgotten since epoch ep was
// read.
func (c *keyCache) put(e *entry, ep uint64) {
	h := slot(&e.hash)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch.Load() != ep {
		return
	}
	if old, ok := c.m[h]; ok { // a refresh of a stale entry (or a collision): same ring slot
		if old.key.ID == e.key.ID && subtle.ConstantTimeCompare(old.hash[:], e.hash[:]) == 1 {
			e.flushed = old.flushed // what was written stays written
		}
		c.drop(h)
		c.m[h] = e
		c.byKey[e.key.ID] = append(c.byKey[e.key.ID], h)
		return
	}
	if c.used == len(c.ring) {
		c.drop(c.ring[c.next])
	} else {
		c.used++
	}
	c.ring[c.next] = h
	c.next = (c.next + 1) % len(c.ring)
	c.m[h] = e
	c.byKey[e.key.ID] = append(c.byKey[e.key.ID], h)
}

// drop removes the entry of h, keeping its unwritten use. c.mu is held.
func (c *keyCache) drop(h uint64) {
	e, ok := c.m[h]
	if !ok {
		return
	}
	c.keep(e)
	delete(c.m, h)
	id := e.key.ID
	hs := c.byKey[id]
	for i, x := range hs {
		if x == h {
			hs = append(hs[:i], hs[i+1:]...)
			break
		}
	}
	if len(hs) == 0 {
		delete(c.byKey, id)
	} else {
		c.byKey[id] = hs
	}
}

// maxUnflushed bounds the uses kept for entries that left the cache
// between two flushes; past it, a use is lost (LastUsedAt stays older).
const maxUnflushed = 100_000

// keep saves e's use if it was not written yet. c.mu is held.
func (c *keyCache) keep(e *entry) {
	u := e.used.Load()
	if u <= e.flushed || u <= c.unflushed[e.key.ID] {
		return
	}
	if _, ok := c.unflushed[e.key.ID]; ok || len(c.unflushed) < maxUnflushed {
		c.unflushed[e.key.ID] = u
	}
}

// forget drops every entry of key id: it was deleted or rotated.
func (c *keyCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch.Add(1)
	for _, h := range append([]uint64(nil), c.byKey[id]...) {
		c.drop(h)
	}
}

// usedStep is how far a key's last use must have moved since it was last
// written for the flusher to write it again: LastUsedAt is kept to five
// minutes, so that a busy key costs a row write every five minutes at most
// (a hundred thousand keys in use, 330 rows a second).
const usedStep = int64(5 * time.Minute)

// uses collects the last use of every key used since its last write (by
// usedStep at least), for the flusher, and the entries to mark written once
// the write succeeds.
func (c *keyCache) uses(into map[string]int64) []*entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	var marked []*entry
	for _, e := range c.m {
		if u := e.used.Load(); u > e.flushed && (e.flushed == 0 || u-e.flushed >= usedStep) {
			if u > into[e.key.ID] {
				into[e.key.ID] = u
			}
			marked = append(marked, e)
		}
	}
	for id, u := range c.unflushed {
		if u > into[id] {
			into[id] = u
		}
	}
	clear(c.unflushed)
	return marked
}

// written marks the entries' uses up to the given times as written.
func (c *keyCache) written(marked []*entry, upTo map[string]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range marked {
		if u := upTo[e.key.ID]; u > e.flushed {
			e.flushed = u
		}
	}
}

// giveBack returns uses whose write failed, to be tried at the next flush.
func (c *keyCache) giveBack(uses map[string]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, u := range uses {
		if u > c.unflushed[id] {
			c.unflushed[id] = u
		}
	}
}

func (c *keyCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
