package migrate_test

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"

	"github.com/matryer/is"

	"github.com/authkit/authkit/internal/migrate"
)

func TestRun_AppliesInVersionOrder(t *testing.T) {
	is := is.New(t)
	fsys := fstest.MapFS{
		"migrations/0010_ten.sql": {Data: []byte("ten")},
		"migrations/0002_two.sql": {Data: []byte("two")},
		"migrations/0001_one.sql": {Data: []byte("one")},
		"migrations/README":       {Data: []byte("not a migration")},
	}
	var got []string
	is.NoErr(migrate.Run(context.Background(), fsys, func(_ context.Context, m migrate.Migration) error {
		got = append(got, m.SQL)
		return nil
	}))
	is.Equal(got, []string{"one", "two", "ten"})
}

func TestRun_StopsAtTheFirstErrorNamingTheFile(t *testing.T) {
	is := is.New(t)
	fsys := fstest.MapFS{"migrations/0001_a.sql": {}, "migrations/0002_b.sql": {}, "migrations/0003_c.sql": {}}
	n := 0
	boom := errors.New("boom")
	err := migrate.Run(context.Background(), fsys, func(_ context.Context, m migrate.Migration) error {
		n++
		if m.Version == 2 {
			return boom
		}
		return nil
	})
	is.True(errors.Is(err, boom))
	is.Equal(err.Error(), "migration 0002_b.sql: boom")
	is.Equal(n, 2)
}

func TestList_RefusesBadNamesAndDuplicates(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"no number": {"migrations/init.sql": {}},
		"zero":      {"migrations/0000_x.sql": {}},
		"twice":     {"migrations/0001_a.sql": {}, "migrations/1_b.sql": {}},
	} {
		t.Run(name, func(t *testing.T) {
			is := is.New(t)
			_, err := migrate.List(fsys)
			is.True(err != nil)
		})
	}
}
