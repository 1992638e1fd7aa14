package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/policyjson"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/sessions"
	"github.com/authkit/authkit/storage/sqlite"
	"github.com/authkit/authkit/tokens"
)

// The tests run the command as a real process, a few hundred times in
// all: they skip under -short.
var (
	dir   string    // TestMain's, for the binary
	build sync.Once // by the first test that runs the command
	built error
)

func TestMain(m *testing.M) {
	var err error
	if dir, err = os.MkdirTemp("", "authkit-cmd-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// binary returns the command, built once; under -short it skips t.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the built command as a process: not under -short")
	}
	bin := filepath.Join(dir, "authkit")
	build.Do(func() {
		cmd := exec.Command("go", "build", "-o", bin, ".")
		cmd.Stderr = os.Stderr
		built = cmd.Run()
	})
	if built != nil {
		t.Fatalf("build the command: %v", built)
	}
	return bin
}

const testSecret = "cmd-test-secret-0123456789abcdefghijklmnop"

const testIssuer = "https://api.test"

// result is one run of the command.
type result struct {
	stdout, stderr string
	code           int
}

// store is a store the command runs on: its -db and, for PostgreSQL, its
// -schema.
type store struct {
	db, schema string
	secret     string // AUTHKIT_SECRET; "" for none
}

// newStore returns a migrated SQLite store in a fresh directory.
func newStore(t *testing.T) *store {
	t.Helper()
	s := &store{db: filepath.Join(t.TempDir(), "authkit.db"), secret: testSecret}
	if r := s.run(t, "", "migrate"); r.code != 0 {
		t.Fatalf("migrate: %d %s", r.code, r.stderr)
	}
	return s
}

// run runs the command on s with args (the store's flags added after the
// command's words) and stdin.
func (s *store) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	words := 1
	if len(args) > 1 && !strings.HasPrefix(args[1], "-") && args[0] != "migrate" && args[0] != "cleanup" {
		words = 2
	}
	full := append(append([]string{}, args[:words]...), "-db", s.db)
	if s.schema != "" {
		full = append(full, "-schema", s.schema)
	}
	full = append(full, args[words:]...)
	return runBin(t, s.secret, stdin, full...)
}

// runBin runs the command with args exactly, with secret as
// AUTHKIT_SECRET ("" for none).
func runBin(t *testing.T, secret, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AUTHKIT_SECRET=") && !strings.HasPrefix(kv, "AUTHKIT_DB=") {
			env = append(env, kv)
		}
	}
	if secret != "" {
		env = append(env, "AUTHKIT_SECRET="+secret)
	}
	cmd.Env = env
	cmd.Dir = t.TempDir() // no authkit.secret lying around
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// ok runs the command and fails the test unless it exits 0.
func (s *store) ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := s.run(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("authkit %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// jsonOf runs the command with -json and decodes its output into v.
func (s *store) jsonOf(t *testing.T, v any, args ...string) {
	t.Helper()
	out := s.ok(t, "", append(args, "-json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("authkit %s -json: %v in %q", strings.Join(args, " "), err, out)
	}
}

// createKey creates a key with the command and returns it and its secret.
func (s *store) createKey(t *testing.T, owner, handle string, extra ...string) (keyOut, string) {
	t.Helper()
	var k keyOut
	s.jsonOf(t, &k, append([]string{"keys", "create", "-owner", owner, "-handle", handle}, extra...)...)
	if k.Secret == "" || k.ID == "" {
		t.Fatalf("keys create: no key or secret: %+v", k)
	}
	return k, k.Secret
}

// auditOf returns the audit trail of owner ("" for the service's own).
func (s *store) auditOf(t *testing.T, owner string) []authkit.AuditEvent {
	t.Helper()
	var evs []authkit.AuditEvent
	s.jsonOf(t, &evs, "audit", "list", "-owner", owner, "-limit", "0")
	return evs
}

// server is what a server does with the store, in this process: verify
// keys, exchange them for tokens, verify tokens.
type server struct {
	store    authkit.Store
	keys     *keys.Service
	tokens   *tokens.Service
	sessions *sessions.Manager
}

// openServer opens the SQLite store s as a server would, with clock
// (nil: the system's).
func openServer(t *testing.T, s *store, clock authkit.Clock) *server {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, s.db)
	if err != nil {
		t.Fatal(err)
	}
	return serverOn(t, st, clock)
}

func serverOn(t *testing.T, st authkit.Store, clock authkit.Clock) *server {
	t.Helper()
	ctx := context.Background()
	secret, err := authkit.NewSecret([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keys.New(keys.Config{Store: st, Secret: secret, Clock: clock, FlushEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := tokens.New(ctx, tokens.Config{Store: st, Secret: secret, Issuer: testIssuer, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	sm, err := sessions.New(sessions.Config{Store: st, Tokens: ts, Secret: secret, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ts.Close(); ks.Close(); st.Close() })
	return &server{store: st, keys: ks, tokens: ts, sessions: sm}
}

// exchange exchanges the key secret for a grant.
func (sv *server) exchange(t *testing.T, secret string) *authkit.Grant {
	t.Helper()
	ctx := context.Background()
	k, err := sv.keys.VerifyKey(ctx, secret)
	if err != nil {
		t.Fatalf("verify key: %v", err)
	}
	g, err := sv.sessions.Exchange(ctx, authkit.ExchangeRequest{Key: k})
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return g
}

func TestHelp_EveryCommandHasHelp(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	r := runBin(t, "", "", "-h")
	is.Equal(r.code, 0)
	for _, cmd := range commands {
		is.True(strings.Contains(r.stdout, cmd.name)) // listed
		args := append(strings.Fields(cmd.name), "-h")
		r := runBin(t, "", "", args...)
		is.Equal(r.code, 0)
		is.True(strings.Contains(r.stdout, "Usage: authkit "+cmd.name)) // its usage
		is.True(strings.Contains(r.stdout, "-json"))                    // its flags
		is.True(strings.Contains(r.stdout, "Exit codes"))               // and the exit codes
		is.True(len(cmd.about) > 40)
	}
	for _, group := range []string{"keys", "sessions", "signing-keys", "secret", "audit", "token"} {
		r := runBin(t, "", "", group, "-h")
		is.Equal(r.code, 0)
		is.True(strings.Contains(r.stdout, "authkit "+group))
	}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	k, _ := s.createKey(t, "alice", "one")
	missing := &store{db: filepath.Join(t.TempDir(), "none.db"), secret: testSecret}
	noSecret := &store{db: s.db}
	for _, c := range []struct {
		name string
		s    *store
		args []string
		code int
	}{
		{"no command", s, nil, exitUsage},
		{"unknown command", s, []string{"frobnicate"}, exitUsage},
		{"unknown subcommand", s, []string{"keys", "frobnicate"}, exitUsage},
		{"bad flag", s, []string{"keys", "list", "-owner", "alice", "-bogus"}, exitUsage},
		{"missing owner", s, []string{"keys", "list"}, exitUsage},
		{"missing argument", s, []string{"keys", "show", "-owner", "alice"}, exitUsage},
		{"extra argument", s, []string{"keys", "list", "-owner", "alice", "extra"}, exitUsage},
		{"bad rate", s, []string{"keys", "create", "-owner", "alice", "-rate", "fast"}, exitUsage},
		{"invalid handle (the library's check)", s, []string{"keys", "create", "-owner", "alice", "-handle", "No Spaces"}, exitUsage},
		{"unknown key", s, []string{"keys", "show", "-owner", "alice", "nope"}, exitNotFound},
		{"another owner's key", s, []string{"keys", "show", "-owner", "bob", k.ID}, exitNotFound},
		{"delete an unknown key", s, []string{"keys", "delete", "-owner", "alice", "01970000-0000-7000-8000-000000000000"}, exitNotFound},
		{"unknown session", s, []string{"sessions", "revoke", "-owner", "alice", "01970000-0000-7000-8000-000000000000"}, exitNotFound},
		{"unknown signing key", s, []string{"signing-keys", "revoke", "nope"}, exitNotFound},
		{"a handle in use", s, []string{"keys", "create", "-owner", "alice", "-handle", "one"}, exitFailure},
		{"no database", missing, []string{"keys", "list", "-owner", "alice"}, exitFailure},
		{"no server secret", noSecret, []string{"keys", "create", "-owner", "alice"}, exitFailure},
		{"found", s, []string{"keys", "show", "-owner", "alice", "one"}, exitOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			var r result
			if c.args == nil {
				r = runBin(t, testSecret, "")
			} else {
				r = c.s.run(t, "", c.args...)
			}
			is.Equal(r.code, c.code)
			if c.code != exitOK {
				is.True(r.stderr != "") // said why
			}
			is.True(!strings.Contains(r.stdout+r.stderr, testSecret)) // never the server secret
		})
	}
	_, err := os.Stat(missing.db)
	is.New(t).True(os.IsNotExist(err)) // only migrate creates a database
}

func TestKeys_SecretPrintedOnceAndNeverAgain(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	s := newStore(t)
	human := s.ok(t, "", "keys", "create", "-owner", "alice", "-handle", "human", "-scopes", "videos:read,videos:write", "-recoverable")
	var secret string
	for _, f := range strings.Fields(human) {
		if strings.HasPrefix(f, "ak_live_") && !strings.HasSuffix(f, "…") {
			secret = f
		}
	}
	is.True(secret != "")
	k, secret2 := s.createKey(t, "alice", "script", "-env", "test", "-prefix", "ak", "-ttl", "30d")
	is.True(strings.HasPrefix(secret2, "ak_test_"))
	is.Equal(k.Env, authkit.EnvTest)
	is.True(k.ExpiresAt != nil && k.ExpiresAt.After(time.Now().Add(29*24*time.Hour)))

	// Nothing shows them again.
	var shown []string
	shown = append(shown, s.ok(t, "", "keys", "list", "-owner", "alice"), s.ok(t, "", "keys", "list", "-owner", "alice", "-json"))
	for _, h := range []string{"human", "script", k.ID} {
		shown = append(shown, s.ok(t, "", "keys", "show", "-owner", "alice", h), s.ok(t, "", "keys", "show", "-owner", "alice", h, "-json"))
	}
	shown = append(shown, s.ok(t, "", "audit", "list", "-owner", "alice", "-json"), s.ok(t, "", "keys", "policy", "-owner", "alice", "human"))
	for _, out := range shown {
		is.True(!strings.Contains(out, secret))
		is.True(!strings.Contains(out, secret2))
		is.True(!strings.Contains(out, testSecret))
	}
	var list []keyOut
	s.jsonOf(t, &list, "keys", "list", "-owner", "alice")
	is.Equal(len(list), 2)
	is.Equal(list[0].Handle, "human")
	is.Equal(list[0].Scopes, []string{"videos:read", "videos:write"})
	is.Equal(list[0].Secret, "")

	// The keys work, as a server verifies them.
	sv := openServer(t, s, nil)
	for _, sec := range []string{secret, secret2} {
		_, err := sv.keys.VerifyKey(context.Background(), sec)
		is.NoErr(err)
	}

	// A rotation prints the new secret once; the old one stops.
	var rot keyOut
	s.jsonOf(t, &rot, "keys", "rotate", "-owner", "alice", "human")
	is.True(rot.Secret != "" && rot.Secret != secret)
	is.True(!strings.Contains(s.ok(t, "", "keys", "show", "-owner", "alice", "human", "-json"), rot.Secret))
	fresh := openServer(t, s, nil) // sv's cache hears of the rotation once the store relays it across processes
	_, err := fresh.keys.VerifyKey(context.Background(), rot.Secret)
	is.NoErr(err)
	_, err = fresh.keys.VerifyKey(context.Background(), secret)
	is.True(err != nil)
}

func TestKeys_EveryChangeIsAuditedAsTheAdminCommand(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	s := newStore(t)
	k, secret := s.createKey(t, "alice", "ci")
	sv := openServer(t, s, nil) // makes the first signing key, as a server's start
	g := sv.exchange(t, secret)
	s.ok(t, "", "keys", "policy", "-owner", "alice", "ci", "-rate", "burst=10/1s")
	s.ok(t, "", "keys", "disable", "-owner", "alice", "ci")
	s.ok(t, "", "keys", "enable", "-owner", "alice", k.ID)
	s.ok(t, "", "sessions", "revoke", "-owner", "alice", g.Session.ID)
	s.ok(t, "", "keys", "rotate", "-owner", "alice", "ci", "-grace", "1m")
	s.ok(t, "", "keys", "delete", "-owner", "alice", "ci")
	s.ok(t, "", "signing-keys", "rotate")
	var sks []signingKeyOut
	s.jsonOf(t, &sks, "signing-keys", "list")
	s.ok(t, "", "signing-keys", "revoke", sks[0].ID)

	var actions []authkit.AuditAction
	for _, ev := range append(s.auditOf(t, "alice"), s.auditOf(t, "")...) {
		actions = append(actions, ev.Action)
		is.Equal(ev.Actor.Kind, authkit.ActorAdmin) // the admin command
		is.True(ev.Actor.ID != "")                  // as the OS user
		is.True(strings.HasPrefix(ev.Actor.RequestID, "cli-"))
	}
	is.Equal(actions, []authkit.AuditAction{
		authkit.AuditKeyCreated, authkit.AuditKeyUpdated, authkit.AuditKeyDisabled, authkit.AuditKeyEnabled,
		authkit.AuditSessionRevoked, authkit.AuditKeyRotated, authkit.AuditKeyDeleted,
		authkit.AuditSigningKeyRotated, authkit.AuditSigningKeyRevoked,
	})
	human := s.ok(t, "", "audit", "list", "-owner", "alice", "-limit", "2")
	is.True(strings.Contains(human, "key.deleted"))
	is.True(!strings.Contains(human, "key.created")) // the last two only
}

func TestKeys_Policy(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	s := newStore(t)
	s.createKey(t, "alice", "metered", "-rate", "burst=10/1s:2", "-rate", "daily=1000/1d", "-credits", "500/720h", "-allow-ip", "10.0.0.0/8", "-allow-ip", "2001:db8::1", "-metadata", `{"plan": "pro"}`)
	var k keyOut
	s.jsonOf(t, &k, "keys", "show", "-owner", "alice", "metered")
	is.Equal(k.RateLimits, []policyjson.RateLimit{{Name: "burst", Limit: 10, WindowSeconds: 1, Cost: 2}, {Name: "daily", Limit: 1000, WindowSeconds: 86400, Cost: 1}})
	is.Equal(*k.Credits.Remaining, int64(500))
	is.Equal(*k.Credits.Refill, policyjson.Refill{Amount: 500, IntervalSeconds: 720 * 3600})
	is.Equal(k.AllowedIPs, []string{"10.0.0.0/8", "2001:db8::1/128"})
	is.Equal(compact(t, k.Metadata), `{"plan":"pro"}`)

	// A flag replaces its part only.
	k = keyOut{}
	s.jsonOf(t, &k, "keys", "policy", "-owner", "alice", "metered", "-allow-ip", "none", "-credits", "7")
	is.Equal(len(k.RateLimits), 2)
	is.Equal(*k.Credits.Remaining, int64(7))
	is.True(k.Credits.Refill == nil)
	is.Equal(k.AllowedIPs, []string{})

	// The HTTP API's JSON, from stdin; then -clear.
	r := s.run(t, `{"ratelimits":[{"name":"x","limit":3,"window_seconds":60}],"metadata":null}`, "keys", "policy", "-owner", "alice", "metered", "-policy-json", "-", "-json")
	is.Equal(r.code, 0)
	k = keyOut{}
	is.NoErr(json.Unmarshal([]byte(r.stdout), &k))
	is.Equal(k.RateLimits, []policyjson.RateLimit{{Name: "x", Limit: 3, WindowSeconds: 60, Cost: 1}})
	is.Equal(compact(t, k.Metadata), `{}`)
	is.Equal(*k.Credits.Remaining, int64(7)) // untouched
	k = keyOut{}
	s.jsonOf(t, &k, "keys", "policy", "-owner", "alice", "metered", "-clear")
	is.Equal(len(k.RateLimits), 0)
	is.True(k.Credits == nil)

	// Without a flag it shows; a policy the library refuses is a usage error.
	is.True(strings.Contains(s.ok(t, "", "keys", "policy", "-owner", "alice", "metered"), "policy none"))
	is.Equal(s.run(t, "", "keys", "policy", "-owner", "alice", "metered", "-rate", "x=0/1s").code, exitUsage)
	is.Equal(s.run(t, "", "keys", "policy", "-owner", "alice", "metered", "-metadata", "[1]").code, exitUsage)
	is.Equal(s.run(t, `{"bogus":1}`, "keys", "policy", "-owner", "alice", "metered", "-policy-json", "-").code, exitUsage)

	// The server sees the new policy.
	sv := openServer(t, s, nil)
	got, err := sv.store.KeyByHandle(context.Background(), "alice", "metered")
	is.NoErr(err)
	is.True(got.Policy.IsZero())
}

func TestSessions_ListAndRevoke(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	s := newStore(t)
	_, secret := s.createKey(t, "alice", "ci", "-scopes", "videos:read")
	sv := openServer(t, s, nil)
	g := sv.exchange(t, secret)
	var ss []sessionOut
	s.jsonOf(t, &ss, "sessions", "list", "-owner", "alice")
	is.Equal(len(ss), 1)
	is.Equal(ss[0].ID, g.Session.ID)
	is.Equal(ss[0].Scopes, []string{"videos:read"})
	is.True(strings.Contains(s.ok(t, "", "sessions", "list", "-owner", "alice"), g.Session.ID))
	var none []sessionOut
	s.jsonOf(t, &none, "sessions", "list", "-owner", "bob")
	is.Equal(len(none), 0)

	_, err := sv.tokens.Verify(context.Background(), g.AccessToken)
	is.NoErr(err)
	is.Equal(s.run(t, "", "sessions", "revoke", "-owner", "bob", g.Session.ID).code, exitNotFound) // another owner's
	s.ok(t, "", "sessions", "revoke", "-owner", "alice", g.Session.ID)
	s.jsonOf(t, &ss, "sessions", "list", "-owner", "alice")
	is.Equal(len(ss), 0)
	// This server hears of it only through the store (its liveness cache
	// lapses): a cross-process notifier makes it at once.
	fresh := openServer(t, s, nil)
	_, err = fresh.tokens.Verify(context.Background(), g.AccessToken)
	is.True(err != nil)
}

func TestSigningKeys_ListRotateRevoke(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	s := newStore(t)
	var sks []signingKeyOut
	s.jsonOf(t, &sks, "signing-keys", "list")
	is.Equal(len(sks), 0)
	is.Equal(s.run(t, "", "signing-keys", "rotate").code, exitFailure) // no first key: the servers make it
	openServer(t, s, nil)
	s.jsonOf(t, &sks, "signing-keys", "list")
	is.Equal(len(sks), 1)
	is.Equal(sks[0].State, "active")
	first := sks[0].ID

	s.jsonOf(t, &sks, "signing-keys", "rotate", "-max-ttl", "2h")
	is.Equal(len(sks), 2)
	is.Equal(sks[0].State, "retired")
	is.True(sks[0].ExpiresAt.Sub(*sks[0].RetiredAt) == 2*time.Hour)
	is.Equal(sks[1].State, "active")

	var rev struct {
		Revoked     string          `json:"revoked"`
		SigningKeys []signingKeyOut `json:"signing_keys"`
	}
	s.jsonOf(t, &rev, "signing-keys", "revoke", sks[1].ID) // the active one: a new one takes over
	is.Equal(rev.Revoked, sks[1].ID)
	is.Equal(len(rev.SigningKeys), 3)
	is.Equal(rev.SigningKeys[1].State, "revoked")
	is.True(rev.SigningKeys[1].RevokedAt != nil)
	is.Equal(rev.SigningKeys[2].State, "active")
	is.True(strings.Contains(s.ok(t, "", "signing-keys", "list"), first))
}

func TestMigrate_ReportsTheSchema(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	s := &store{db: filepath.Join(t.TempDir(), "new.db"), secret: testSecret}
	var m migrateOut
	s.jsonOf(t, &m, "migrate")
	is.True(m.Created)
	is.Equal(m.Backend, "sqlite")
	is.True(m.Version > 0)
	is.Equal(len(m.AppliedNow), len(m.Migrations))
	is.Equal(m.Secret, "no signing key")
	fi, err := os.Stat(s.db)
	is.NoErr(err)
	is.Equal(fi.Mode().Perm(), os.FileMode(0o600))

	openServer(t, s, nil)
	s.jsonOf(t, &m, "migrate")
	is.True(!m.Created)
	is.Equal(len(m.AppliedNow), 0)
	is.Equal(m.Secret, "ok")
	is.True(strings.Contains(s.ok(t, "", "migrate"), "none pending"))

	wrong := &store{db: s.db, secret: "another-secret-0123456789abcdefghijklmnop"}
	r := wrong.run(t, "", "migrate")
	is.Equal(r.code, exitFailure) // the wrong secret would stop the servers
	is.True(strings.Contains(r.stderr, "does not open"))
	is.True(!strings.Contains(r.stderr, "another-secret"))

	// A secret file: 0600 only; none at all is not checked.
	nosecret := &store{db: s.db}
	s.jsonOf(t, &m, "migrate")
	nosecret.jsonOf(t, &m, "migrate")
	is.Equal(m.Secret, "missing")
	file := filepath.Join(t.TempDir(), "secret")
	is.NoErr(os.WriteFile(file, []byte(testSecret+"\n"), 0o644))
	r = nosecret.run(t, "", "migrate", "-secret-file", file)
	is.Equal(r.code, exitFailure) // readable by others: refused
	is.NoErr(os.Chmod(file, 0o600))
	nosecret.jsonOf(t, &m, "migrate", "-secret-file", file)
	is.Equal(m.Secret, "ok")
	is.NoErr(os.WriteFile(s.db+".secret", []byte(testSecret), 0o600)) // the default file, next to the database
	nosecret.jsonOf(t, &m, "migrate")
	is.Equal(m.Secret, "ok")
}

func TestCleanup(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	s := newStore(t)
	_, secret := s.createKey(t, "alice", "ci")
	past := func() time.Time { return time.Now().Add(-40 * 24 * time.Hour) }
	sv := openServer(t, s, past)
	sv.exchange(t, secret) // a session that expired 10 days ago
	var n map[string]int
	s.jsonOf(t, &n, "cleanup")
	is.True(n["expired"] >= 1)
	is.True(strings.HasPrefix(s.ok(t, "", "cleanup"), "Deleted 0 expired records"))
}

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestRun_InProcess is the quick loop's look at the command, whose other
// tests run it as a process and skip under -short: run itself migrates a
// store, creates a key, lists it without its secret, says 3 for a key it
// does not know and 2 for a command it does not know.
func TestRun_InProcess(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	db, secretFile := filepath.Join(dir, "authkit.db"), filepath.Join(dir, "authkit.secret")
	is.NoErr(os.WriteFile(secretFile, []byte(testSecret+"\n"), 0o600))
	call := func(args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append(args, "-db", db, "-secret-file", secretFile), strings.NewReader(""), &out, &errb)
		return out.String(), code
	}
	_, code := call("migrate")
	is.Equal(code, 0)
	out, code := call("keys", "create", "-owner", "alice", "-handle", "app", "-json")
	is.Equal(code, 0)
	var k keyOut
	is.NoErr(json.Unmarshal([]byte(out), &k))
	is.True(strings.HasPrefix(k.Secret, "ak_live_"))
	out, code = call("keys", "list", "-owner", "alice", "-json")
	is.Equal(code, 0)
	is.True(strings.Contains(out, k.ID))
	is.True(!strings.Contains(out, k.Secret))
	_, code = call("keys", "show", "-owner", "alice", "no-such-key")
	is.Equal(code, exitNotFound)
	_, code = call("no-such-command")
	is.Equal(code, exitUsage)
}
