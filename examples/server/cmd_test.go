package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/matryer/is"
)

// The tests of the admin command (cmd/authkit) against the example server
// running on the same database, in another process: what the command does
// reaches the running server as its own changes do.

// buildCommand builds the admin command, from the library's module in
// the workspace.
func buildCommand(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "authkit")
	build := exec.Command("go", "build", "-o", bin, "github.com/authkit/authkit/cmd/authkit")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatal(err)
	}
	return bin
}

// command runs the admin command with the servers' secret (startBinary's)
// and returns its standard output; the test fails unless it exits 0.
func command(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "AUTHKIT_SECRET=crash-test-secret-0123456789abcdefghijkl")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	cmdLogs.Write(errb.Bytes())
	if err != nil {
		t.Fatalf("authkit %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// cmdLogs collects what the command wrote to stderr (its log, with -v).
var cmdLogs syncBuffer

// TestCommand_KeyLife: a key made by `authkit keys create` for a signed-in
// user of the running example server (its owner is the user's ID, as GET
// /user shows it) works over HTTP at once and is listed as the user's; the
// command then rotates, disables, enables and deletes it, and the server
// follows each at once; the user's audit trail holds each change, in order,
// as the admin command's; no secret is in the database or any log.
func TestCommand_KeyLife(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example server and the admin command")
	}
	is := is.New(t)
	db := filepath.Join(t.TempDir(), "authkit.db")
	p := startBinary(t, buildServer(t), db)
	defer func() { p.cmd.Process.Signal(syscall.SIGTERM); p.cmd.Wait() }()
	ak := buildCommand(t)
	user := basic("crash", "crash-password")
	st, me := p.getJSON("/user", user)
	is.Equal(st, 200)
	owner := me["id"].(string)

	var k struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	is.NoErr(json.Unmarshal([]byte(command(t, ak, "keys", "create", "-db", db, "-owner", owner, "-handle", "from-cli", "-scopes", "videos:read,videos:write", "-json")), &k))
	is.True(strings.HasPrefix(k.Secret, "ak_live_"))
	is.Equal(p.get("/videos", basic(k.Secret, "")), 200) // at once
	st, m := p.post("/auth/login", "", `{"api_key":"`+k.Secret+`","session_id":"s"}`)
	is.Equal(st, 200)
	is.Equal(p.get("/videos", bearer(m["access_token"].(string))), 200)

	st, keys := p.getJSON("/user/keys", user)
	is.Equal(st, 200)
	is.Equal(keys["keys"].([]any)[0].(map[string]any)["handle"], "from-cli")
	st, audit := p.getJSON("/user/audit", user) // the contract (openapi.json) knows the admin actor
	is.Equal(st, 200)
	ev := audit["events"].([]any)[0].(map[string]any)
	is.Equal(ev["action"], "key.created")
	is.Equal(ev["actor"].(map[string]any)["kind"], "admin")

	// And what the command lists of the user's is what the server made.
	is.True(strings.Contains(command(t, ak, "sessions", "list", "-db", db, "-owner", owner), "login"))

	// The rest of the key's life by the command, while the server runs: each
	// change is in the user's trail, in order, as the admin command's, and
	// the server follows at once.
	var rot struct {
		Secret string `json:"secret"`
	}
	is.NoErr(json.Unmarshal([]byte(command(t, ak, "keys", "rotate", "-db", db, "-owner", owner, "from-cli", "-json", "-v")), &rot))
	is.Equal(p.get("/videos", basic(rot.Secret, "")), 200)
	command(t, ak, "keys", "disable", "-db", db, "-owner", owner, "from-cli", "-v")
	eventually(t, func() bool { return p.get("/videos", basic(rot.Secret, "")) == 401 })
	command(t, ak, "keys", "enable", "-db", db, "-owner", owner, "from-cli", "-v")
	eventually(t, func() bool { return p.get("/videos", basic(rot.Secret, "")) == 200 })
	command(t, ak, "keys", "delete", "-db", db, "-owner", owner, "from-cli", "-v")
	eventually(t, func() bool { return p.get("/videos", basic(rot.Secret, "")) == 401 })
	st, audit = p.getJSON("/user/audit", user)
	is.Equal(st, 200)
	var actions []string
	for _, x := range audit["events"].([]any) {
		ev := x.(map[string]any)
		actor := ev["actor"].(map[string]any)
		is.Equal(actor["kind"], "admin")
		is.True(actor["id"] != "")                                       // the operating-system user
		is.True(strings.HasPrefix(actor["request_id"].(string), "cli-")) // one per run of the command
		is.Equal(ev["target"], k.ID)
		actions = append(actions, ev["action"].(string))
	}
	is.Equal(actions, []string{"key.created", "key.rotated", "key.disabled", "key.enabled", "key.deleted"})

	// No secret in the database files, the server's log or the command's.
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	p.mu.Lock()
	logs := p.logs.String() + cmdLogs.String()
	p.mu.Unlock()
	for _, secret := range []string{k.Secret, rot.Secret} {
		is.True(!strings.Contains(logs, secret))
		for _, f := range []string{db, db + "-wal"} {
			b, _ := os.ReadFile(f)
			is.True(!strings.Contains(string(b), secret))
		}
	}
	is.True(strings.Contains(cmdLogs.String(), "authkit: audit")) // -v: the command logs its audit records
}

// eventually waits up to 2 s for cond.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("not within 2 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCommand_SigningKeyRevokeReachesServer_PostgreSQL: `authkit
// signing-keys revoke` of the current signing key, run while the example
// server runs on the same PostgreSQL schema, makes the key's tokens 401 on
// the server within 1 s and drops it from the JWKS (LISTEN/NOTIFY).
func TestCommand_SigningKeyRevokeReachesServer_PostgreSQL(t *testing.T) {
	dsn := os.Getenv("AUTHKIT_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("AUTHKIT_TEST_POSTGRES is not set: no PostgreSQL to run the server on")
	}
	if testing.Short() {
		t.Skip("builds and runs the example server and the admin command")
	}
	signingKeyRevokeReachesServer(t, pgSchema(t, dsn))
}

// TestCommand_SigningKeyRevokeReachesServer_SQLite is the same on an SQLite
// file: it needs the store to relay revocations between the processes
// sharing the file (the SQLite cross-process notifier).
func TestCommand_SigningKeyRevokeReachesServer_SQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example server and the admin command")
	}
	signingKeyRevokeReachesServer(t, filepath.Join(t.TempDir(), "authkit.db"))
}

func signingKeyRevokeReachesServer(t *testing.T, db string) {
	is := is.New(t)
	p := startBinary(t, buildServer(t), db)
	defer func() { p.cmd.Process.Signal(syscall.SIGTERM); p.cmd.Wait() }()
	ak := buildCommand(t)
	user := basic("crash", "crash-password")
	st, m := p.post("/user/keys", user, `{"handle":"leak"}`)
	is.Equal(st, 201)
	key := m["token"].(string)
	st, m = p.post("/auth/login", "", `{"api_key":"`+key+`","session_id":"s"}`)
	is.Equal(st, 200)
	tok := m["access_token"].(string)
	is.Equal(p.get("/videos", bearer(tok)), 200) // verified, and cached
	var hdr struct {
		Kid string `json:"kid"`
	}
	h, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	is.NoErr(err)
	is.NoErr(json.Unmarshal(h, &hdr))
	is.True(jwksHas(t, p, hdr.Kid))

	command(t, ak, "signing-keys", "revoke", "-db", db, hdr.Kid)
	start := time.Now()
	deadline := start.Add(time.Second)
	for p.get("/videos", bearer(tok)) != 401 || jwksHas(t, p, hdr.Kid) {
		if time.Now().After(deadline) {
			t.Logf("GET /videos with the token: %d; the JWKS holds the key: %v", p.get("/videos", bearer(tok)), jwksHas(t, p, hdr.Kid))
			t.Fatal("after 1 s, the server still accepts a token of the signing key the command revoked, or publishes the key")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("the token 401 and its key out of the JWKS %v after the command returned", time.Since(start).Round(time.Millisecond))
	// A new signing key took over: a new login's token works.
	st, m = p.post("/auth/login", "", `{"api_key":"`+key+`","session_id":"s2"}`)
	is.Equal(st, 200)
	is.Equal(p.get("/videos", bearer(m["access_token"].(string))), 200)
	out := command(t, ak, "token", "inspect", "-db", db, "-json", tok)
	is.True(strings.Contains(out, `"reason": "signing_key_revoked"`))
}

// jwksHas reports whether the server's JWKS holds kid.
func jwksHas(t *testing.T, p *process, kid string) bool {
	t.Helper()
	st, set := p.getJSON("/.well-known/jwks.json", "")
	if st != 200 {
		t.Fatalf("JWKS: %d", st)
	}
	for _, k := range set["keys"].([]any) {
		if k.(map[string]any)["kid"] == kid {
			return true
		}
	}
	return false
}
