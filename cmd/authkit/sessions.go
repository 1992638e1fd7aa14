package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authkit/authkit"
)

var sessionsListCmd = &command{
	name: "sessions list", args: "-owner O", summary: "list the owner's live sessions",
	about: `Lists the owner's live sessions, oldest first: those unrevoked, unexpired, and
whose key is alive (the session manager's own list).`,
}

var sessionsRevokeCmd = &command{
	name: "sessions revoke", args: "-owner O ID", summary: "revoke a session: its tokens stop at once",
	about: `Revokes one of the owner's sessions: its access tokens are refused at once on
every server the store's notifications reach, and its refresh tokens are
refused. Exit code 3 if the owner has no such session.`,
}

func init() {
	sessionsListCmd.run = runSessionsList
	sessionsRevokeCmd.run = runSessionsRevoke
}

type sessionOut struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Owner     string    `json:"owner"`
	KeyID     string    `json:"key_id"`
	Name      string    `json:"name"` // login: the client's session id; grant: the flow
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

func runSessionsList(c *cli, ctx context.Context, args []string) error {
	var o opts
	e, ctx, owner, _, err := ownerCommand(c, ctx, sessionsListCmd, args, &o, nil)
	if err != nil {
		return err
	}
	defer e.close()
	sm, err := e.sessions()
	if err != nil {
		return err
	}
	out := []sessionOut{}
	for p := (authkit.Page{Limit: authkit.MaxPageLimit}); ; {
		ss, next, err := sm.List(ctx, owner, p)
		if err != nil {
			return err
		}
		for _, s := range ss {
			out = append(out, sessionOut{ID: s.ID, Kind: string(s.Kind), Owner: s.Owner, KeyID: s.KeyID, Name: s.Name, Scopes: nonNil(s.Scopes), CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt})
		}
		if next == "" {
			break
		}
		p.After = next
	}
	if o.json {
		return printJSON(c.stdout, out)
	}
	if len(out) == 0 {
		fmt.Fprintf(c.stdout, "Owner %s has no live session.\n", owner)
		return nil
	}
	var rows [][]string
	for _, s := range out {
		rows = append(rows, []string{s.ID, s.Kind, orDash(s.KeyID), orDash(s.Name), orDash(strings.Join(s.Scopes, " ")), when(s.CreatedAt), when(s.ExpiresAt)})
	}
	table(c.stdout, "ID\tKIND\tKEY\tNAME\tSCOPES\tCREATED\tEXPIRES", rows)
	return nil
}

func runSessionsRevoke(c *cli, ctx context.Context, args []string) error {
	var o opts
	e, ctx, owner, rest, err := ownerCommand(c, ctx, sessionsRevokeCmd, args, &o, nil, "ID")
	if err != nil {
		return err
	}
	defer e.close()
	sm, err := e.sessions()
	if err != nil {
		return err
	}
	if err := sm.Revoke(ctx, owner, rest[0]); err != nil {
		if errors.Is(err, authkit.ErrNotFound) {
			return fmt.Errorf("owner %q has no session %q: %w", owner, rest[0], authkit.ErrNotFound)
		}
		return err
	}
	if o.json {
		return printJSON(c.stdout, map[string]string{"revoked": rest[0], "owner": owner})
	}
	fmt.Fprintf(c.stdout, "Revoked session %s of %s: its tokens are refused from now on.\n", rest[0], owner)
	return nil
}
