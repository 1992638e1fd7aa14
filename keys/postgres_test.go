package keys_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/storage/postgres"
)

// The key benchmarks (and, not under -short, the behaviour tests) run on
// PostgreSQL too when AUTHKIT_TEST_POSTGRES holds a server's address.
func init() {
	dsn := os.Getenv("AUTHKIT_TEST_POSTGRES")
	if dsn == "" {
		return
	}
	benchStores = append(benchStores, struct {
		name string
		open func(b *testing.B) authkit.Store
	}{"postgres", func(b *testing.B) authkit.Store { return openPostgres(b, dsn) }})
	testStores = append(testStores, struct {
		name string
		open func(t testing.TB) authkit.Store
	}{"postgres", func(t testing.TB) authkit.Store {
		if testing.Short() {
			t.Skip("PostgreSQL tests are slow: skipped under -short")
		}
		return openPostgres(t, dsn)
	}})
}

// openPostgres opens a store on a schema of its own, dropped when t ends.
func openPostgres(t testing.TB, dsn string) *postgres.Store {
	schema := fmt.Sprintf("authkit_keys_%d", time.Now().UnixNano())
	s, err := postgres.Open(context.Background(), dsn, postgres.Config{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		if conn, err := pgx.Connect(context.Background(), dsn); err == nil {
			conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)
			conn.Close(context.Background())
		}
	})
	return s
}
