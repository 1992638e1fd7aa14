package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Test hooks: not part of the package's API.

// ListenerName is the application_name of s's listening connection.
func ListenerName(s *Store) string { return listenerName(s.schema) }

// Listening reports whether s's listener is connected.
func Listening(s *Store) bool { return s.listeningNow() }

// DropSchema drops schema and everything in it.
func DropSchema(ctx context.Context, dsn, schema string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
	return err
}
