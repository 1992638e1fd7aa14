package keys_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/storage/memory"
)

func ExampleService_Create() {
	secret, _ := authkit.NewSecret([]byte("example-secret-from-config-0123456789"))
	svc, _ := keys.New(keys.Config{Store: memory.New(), Secret: secret})

	k, key, err := svc.Create(context.Background(), authkit.KeyRequest{
		Owner: "tenant-1", Handle: "ci-bot", Scopes: []string{"videos:read"},
	})
	if err != nil {
		panic(err)
	}
	// Show key to the customer once; only its hash is stored.
	fmt.Println(strings.HasPrefix(key, "ak_live_"), len(key))
	fmt.Println(k.Handle, k.Env, k.Scopes, k.Hint == key[:12])
	// Output:
	// true 44
	// ci-bot live [videos:read] true
}

func ExampleService_VerifyKey() {
	secret, _ := authkit.NewSecret([]byte("example-secret-from-config-0123456789"))
	svc, _ := keys.New(keys.Config{Store: memory.New(), Secret: secret})
	ctx := context.Background()
	_, key, _ := svc.Create(ctx, authkit.KeyRequest{Owner: "tenant-1", Handle: "ci-bot"})

	k, err := svc.VerifyKey(ctx, key)
	fmt.Println(k.Owner, err)
	_, err = svc.VerifyKey(ctx, "ak_live_"+strings.Repeat("0", 36)) // refused by the checksum, no store asked
	fmt.Println(err)
	// Output:
	// tenant-1 <nil>
	// authkit: invalid key: not a well-formed key
}

func ExampleService_Rotate() {
	secret, _ := authkit.NewSecret([]byte("example-secret-from-config-0123456789"))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // a clock the example moves
	svc, _ := keys.New(keys.Config{Store: memory.New(), Secret: secret, Clock: func() time.Time { return now }})
	ctx := context.Background()
	k, old, _ := svc.Create(ctx, authkit.KeyRequest{Owner: "tenant-1", Handle: "ci-bot"})

	// A new secret; the old one keeps working for an hour while clients move.
	_, fresh, _ := svc.Rotate(ctx, "tenant-1", k.ID, time.Hour)
	_, errOld := svc.VerifyKey(ctx, old)
	_, errNew := svc.VerifyKey(ctx, fresh)
	fmt.Println(errOld, errNew)

	now = now.Add(time.Hour)
	_, errOld = svc.VerifyKey(ctx, old)
	fmt.Println(errors.Is(errOld, authkit.ErrRevoked))
	// Output:
	// <nil> <nil>
	// true
}

func ExampleService_Reveal() {
	secret, _ := authkit.NewSecret([]byte("example-secret-from-config-0123456789"))
	svc, _ := keys.New(keys.Config{Store: memory.New(), Secret: secret})
	ctx := context.Background()

	// A recoverable key: its owner reads the secret back later.
	k, key, _ := svc.Create(ctx, authkit.KeyRequest{Owner: "tenant-1", Handle: "laptop", Recoverable: true})
	again, _ := svc.Reveal(ctx, "tenant-1", k.ID)
	fmt.Println(again == key)

	plain, _, _ := svc.Create(ctx, authkit.KeyRequest{Owner: "tenant-1", Handle: "ci-bot"})
	_, err := svc.Reveal(ctx, "tenant-1", plain.ID)
	fmt.Println(errors.Is(err, authkit.ErrForbidden))
	// Output:
	// true
	// true
}
