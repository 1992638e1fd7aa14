// Package audit records authkit's audit events: in the store, when it
// keeps them (authkit.AuditStore), and as structured log records.
package audit

import (
	"context"
	"log/slog"

	"github.com/google/uuid"

	"github.com/authkit/authkit"
)

// Recorder records events. The zero value and a nil *Recorder record
// nothing.
type Recorder struct {
	store  authkit.AuditStore
	logger *slog.Logger
	clock  authkit.Clock
}

// New returns a Recorder over store (recording in it if it is an
// authkit.AuditStore) and logger (nil: slog.Default()).
func New(store any, logger *slog.Logger, clock authkit.Clock) *Recorder {
	r := &Recorder{logger: logger, clock: clock}
	r.store, _ = store.(authkit.AuditStore)
	if r.logger == nil {
		r.logger = slog.Default()
	}
	return r
}

// Record records that action was done to target, of owner, by the actor
// of ctx (authkit.ActorFrom). detail must hold no secret. A failure to
// store it is logged, not returned: the change it records has been made.
func (r *Recorder) Record(ctx context.Context, owner string, action authkit.AuditAction, target, detail string) {
	if r == nil || r.logger == nil {
		return
	}
	id, err := uuid.NewV7()
	if err != nil {
		id = uuid.New()
	}
	e := authkit.AuditEvent{ID: id.String(), At: r.clock.Now(), Owner: owner, Action: action, Target: target, Detail: detail, Actor: authkit.ActorFrom(ctx)}
	r.logger.LogAttrs(ctx, slog.LevelInfo, "authkit: audit",
		slog.String("action", string(e.Action)), slog.String("owner", e.Owner), slog.String("target", e.Target),
		slog.String("detail", e.Detail), slog.String("actor", string(e.Actor.Kind)), slog.String("actor_id", e.Actor.ID),
		slog.String("addr", e.Actor.Addr), slog.String("request_id", e.Actor.RequestID))
	if r.store == nil {
		return
	}
	if err := r.store.AppendAudit(context.WithoutCancel(ctx), []authkit.AuditEvent{e}); err != nil {
		r.logger.ErrorContext(ctx, "authkit: audit event not stored", "action", string(action), "target", target, "err", err)
	}
}
