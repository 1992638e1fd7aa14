package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/policyjson"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/limits"
	"github.com/google/uuid"
)

// keyOut is a key as the command shows it: never a secret but where one
// was just made (Secret, at create and rotate).
type keyOut struct {
	ID          string      `json:"id"`
	Owner       string      `json:"owner"`
	Handle      string      `json:"handle"`
	Alias       string      `json:"alias"`
	Env         authkit.Env `json:"env"`
	Scopes      []string    `json:"scopes"`
	Hint        string      `json:"hint"`
	Recoverable bool        `json:"recoverable"`
	State       string      `json:"state"` // live, disabled or expired
	CreatedAt   time.Time   `json:"created_at"`
	ExpiresAt   *time.Time  `json:"expires_at"`
	LastUsedAt  *time.Time  `json:"last_used_at"`
	Disabled    bool        `json:"disabled"`
	policyjson.Policy
	Secret string `json:"secret,omitempty"`
}

func keyState(k *authkit.Key, at time.Time) string {
	switch err := k.Check(at); {
	case err == nil:
		return "live"
	case errors.Is(err, authkit.ErrDisabled):
		return "disabled"
	case errors.Is(err, authkit.ErrExpired):
		return "expired"
	}
	return "deleted"
}

func (e *env) keyOut(ctx context.Context, k *authkit.Key, secret string) (keyOut, error) {
	left, err := e.balance(ctx, k)
	if err != nil {
		return keyOut{}, err
	}
	return keyOut{
		ID: k.ID, Owner: k.Owner, Handle: k.Handle, Alias: k.Alias, Env: k.Env, Scopes: nonNil(k.Scopes), Hint: k.Hint,
		Recoverable: k.Recoverable, State: keyState(k, now()), CreatedAt: k.CreatedAt, ExpiresAt: timePtr(k.ExpiresAt),
		LastUsedAt: timePtr(k.LastUsedAt), Disabled: k.Disabled, Policy: policyjson.Show(&k.Policy, left), Secret: secret,
	}, nil
}

// gate returns the policy gate over the store's counters when they are
// shared with the servers (PostgreSQL's), else nil: a server on SQLite
// counts in its own memory, out of this command's reach. It is built once
// per run.
func (e *env) gate() (*limits.Gate, error) {
	counters, ok := e.store.(authkit.Counters)
	if !ok || !e.pg || e.g != nil {
		return e.g, nil
	}
	g, err := limits.New(limits.Config{Keys: e.store, Counters: counters, FlushEvery: time.Hour, Logger: e.logger})
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, func() { g.Close() })
	e.g = g
	return g, nil
}

// balance returns what is left of k's credits where the command can read
// it (PostgreSQL), else nil.
func (e *env) balance(ctx context.Context, k *authkit.Key) (*int64, error) {
	if k.Policy.Credits == nil || !e.pg {
		return nil, nil
	}
	g, err := e.gate()
	if err != nil || g == nil {
		return nil, err
	}
	n, ok, err := g.Credits(ctx, k)
	if err != nil || !ok {
		return nil, err
	}
	return &n, nil
}

// findKey returns the owner's live key named ref: its ID or its handle.
func findKey(ctx context.Context, store authkit.KeyStore, owner, ref string) (*authkit.Key, error) {
	if _, err := uuid.Parse(ref); err == nil {
		k, err := store.Key(ctx, owner, ref)
		if !errors.Is(err, authkit.ErrNotFound) {
			return k, err
		}
	}
	if keys.CheckHandle(ref) == nil {
		k, err := store.KeyByHandle(ctx, owner, ref)
		if !errors.Is(err, authkit.ErrNotFound) {
			return k, err
		}
	}
	return nil, fmt.Errorf("owner %q has no live key %q: %w", owner, ref, authkit.ErrNotFound)
}

// ownerFlag registers -owner.
func ownerFlag(fs *flag.FlagSet) *string {
	return fs.String("owner", "", "the key's `owner` (required): the user or tenant, as the app names it (the example server: the user's ID, as GET /user shows it)")
}

func needOwner(owner string) error {
	if owner == "" {
		return usagef("-owner is required")
	}
	return nil
}

var keysCreateCmd = &command{
	name: "keys create", args: "-owner O", summary: "create a key; its secret is printed this once",
	about: `Creates a key for the owner through the key service, exactly as the HTTP
API does, and prints its secret this once: it is not stored (only its keyed
hash is) and no command shows it again. The key works on running servers at
once. The change is in the audit trail as the admin command's.`,
}

var keysListCmd = &command{
	name: "keys list", args: "-owner O", summary: "list the owner's live keys (never a secret)",
	about: `Lists the owner's live keys, oldest first, with their hints (prefix, env and
the first characters), never their secrets.`,
}

var keysShowCmd = &command{
	name: "keys show", args: "-owner O KEY", summary: "show one key, by ID or handle",
	about: `Shows one of the owner's live keys, named by its ID or its handle, with its
policy; never its secret. Exit code 3 if the owner has no such live key.`,
}

var keysPolicyCmd = &command{
	name: "keys policy", args: "-owner O KEY [policy flags]", summary: "set rate limits, credits, allowed addresses, metadata",
	about: `Changes the policy of one of the owner's keys: each flag given replaces that
part of the policy (rate limits, credits, allowed addresses, metadata), the
others stay; -clear starts from an empty policy. With no flag it shows the
policy. The new policy applies from the next request on every server. On
PostgreSQL, -credits also sets the balance left (the servers count there);
a server on SQLite counts in its own memory and keeps its count.`,
}

var keysDisableCmd = &command{
	name: "keys disable", args: "-owner O KEY", summary: "refuse a key and its tokens until enabled",
	about: `Disables one of the owner's keys: it and every token and refresh token issued
from it are refused (on every server the store's notifications reach) until
it is enabled again.`,
}

var keysEnableCmd = &command{
	name: "keys enable", args: "-owner O KEY", summary: "enable a disabled key",
	about: `Enables one of the owner's disabled keys: it and its tokens work again.`,
}

var keysRotateCmd = &command{
	name: "keys rotate", args: "-owner O KEY [-grace D]", summary: "give a key a new secret, printed this once",
	about: `Gives one of the owner's keys a new secret, printed this once. The old secret
keeps verifying for -grace (default 0: it stops at once); the sessions and
tokens obtained with it end with it.`,
}

var keysDeleteCmd = &command{
	name: "keys delete", args: "-owner O KEY", summary: "delete a key: it and its tokens stop at once",
	about: `Deletes one of the owner's keys: it and every token issued from it are refused
at once, on every server the store's notifications reach.`,
}

func init() {
	keysCreateCmd.run = runKeysCreate
	keysListCmd.run = runKeysList
	keysShowCmd.run = runKeysShow
	keysPolicyCmd.run = runKeysPolicy
	keysDisableCmd.run = func(c *cli, ctx context.Context, args []string) error {
		return runKeysSetDisabled(c, ctx, args, keysDisableCmd, true)
	}
	keysEnableCmd.run = func(c *cli, ctx context.Context, args []string) error {
		return runKeysSetDisabled(c, ctx, args, keysEnableCmd, false)
	}
	keysRotateCmd.run = runKeysRotate
	keysDeleteCmd.run = runKeysDelete
}

func runKeysCreate(c *cli, ctx context.Context, args []string) error {
	var o opts
	var pf policyFlags
	var ttl time.Duration
	fs := c.flags(keysCreateCmd, &o)
	owner := ownerFlag(fs)
	handle := fs.String("handle", "", "the key's `handle`: 1–64 of a-z, 0-9, _ and -, unique among the owner's live keys (default: key- and random characters)")
	fs.StringVar(handle, "name", "", "the same as -handle")
	alias := fs.String("alias", "", "a free-text `label`, at most 128 bytes")
	scopes := fs.String("scopes", "", "the key's `scopes`, separated by commas or spaces, e.g. videos:read,videos:write")
	fs.Var(durationFlag{&ttl}, "ttl", "the key expires after this `duration` (e.g. 720h or 90d; default: never)")
	envName := fs.String("env", "live", "the key's environment: live or test")
	recoverable := fs.Bool("recoverable", false, "keep the secret sealed, so that its owner can read it again over HTTP (this command never shows it again)")
	prefix := fs.String("prefix", "ak", "the keys' `prefix`, as the server's KeyPrefix (the example server: ak)")
	pf.register(fs, false)
	rest, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if err := nargs(rest); err != nil {
		return err
	}
	if err := needOwner(*owner); err != nil {
		return err
	}
	req := authkit.KeyRequest{Owner: *owner, Handle: *handle, Alias: *alias, Env: authkit.Env(*envName), Scopes: splitScopes(*scopes), Recoverable: *recoverable}
	if req.Handle == "" {
		var b [4]byte
		rand.Read(b[:])
		req.Handle = "key-" + hex.EncodeToString(b[:])
	}
	if ttl < 0 {
		return usagef("-ttl must not be negative")
	}
	if ttl > 0 {
		req.ExpiresAt = now().Add(ttl)
	}
	pf.given(fs)
	remaining, err := pf.apply(&req.Policy, c.stdin)
	if err != nil {
		return err
	}
	e, ctx, err := c.open(ctx, &o, false)
	if err != nil {
		return err
	}
	defer e.close()
	ks, err := e.keys(*prefix)
	if err != nil {
		return err
	}
	k, secret, err := ks.Create(ctx, req)
	if err != nil {
		return err
	}
	if err := e.setBalance(ctx, k, remaining); err != nil {
		return err
	}
	out, err := e.keyOut(ctx, k, secret)
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(c.stdout, out)
	}
	fmt.Fprintf(c.stdout, "Created key %s (handle %s, env %s) for owner %s.\n", k.ID, k.Handle, k.Env, k.Owner)
	printKeyDetails(c, out)
	fmt.Fprintf(c.stdout, "\nIts secret, shown this once (store it now: no command shows it again):\n\n%s\n", secret)
	return nil
}

// setBalance sets the credits' balance left of k, where the command can
// reach the counters the servers use (PostgreSQL).
func (e *env) setBalance(ctx context.Context, k *authkit.Key, remaining *int64) error {
	if remaining == nil {
		return nil
	}
	g, err := e.gate()
	if err != nil || g == nil {
		return err
	}
	return g.SetCredits(ctx, k.ID, *remaining)
}

func splitScopes(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

func printKeyDetails(c *cli, k keyOut) {
	rows := [][]string{
		{"id", k.ID}, {"owner", k.Owner}, {"handle", k.Handle}, {"alias", orDash(k.Alias)}, {"env", string(k.Env)},
		{"scopes", orDash(strings.Join(k.Scopes, " "))}, {"hint", k.Hint + "…"}, {"state", k.State},
		{"recoverable", fmt.Sprint(k.Recoverable)}, {"created", when(k.CreatedAt)},
	}
	if k.ExpiresAt != nil {
		rows = append(rows, []string{"expires", when(*k.ExpiresAt)})
	}
	if k.LastUsedAt != nil {
		rows = append(rows, []string{"last used", when(*k.LastUsedAt)})
	}
	rows = append(rows, []string{"policy", describePolicyJSON(k.Policy)})
	for _, r := range rows {
		fmt.Fprintf(c.stdout, "  %-12s %s\n", r[0], r[1])
	}
}

// describePolicyJSON describes a policy as keyOut holds it.
func describePolicyJSON(p policyjson.Policy) string {
	var parts []string
	for _, l := range p.RateLimits {
		s := fmt.Sprintf("rate %s=%d/%s", l.Name, l.Limit, time.Duration(l.WindowSeconds)*time.Second)
		if l.Cost > 1 {
			s += fmt.Sprintf(":%d", l.Cost)
		}
		parts = append(parts, s)
	}
	if c := p.Credits; c != nil {
		s := fmt.Sprintf("credits %d left", *c.Remaining)
		if c.Refill != nil {
			s += fmt.Sprintf(", refilled to %d every %s", c.Refill.Amount, time.Duration(c.Refill.IntervalSeconds)*time.Second)
		}
		parts = append(parts, s)
	}
	if len(p.AllowedIPs) > 0 {
		parts = append(parts, "from "+strings.Join(p.AllowedIPs, " "))
	}
	if len(p.Metadata) > 0 && string(p.Metadata) != "{}" {
		parts = append(parts, "metadata "+string(p.Metadata))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

func runKeysList(c *cli, ctx context.Context, args []string) error {
	var o opts
	e, ctx, owner, _, err := ownerCommand(c, ctx, keysListCmd, args, &o, nil)
	if err != nil {
		return err
	}
	defer e.close()
	var out []keyOut
	for p := (authkit.Page{Limit: authkit.MaxPageLimit}); ; {
		ks, err := e.store.ListKeys(ctx, owner, p)
		if err != nil {
			return err
		}
		for _, k := range ks {
			j, err := e.keyOut(ctx, k, "")
			if err != nil {
				return err
			}
			out = append(out, j)
		}
		if len(ks) < p.Size() {
			break
		}
		p.After = ks[len(ks)-1].ID
	}
	if o.json {
		return printJSON(c.stdout, nonNil(out))
	}
	if len(out) == 0 {
		fmt.Fprintf(c.stdout, "Owner %s has no live key.\n", owner)
		return nil
	}
	var rows [][]string
	for _, k := range out {
		last := "never"
		if k.LastUsedAt != nil {
			last = when(*k.LastUsedAt)
		}
		rows = append(rows, []string{k.ID, k.Handle, string(k.Env), k.Hint + "…", k.State, orDash(strings.Join(k.Scopes, " ")), when(k.CreatedAt), last})
	}
	table(c.stdout, "ID\tHANDLE\tENV\tHINT\tSTATE\tSCOPES\tCREATED\tLAST USED", rows)
	return nil
}

// ownerCommand parses the flags of a command on an owner's keys or
// sessions (-owner, the common flags, and extra's), checks that it got the
// arguments names, and opens the store: it returns the env, the context
// with the actor, the owner and the arguments.
func ownerCommand(c *cli, ctx context.Context, cmd *command, args []string, o *opts, extra func(fs *flag.FlagSet), names ...string) (*env, context.Context, string, []string, error) {
	fs := c.flags(cmd, o)
	owner := ownerFlag(fs)
	if extra != nil {
		extra(fs)
	}
	rest, err := c.parse(fs, args)
	if err != nil {
		return nil, nil, "", nil, err
	}
	if err := nargs(rest, names...); err != nil {
		return nil, nil, "", nil, err
	}
	if err := needOwner(*owner); err != nil {
		return nil, nil, "", nil, err
	}
	e, ctx, err := c.open(ctx, o, false)
	if err != nil {
		return nil, nil, "", nil, err
	}
	return e, ctx, *owner, rest, nil
}

// keyCommand is ownerCommand for a command on one of an owner's keys: it
// returns the key named by the one argument.
func keyCommand(c *cli, ctx context.Context, cmd *command, args []string, o *opts, extra func(fs *flag.FlagSet)) (*env, context.Context, *authkit.Key, error) {
	e, ctx, owner, rest, err := ownerCommand(c, ctx, cmd, args, o, extra, "KEY")
	if err != nil {
		return nil, nil, nil, err
	}
	k, err := findKey(ctx, e.store, owner, rest[0])
	if err != nil {
		e.close()
		return nil, nil, nil, err
	}
	return e, ctx, k, nil
}

func runKeysShow(c *cli, ctx context.Context, args []string) error {
	var o opts
	e, ctx, k, err := keyCommand(c, ctx, keysShowCmd, args, &o, nil)
	if err != nil {
		return err
	}
	defer e.close()
	out, err := e.keyOut(ctx, k, "")
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(c.stdout, out)
	}
	printKeyDetails(c, out)
	return nil
}

func runKeysPolicy(c *cli, ctx context.Context, args []string) error {
	var o opts
	var pf policyFlags
	var fs *flag.FlagSet
	e, ctx, k, err := keyCommand(c, ctx, keysPolicyCmd, args, &o, func(f *flag.FlagSet) { pf.register(f, true); fs = f })
	if err != nil {
		return err
	}
	defer e.close()
	if pf.given(fs) {
		pol := k.Policy.Clone()
		remaining, err := pf.apply(&pol, c.stdin)
		if err != nil {
			return err
		}
		ks, err := e.keys("")
		if err != nil {
			return err
		}
		if k, err = ks.Update(ctx, k.Owner, k.ID, authkit.KeyUpdate{Policy: &pol}); err != nil {
			return err
		}
		if err := e.setBalance(ctx, k, remaining); err != nil {
			return err
		}
	}
	out, err := e.keyOut(ctx, k, "")
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(c.stdout, out)
	}
	fmt.Fprintf(c.stdout, "Key %s (%s) of %s: policy %s\n", k.ID, k.Handle, k.Owner, describePolicyJSON(out.Policy))
	return nil
}

func runKeysSetDisabled(c *cli, ctx context.Context, args []string, cmd *command, disabled bool) error {
	var o opts
	e, ctx, k, err := keyCommand(c, ctx, cmd, args, &o, nil)
	if err != nil {
		return err
	}
	defer e.close()
	ks, err := e.keys("")
	if err != nil {
		return err
	}
	if k, err = ks.Update(ctx, k.Owner, k.ID, authkit.KeyUpdate{Disabled: &disabled}); err != nil {
		return err
	}
	out, err := e.keyOut(ctx, k, "")
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(c.stdout, out)
	}
	verb := "Enabled"
	if disabled {
		verb = "Disabled"
	}
	fmt.Fprintf(c.stdout, "%s key %s (%s) of %s.\n", verb, k.ID, k.Handle, k.Owner)
	return nil
}

func runKeysRotate(c *cli, ctx context.Context, args []string) error {
	var o opts
	var grace time.Duration
	var prefix *string
	e, ctx, k, err := keyCommand(c, ctx, keysRotateCmd, args, &o, func(fs *flag.FlagSet) {
		fs.Var(durationFlag{&grace}, "grace", "how long the old secret keeps verifying (e.g. 1h; default 0: it stops at once)")
		prefix = fs.String("prefix", "ak", "the keys' `prefix`, as the server's KeyPrefix (the example server: ak)")
	})
	if err != nil {
		return err
	}
	defer e.close()
	ks, err := e.keys(*prefix)
	if err != nil {
		return err
	}
	k, secret, err := ks.Rotate(ctx, k.Owner, k.ID, grace)
	if err != nil {
		return err
	}
	out, err := e.keyOut(ctx, k, secret)
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(c.stdout, out)
	}
	old := "the old secret stopped at once"
	if grace > 0 {
		old = "the old secret verifies for " + grace.String() + " more"
	}
	fmt.Fprintf(c.stdout, "Rotated key %s (%s) of %s: %s.\n", k.ID, k.Handle, k.Owner, old)
	fmt.Fprintf(c.stdout, "\nIts new secret, shown this once (store it now: no command shows it again):\n\n%s\n", secret)
	return nil
}

func runKeysDelete(c *cli, ctx context.Context, args []string) error {
	var o opts
	e, ctx, k, err := keyCommand(c, ctx, keysDeleteCmd, args, &o, nil)
	if err != nil {
		return err
	}
	defer e.close()
	ks, err := e.keys("")
	if err != nil {
		return err
	}
	if err := ks.Delete(ctx, k.Owner, k.ID); err != nil {
		return err
	}
	if o.json {
		return printJSON(c.stdout, map[string]any{"deleted": k.ID, "handle": k.Handle, "owner": k.Owner})
	}
	fmt.Fprintf(c.stdout, "Deleted key %s (%s) of %s: it and its tokens are refused from now on.\n", k.ID, k.Handle, k.Owner)
	return nil
}
