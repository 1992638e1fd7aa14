package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/atjwt"
	"github.com/authkit/authkit/tokens"
)

var tokenInspectCmd = &command{
	name: "token inspect", args: "[TOKEN | -]", summary: "decode an access token, verify it, and say whether it is alive and why not",
	about: `Decodes an access token's header and claims without trusting them, then
verifies it with the store's signing keys, exactly as a server does, and
says whether it is alive, and if not why: malformed, unknown_kid,
signing_key_revoked, signing_key_expired, bad_signature, expired,
not_yet_valid, wrong_issuer, wrong_audience, key_deleted, key_unknown,
key_disabled, key_expired, session_revoked, session_unknown, session_expired,
unbound (it disagrees with its session). It also shows the state of its
signing key, key and session.

The token is read from standard input when the argument is - or missing:
keep tokens out of shell history (authkit token inspect - < token.txt).
Without -issuer, the token's own iss and aud are taken as the expected
ones (said so in the output). Exit code 0 when the token was inspected,
alive or not: read the verdict from the output (-json: "alive", "reason").`,
}

func init() { tokenInspectCmd.run = runTokenInspect }

type inspectOut struct {
	Header        map[string]any `json:"header"`
	Claims        map[string]any `json:"claims"`
	Alive         bool           `json:"alive"`
	Reason        string         `json:"reason,omitempty"`
	Detail        string         `json:"detail,omitempty"`
	IssuerChecked bool           `json:"issuer_checked"`
	SigningKey    *inspectThing  `json:"signing_key,omitempty"`
	Key           *inspectThing  `json:"key,omitempty"`
	Session       *inspectThing  `json:"session,omitempty"`
}

// inspectThing is the state of something a token names.
type inspectThing struct {
	ID      string     `json:"id"`
	State   string     `json:"state"` // live, active, retired, revoked, deleted, disabled, expired, unknown
	Owner   string     `json:"owner,omitempty"`
	Handle  string     `json:"handle,omitempty"`
	Since   *time.Time `json:"since,omitempty"`   // revoked or expired at
	Expires *time.Time `json:"expires,omitempty"` // for one still alive
}

// reasons describes each reason code for people.
var reasons = map[string]string{
	"malformed":           "not a well-formed access token",
	"unknown_kid":         "its signing key (kid) is not one of the store's",
	"signing_key_revoked": "its signing key was revoked",
	"signing_key_expired": "its signing key expired (retired longer ago than the longest token lifetime)",
	"bad_signature":       "the signature does not verify",
	"expired":             "the token expired",
	"not_yet_valid":       "the token is not valid yet (nbf or iat in the future)",
	"wrong_issuer":        "its iss is not the expected issuer",
	"wrong_audience":      "its aud is not the expected audience",
	"key_deleted":         "its key was deleted",
	"key_unknown":         "its key does not exist",
	"key_disabled":        "its key is disabled",
	"key_expired":         "its key expired",
	"session_revoked":     "its session was revoked",
	"session_unknown":     "its session does not exist (or was collected)",
	"session_expired":     "its session expired",
	"unbound":             "it disagrees with its session (key, owner or scopes)",
	"refused":             "refused",
}

func runTokenInspect(c *cli, ctx context.Context, args []string) error {
	var o opts
	fs := c.flags(tokenInspectCmd, &o)
	issuer := fs.String("issuer", "", "the expected issuer (the servers' Issuer; default: the token's own iss, unchecked)")
	audience := fs.String("audience", "", "the expected audience (default: the issuer, or the token's own aud without -issuer)")
	rest, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return usagef("want one TOKEN (or - for standard input), got %d arguments", len(rest))
	}
	var tok string
	if len(rest) == 0 || rest[0] == "-" {
		b, err := io.ReadAll(io.LimitReader(c.stdin, tokens.MaxTokenLen+64))
		if err != nil {
			return err
		}
		tok = string(b)
	} else {
		tok = rest[0]
	}
	tok = strings.TrimSpace(tok)
	if t, ok := strings.CutPrefix(tok, "Bearer "); ok {
		tok = strings.TrimSpace(t)
	}
	if tok == "" {
		return usagef("no token given")
	}
	e, ctx, err := c.open(ctx, &o, false)
	if err != nil {
		return err
	}
	defer e.close()
	out, err := e.inspect(ctx, tok, *issuer, *audience)
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(c.stdout, out)
	}
	printInspect(c, out)
	return nil
}

// decodeSegment decodes a base64url JSON segment into v.
func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func (e *env) inspect(ctx context.Context, tok, issuer, audience string) (*inspectOut, error) {
	out := &inspectOut{}
	parts := strings.Split(tok, ".")
	var w atjwt.Wire
	var hdr struct {
		Kid string `json:"kid"`
	}
	if len(parts) != 3 || len(tok) > tokens.MaxTokenLen ||
		decodeSegment(parts[0], &out.Header) != nil || decodeSegment(parts[1], &out.Claims) != nil ||
		decodeSegment(parts[0], &hdr) != nil || decodeSegment(parts[1], &w) != nil {
		out.Reason, out.Detail = "malformed", reasons["malformed"]
		return out, nil
	}
	c := &w.Claims
	at := now()

	// What the token names, as the store has it.
	sks, err := e.store.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	revoked, err := revokedSigningKeys(ctx, e.store)
	if err != nil {
		return nil, err
	}
	active := false
	out.SigningKey = &inspectThing{ID: hdr.Kid, State: "unknown"}
	if r, ok := revoked[hdr.Kid]; ok {
		out.SigningKey.State, out.SigningKey.Since = "revoked", &r // and collected since
	}
	for _, k := range sks {
		active = active || signs(k)
		if k.ID == hdr.Kid {
			st, rev := signingKeyState(k, revoked, at)
			out.SigningKey.State, out.SigningKey.Since = st, rev
			if st == "expired" {
				out.SigningKey.Since = timePtr(k.ExpiresAt)
			}
			if st == "retired" {
				out.SigningKey.Expires = timePtr(k.ExpiresAt)
			}
		}
	}
	if c.ClientID != "" {
		out.Key = &inspectThing{ID: c.ClientID, State: "unknown"}
		k, err := e.store.KeyByID(ctx, c.ClientID)
		switch {
		case err == nil:
			out.Key.State, out.Key.Owner, out.Key.Handle = keyState(k, at), k.Owner, k.Handle
			switch out.Key.State {
			case "deleted":
				out.Key.Since = timePtr(k.RevokedAt)
			case "expired":
				out.Key.Since = timePtr(k.ExpiresAt)
			default:
				out.Key.Expires = timePtr(k.ExpiresAt)
			}
		case !errors.Is(err, authkit.ErrNotFound):
			return nil, err
		}
	}
	if c.SessionID != "" {
		out.Session = &inspectThing{ID: c.SessionID, State: "unknown"}
		s, err := e.store.Session(ctx, c.SessionID)
		switch {
		case err == nil:
			out.Session.Owner = s.Owner
			switch err := s.Check(at); {
			case errors.Is(err, authkit.ErrRevoked):
				out.Session.State, out.Session.Since = "revoked", timePtr(s.RevokedAt)
			case errors.Is(err, authkit.ErrExpired):
				out.Session.State, out.Session.Since = "expired", timePtr(s.ExpiresAt)
			default:
				out.Session.State, out.Session.Expires = "live", timePtr(s.ExpiresAt)
			}
		case !errors.Is(err, authkit.ErrNotFound):
			return nil, err
		}
	}

	// The verdict: the token service's own verification.
	if !active { // no key signs: a token service would make one; no token of this store can verify anyway
		out.Reason = "unknown_kid"
		if out.SigningKey.State != "unknown" {
			out.Reason = "signing_key_" + out.SigningKey.State
		}
		out.Detail = reasons[out.Reason]
		return out, nil
	}
	out.IssuerChecked = issuer != ""
	if issuer == "" {
		issuer = c.Issuer
		if audience == "" && w.Aud.Has(c.Issuer) {
			audience = c.Issuer
		} else if audience == "" {
			var aud struct {
				Aud any `json:"aud"`
			}
			decodeSegment(parts[1], &aud)
			switch a := aud.Aud.(type) {
			case string:
				audience = a
			case []any:
				if len(a) > 0 {
					audience, _ = a[0].(string)
				}
			}
		}
	}
	if issuer == "" {
		issuer = tokens.DefaultIssuer
	}
	ts, err := e.tokens(ctx, tokens.Config{Issuer: issuer, Audience: audience})
	if err != nil {
		return nil, err
	}
	_, verr := ts.Verify(ctx, tok)
	if verr == nil {
		out.Alive = true
		return out, nil
	}
	code := reasonOf(verr)
	if code == "" { // not a verdict on the token: the store failed
		return nil, verr
	}
	switch {
	case code == "unknown_kid" && out.SigningKey.State == "revoked", code == "unknown_kid" && out.SigningKey.State == "expired":
		code = "signing_key_" + out.SigningKey.State
	case code == "signing_key_expired" && out.SigningKey.State == "revoked":
		code = "signing_key_revoked"
	case code == "key_deleted" && out.Key != nil && out.Key.State == "unknown":
		code = "key_unknown"
	case code == "session_revoked" && out.Session != nil && out.Session.State == "unknown":
		code = "session_unknown"
	}
	out.Reason, out.Detail = code, reasons[code]
	return out, nil
}

// reasonOf maps an error of tokens.Service.Verify to a reason code; ""
// for an error that is no verdict on the token (a store failure).
func reasonOf(err error) string {
	msg := err.Error()
	for _, r := range []struct{ text, code string }{
		{"unknown signing key", "unknown_kid"},
		{"signing key expired", "signing_key_expired"},
		{"bad signature", "bad_signature"},
		{"token expired", "expired"},
		{"not valid yet", "not_yet_valid"},
		{"issued in the future", "not_yet_valid"},
		{"wrong issuer", "wrong_issuer"},
		{"wrong audience", "wrong_audience"},
		{"key revoked", "key_deleted"},
		{"key expired", "key_expired"},
		{"key disabled", "key_disabled"},
		{"session revoked", "session_revoked"},
		{"session expired", "session_expired"},
		{"does not match its session", "unbound"},
	} {
		if strings.Contains(msg, r.text) {
			return r.code
		}
	}
	switch {
	case errors.Is(err, atjwt.ErrExpired):
		return "expired"
	case errors.Is(err, authkit.ErrUnauthenticated):
		return "malformed" // the header or the claims: typ, alg, crit, a claim missing
	case errors.Is(err, authkit.ErrRevoked), errors.Is(err, authkit.ErrExpired), errors.Is(err, authkit.ErrDisabled):
		return "refused"
	}
	return ""
}

func printInspect(c *cli, out *inspectOut) {
	w := c.stdout
	if out.Header != nil {
		h, _ := json.Marshal(out.Header)
		fmt.Fprintf(w, "header  %s\n", h)
	}
	if out.Claims != nil {
		fmt.Fprintln(w, "claims (as written, before verification):")
		for _, k := range []string{"iss", "aud", "sub", "client_id", "sid", "jti", "scope", "env", "iat", "nbf", "exp"} {
			v, ok := out.Claims[k]
			if !ok {
				continue
			}
			s := fmt.Sprint(v)
			if f, ok := v.(float64); ok && (k == "iat" || k == "nbf" || k == "exp") {
				s = fmt.Sprintf("%.0f (%s)", f, when(time.Unix(int64(f), 0)))
			}
			fmt.Fprintf(w, "  %-10s %s\n", k, s)
		}
	}
	thing := func(what string, t *inspectThing) {
		if t == nil {
			return
		}
		s := t.State
		if t.Handle != "" {
			s += ", handle " + t.Handle
		}
		if t.Since != nil {
			s += " since " + when(*t.Since)
		}
		if t.Expires != nil {
			s += ", until " + when(*t.Expires)
		}
		fmt.Fprintf(w, "%-12s%s: %s\n", what, orDash(t.ID), s)
	}
	thing("signing key ", out.SigningKey)
	thing("key ", out.Key)
	thing("session ", out.Session)
	if out.Alive {
		fmt.Fprint(w, "ALIVE: the token verifies")
		if !out.IssuerChecked {
			fmt.Fprint(w, " (its own iss and aud taken as expected: give -issuer to check them)")
		}
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintf(w, "DEAD (%s): %s\n", out.Reason, out.Detail)
}
