package handlers

import (
	"net/http"
	"time"

	"github.com/authkit/authkit"
)

// maxUsageRange is the longest range KeyUsage answers: 31 days of hours.
const maxUsageRange = 31 * 24 * time.Hour

// usageBucketJSON is one hour of a key's usage: a count per outcome.
type usageBucketJSON struct {
	Start time.Time `json:"start"`
	// Counts has one member per outcome, zeros included, named as
	// authkit.Outcomes are: "valid", "rate_limited", …
	Counts map[authkit.Outcome]int64 `json:"counts"`
	Total  int64                     `json:"total"`
}

// KeyUsage returns the handler that lists the usage of one of the
// principal's keys by handle: `?from=&to=` (RFC 3339; default the last 24
// hours, at most 31 days), answered as {"bucket_seconds": 3600, "from",
// "to", "outcomes": […], "buckets": [{"start", "counts": {"valid": n,
// "rate_limited": n, …}, "total"}]} with every hour of the range, empty
// ones too. It needs a Gate (404 without one).
func (e *Endpoints) KeyUsage(o KeyOptions) http.Handler {
	rs := e.responder(o.Envelope)
	return e.owned(rs, func(w http.ResponseWriter, r *http.Request, own string) {
		if e.Gate == nil {
			rs.Error(w, r, authkit.ErrNotFound)
			return
		}
		now := e.Clock.Now()
		to := now.Truncate(authkit.UsageBucket).Add(authkit.UsageBucket)
		from := to.Add(-24 * time.Hour)
		q := r.URL.Query()
		for _, p := range []struct {
			name string
			into *time.Time
		}{{"from", &from}, {"to", &to}} {
			if v := q.Get(p.name); v != "" {
				t, err := time.Parse(time.RFC3339, v)
				if err != nil {
					rs.Error(w, r, badRequest(p.name+" must be an RFC 3339 time"))
					return
				}
				*p.into = t.UTC()
			}
		}
		from, to = from.Truncate(authkit.UsageBucket), to.Add(authkit.UsageBucket-1).Truncate(authkit.UsageBucket)
		if !from.Before(to) || to.Sub(from) > maxUsageRange {
			rs.Error(w, r, badRequest("from must be before to, at most 31 days apart"))
			return
		}
		k, err := e.Keys.GetByHandle(r.Context(), own, r.PathValue(o.param()))
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		counts, err := e.Gate.Usage(r.Context(), k.ID, from, to)
		if err != nil {
			rs.Error(w, r, err)
			return
		}
		buckets := make([]usageBucketJSON, 0, int(to.Sub(from)/authkit.UsageBucket))
		for t := from; t.Before(to); t = t.Add(authkit.UsageBucket) {
			b := usageBucketJSON{Start: t, Counts: make(map[authkit.Outcome]int64, len(authkit.Outcomes))}
			for _, o := range authkit.Outcomes {
				b.Counts[o] = 0
			}
			buckets = append(buckets, b)
		}
		for _, c := range counts {
			if i := int(c.Start.Sub(from) / authkit.UsageBucket); i >= 0 && i < len(buckets) {
				buckets[i].Counts[c.Outcome] += c.Count
				buckets[i].Total += c.Count
			}
		}
		noStore(w)
		rs.JSON(w, http.StatusOK, "", map[string]any{
			"bucket_seconds": int64(authkit.UsageBucket / time.Second), "from": from, "to": to,
			"outcomes": authkit.Outcomes, "buckets": buckets,
		})
	})
}
