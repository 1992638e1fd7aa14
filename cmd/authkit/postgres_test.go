package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/storage/postgres"
)

// pgStore returns a store on a fresh PostgreSQL schema, dropped after the
// test, or skips.
func pgStore(t *testing.T) *store {
	t.Helper()
	dsn := os.Getenv("AUTHKIT_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("AUTHKIT_TEST_POSTGRES is not set: no PostgreSQL to run the command on (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	if testing.Short() {
		t.Skip("PostgreSQL tests are slow: skipped under -short")
	}
	schema := fmt.Sprintf("authkit_cmd_%d_%s", time.Now().Unix(), uuid.NewString()[:8])
	t.Cleanup(func() {
		ctx := context.Background()
		if conn, err := pgx.Connect(ctx, dsn); err == nil {
			conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
			conn.Close(ctx)
		}
	})
	return &store{db: dsn, schema: schema, secret: testSecret}
}

// TestPostgres_MainFlows runs the command on PostgreSQL while a "server"
// (this process) runs on the same schema: a key made by the command works
// at once, its deletion and a session's revocation reach the server
// through LISTEN/NOTIFY, credits set by the command are the servers'
// count, a revoked signing key is refused, and every change is audited.
func TestPostgres_MainFlows(t *testing.T) {
	is := is.New(t)
	s := pgStore(t)
	var m migrateOut
	s.jsonOf(t, &m, "migrate")
	is.Equal(m.Backend, "postgres")
	is.True(m.Version > 0)
	is.True(len(m.AppliedNow) > 0)
	is.True(!strings.Contains(s.ok(t, "", "migrate"), "applied now")) // the second time: nothing

	ctx := context.Background()
	st, err := postgres.Open(ctx, s.db, postgres.Config{Schema: s.schema})
	is.NoErr(err)
	sv := serverOn(t, st, nil)

	k, secret := s.createKey(t, "alice", "ci", "-scopes", "videos:read", "-credits", "5")
	got, err := sv.keys.VerifyKey(ctx, secret) // at once
	is.NoErr(err)
	is.Equal(got.ID, k.ID)
	left, ok, err := st.Spend(ctx, "cr:"+k.ID, 0, *got.Policy.Credits, time.Now())
	is.NoErr(err)
	is.True(ok)
	is.Equal(left, int64(5))
	var shown keyOut
	s.jsonOf(t, &shown, "keys", "policy", "-owner", "alice", "ci", "-credits", "3")
	is.Equal(*shown.Credits.Remaining, int64(3)) // the balance, as the servers count it
	var list []keyOut
	s.jsonOf(t, &list, "keys", "list", "-owner", "alice")
	is.Equal(len(list), 1)
	is.True(!strings.Contains(s.ok(t, "", "keys", "show", "-owner", "alice", "ci", "-json"), secret))

	g := sv.exchange(t, secret)
	_, err = sv.tokens.Verify(ctx, g.AccessToken)
	is.NoErr(err)
	var ss []sessionOut
	s.jsonOf(t, &ss, "sessions", "list", "-owner", "alice")
	is.Equal(len(ss), 1)
	var out inspectOut
	s.jsonOf(t, &out, "token", "inspect", "-issuer", testIssuer, g.AccessToken)
	is.True(out.Alive)

	// A revocation by the command reaches the running server (NOTIFY).
	s.ok(t, "", "sessions", "revoke", "-owner", "alice", g.Session.ID)
	eventually(t, func() bool { _, err := sv.tokens.Verify(ctx, g.AccessToken); return err != nil })
	s.jsonOf(t, &out, "token", "inspect", g.AccessToken)
	is.Equal(out.Reason, "session_revoked")

	g = sv.exchange(t, secret)
	var sks []signingKeyOut
	s.jsonOf(t, &sks, "signing-keys", "list")
	is.Equal(len(sks), 1)
	s.ok(t, "", "signing-keys", "revoke", sks[0].ID)
	eventually(t, func() bool { _, err := sv.tokens.Verify(ctx, g.AccessToken); return err != nil })
	s.jsonOf(t, &out, "token", "inspect", g.AccessToken)
	is.Equal(out.Reason, "signing_key_revoked")
	s.jsonOf(t, &sks, "signing-keys", "rotate")
	is.Equal(len(sks), 3)

	s.ok(t, "", "keys", "disable", "-owner", "alice", "ci")
	eventually(t, func() bool { _, err := sv.keys.VerifyKey(ctx, secret); return err != nil })
	s.ok(t, "", "keys", "enable", "-owner", "alice", "ci")
	s.ok(t, "", "keys", "delete", "-owner", "alice", "ci")
	eventually(t, func() bool { _, err := sv.keys.VerifyKey(ctx, secret); return err != nil })
	is.Equal(s.run(t, "", "keys", "show", "-owner", "alice", "ci").code, exitNotFound)

	var n map[string]int
	s.jsonOf(t, &n, "cleanup")
	var actions []authkit.AuditAction
	for _, ev := range append(s.auditOf(t, "alice"), s.auditOf(t, "")...) {
		is.Equal(ev.Actor.Kind, authkit.ActorAdmin)
		actions = append(actions, ev.Action)
	}
	is.Equal(actions, []authkit.AuditAction{
		authkit.AuditKeyCreated, authkit.AuditKeyUpdated, authkit.AuditSessionRevoked, authkit.AuditKeyDisabled,
		authkit.AuditKeyEnabled, authkit.AuditKeyDeleted, authkit.AuditSigningKeyRotated, authkit.AuditSigningKeyRevoked,
		authkit.AuditSigningKeyRotated,
	})
}

// eventually fails the test unless cond holds within a second.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("not within 1 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
