package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
)

var sealedTests = []test{
	{"Sealed/HashKeyCreatedOnce", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		_, err := s.HashKey(ctx, "h")
		is.True(errors.Is(err, authkit.ErrNotFound))
		is.NoErr(s.CreateHashKey(ctx, "h", []byte("sealed-1")))
		is.True(errors.Is(s.CreateHashKey(ctx, "h", []byte("sealed-2")), authkit.ErrConflict))
		got, err := s.HashKey(ctx, "h")
		is.NoErr(err)
		is.Equal(got, []byte("sealed-1")) // the first stays
	}},
	{"Sealed/ResealVisitsEveryValueAndReplacesWhatFnReturns", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		k, sec := NewKey("alice", "rec")
		sec.Sealed = []byte("key-secret")
		is.NoErr(s.CreateKey(ctx, k, sec))
		plain, _ := NewKey("alice", "plain") // not recoverable: nothing sealed
		is.NoErr(s.CreateKey(ctx, plain, &authkit.KeySecret{Hash: hash(), KeyID: plain.ID, CreatedAt: T0}))
		login := NewSession(k, authkit.SessionLogin, "w1")
		login.TokenSealed = []byte("session-token")
		is.NoErr(s.CreateSession(ctx, login, nil))
		rt := mustFamily(t, s)
		is.NoErr(s.SpendRefreshToken(ctx, rt.Hash, T0, []byte("refresh-pair"), newRefresh(rt.SessionID, rt.KeyID)))
		sk := signingKey(T0)
		sk.Sealed = []byte("signing-key")
		is.NoErr(s.CreateSigningKey(ctx, sk))
		is.NoErr(s.CreateHashKey(ctx, "name", []byte("hash-key")))

		var seen []string
		replaced, err := s.Reseal(ctx, func(v authkit.SealedValue) ([]byte, error) {
			seen = append(seen, fmt.Sprintf("%s %s@%x", v.Kind, v.Sealed, v.AAD))
			return append([]byte("new-"), v.Sealed...), nil
		})
		is.NoErr(err)
		is.Equal(replaced, 6)
		for _, want := range []string{
			fmt.Sprintf("%s key-secret@%x", authkit.SealedKeySecret, k.ID),
			fmt.Sprintf("%s session-token@%x", authkit.SealedSessionToken, login.ID),
			fmt.Sprintf("%s refresh-pair@%x", authkit.SealedRefreshPair, rt.Hash),
			fmt.Sprintf("%s signing-key@%x", authkit.SealedSigningKey, sk.ID),
			fmt.Sprintf("%s hash-key@%x", authkit.SealedHashKey, "name"),
		} {
			is.True(slices.Contains(seen, want)) // each kind, with what it is bound to
		}
		is.Equal(len(seen), 6) // and the grant session's token: nothing else

		cur, err := s.CurrentKeySecret(ctx, "alice", k.ID)
		is.NoErr(err)
		is.Equal(cur.Sealed, []byte("new-key-secret"))
		got, err := s.Session(ctx, login.ID)
		is.NoErr(err)
		is.Equal(got.TokenSealed, []byte("new-session-token"))
		spent, err := s.RefreshToken(ctx, rt.Hash)
		is.NoErr(err)
		is.Equal(spent.ChildSealed, []byte("new-refresh-pair"))
		sks, err := s.SigningKeys(ctx)
		is.NoErr(err)
		is.Equal(sks[0].Sealed, []byte("new-signing-key"))
		hk, err := s.HashKey(ctx, "name")
		is.NoErr(err)
		is.Equal(hk, []byte("new-hash-key"))

		// nil leaves a value as it is; an error stops the walk.
		var all []string
		replaced, err = s.Reseal(ctx, func(v authkit.SealedValue) ([]byte, error) {
			all = append(all, string(v.Sealed))
			return nil, nil
		})
		is.NoErr(err)
		is.Equal(replaced, 0)
		sort.Strings(all)
		is.Equal(all, []string{"new-hash-key", "new-key-secret", "new-refresh-pair", "new-sealed", "new-session-token", "new-signing-key"})
		stop := errors.New("stop")
		_, err = s.Reseal(ctx, func(authkit.SealedValue) ([]byte, error) { return nil, stop })
		is.Equal(err, stop)
	}},
	{"Sealed/ResealLeavesAValueChangedSinceItWasRead", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		k, _ := mustKey(t, s, "alice", "w")
		login := NewSession(k, authkit.SessionLogin, "w1")
		login.TokenSealed, login.TokenID = []byte("old"), "t1"
		is.NoErr(s.CreateSession(ctx, login, nil))
		replaced, err := s.Reseal(ctx, func(v authkit.SealedValue) ([]byte, error) {
			if v.Kind == authkit.SealedSessionToken {
				// A login replaces the token while the rewrap holds the old one.
				is.NoErr(s.ReplaceSessionToken(ctx, login.ID, "t1", []byte("newer"), "t2", T0.Add(time.Hour), T0.Add(time.Hour)))
				return []byte("resealed-old"), nil
			}
			return nil, nil
		})
		is.NoErr(err)
		is.Equal(replaced, 0) // not counted: left as the login made it
		got, err := s.Session(ctx, login.ID)
		is.NoErr(err)
		is.Equal(string(got.TokenSealed), "newer")
	}},
	{"Sealed/ResealWalksManyRowsInBatches", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		for range 450 {
			sk := signingKey(T0)
			is.NoErr(s.CreateSigningKey(ctx, sk))
		}
		n := 0
		replaced, err := s.Reseal(ctx, func(v authkit.SealedValue) ([]byte, error) {
			if v.Kind == authkit.SealedSigningKey {
				n++
				if !strings.HasPrefix(string(v.Sealed), "x") {
					return append([]byte("x"), v.Sealed...), nil
				}
			}
			return nil, nil
		})
		is.NoErr(err)
		is.Equal(n, 450)
		is.Equal(replaced, 450)
		sks, err := s.SigningKeys(ctx)
		is.NoErr(err)
		for _, k := range sks {
			is.Equal(string(k.Sealed), "xsealed")
		}
	}},
}
