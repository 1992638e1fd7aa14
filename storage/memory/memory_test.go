package memory_test

import (
	"testing"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/storage/memory"
	"github.com/authkit/authkit/storage/storagetest"
)

func newStore(t *testing.T) authkit.Store { return memory.New() }

func TestConformance(t *testing.T) { storagetest.Run(t, newStore) }

func TestConcurrency(t *testing.T) { storagetest.RunConcurrency(t, newStore) }

func TestCounters(t *testing.T) {
	storagetest.RunCounters(t, func(t *testing.T) (authkit.Counters, authkit.Counters) {
		c := &memory.Counters{}
		return c, c
	})
}

// BenchmarkCounters: go test -run '^$' -bench Counters -benchmem ./storage/memory
func BenchmarkCounters(b *testing.B) { storagetest.BenchCounters(b, &memory.Counters{}) }
