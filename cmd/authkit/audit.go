package main

import (
	"context"
	"fmt"
	"time"

	"github.com/authkit/authkit"
)

var auditListCmd = &command{
	name: "audit list", args: "[-owner O] [-limit N]", summary: "the audit trail, newest last",
	about: `Lists the owner's audit trail: every change to their keys and sessions, with
who made it (a user, a key, the system, or the admin command with the
operating-system user's name). Without -owner: the service's own events
(signing keys rotated and revoked). The last -limit events are shown, oldest
first. Never a secret: the trail holds none.`,
}

var cleanupCmd = &command{
	name: "cleanup", args: "", summary: "delete what has expired",
	about: `Deletes what can no longer matter, as a server's housekeeping does every 10
minutes: expired key secrets, refresh tokens, sessions and signing keys, usage
counts older than -usage-retention, audit events older than -audit-retention.
Nothing alive is touched.`,
}

func init() {
	auditListCmd.run = runAuditList
	cleanupCmd.run = runCleanup
}

func runAuditList(c *cli, ctx context.Context, args []string) error {
	var o opts
	fs := c.flags(auditListCmd, &o)
	owner := fs.String("owner", "", "whose events (default: the service's own, the signing keys')")
	limit := fs.Int("limit", 50, "show the last `N` events (0: all)")
	rest, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if err := nargs(rest); err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("-limit must not be negative")
	}
	e, ctx, err := c.open(ctx, &o, false)
	if err != nil {
		return err
	}
	defer e.close()
	var evs []authkit.AuditEvent
	for p := (authkit.Page{Limit: authkit.MaxPageLimit}); ; {
		page, err := e.store.AuditLog(ctx, *owner, p)
		if err != nil {
			return err
		}
		evs = append(evs, page...)
		if *limit > 0 && len(evs) > *limit {
			evs = evs[len(evs)-*limit:]
		}
		if len(page) < p.Size() {
			break
		}
		p.After = page[len(page)-1].ID
	}
	if o.json {
		return printJSON(c.stdout, nonNil(evs))
	}
	if len(evs) == 0 {
		fmt.Fprintln(c.stdout, "No event.")
		return nil
	}
	var rows [][]string
	for _, ev := range evs {
		by := string(ev.Actor.Kind)
		if ev.Actor.ID != "" {
			by += " " + ev.Actor.ID
		}
		rows = append(rows, []string{when(ev.At), string(ev.Action), ev.Target, by, orDash(ev.Actor.Addr), orDash(ev.Detail)})
	}
	table(c.stdout, "AT\tACTION\tTARGET\tBY\tFROM\tDETAIL", rows)
	return nil
}

func runCleanup(c *cli, ctx context.Context, args []string) error {
	var o opts
	fs := c.flags(cleanupCmd, &o)
	usage, audit := 30*24*time.Hour, 365*24*time.Hour
	fs.Var(durationFlag{&usage}, "usage-retention", "keep usage counts this long (the server's UsageRetention; default 30d)")
	fs.Var(durationFlag{&audit}, "audit-retention", "keep audit events this long (the server's AuditRetention; default 365d)")
	rest, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if err := nargs(rest); err != nil {
		return err
	}
	if usage < authkit.UsageBucket || audit < time.Hour {
		return usagef("-usage-retention and -audit-retention must be at least 1h")
	}
	e, ctx, err := c.open(ctx, &o, false)
	if err != nil {
		return err
	}
	defer e.close()
	at := now()
	expired, err := e.store.Cleanup(ctx, at)
	if err != nil {
		return err
	}
	usages, err := e.store.DeleteUsage(ctx, at.Add(-usage))
	if err != nil {
		return err
	}
	events, err := e.store.DeleteAudit(ctx, at.Add(-audit))
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(c.stdout, map[string]int{"expired": expired, "usage": usages, "audit": events})
	}
	fmt.Fprintf(c.stdout, "Deleted %d expired records, %d usage counts, %d audit events.\n", expired, usages, events)
	return nil
}
