package handlers

import (
	"net/http"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/httpmw"
)

// AuditOptions shapes the audit handler.
type AuditOptions struct {
	Envelope httpmw.Envelope // default httpmw.Plain
}

// AuditLog returns the handler that lists the principal's audit trail, a
// page at a time like ListKeys, oldest first: {"events": [{"id", "at",
// "owner", "action", "target", "detail", "actor": {"kind", "id", "addr",
// "request_id"}}], "next": "…"}. It needs Endpoints.Audit (404 without).
func (e *Endpoints) AuditLog(o AuditOptions) http.Handler {
	rs := e.responder(o.Envelope)
	return e.owned(rs, func(w http.ResponseWriter, r *http.Request, own string) {
		if e.Audit == nil {
			rs.Error(w, r, authkit.ErrNotFound)
			return
		}
		page, err := pageFrom(r)
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		evs, err := e.Audit.AuditLog(r.Context(), own, page)
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		next := ""
		if len(evs) == page.Size() {
			next = evs[len(evs)-1].ID
		}
		noStore(w)
		rs.JSON(w, http.StatusOK, "", map[string]any{"events": evs, "next": next})
	})
}
