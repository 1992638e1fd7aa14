package sessions

import "sync"

// room is, per key, how many more sessions a Manager may open before it
// asks the store to count the key's sessions again: the cap's check costs
// a read of up to MaxSessionsPerKey index entries, and a key opening
// sessions one after another should not pay it every time.
//
// After a count of live sessions, the room is max−live, but never more
// than the tenth of the cap that a trim frees. One Manager alone so keeps
// a key within its cap; several replicas sharing a store each use
// their own room before they count again, so a key may hold a tenth of
// the cap more per other replica, until the next count trims it.
//
// The map is bounded: when full it is emptied, which costs each key one
// more count and never lets a key past its cap.
type room struct {
	mu   sync.Mutex
	left map[string]int
}

// maxRooms bounds the keys a room remembers.
const maxRooms = 1 << 16

// take uses one session of keyID's room and reports whether there was
// one; false means the store must count.
func (r *room) take(keyID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.left[keyID]
	switch {
	case n <= 0:
		return false
	case n == 1:
		delete(r.left, keyID) // used up: the next one counts
	default:
		r.left[keyID] = n - 1
	}
	return true
}

// set records that keyID has room for n more sessions. Of two counts
// that ran at once, the smaller room stands.
func (r *room) set(keyID string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if left, ok := r.left[keyID]; ok {
		n = min(n, left)
	}
	if n <= 0 {
		delete(r.left, keyID)
		return
	}
	if r.left == nil || len(r.left) >= maxRooms {
		r.left = make(map[string]int)
	}
	r.left[keyID] = n
}
