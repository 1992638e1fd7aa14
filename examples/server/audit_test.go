package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// TestAudit_KeyLifeInOrderWithActorAndAddress: a key created, revealed,
// rotated, disabled, enabled and deleted over HTTP, a session revoked and
// a refresh token replayed appear in GET /user/audit in order, with the
// actor and the address; the trail is alice's alone, and neither it, the
// database nor the log holds a secret.
func TestAudit_KeyLifeInOrderWithActorAndAddress(t *testing.T) {
	is := is.New(t)
	e := newEnv(t)
	k := e.createKey(alice, `{"handle":"audited"}`)
	keyID, secret := str(k, "id"), str(k, "token")
	is.Equal(e.do(req{method: "GET", path: "/user/keys/audited", auth: alice}).status, 200) // reveals (recoverable)
	r := e.do(req{method: "POST", path: "/user/keys/audited/rotate", auth: alice, body: `{"grace_seconds":60}`})
	is.Equal(r.status, 200)
	rotated := str(r.json, "token")
	is.Equal(e.do(req{method: "PATCH", path: "/user/keys/audited", auth: alice, body: `{"disabled":true}`}).status, 200)
	is.Equal(e.do(req{method: "PATCH", path: "/user/keys/audited", auth: alice, body: `{"disabled":false,"metadata":{"team":"ops"}}`}).status, 200)
	r = e.do(req{method: "POST", path: "/auth/api-key", body: `{"apiKey":"` + rotated + `"}`})
	is.Equal(r.status, 200)
	rt := str(r.json, "refresh_token")
	is.Equal(e.do(req{method: "POST", path: "/auth/refresh", body: `{"refreshToken":"` + rt + `"}`}).status, 200)
	is.Equal(e.do(req{method: "POST", path: "/auth/refresh", body: `{"refreshToken":"` + rt + `"}`}).status, 400) // reuse
	is.Equal(e.do(req{method: "DELETE", path: "/user/keys/audited", auth: alice}).status, 204)

	r = e.do(req{method: "GET", path: "/user/audit", auth: alice})
	is.Equal(r.status, 200)
	var actions []string
	for _, x := range r.json["events"].([]any) {
		ev := x.(map[string]any)
		actions = append(actions, ev["action"].(string))
		actor := ev["actor"].(map[string]any)
		is.Equal(actor["addr"], "127.0.0.1")
		is.True(actor["request_id"] != "")
		switch ev["action"] {
		case "refresh.reuse_detected":
			is.Equal(actor["kind"], "key") // a program, from its address
		default:
			is.Equal(actor["kind"], "user")
			is.Equal(ev["target"], keyID)
		}
	}
	is.Equal(actions, []string{"key.created", "key.revealed", "key.rotated", "key.disabled", "key.enabled", "key.updated", "refresh.reuse_detected", "key.deleted"})
	is.Equal(len(e.do(req{method: "GET", path: "/user/audit", auth: bob}).json["events"].([]any)), 0) // alice's alone

	// No secret anywhere: not in the trail, the database files, or the log.
	e.stop()
	for _, s := range []string{secret, rotated, rt} {
		is.True(!strings.Contains(string(r.body), s))
		is.True(!strings.Contains(e.logs.String(), s))
		for _, f := range []string{"authkit.db", "authkit.db-wal"} {
			b, _ := os.ReadFile(filepath.Join(e.dir, f))
			is.True(!strings.Contains(string(b), s))
		}
	}
	is.True(strings.Contains(e.logs.String(), "authkit: audit")) // also structured log records
}
