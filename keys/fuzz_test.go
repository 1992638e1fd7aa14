package keys_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/opaque"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/storage/memory"
)

// wellFormed reports whether s is ak_<env>_ followed by 36 base62 characters.
func wellFormed(s string, env authkit.Env) bool {
	p := "ak_" + string(env) + "_"
	if !env.Valid() || !strings.HasPrefix(s, p) || len(s) != len(p)+opaque.RandomLen+opaque.ChecksumLen {
		return false
	}
	for _, c := range []byte(s[len(p):]) {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

func fuzzSeeds(f *testing.F, svc *keys.Service) {
	for _, env := range []authkit.Env{authkit.EnvLive, authkit.EnvTest} {
		_, good, err := svc.Create(ctx, authkit.KeyRequest{Owner: "a", Handle: "h-" + string(env), Env: env})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(good)
		f.Add(good[:len(good)-1] + "0")
		f.Add(strings.Replace(good, "ak_", "xk_", 1))
	}
	f.Add("ak_live_")
	f.Add("ak_test_" + strings.Repeat("0", 36))
	f.Add("ak_prod_" + strings.Repeat("z", 36))
	f.Add("eyJhbGciOiJFZERTQSJ9.e30.c2ln")
	f.Add("")
	f.Add("ak_live_\xff\xfe")
}

// FuzzParse checks the key parser: it never panics, refuses with
// ErrInvalid, and accepts only well-formed keys that LooksLikeKey also accepts.
func FuzzParse(f *testing.F) {
	svc, err := keys.New(keys.Config{Store: memory.New(), Secret: testSecret(f)})
	if err != nil {
		f.Fatal(err)
	}
	fuzzSeeds(f, svc)
	f.Fuzz(func(t *testing.T, s string) {
		env, err := svc.Parse(s)
		if err != nil {
			if !errors.Is(err, authkit.ErrInvalid) {
				t.Fatalf("Parse error does not wrap ErrInvalid: %v", err)
			}
			if svc.LooksLikeKey(s) {
				t.Fatalf("Looks accepts what Parse refuses: %q", s)
			}
			return
		}
		if !wellFormed(s, env) {
			t.Fatalf("Parse accepted malformed %q as %q", s, env)
		}
		if !svc.LooksLikeKey(s) {
			t.Fatalf("Looks refuses what Parse accepts: %q", s)
		}
	})
}

// FuzzVerifyKey runs VerifyKey over a real store holding two keys: it never
// panics, malformed input is ErrInvalid, well-formed unknown input is
// ErrNotFound, and a key is returned only for one of the two secrets.
func FuzzVerifyKey(f *testing.F) {
	svc, err := keys.New(keys.Config{Store: memory.New(), Secret: testSecret(f)})
	if err != nil {
		f.Fatal(err)
	}
	fuzzSeeds(f, svc)
	f.Fuzz(func(t *testing.T, s string) {
		k, err := svc.VerifyKey(ctx, s)
		switch {
		case err == nil:
			if k == nil || !wellFormed(s, k.Env) || !strings.HasPrefix(k.Handle, "h-") {
				t.Fatalf("VerifyKey accepted %q", s)
			}
		case errors.Is(err, authkit.ErrInvalid):
			if svc.LooksLikeKey(s) {
				t.Fatalf("well-formed %q refused as invalid", s)
			}
		case errors.Is(err, authkit.ErrNotFound):
			if !svc.LooksLikeKey(s) {
				t.Fatalf("malformed %q reached the store", s)
			}
		default:
			t.Fatalf("VerifyKey(%q): unexpected error %v", s, err)
		}
	})
}
