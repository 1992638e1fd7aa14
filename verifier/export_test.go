package verifier

// DisabledLen is how many keys v holds as disabled.
func DisabledLen(v *Verifier) int {
	v.stateMu.RLock()
	defer v.stateMu.RUnlock()
	return len(v.disabled)
}
