package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/storage/sqlite"
	"github.com/authkit/authkit/storage/storagetest"
)

func newStore(t *testing.T) authkit.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "authkit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) { storagetest.Run(t, newStore) }

func TestConcurrency(t *testing.T) { storagetest.RunConcurrency(t, newStore) }
