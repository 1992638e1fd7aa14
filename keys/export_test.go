package keys

// CacheLen tells the tests how many verified keys the cache holds, and how
// many uses of keys that left it wait for the next flush.
func CacheLen(s *Service) (entries, unflushed int) {
	s.cache.mu.RLock()
	defer s.cache.mu.RUnlock()
	return s.cache.n, len(s.cache.unflushed)
}
