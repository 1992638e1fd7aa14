package keys

import (
	"crypto/subtle"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/authkit/authkit"
)

// keyCache holds keys verified recently, by the secret that was presented
// (its keyed hash decides a hit), so that a key seen before is answered
// without the store. It is bounded (oldest insertion out first); an entry is fresh for
// ttl, then stale for staleFor more, during which it is still answered while
// one background read of the store refreshes it; a revocation or a rotation
// the store publishes forgets the key's entries at once. Only keys that
// verified get in: an unknown secret never fills it.
type keyCache struct {
	mu sync.RWMutex
	// tab is an open-addressed table (linear probing) keyed by a tag of
	// the secret: its maphash under a seed of this cache's, cheap enough to
	// compute before the keyed hash, so that the line of the table a lookup
	// reads is on its way from memory (see locate) while the keyed hash is
	// computed. The slot holds part of the keyed hash, compared on every
	// hit. A lookup touches one line of the table, at a thousand keys as at
	// a million: a Go map of that size walks a directory, a table and a
	// group first.
	tab  []slot
	seed maphash.Seed
	// at is tab, for locate, which reads it without c.mu: a table left
	// behind by a growth is only a wasted prefetch.
	at    atomic.Pointer[[]slot]
	n     int                 // entries in tab; tab grows past half full
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
	tag       uint64       // the secret's tag (keyCache.locate)
	key       *authkit.Key // a snapshot; handed out only as a copy
	principal authkit.Principal
	keyExp    int64 // the key's ExpiresAt, Unix ns; 0: never
	secretExp int64 // the presented secret's ExpiresAt, Unix ns; 0: the current secret
	read      int64 // when the store read that made it began, Unix ns
	stale     int64 // answered (and refreshed) until, Unix ns

	refreshing atomic.Bool // a background read of the store is under way
	flushed    int64       // the last use written to the store; the flusher's
}

func newKeyCache(size int, ttl, stale time.Duration) *keyCache {
	c := &keyCache{
		seed: maphash.MakeSeed(), byKey: map[string][]uint64{},
		ring: make([]uint64, size), ttl: int64(ttl), stale: int64(stale), unflushed: map[string]int64{},
	}
	c.setTable(make([]slot, minTable))
	return c
}

func (c *keyCache) setTable(t []slot) {
	c.tab = t
	c.at.Store(&t)
}

// locate returns the tag of secret, the table's key, and starts reading
// the line of the table where its slot is likely to be, without waiting
// for it: at a hundred thousand keys the table outgrows the CPU's caches,
// and that line would otherwise be a miss to memory (a quarter of a
// lookup's time on the machine of bench/README.md) that the keyed hash,
// computed next, now hides.
func (c *keyCache) locate(secret string) uint64 {
	tag := maphash.String(c.seed, secret)
	t := *c.at.Load()
	prefetch(unsafe.Pointer(&t[tag&uint64(len(t)-1)]))
	return tag
}

// get returns the entry for the secret of tag and keyed hash h if it may
// answer at now, with its principal,
// and records the use; says whether it is stale (answer it, and refresh
// it); and whether the key or the presented secret expired (ask the entry
// which). With a ttl of 0 (caching off) nothing answers: the cache then only
// tracks uses.
func (c *keyCache) get(tag uint64, h *[32]byte, now int64) (e *entry, p authkit.Principal, stale, expired bool) {
	c.mu.RLock()
	if i := c.find(tag); i >= 0 {
		if s := &c.tab[i]; now < s.stale && subtle.ConstantTimeCompare(s.hash[:], h[:hashLen]) == 1 { // else another secret of the same tag: a miss
			e, p, stale, expired = s.e, s.principal, now >= s.stale-c.stale, s.exp != 0 && now >= s.exp
			if !expired {
				atomic.StoreInt64(&s.used, now)
			}
		}
	}
	c.mu.RUnlock()
	return e, p, stale, expired
}

// slot is one place of the table: all a hit reads and writes, in 64 bytes,
// one cache line (the table's backing array is line-aligned). Empty while e
// is nil.
type slot struct {
	tag uint64 // e.tag
	// hash is the first 16 bytes of e.hash: 128 bits of a keyed hash tell
	// secrets apart as surely as 256 do (without the hash key, a guess
	// matches them with a chance of 2^-128).
	hash      [hashLen]byte
	used      int64 // the last verification, Unix ns; atomic under c.mu.RLock
	stale     int64 // e.stale
	exp       int64 // the earlier of e.keyExp and e.secretExp, if any
	principal authkit.Principal
	e         *entry
}

const hashLen = 16

func slotOf(e *entry, used int64) slot {
	exp := e.keyExp
	if exp == 0 || e.secretExp != 0 && e.secretExp < exp {
		exp = e.secretExp
	}
	return slot{tag: e.tag, hash: [hashLen]byte(e.hash[:hashLen]), used: used, stale: e.stale, exp: exp, principal: e.principal, e: e}
}

func (s *slot) lastUsed() int64 { return atomic.LoadInt64(&s.used) }

const minTable = 1024 // slots; a power of two

// find returns the index of tag's slot, or -1. c.mu is held.
func (c *keyCache) find(tag uint64) int {
	mask := uint64(len(c.tab) - 1)
	for i := tag & mask; ; i = (i + 1) & mask {
		switch s := &c.tab[i]; {
		case s.e == nil:
			return -1
		case s.tag == tag:
			return int(i)
		}
	}
}

// set puts s in the table, in place of what its tag held. c.mu is held for
// writing.
func (c *keyCache) set(s slot) {
	if 2*(c.n+1) > len(c.tab) {
		old := c.tab
		c.setTable(make([]slot, 2*len(old)))
		c.n = 0
		for _, o := range old {
			if o.e != nil {
				c.set(o)
			}
		}
	}
	tag, mask := s.tag, uint64(len(c.tab)-1)
	i := tag & mask
	for c.tab[i].e != nil && c.tab[i].tag != tag {
		i = (i + 1) & mask
	}
	if c.tab[i].e == nil {
		c.n++
	}
	c.tab[i] = s
}

// remove empties slot i, moving back the slots after it that probing would
// no longer reach (no tombstones). c.mu is held for writing.
func (c *keyCache) remove(i int) {
	mask := len(c.tab) - 1
	for j := (i + 1) & mask; c.tab[j].e != nil; j = (j + 1) & mask {
		home := int(c.tab[j].tag) & mask
		// The slot at j may move to i if its home is not cyclically in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			c.tab[i] = c.tab[j]
			i = j
		}
	}
	c.tab[i] = slot{}
	c.n--
}

// put adds e (for e.tag and e.hash), unless a key was forgotten since
// epoch ep was read.
func (c *keyCache) put(e *entry, used int64, ep uint64) {
	h := e.tag
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch.Load() != ep {
		return
	}
	if i := c.find(h); i >= 0 { // a refresh of a stale entry (or a collision): same ring slot
		old := &c.tab[i]
		if old.e.key.ID == e.key.ID && subtle.ConstantTimeCompare(old.e.hash[:], e.hash[:]) == 1 {
			e.flushed = old.e.flushed // what was written stays written
			used = max(used, old.lastUsed())
		}
		c.drop(h)
		c.set(slotOf(e, used))
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
	c.set(slotOf(e, used))
	c.byKey[e.key.ID] = append(c.byKey[e.key.ID], h)
}

// drop removes the entry of h, keeping its unwritten use. c.mu is held.
func (c *keyCache) drop(h uint64) {
	i := c.find(h)
	if i < 0 {
		return
	}
	e := c.tab[i].e
	c.keep(&c.tab[i])
	c.remove(i)
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

// keep saves the use of s if it was not written yet. c.mu is held.
func (c *keyCache) keep(s *slot) {
	e, u := s.e, s.lastUsed()
	if u <= e.flushed || u <= c.unflushed[e.key.ID] {
		return
	}
	if _, ok := c.unflushed[e.key.ID]; ok || len(c.unflushed) < maxUnflushed {
		c.unflushed[e.key.ID] = u
	}
}

// current returns the entry of key id verified with its current secret
// (not one rotated away, whose key ends with its grace), if cached and
// fresh at now: a stale one is for the verification that refreshes it.
func (c *keyCache) current(id string, now int64) *entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, h := range c.byKey[id] {
		if i := c.find(h); i >= 0 && now < c.tab[i].stale-c.stale {
			if e := c.tab[i].e; e.key.ID == id && e.secretExp == 0 {
				return e
			}
		}
	}
	return nil
}

// demote makes every entry read before since stale at now (answered, and
// read again at its next use): the store's Notifier began a new run of
// listening at since, and what it missed before may not all have been
// replayed.
func (c *keyCache) demote(since, now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.tab {
		if s := &c.tab[i]; s.e != nil && s.e.read < since && s.stale > now+c.stale {
			s.stale = now + c.stale
			s.e.stale = s.stale
		}
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
	for i := range c.tab {
		s := &c.tab[i]
		e := s.e
		if e == nil {
			continue
		}
		if u := s.lastUsed(); u > e.flushed && (e.flushed == 0 || u-e.flushed >= usedStep) {
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
	return c.n
}
