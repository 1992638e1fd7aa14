package postgres_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/storage/postgres"
	"github.com/authkit/authkit/storage/storagetest"
	"github.com/google/uuid"
)

// dsn returns the test server's address, or skips.
func dsn(t testing.TB) string {
	d := os.Getenv("AUTHKIT_TEST_POSTGRES")
	if d == "" {
		t.Skip("AUTHKIT_TEST_POSTGRES is not set: no PostgreSQL to test against (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	return d
}

// schema returns a fresh schema name, dropped when the test ends.
func schema(t testing.TB) string {
	name := "authkit_test_" + fmt.Sprintf("%d_", time.Now().Unix()) + uuid.NewString()[:8]
	t.Cleanup(func() { postgres.DropSchema(context.Background(), dsn(t), name) })
	return name
}

func open(t testing.TB, schemaName string) *postgres.Store {
	s, err := postgres.Open(context.Background(), dsn(t), postgres.Config{Schema: schemaName, MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t *testing.T) authkit.Store {
	if testing.Short() {
		t.Skip("PostgreSQL tests are slow: skipped under -short")
	}
	return open(t, schema(t))
}

func TestConformance(t *testing.T) { dsn(t); storagetest.Run(t, newStore) }

func TestConcurrency(t *testing.T) { dsn(t); storagetest.RunConcurrency(t, newStore) }

// TestCounters: two stores on one schema are two replicas.
func TestCounters(t *testing.T) {
	dsn(t)
	if testing.Short() {
		t.Skip("PostgreSQL tests are slow: skipped under -short")
	}
	name := schema(t)
	a, b := open(t, name), open(t, name)
	storagetest.RunCounters(t, func(*testing.T) (authkit.Counters, authkit.Counters) { return a, b })
}

// BenchmarkCounters: one statement per call, to the PostgreSQL of
// AUTHKIT_TEST_POSTGRES.
func BenchmarkCounters(b *testing.B) {
	if os.Getenv("AUTHKIT_TEST_POSTGRES") == "" {
		b.Skip("AUTHKIT_TEST_POSTGRES is not set")
	}
	name := "authkit_bench_" + uuid.NewString()[:8]
	defer postgres.DropSchema(context.Background(), os.Getenv("AUTHKIT_TEST_POSTGRES"), name)
	s, err := postgres.Open(context.Background(), os.Getenv("AUTHKIT_TEST_POSTGRES"), postgres.Config{Schema: name, MaxConns: 8})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storagetest.BenchCounters(b, s)
}
