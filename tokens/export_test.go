package tokens

// CacheLen tells the tests how many verified tokens the cache holds, and
// the length of its eviction ring.
func CacheLen(s *Service) (entries, ring int) {
	if s.cache == nil {
		return 0, 0
	}
	s.cache.mu.RLock()
	defer s.cache.mu.RUnlock()
	return len(s.cache.m), len(s.cache.ring)
}

// LivenessLen tells the tests how many keys and sessions the liveness
// cache holds as alive and as revoked.
func LivenessLen(s *Service) (alive, dead int) {
	s.live.mu.RLock()
	defer s.live.mu.RUnlock()
	return len(s.live.alive), len(s.live.dead)
}
