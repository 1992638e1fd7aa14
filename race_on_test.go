//go:build race

package authkit_test

const raceEnabled = true
