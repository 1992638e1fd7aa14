package keys

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
)

// TestKeyCache_HashesSharingASlot: two secrets with the same tag (the
// table's key) never answer for each other: the later one takes the
// slot, the earlier one misses, and forgetting one key leaves the other.
func TestKeyCache_HashesSharingASlot(t *testing.T) {
	is := is.New(t)
	c := newKeyCache(4, time.Minute, 0)
	var a, b [32]byte
	a[0], b[0] = 7, 7                 // same slot
	a[hashLen-1], b[hashLen-1] = 1, 2 // and differ in the last byte the table compares
	ea := &entry{hash: a, tag: tagOf(&a), key: &authkit.Key{ID: "ka"}, stale: 100}
	eb := &entry{hash: b, tag: tagOf(&b), key: &authkit.Key{ID: "kb"}, stale: 100}
	c.put(ea, 0, c.epoch.Load())
	is.Equal(get(c, &a, 1), ea)
	is.True(get(c, &b, 1) == nil) // a's entry does not answer for b
	c.put(eb, 0, c.epoch.Load())
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
	c.put(&entry{hash: h, tag: tagOf(&h), key: &authkit.Key{ID: "k"}, stale: 100}, 0, ep)
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
		e := &entry{hash: h, tag: tagOf(&h), key: &authkit.Key{ID: string(rune('a' + i))}, stale: 100}
		c.put(e, int64(10+i), c.epoch.Load())
	}
	is.Equal(c.len(), 2)
	latest := map[string]int64{}
	c.uses(latest)
	is.Equal(latest, map[string]int64{"a": 10, "b": 11, "c": 12}) // a left the cache, its use did not
}

// get is keyCache.get without the staleness, for a secret whose tag is the
// first 8 bytes of its hash h (tagOf).
func get(c *keyCache, h *[32]byte, now int64) *entry {
	e, _, _, _ := c.get(tagOf(h), h, now)
	return e
}

// tagOf stands in for keyCache.locate in these tests, which make hashes,
// not secrets: a tag they choose, the first 8 bytes of h.
func tagOf(h *[32]byte) uint64 { return binary.LittleEndian.Uint64(h[:8]) }

// TestKeyCache_LocateIsTheTagOfTheSecret: the same secret has the same tag
// every time, another secret another; and locate reads the table as it is
// after a growth.
func TestKeyCache_LocateIsTheTagOfTheSecret(t *testing.T) {
	is := is.New(t)
	c := newKeyCache(4096, time.Minute, 0)
	is.Equal(c.locate("ak_live_a"), c.locate("ak_live_a"))
	is.True(c.locate("ak_live_a") != c.locate("ak_live_b"))
	for i := range 2 * minTable { // past half full: the table grows
		var h [32]byte
		binary.LittleEndian.PutUint64(h[:8], uint64(i)*0x9e3779b97f4a7c15)
		c.put(&entry{hash: h, tag: tagOf(&h), key: &authkit.Key{ID: fmt.Sprint("k", i)}, stale: 100}, 0, c.epoch.Load())
	}
	is.True(len(c.tab) > minTable)
	is.Equal(len(*c.at.Load()), len(c.tab))
	c.locate("ak_live_a") // within the grown table
}

// TestKeyCache_ASlotIsOneCacheLine: a hit reads one slot of the table; it
// must fit a 64-byte line (the table's backing array is line-aligned).
func TestKeyCache_ASlotIsOneCacheLine(t *testing.T) {
	is := is.New(t)
	is.Equal(unsafe.Sizeof(slot{}), uintptr(64))
}

// TestKeyCache_TableStaysFindableThroughRemovals: removing from the open
// table moves later slots back, so that every remaining entry is still
// found, whatever the order of removals and however crowded the table.
func TestKeyCache_TableStaysFindableThroughRemovals(t *testing.T) {
	is := is.New(t)
	c := newKeyCache(5000, time.Minute, 0)
	r := rand.New(rand.NewPCG(3, 4))
	var hs [][32]byte
	for i := range 3000 {
		var h [32]byte
		// Few distinct low bits: long probe runs that wrap around the table.
		binary.LittleEndian.PutUint64(h[:8], uint64(r.IntN(64))|uint64(i)<<32)
		binary.LittleEndian.PutUint16(h[20:], uint16(i))
		hs = append(hs, h)
		c.put(&entry{hash: h, tag: tagOf(&h), key: &authkit.Key{ID: fmt.Sprint("k", i)}, stale: 100}, 0, c.epoch.Load())
	}
	is.Equal(c.len(), 3000)
	r.Shuffle(len(hs), func(i, j int) { hs[i], hs[j] = hs[j], hs[i] })
	for n, h := range hs {
		c.forget(get(c, &h, 1).key.ID)
		is.True(get(c, &h, 1) == nil)
		if n%97 == 0 { // everything left is still found
			for _, left := range hs[n+1:] {
				is.True(get(c, &left, 1) != nil)
			}
		}
	}
	is.Equal(c.len(), 0)
}
