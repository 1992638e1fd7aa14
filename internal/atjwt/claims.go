package atjwt

import (
	"encoding/json"
	"unsafe"

	"github.com/authkit/authkit"
)

// Wire is what a payload is decoded into: the claims, with aud as a
// string or an array, and nbf, which authkit never writes but honours.
type Wire struct {
	authkit.Claims
	Aud       Audience `json:"aud"` // shadows Claims.Audience
	NotBefore int64    `json:"nbf"`
}

// Audience is the aud claim: a string or an array of strings (RFC 7519
// §4.1.3).
type Audience struct {
	one   string
	many  []string
	array bool
	set   bool
}

// UnmarshalJSON implements [json.Unmarshaler].
func (a *Audience) UnmarshalJSON(b []byte) error {
	*a = Audience{set: true}
	if len(b) > 0 && b[0] == '[' {
		a.array = true
		return json.Unmarshal(b, &a.many)
	}
	return json.Unmarshal(b, &a.one)
}

func (a *Audience) Has(want string) bool {
	switch {
	case !a.set:
		return false
	case !a.array:
		return a.one == want
	}
	for _, v := range a.many {
		if v == want {
			return true
		}
	}
	return false
}

// Decode decodes a verified payload into w. The JSON authkit writes
// (one object of known claims whose values are plain strings and integers)
// is read by a small scanner without reflection; anything else (escapes,
// unknown or repeated claims, floats, null, other spellings) goes to
// encoding/json, whose result is the reference.
//
// b is the caller's to give away: the claims' strings are slices of it,
// read in place, so it must never change afterwards (a payload just
// decoded from base64 never does).
func Decode(b []byte, w *Wire) error {
	if len(b) > 0 && scanClaims(unsafe.String(&b[0], len(b)), w) {
		return nil
	}
	*w = Wire{}
	return json.Unmarshal(b, w)
}

// The claims the scanner knows, as bits of a seen-set.
const (
	seenIss = 1 << iota
	seenSub
	seenAud
	seenClientID
	seenJti
	seenIat
	seenExp
	seenNbf
	seenScope
	seenSid
	seenEnv
)

// scanClaims reads b into w if b is in the simple form Decode
// describes, and reports whether it was. On false, w holds garbage.
func scanClaims(src string, w *Wire) bool {
	// Every string claim is a slice of src: decoding allocates nothing.
	i := skipSpace(src, 0)
	if i >= len(src) || src[i] != '{' {
		return false
	}
	i = skipSpace(src, i+1)
	if i < len(src) && src[i] == '}' {
		return skipSpace(src, i+1) == len(src)
	}
	seen := 0
	for {
		name, j, ok := plainString(src, i)
		if !ok {
			return false
		}
		i = skipSpace(src, j)
		if i >= len(src) || src[i] != ':' {
			return false
		}
		i = skipSpace(src, i+1)
		var bit int
		var str *string
		var num *int64
		c := &w.Claims
		switch name {
		case "iss":
			bit, str = seenIss, &c.Issuer
		case "sub":
			bit, str = seenSub, &c.Subject
		case "client_id":
			bit, str = seenClientID, &c.ClientID
		case "jti":
			bit, str = seenJti, &c.ID
		case "scope":
			bit, str = seenScope, &c.Scope
		case "sid":
			bit, str = seenSid, &c.SessionID
		case "env":
			bit = seenEnv
		case "aud":
			bit = seenAud
		case "iat":
			bit, num = seenIat, &c.IssuedAt
		case "exp":
			bit, num = seenExp, &c.Expiry
		case "nbf":
			bit, num = seenNbf, &w.NotBefore
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		switch {
		case str != nil:
			if *str, i, ok = plainString(src, i); !ok {
				return false
			}
		case num != nil:
			if *num, i, ok = plainInt(src, i); !ok {
				return false
			}
		case bit == seenEnv:
			var e string
			if e, i, ok = plainString(src, i); !ok {
				return false
			}
			c.Env = authkit.Env(e)
		case bit == seenAud:
			if i, ok = scanAudience(src, i, &w.Aud); !ok {
				return false
			}
		}
		i = skipSpace(src, i)
		if i >= len(src) {
			return false
		}
		switch src[i] {
		case ',':
			i = skipSpace(src, i+1)
			continue
		case '}':
			return skipSpace(src, i+1) == len(src)
		}
		return false
	}
}

// scanAudience reads a plain string or an array of plain strings at i.
func scanAudience(src string, i int, a *Audience) (int, bool) {
	a.set = true
	if i >= len(src) || src[i] != '[' {
		var ok bool
		a.one, i, ok = plainString(src, i)
		return i, ok
	}
	a.array = true
	i = skipSpace(src, i+1)
	if i < len(src) && src[i] == ']' {
		return i + 1, true
	}
	for {
		s, j, ok := plainString(src, i)
		if !ok {
			return 0, false
		}
		a.many = append(a.many, s)
		i = skipSpace(src, j)
		if i >= len(src) {
			return 0, false
		}
		switch src[i] {
		case ',':
			i = skipSpace(src, i+1)
			continue
		case ']':
			return i + 1, true
		}
		return 0, false
	}
}

// plainString reads a JSON string at i that holds only printable ASCII and
// no escape, and returns it and the index after it.
func plainString(src string, i int) (string, int, bool) {
	if i >= len(src) || src[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(src); j++ {
		switch c := src[j]; {
		case c == '"':
			return src[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return "", 0, false
		}
	}
	return "", 0, false
}

// plainInt reads a JSON integer of at most 18 digits at i: one that is
// neither a fraction nor an exponent and fits an int64 for sure.
func plainInt(src string, i int) (int64, int, bool) {
	neg := false
	if i < len(src) && src[i] == '-' {
		neg = true
		i++
	}
	start := i
	var n int64
	for i < len(src) && '0' <= src[i] && src[i] <= '9' {
		n = n*10 + int64(src[i]-'0')
		i++
	}
	digits := i - start
	switch {
	case digits == 0 || digits > 18:
		return 0, 0, false
	case digits > 1 && src[start] == '0': // a leading zero is not JSON
		return 0, 0, false
	case i < len(src) && (src[i] == '.' || src[i] == 'e' || src[i] == 'E'):
		return 0, 0, false
	}
	if neg {
		n = -n
	}
	return n, i, true
}

func skipSpace(src string, i int) int {
	for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r') {
		i++
	}
	return i
}
