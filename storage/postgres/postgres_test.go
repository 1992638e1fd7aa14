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
	"github.com/matryer/is"
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

// TestCleanup_DeletesEndedWindows: Cleanup deletes the counter rows whose
// window has ended, and keeps the others: a counter per client address
// does not grow the table for ever.
func TestCleanup_DeletesEndedWindows(t *testing.T) {
	dsn(t)
	if testing.Short() {
		t.Skip("PostgreSQL tests are slow: skipped under -short")
	}
	is := is.New(t)
	s := open(t, schema(t))
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 4, 30, 0, time.UTC)
	for _, k := range []string{"a", "b", "c"} {
		_, err := s.Limit(ctx, k, 1, 5, time.Minute, t0) // windows end at 3:05
		is.NoErr(err)
	}
	_, err := s.Limit(ctx, "long", 1, 5, time.Hour, t0) // ends at 4:00
	is.NoErr(err)
	n, err := s.Cleanup(ctx, t0.Add(time.Minute))
	is.NoErr(err)
	is.Equal(n, 3)
	q, err := s.Limit(ctx, "long", 1, 5, time.Hour, t0)
	is.NoErr(err)
	is.Equal(q.Remaining, int64(3)) // kept: its second request
	q, err = s.Limit(ctx, "a", 1, 5, time.Minute, t0)
	is.NoErr(err)
	is.Equal(q.Remaining, int64(4)) // gone: counted afresh
}
