package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

func TestTokenInspect_SaysWhyATokenIsDead(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	sv := openServer(t, s, nil)
	tokenOf := func(handle string) string {
		t.Helper()
		_, secret := s.createKey(t, "alice", handle)
		return sv.exchange(t, secret).AccessToken
	}

	alive := tokenOf("alive")
	sessionRevoked := tokenOf("session-revoked")
	keyDeleted := tokenOf("key-deleted")
	keyDisabled := tokenOf("key-disabled")
	parts := strings.Split(tokenOf("other"), ".")
	badSignature := strings.Join(append(strings.Split(alive, ".")[:2], parts[2]), ".")

	// Expired: issued two hours ago for an hour.
	_, secret := s.createKey(t, "alice", "expired")
	past := openServer(t, s, func() time.Time { return time.Now().Add(-2 * time.Hour) })
	expired := past.exchange(t, secret).AccessToken

	// Signed by another store's key: an unknown kid.
	other := newStore(t)
	otherSv := openServer(t, other, nil)
	_, secret = other.createKey(t, "alice", "elsewhere")
	unknownKid := otherSv.exchange(t, secret).AccessToken

	var sess []sessionOut
	s.jsonOf(t, &sess, "sessions", "list", "-owner", "alice")
	_, claims := decodeForTest(t, sessionRevoked)
	s.ok(t, "", "sessions", "revoke", "-owner", "alice", claims["sid"].(string))
	s.ok(t, "", "keys", "delete", "-owner", "alice", "key-deleted")
	s.ok(t, "", "keys", "disable", "-owner", "alice", "key-disabled")

	// Revoked signing key last: every token before it is of the revoked key.
	signedBefore := alive

	for _, c := range []struct {
		name, token, reason string
		extra               []string
	}{
		{"alive", alive, "", nil},
		{"alive, issuer checked", alive, "", []string{"-issuer", testIssuer}},
		{"wrong issuer", alive, "wrong_issuer", []string{"-issuer", "https://elsewhere"}},
		{"expired", expired, "expired", nil},
		{"session revoked", sessionRevoked, "session_revoked", nil},
		{"key deleted", keyDeleted, "key_deleted", nil},
		{"key disabled", keyDisabled, "key_disabled", nil},
		{"bad signature", badSignature, "bad_signature", nil},
		{"unknown kid", unknownKid, "unknown_kid", nil},
		{"malformed", "not.a.token", "malformed", nil},
		{"not even a JWT", "abc", "malformed", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			var out inspectOut
			s.jsonOf(t, &out, append([]string{"token", "inspect", c.token}, c.extra...)...)
			is.Equal(out.Reason, c.reason)
			is.Equal(out.Alive, c.reason == "")
			if c.reason != "" {
				is.True(out.Detail != "")
			}
			human := s.ok(t, "", append([]string{"token", "inspect", c.token}, c.extra...)...)
			if c.reason == "" {
				is.True(strings.Contains(human, "ALIVE"))
			} else {
				is.True(strings.Contains(human, "DEAD ("+c.reason+")"))
			}
		})
	}

	t.Run("from stdin", func(t *testing.T) {
		is := is.New(t)
		for _, arg := range [][]string{{"-"}, nil} {
			r := s.run(t, "Bearer "+alive+"\n", append([]string{"token", "inspect", "-json"}, arg...)...)
			is.Equal(r.code, 0)
			is.True(strings.Contains(r.stdout, `"alive": true`))
		}
		is.Equal(s.run(t, "", "token", "inspect").code, exitUsage) // nothing to inspect
	})

	t.Run("states of what it names", func(t *testing.T) {
		is := is.New(t)
		var out inspectOut
		s.jsonOf(t, &out, "token", "inspect", keyDeleted)
		is.Equal(out.Key.State, "deleted")
		is.Equal(out.Key.Handle, "key-deleted")
		is.Equal(out.Session.State, "live")
		is.Equal(out.SigningKey.State, "active")
		is.Equal(out.Claims["sub"], "alice")
		is.Equal(out.Header["typ"], "at+jwt")
	})

	t.Run("signing key revoked", func(t *testing.T) {
		is := is.New(t)
		var sks []signingKeyOut
		s.jsonOf(t, &sks, "signing-keys", "list")
		s.ok(t, "", "signing-keys", "revoke", sks[len(sks)-1].ID)
		var out inspectOut
		s.jsonOf(t, &out, "token", "inspect", signedBefore)
		is.Equal(out.Reason, "signing_key_revoked")
		is.Equal(out.SigningKey.State, "revoked")
		// Still said once the cleanup has deleted the key: the audit trail remembers.
		s.ok(t, "", "cleanup")
		s.jsonOf(t, &out, "token", "inspect", signedBefore)
		is.Equal(out.Reason, "signing_key_revoked")
	})

	t.Run("no token or secret in the output", func(t *testing.T) {
		is := is.New(t)
		r := s.run(t, alive, "token", "inspect", "-")
		is.True(!strings.Contains(r.stdout, alive)) // the claims, not the token
		is.True(!strings.Contains(r.stdout+r.stderr, testSecret))
	})
}

func TestTokenInspect_EmptyStore(t *testing.T) {
	t.Parallel()
	is := is.New(t)
	s := &store{db: filepath.Join(t.TempDir(), "empty.db"), secret: testSecret}
	s.ok(t, "", "migrate")
	other := newStore(t)
	sv := openServer(t, other, nil)
	_, secret := other.createKey(t, "alice", "k")
	tok := sv.exchange(t, secret).AccessToken
	var out inspectOut
	s.jsonOf(t, &out, "token", "inspect", tok)
	is.Equal(out.Reason, "unknown_kid")
	var sks []signingKeyOut
	s.jsonOf(t, &sks, "signing-keys", "list")
	is.Equal(len(sks), 0) // inspecting made no signing key
}

// decodeForTest decodes a token's header and claims.
func decodeForTest(t *testing.T, tok string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	var h, c map[string]any
	if decodeSegment(parts[0], &h) != nil || decodeSegment(parts[1], &c) != nil {
		t.Fatal("not a JWT")
	}
	return h, c
}
