package httpmw

import (
	"net/http"
	"strconv"
	"time"

	"github.com/authkit/authkit"
)

// SetRateLimit sets the RateLimit-Policy and RateLimit header fields
// (draft-ietf-httpapi-ratelimit-headers) of a response from what a
// [authkit.Gate] found: one item per rate limit, named as the limit is,
// e.g. `RateLimit-Policy: "burst";q=5;w=10` and `RateLimit:
// "burst";r=4;t=7`. It sets nothing for a key without rate limits.
func SetRateLimit(h http.Header, a *authkit.Admission) {
	if len(a.Quotas) == 0 {
		return
	}
	// Both values in one buffer (on the stack for a few limits), made one
	// string, and both header slices in one array: two allocations.
	var arr [256]byte
	b := arr[:0]
	for i, q := range a.Quotas {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendItem(b, q.Name)
		b = append(b, ";q="...)
		b = strconv.AppendInt(b, q.Limit, 10)
		b = append(b, ";w="...)
		b = strconv.AppendInt(b, int64(q.Window/time.Second), 10)
	}
	split := len(b)
	for i, q := range a.Quotas {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendItem(b, q.Name)
		b = append(b, ";r="...)
		b = strconv.AppendInt(b, q.Remaining, 10)
		b = append(b, ";t="...)
		b = strconv.AppendInt(b, seconds(q.Reset.Sub(a.At)), 10)
	}
	s := string(b)
	vals := make([]string, 2)
	vals[0], vals[1] = s[:split], s[split:]
	h["Ratelimit-Policy"] = vals[0:1:1]
	h["Ratelimit"] = vals[1:2:2]
}

func appendItem(b []byte, name string) []byte {
	b = append(b, '"')
	b = append(b, name...) // names are [a-z0-9_-]: nothing to escape
	return append(b, '"')
}

// seconds rounds d up to whole seconds, at least 0.
func seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
