package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/tokens"
)

var signingListCmd = &command{
	name: "signing-keys list", args: "", summary: "list the signing keys and their states",
	about: `Lists the signing keys of access tokens, oldest first: the active one (it
signs), the retired ones (they verify the tokens they signed until those
expire), and the revoked or expired ones the cleanup has not deleted yet.
Needs no server secret: no private key is opened.`,
}

var signingRotateCmd = &command{
	name: "signing-keys rotate", args: "", summary: "a new signing key signs; the old ones verify on",
	about: `Makes a new signing key; every server signs with it within a minute and
verifies its tokens at once. The key that signed until now is retired: it
verifies the tokens it signed for -max-ttl more (give the servers'
MaxAccessTTL, default 24h), then expires.`,
}

var signingRevokeCmd = &command{
	name: "signing-keys revoke", args: "KID", summary: "a leaked signing key: its tokens are refused at once",
	about: `Revokes signing key KID now (tokens.Service.RevokeSigningKey): every token it
signed is refused at once, on every server and product API the store's
notifications and the revocation feed reach, and it leaves the JWKS. If it
is the key that signs, a new one takes over first. Exit code 3 for an
unknown KID.`,
}

func init() {
	signingListCmd.run = runSigningList
	signingRotateCmd.run = runSigningRotate
	signingRevokeCmd.run = runSigningRevoke
}

type signingKeyOut struct {
	ID        string     `json:"kid"`
	Algorithm string     `json:"alg"`
	State     string     `json:"state"` // active, retired, revoked or expired
	CreatedAt time.Time  `json:"created_at"`
	RetiredAt *time.Time `json:"retired_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

// revokedSigningKeys returns when each signing key was revoked, from the
// audit trail (the service's own events: owner "").
func revokedSigningKeys(ctx context.Context, store authkit.AuditStore) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	for p := (authkit.Page{Limit: authkit.MaxPageLimit}); ; {
		evs, err := store.AuditLog(ctx, "", p)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			if ev.Action == authkit.AuditSigningKeyRevoked {
				out[ev.Target] = ev.At
			}
		}
		if len(evs) < p.Size() {
			return out, nil
		}
		p.After = evs[len(evs)-1].ID
	}
}

// signs reports whether k is the active signing key: neither retired nor
// given an end.
func signs(k *authkit.SigningKey) bool { return k.RetiredAt.IsZero() && k.ExpiresAt.IsZero() }

// signingKeyState returns the state of k at at, knowing the revocations.
func signingKeyState(k *authkit.SigningKey, revoked map[string]time.Time, at time.Time) (string, *time.Time) {
	if r, ok := revoked[k.ID]; ok && !k.ExpiresAt.IsZero() && !at.Before(k.ExpiresAt) {
		return "revoked", &r
	}
	switch {
	case signs(k):
		return "active", nil
	case !k.ExpiresAt.IsZero() && !at.Before(k.ExpiresAt):
		return "expired", nil
	}
	return "retired", nil
}

func (e *env) signingKeys(ctx context.Context) ([]signingKeyOut, error) {
	ks, err := e.store.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	revoked, err := revokedSigningKeys(ctx, e.store)
	if err != nil {
		return nil, err
	}
	at := now()
	out := []signingKeyOut{}
	for _, k := range ks {
		st, rev := signingKeyState(k, revoked, at)
		out = append(out, signingKeyOut{ID: k.ID, Algorithm: k.Algorithm, State: st, CreatedAt: k.CreatedAt, RetiredAt: timePtr(k.RetiredAt), ExpiresAt: timePtr(k.ExpiresAt), RevokedAt: rev})
	}
	return out, nil
}

func printSigningKeys(c *cli, ks []signingKeyOut) {
	if len(ks) == 0 {
		fmt.Fprintln(c.stdout, "No signing key yet (a server, or signing-keys rotate, makes the first).")
		return
	}
	var rows [][]string
	for _, k := range ks {
		until := "-"
		if k.ExpiresAt != nil {
			until = when(*k.ExpiresAt)
		}
		rows = append(rows, []string{k.ID, k.Algorithm, k.State, when(k.CreatedAt), until})
	}
	table(c.stdout, "KID\tALG\tSTATE\tCREATED\tVERIFIES UNTIL", rows)
}

func runSigningList(c *cli, ctx context.Context, args []string) error {
	var o opts
	fs := c.flags(signingListCmd, &o)
	rest, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if err := nargs(rest); err != nil {
		return err
	}
	e, ctx, err := c.open(ctx, &o, false)
	if err != nil {
		return err
	}
	defer e.close()
	ks, err := e.signingKeys(ctx)
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(c.stdout, ks)
	}
	printSigningKeys(c, ks)
	return nil
}

// hasActive reports whether one of ks signs.
func hasActive(ks []*authkit.SigningKey) bool {
	for _, k := range ks {
		if signs(k) {
			return true
		}
	}
	return false
}

// signingFlags registers the flags of the commands that make signing keys.
func signingFlags(fs *flag.FlagSet) (alg *string, maxTTL *time.Duration) {
	alg = fs.String("alg", "", "the new key's `algorithm`: EdDSA, ES256 or HS256 (default: the active key's, else EdDSA)")
	d := tokens.DefaultMaxTTL
	maxTTL = &d
	fs.Var(durationFlag{maxTTL}, "max-ttl", "the servers' MaxAccessTTL: a retired key verifies this much longer (default 24h)")
	return alg, maxTTL
}

// signingService returns the token service that rotates and revokes, with
// the algorithm of the active key unless alg names one.
func (e *env) signingService(ctx context.Context, alg string, maxTTL time.Duration) (*tokens.Service, error) {
	if alg == "" {
		ks, err := e.store.SigningKeys(ctx)
		if err != nil {
			return nil, err
		}
		for _, k := range ks {
			if signs(k) {
				alg = k.Algorithm // oldest first: the newest active one wins
			}
		}
	}
	if maxTTL < time.Second {
		return nil, usagef("-max-ttl must be at least 1s")
	}
	return e.tokens(ctx, tokens.Config{Algorithm: alg, MaxTTL: maxTTL, DefaultTTL: min(tokens.DefaultTTL, maxTTL)})
}

func runSigningRotate(c *cli, ctx context.Context, args []string) error {
	var o opts
	fs := c.flags(signingRotateCmd, &o)
	alg, maxTTL := signingFlags(fs)
	rest, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if err := nargs(rest); err != nil {
		return err
	}
	e, ctx, err := c.open(ctx, &o, false)
	if err != nil {
		return err
	}
	defer e.close()
	all, err := e.store.SigningKeys(ctx)
	if err != nil {
		return err
	}
	if !hasActive(all) { // a token service would make a first key, unaudited: leave that to a server's start
		return errors.New("no signing key to rotate yet: a server makes the first when it starts")
	}
	ts, err := e.signingService(ctx, *alg, *maxTTL)
	if err != nil {
		return err
	}
	if err := ts.Rotate(ctx); err != nil {
		return err
	}
	ks, err := e.signingKeys(ctx)
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(c.stdout, ks)
	}
	for _, k := range ks {
		if k.State == "active" {
			fmt.Fprintf(c.stdout, "Signing key %s (%s) signs from now on; the keys it replaced verify until their tokens expire.\n\n", k.ID, k.Algorithm)
		}
	}
	printSigningKeys(c, ks)
	return nil
}

func runSigningRevoke(c *cli, ctx context.Context, args []string) error {
	var o opts
	fs := c.flags(signingRevokeCmd, &o)
	alg, maxTTL := signingFlags(fs)
	rest, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if err := nargs(rest, "KID"); err != nil {
		return err
	}
	kid := rest[0]
	e, ctx, err := c.open(ctx, &o, false)
	if err != nil {
		return err
	}
	defer e.close()
	known := false
	all, err := e.store.SigningKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range all {
		known = known || k.ID == kid
	}
	if !known { // before a token service would make a first key on an empty store
		return fmt.Errorf("no signing key %q: %w", kid, authkit.ErrNotFound)
	}
	ts, err := e.signingService(ctx, *alg, *maxTTL)
	if err != nil {
		return err
	}
	if err := ts.RevokeSigningKey(ctx, kid); err != nil {
		if errors.Is(err, authkit.ErrNotFound) {
			return fmt.Errorf("no signing key %q: %w", kid, authkit.ErrNotFound)
		}
		return err
	}
	ks, err := e.signingKeys(ctx)
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(c.stdout, map[string]any{"revoked": kid, "signing_keys": ks})
	}
	fmt.Fprintf(c.stdout, "Revoked signing key %s: its tokens are refused from now on, and it has left the JWKS.\n\n", kid)
	printSigningKeys(c, ks)
	return nil
}
