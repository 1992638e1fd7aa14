package sqlite

import "time"

// SetCheckpointEvery sets the interval of the checkpoints of the Stores
// opened next, for a test; the returned func restores it.
func SetCheckpointEvery(d time.Duration) (restore func()) {
	prev := checkpointEvery
	checkpointEvery = d
	return func() { checkpointEvery = prev }
}
