package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/audit"
	"github.com/authkit/authkit/internal/seal"
)

var secretStatusCmd = &command{
	name: "secret status", args: "", summary: "which server secrets the store's sealed values need",
	about: `Counts the store's sealed values (recoverable keys, login session tokens,
signing keys, refresh pairs within their grace, the hash keys) by the secret
that sealed them, and says whether the previous secrets of the keyring are
still needed. Secrets are shown by their ID, a fingerprint that tells nothing
of them.`,
}

var secretRotateCmd = &command{
	name: "secret rotate", args: "", summary: "put a new server secret first in the secret file",
	about: `Writes a new random server secret at the top of the secret file (0600),
keeping the others after it as previous secrets, and records it in the audit
trail. The servers take it at their next start: restart them all. New values
are sealed under the new secret at once, and what the old one sealed still
opens; the servers' housekeeping seals it again under the new one (or run
authkit secret rewrap once every server runs on the new keyring). The secret
is never printed. A secret given by $` + secretEnv + ` cannot be rotated by the
command: put the new secret first in the variable yourself.`,
}

var secretRewrapCmd = &command{
	name: "secret rewrap", args: "", summary: "seal again under the current secret what previous ones sealed",
	about: `Seals again under the current secret of the keyring every value a previous
secret sealed, a batch at a time, while servers run. Run it only once every
server runs on the new keyring (a server that knows only the old secret
cannot open what is moved). Then authkit secret drop removes the old secret.`,
}

var secretDropCmd = &command{
	name: "secret drop", args: "", summary: "remove the previous secrets from the secret file, once nothing needs them",
	about: `Removes the previous secrets from the secret file, leaving the current one,
but only when no sealed value of the store still needs them (authkit secret
status); otherwise it refuses (exit 1) and says how many values do. Restart
the servers afterwards.`,
}

func init() {
	secretStatusCmd.run = runSecretStatus
	secretRotateCmd.run = runSecretRotate
	secretRewrapCmd.run = runSecretRewrap
	secretDropCmd.run = runSecretDrop
}

// openForSecret parses the flags of cmd (none of its own), opens the store
// and loads the keyring.
func (c *cli) openForSecret(ctx context.Context, cmd *command, args []string) (*env, context.Context, *authkit.Secret, error) {
	var o opts
	fs := c.flags(cmd, &o)
	rest, err := c.parse(fs, args)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := nargs(rest); err != nil {
		return nil, nil, nil, err
	}
	e, ctx, err := c.open(ctx, &o, false)
	if err != nil {
		return nil, nil, nil, err
	}
	s, err := e.loadSecret()
	if err != nil {
		e.close()
		return nil, nil, nil, err
	}
	return e, ctx, s, nil
}

// secretUse is what secret status reports of one secret.
type secretUse struct {
	ID     string `json:"id"`     // "" for values sealed before secrets were recorded
	Role   string `json:"role"`   // current, previous, or unknown (not in the keyring)
	Values int    `json:"values"` // sealed values it sealed
}

// uses counts the store's sealed values by secret, the keyring's first.
func uses(ctx context.Context, e *env, s *authkit.Secret) ([]secretUse, error) {
	n, err := seal.Count(ctx, e.store)
	if err != nil {
		return nil, err
	}
	ids := s.IDs()
	var out []secretUse
	for i, id := range ids {
		role := "previous"
		if i == 0 {
			role = "current"
		}
		out = append(out, secretUse{id, role, n[id]})
		delete(n, id)
	}
	var rest []string
	for id := range n {
		rest = append(rest, id)
	}
	sort.Strings(rest)
	for _, id := range rest {
		role := "unknown"
		if id == "" {
			role = "unrecorded" // sealed before secrets were recorded: a rewrap moves them
		}
		out = append(out, secretUse{id, role, n[id]})
	}
	return out, nil
}

// stillNeeded is how many values need a secret other than the current one.
func stillNeeded(us []secretUse) int {
	n := 0
	for _, u := range us {
		if u.Role != "current" {
			n += u.Values
		}
	}
	return n
}

func runSecretStatus(c *cli, ctx context.Context, args []string) error {
	e, ctx, s, err := c.openForSecret(ctx, secretStatusCmd, args)
	if err != nil {
		return err
	}
	defer e.close()
	us, err := uses(ctx, e, s)
	if err != nil {
		return err
	}
	needed := stillNeeded(us)
	if e.o.json {
		return printJSON(c.stdout, map[string]any{"secrets": us, "previous_needed_by": needed})
	}
	var rows [][]string
	for _, u := range us {
		rows = append(rows, []string{orDash(u.ID), u.Role, fmt.Sprint(u.Values)})
	}
	table(c.stdout, "SECRET\tROLE\tSEALED VALUES", rows)
	switch {
	case len(s.IDs()) == 1 && needed == 0:
		fmt.Fprintln(c.stdout, "The current secret seals everything.")
	case needed == 0:
		fmt.Fprintln(c.stdout, "The previous secrets are no longer needed: authkit secret drop removes them.")
	default:
		fmt.Fprintf(c.stdout, "%d values still need another secret than the current one: authkit secret rewrap moves them.\n", needed)
	}
	return nil
}

func runSecretRotate(c *cli, ctx context.Context, args []string) error {
	e, ctx, s, err := c.openForSecret(ctx, secretRotateCmd, args)
	if err != nil {
		return err
	}
	defer e.close()
	if os.Getenv(secretEnv) != "" {
		return usagef("the server secret comes from $%s: put a new secret first in it yourself (the command writes only a secret file)", secretEnv)
	}
	text := authkit.NewSecretText()
	next, err := authkit.NewSecret([]byte(text))
	if err != nil {
		return err
	}
	lines, err := secretLines(e.secretPath())
	if err != nil {
		return err
	}
	if err := writeSecretFile(e.secretPath(), text, lines); err != nil {
		return err
	}
	audit.New(e.store, e.logger, nil).Record(ctx, "", authkit.AuditSecretRotated, next.ID(), "previous: "+strings.Join(s.IDs(), ", "))
	if e.o.json {
		return printJSON(c.stdout, map[string]any{"current": next.ID(), "previous": s.IDs(), "file": e.secretPath()})
	}
	fmt.Fprintf(c.stdout, "Secret %s is now first in %s, before %s.\nRestart every server; then authkit secret rewrap (or wait for the servers' housekeeping), and authkit secret drop.\n",
		next.ID(), e.secretPath(), strings.Join(s.IDs(), ", "))
	return nil
}

func runSecretRewrap(c *cli, ctx context.Context, args []string) error {
	e, ctx, s, err := c.openForSecret(ctx, secretRewrapCmd, args)
	if err != nil {
		return err
	}
	defer e.close()
	moved, stuck, err := seal.Rewrap(ctx, e.store, s)
	if err != nil {
		return err
	}
	if moved > 0 {
		audit.New(e.store, e.logger, nil).Record(ctx, "", authkit.AuditSecretRewrapped, s.ID(),
			fmt.Sprintf("%d sealed values moved to secret %s; %d not opened", moved, s.ID(), stuck))
	}
	if e.o.json {
		return printJSON(c.stdout, map[string]any{"moved": moved, "not_opened": stuck, "current": s.ID()})
	}
	fmt.Fprintf(c.stdout, "Moved %d sealed values to secret %s.\n", moved, s.ID())
	if stuck > 0 {
		fmt.Fprintf(c.stdout, "%d values were sealed under a secret the keyring does not hold, and were left as they are.\n", stuck)
	}
	return nil
}

func runSecretDrop(c *cli, ctx context.Context, args []string) error {
	e, ctx, s, err := c.openForSecret(ctx, secretDropCmd, args)
	if err != nil {
		return err
	}
	defer e.close()
	if os.Getenv(secretEnv) != "" {
		return usagef("the server secret comes from $%s: remove the previous secrets from it yourself", secretEnv)
	}
	us, err := uses(ctx, e, s)
	if err != nil {
		return err
	}
	if n := stillNeeded(us); n > 0 {
		return fmt.Errorf("refused: %d sealed values still need a previous secret (authkit secret rewrap moves them)", n)
	}
	lines, err := secretLines(e.secretPath())
	if err != nil {
		return err
	}
	if len(lines) <= 1 {
		fmt.Fprintln(c.stdout, "The secret file holds the current secret alone: nothing to drop.")
		return nil
	}
	if err := writeSecretFile(e.secretPath(), lines[0], nil); err != nil {
		return err
	}
	if e.o.json {
		return printJSON(c.stdout, map[string]any{"current": s.ID(), "dropped": s.IDs()[1:]})
	}
	fmt.Fprintf(c.stdout, "Dropped %s; %s holds secret %s alone. Restart the servers.\n", strings.Join(s.IDs()[1:], ", "), e.secretPath(), s.ID())
	return nil
}

// secretLines returns the secrets of the file at path, one per line, as
// authkit.LoadSecret reads them. An error names the file, never a secret:
// rotating on what could not be read would drop the previous secrets.
func secretLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret file: %w", err)
	}
	var out []string
	for l := range strings.Lines(string(b)) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out, nil
}

// writeSecretFile replaces the file at path, atomically, by first and then
// rest, one per line, with mode 0600.
func writeSecretFile(path, first string, rest []string) error {
	lines := append([]string{first}, slices.DeleteFunc(slices.Clone(rest), func(l string) bool { return l == first })...)
	f, err := os.CreateTemp(filepath.Dir(path), ".authkit-secret-*")
	if err != nil {
		return fmt.Errorf("secret file: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("secret file: %w", err)
	}
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("secret file: %w", err)
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("secret file: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("secret file: %w", err)
	}
	return nil
}
