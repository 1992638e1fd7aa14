package keys

// TouchedLen tells the tests how many keys the map of recent LastUsedAt
// writes holds.
func TouchedLen(s *Service) int {
	s.touchMu.Lock()
	defer s.touchMu.Unlock()
	return len(s.touched)
}
