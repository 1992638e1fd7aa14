package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/matryer/is"
)

// pgSchema makes a fresh schema for one test, dropped after it, and
// returns dsn with that schema as its search path.
func pgSchema(t *testing.T, dsn string) string {
	t.Helper()
	ctx := context.Background()
	schema := fmt.Sprintf("authkit_example_%d", time.Now().UnixNano())
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if conn, err := pgx.Connect(context.Background(), dsn); err == nil {
			conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)
			conn.Close(context.Background())
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// buildServer builds the example server's binary.
func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "server")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestTwoServersOnPostgreSQL runs two example server processes on one
// PostgreSQL schema, as two replicas behind a load balancer would: a key
// made on one works on the other, a revocation on one holds on both, and
// without -redis they share a key's rate limit in PostgreSQL.
func TestTwoServersOnPostgreSQL(t *testing.T) {
	dsn := os.Getenv("AUTHKIT_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("AUTHKIT_TEST_POSTGRES is not set: no PostgreSQL to run two servers on")
	}
	if testing.Short() {
		t.Skip("builds and runs two server processes")
	}
	is := is.New(t)
	db, bin := pgSchema(t, dsn), buildServer(t)
	a := startBinary(t, bin, db)
	defer func() { a.cmd.Process.Signal(syscall.SIGTERM); a.cmd.Wait() }()
	b := startBinary(t, bin, db)
	defer func() { b.cmd.Process.Signal(syscall.SIGTERM); b.cmd.Wait() }()

	user := basic("crash", "crash-password")
	st, m := a.post("/user/keys", user, `{"handle":"limited","ratelimits":[{"name":"shared","limit":20,"window_seconds":2592000}]}`)
	is.Equal(st, 201)
	counts := hammer(a, b, m["token"].(string), 80)
	is.Equal(counts[200], 20) // exactly the limit between the two
	is.Equal(counts[429], 60)

	st, m = a.post("/user/keys", user, `{"handle":"shared"}`)
	is.Equal(st, 201)
	key := m["token"].(string)
	is.Equal(b.get("/user", bearer(key)), 200) // made on A, works on B

	st, m = a.post("/auth/login", "", `{"api_key":"`+key+`","session_id":"s"}`)
	is.Equal(st, 200)
	tok := m["access_token"].(string)
	_, m2 := b.post("/auth/login", "", `{"api_key":"`+key+`","session_id":"s"}`)
	is.Equal(m2["access_token"], tok) // the same session on both
	is.Equal(b.get("/videos", bearer(tok)), 200)

	r, _ := b.post("/auth/api-key", "", `{"apiKey":"`+key+`"}`)
	is.Equal(r, 200)
	// Delete the key on B; A refuses it and its tokens.
	req, _ := newDelete(t, "http://"+b.addr+"/user/keys/shared", user)
	res, err := req()
	is.NoErr(err)
	is.Equal(res, 204)
	deadline := time.Now().Add(time.Second)
	for a.get("/videos", bearer(tok)) != 401 {
		if time.Now().After(deadline) {
			t.Fatal("A still accepts a token of a key deleted on B after 1 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	is.Equal(a.get("/user", bearer(key)), 401)
}
