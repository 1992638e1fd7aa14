// Package migrate runs the embedded schema migrations of authkit's SQL
// backends: files named migrations/<version>_<name>.sql, applied in version
// order, each once, each in a transaction of its own that also records it.
// The backends differ only in how one migration is applied (their driver,
// their locking), which they pass to [Run].
package migrate

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// Migration is one migration file.
type Migration struct {
	Version int    // the number its name starts with
	Name    string // the file's base name, for errors
	SQL     string
}

// List reads the migrations in the directory "migrations" of fsys, in
// version order. A name that does not start with a number, or a version
// given twice, is an error.
func List(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	seen := map[int]string{}
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		num, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: the name must start with a positive version number", base)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s: version %d twice", other, base, v)
		}
		seen[v] = base
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: base, SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Run applies the migrations of fsys in version order through apply, which
// runs one in a transaction of its own: it skips a migration whose version
// is recorded, else executes it and records its version, then commits. The
// first error stops the run.
func Run(ctx context.Context, fsys fs.FS, apply func(ctx context.Context, m Migration) error) error {
	ms, err := List(fsys)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := apply(ctx, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}
