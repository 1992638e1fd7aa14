package authkit

import (
	"context"
	"time"
)

// AuditAction names what an [AuditEvent] records.
type AuditAction string

// The actions the audit trail records.
const (
	AuditKeyCreated     AuditAction = "key.created"
	AuditKeyRevealed    AuditAction = "key.revealed" // a recoverable key's secret was shown again
	AuditKeyUpdated     AuditAction = "key.updated"  // its alias or policy changed
	AuditKeyDisabled    AuditAction = "key.disabled"
	AuditKeyEnabled     AuditAction = "key.enabled"
	AuditKeyRotated     AuditAction = "key.rotated"
	AuditKeyDeleted     AuditAction = "key.deleted"
	AuditSessionRevoked AuditAction = "session.revoked"
	// AuditRefreshReuse: a spent refresh token was presented again; its
	// family was revoked.
	AuditRefreshReuse      AuditAction = "refresh.reuse_detected"
	AuditSigningKeyRotated AuditAction = "signing_key.rotated"
	AuditSigningKeyRevoked AuditAction = "signing_key.revoked"
	// AuditSecretRotated: a new server secret took over (the admin
	// command's secret rotate); its target is the new secret's ID.
	AuditSecretRotated AuditAction = "secret.rotated"
	// AuditSecretRewrapped: values sealed under previous server secrets
	// were sealed again under the current one.
	AuditSecretRewrapped AuditAction = "secret.rewrapped"
	// AuditAddressBlocked: a client address failed credentials too often
	// and is refused until its window ends; its target is the address (an
	// IPv6 address's /64). Its owner is "": it concerns no one owner.
	AuditAddressBlocked AuditAction = "limiter.address_blocked"
)

// ActorKind says who made a change.
type ActorKind string

// The kinds of actor.
const (
	ActorUser   ActorKind = "user"   // one of the app's users, signed in
	ActorKey    ActorKind = "key"    // a program, with its key or its tokens
	ActorSystem ActorKind = "system" // authkit itself, or code that set no actor
	ActorAdmin  ActorKind = "admin"  // the admin command (cmd/authkit) or an operator's code
)

// Actor is who made a change, from where: what the HTTP layer knows of the
// request (see [WithActor]).
type Actor struct {
	Kind      ActorKind `json:"kind"`
	ID        string    `json:"id,omitempty"`         // the user's or the key's ID
	Addr      string    `json:"addr,omitempty"`       // the client's address
	RequestID string    `json:"request_id,omitempty"` // the request's X-Request-Id, or one made up
}

type actorKey struct{}

// WithActor returns a copy of ctx that says who acts: the key, session and
// token services record it in the audit events of the changes made with
// that context.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor of ctx, or the system if none was set.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return Actor{Kind: ActorSystem}
}

// AuditEvent is one change as the audit trail keeps it: what, to what,
// whose, by whom, when. It never holds a secret.
type AuditEvent struct {
	ID     string      `json:"id"` // UUIDv7: IDs sort by time
	At     time.Time   `json:"at"`
	Owner  string      `json:"owner"` // whose key or session ("" for the service's own, as signing keys)
	Action AuditAction `json:"action"`
	Target string      `json:"target"`           // the key's, session's or signing key's ID
	Detail string      `json:"detail,omitempty"` // a short note, e.g. "grace 1h0m0s"
	Actor  Actor       `json:"actor"`
}

// AuditStore keeps the audit trail, append-only. Implementations must be
// safe for concurrent use by multiple goroutines.
type AuditStore interface {
	// AppendAudit stores the events. Returns ErrConflict if an ID exists.
	AppendAudit(ctx context.Context, events []AuditEvent) error
	// AuditLog returns a page of the owner's events in ID (time) order.
	AuditLog(ctx context.Context, owner string, p Page) ([]AuditEvent, error)
	// DeleteAudit deletes the events from before before, and returns how
	// many: the trail's retention.
	DeleteAudit(ctx context.Context, before time.Time) (int, error)
}
