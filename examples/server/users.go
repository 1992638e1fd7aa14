package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/httpmw"
	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"
)

// User is a person who signs in to the example app with HTTP Basic and owns
// keys. authkit leaves users to the app: this is the example's own.
type User struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	CreatedAt time.Time `json:"created_at"`
}

// Users is the example's user directory: a table in the same database as
// authkit's, with bcrypt password hashes.
type Users struct {
	db   *sql.DB
	cost int
	// dummy is compared against when a name is unknown, at the same cost
	// as a real hash, so that a wrong name takes as long as a wrong
	// password.
	dummy []byte
	// Limiter counts failed sign-ins per client address, like failed keys;
	// nil: none are counted.
	Limiter *httpmw.Limiter
}

// OpenUsers prepares the users table in db. cost is bcrypt's cost (0: the default).
func OpenUsers(ctx context.Context, db *sql.DB, cost int) (*Users, error) {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS example_users (
		id TEXT PRIMARY KEY,
		username TEXT NOT NULL UNIQUE,
		password_hash TEXT NOT NULL,
		created_at BIGINT NOT NULL)`)
	if err != nil {
		return nil, fmt.Errorf("users table: %w", err)
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte(rand.Text()), cost)
	if err != nil {
		return nil, err
	}
	return &Users{db: db, cost: cost, dummy: dummy}, nil
}

// Set creates the user or changes its password.
func (u *Users) Set(ctx context.Context, username, password string) (*User, error) {
	if username == "" || strings.ContainsAny(username, ": \t") || len(username) > 64 {
		return nil, authkit.Invalid("user", "a user name is 1 to 64 characters, without ':' or spaces")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), u.cost)
	if err != nil {
		return nil, authkit.Invalid("user", "password too long")
	}
	now := time.Now().UTC()
	_, err = u.db.ExecContext(ctx, `INSERT INTO example_users (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash`,
		uuid.Must(uuid.NewV7()).String(), username, string(hash), now.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("set user: %w", err)
	}
	return u.byName(ctx, username)
}

// Count returns the number of users.
func (u *Users) Count(ctx context.Context) (int, error) {
	var n int
	err := u.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM example_users`).Scan(&n)
	return n, err
}

// EnsureDemo creates the user "demo" with a random password if there is no
// user at all, and returns that password ("" if nothing was created).
func (u *Users) EnsureDemo(ctx context.Context) (string, error) {
	n, err := u.Count(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	password := rand.Text()
	if _, err := u.Set(ctx, "demo", password); err != nil {
		return "", err
	}
	return password, nil
}

func (u *Users) byName(ctx context.Context, name string) (*User, error) {
	return u.one(ctx, `username = $1`, name)
}

// ByID returns the user with id.
func (u *Users) ByID(ctx context.Context, id string) (*User, error) {
	return u.one(ctx, `id = $1`, id)
}

// one returns the user that where (a condition on one column) names.
func (u *Users) one(ctx context.Context, where string, arg string) (*User, error) {
	var us User
	var created int64
	err := u.db.QueryRowContext(ctx, `SELECT id, username, created_at FROM example_users WHERE `+where, arg).Scan(&us.ID, &us.Username, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, authkit.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	us.CreatedAt = time.UnixMicro(created).UTC()
	return &us, nil
}

// Verify checks a user's name and password (handlers.PasswordVerifier, for
// the login endpoint) and returns the user's ID and the scopes their tokens
// get: the videos'. An unknown name costs a bcrypt comparison at the
// directory's cost too, so that it cannot be told from a wrong password.
func (u *Users) Verify(ctx context.Context, name, password string) (string, []string, error) {
	var id, hash string
	err := u.db.QueryRowContext(ctx, `SELECT id, password_hash FROM example_users WHERE username = $1`, name).Scan(&id, &hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		bcrypt.CompareHashAndPassword(u.dummy, []byte(password))
		return "", nil, fmt.Errorf("unknown user: %w", authkit.ErrUnauthenticated)
	case err != nil:
		return "", nil, err
	case bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil:
		return "", nil, fmt.Errorf("wrong password: %w", authkit.ErrUnauthenticated)
	}
	return id, videoScopes, nil
}

// Authenticate is the httpmw.UserAuthenticator of the example: HTTP Basic
// with a user name and a non-empty password. A client address that failed
// too often is answered 429 before any password is checked.
func (u *Users) Authenticate(r *http.Request) (authkit.Principal, error) {
	name, password, ok := r.BasicAuth()
	if !ok || password == "" {
		return authkit.Principal{}, nil
	}
	if err := u.Limiter.Check(r, name); err != nil {
		return authkit.Principal{}, err
	}
	id, _, err := u.Verify(r.Context(), name, password)
	if errors.Is(err, authkit.ErrUnauthenticated) {
		u.Limiter.Fail(r, name, err)
	}
	if err != nil {
		return authkit.Principal{}, err
	}
	return authkit.UserPrincipal(id), nil
}
