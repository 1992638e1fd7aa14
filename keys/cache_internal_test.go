package keys

import (
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
)

// TestKeyCache_HashesSharingASlot: two hashes with the same first 8 bytes
// (the table's key) never answer for each other: the later one takes the
// slot, the earlier one misses, and forgetting one key leaves the other.
func TestKeyCache_HashesSharingASlot(t *testing.T) {
	is := is.New(t)
	c := newKeyCache(4, time.Minute, 0)
	var a, b [32]byte
	a[0], b[0] = 7, 7 // same slot
	a[31], b[31] = 1, 2
	ea := &entry{hash: a, key: &authkit.Key{ID: "ka"}, fresh: 100, stale: 100}
	eb := &entry{hash: b, key: &authkit.Key{ID: "kb"}, fresh: 100, stale: 100}
	c.put(ea, c.epoch.Load())
	is.Equal(get(c, &a, 1), ea)
	is.True(get(c, &b, 1) == nil) // a's entry does not answer for b
	c.put(eb, c.epoch.Load())
	is.Equal(get(c, &b, 1), eb)
	is.True(get(c, &a, 1) == nil)
	c.forget("ka") // a is gone already: b stays
	is.Equal(get(c, &b, 1), eb)
	c.forget("kb")
	is.True(get(c, &b, 1) == nil)
	is.Equal(len(c.byKey), 0)
	is.True(get(c, &a, 200) == nil) // and past its freshness, nothing answers
}

// TestKeyCache_AStaleReadCannotPutBackAForgottenKey: a store read that began
// before a revocation does not put the revoked key back.
func TestKeyCache_AStaleReadCannotPutBackAForgottenKey(t *testing.T) {
	is := is.New(t)
	c := newKeyCache(4, time.Minute, 0)
	var h [32]byte
	h[0] = 1
	ep := c.epoch.Load() // the read begins
	c.forget("k")        // the key is deleted meanwhile
	c.put(&entry{hash: h, key: &authkit.Key{ID: "k"}, fresh: 100, stale: 100}, ep)
	is.True(get(c, &h, 1) == nil)
}

// TestKeyCache_EvictionKeepsUnwrittenUses: an entry pushed out of the full
// cache hands its last use to the next flush.
func TestKeyCache_EvictionKeepsUnwrittenUses(t *testing.T) {
	is := is.New(t)
	c := newKeyCache(2, time.Minute, 0)
	for i := range 3 {
		var h [32]byte
		h[0] = byte(i + 1)
		e := &entry{hash: h, key: &authkit.Key{ID: string(rune('a' + i))}, fresh: 100, stale: 100}
		e.used.Store(int64(10 + i))
		c.put(e, c.epoch.Load())
	}
	is.Equal(len(c.m), 2)
	latest := map[string]int64{}
	c.uses(latest)
	is.Equal(latest, map[string]int64{"a": 10, "b": 11, "c": 12}) // a left the cache, its use did not
}

// get is keyCache.get without the staleness.
func get(c *keyCache, h *[32]byte, now int64) *entry {
	e, _ := c.get(h, now)
	return e
}
