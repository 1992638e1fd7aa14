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
	var pol, cur []byte
	for i, q := range a.Quotas {
		if i > 0 {
			pol, cur = append(pol, ", "...), append(cur, ", "...)
		}
		pol = appendItem(pol, q.Name)
		pol = append(pol, ";q="...)
		pol = strconv.AppendInt(pol, q.Limit, 10)
		pol = append(pol, ";w="...)
		pol = strconv.AppendInt(pol, int64(q.Window/time.Second), 10)
		cur = appendItem(cur, q.Name)
		cur = append(cur, ";r="...)
		cur = strconv.AppendInt(cur, q.Remaining, 10)
		cur = append(cur, ";t="...)
		cur = strconv.AppendInt(cur, seconds(q.Reset.Sub(a.At)), 10)
	}
	h["Ratelimit-Policy"] = []string{string(pol)}
	h["Ratelimit"] = []string{string(cur)}
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
