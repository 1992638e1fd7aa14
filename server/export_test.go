package server

import "time"

// SetPoll sets how often the housekeeping of Servers built from now on
// looks whether a job is due, and returns a func that restores it.
func SetPoll(d time.Duration) (restore func()) {
	old := pollEvery
	pollEvery = d
	return func() { pollEvery = old }
}
