package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/httpmw"
	"github.com/authkit/authkit/internal/policyjson"
)

// Gate is what the handlers need of the policy gate: limits.Gate
// implements it. It must be safe for concurrent use.
type Gate interface {
	authkit.Gate
	// Credits returns what is left of k's credits, and false if k is not
	// metered.
	Credits(ctx context.Context, k *authkit.Key) (int64, bool, error)
	// SetCredits sets what is left of the credits of key keyID.
	SetCredits(ctx context.Context, keyID string, remaining int64) error
	// Usage returns the usage counts of key keyID in the buckets that
	// start in [from, to).
	Usage(ctx context.Context, keyID string, from, to time.Time) ([]authkit.UsageCount, error)
}

// readPolicy applies the policy members present in f onto p
// (internal/policyjson, the form the admin command reads too), and
// returns the credits' remaining balance if the client set it; changed
// says whether any member was present.
func (f fields) readPolicy(p *authkit.Policy) (remaining *int64, changed bool, err error) {
	remaining, changed, err = policyjson.Apply(f, p)
	if err != nil {
		return nil, false, badRequest(err.Error())
	}
	return remaining, changed, nil
}

// showPolicy returns the JSON form of k's policy, with the credits left
// read from the gate when there is one.
func (e *Endpoints) showPolicy(ctx context.Context, k *authkit.Key) (policyjson.Policy, error) {
	var left *int64
	if k.Policy.Credits != nil && e.Gate != nil {
		n, ok, err := e.Gate.Credits(ctx, k)
		if err != nil {
			return policyjson.Show(&k.Policy, nil), err
		}
		if ok {
			left = &n
		}
	}
	return policyjson.Show(&k.Policy, left), nil
}

// admit asks the Gate, if there is one, whether key keyID may make request
// r, and sets the RateLimit header fields of the answer. On refusal it has
// answered and returns false.
func (e *Endpoints) admit(w http.ResponseWriter, r *http.Request, rs httpmw.Responder, keyID string) bool {
	if e.Gate == nil || keyID == "" {
		return true
	}
	a, err := e.Gate.Admit(r.Context(), keyID, e.Clients.Of(r))
	if err != nil {
		rs.Error(w, r, err)
		return false
	}
	httpmw.SetRateLimit(w.Header(), &a)
	return true
}

// startRefresh starts a refresh: 429 for a client blocked for failed
// credentials (a refresh token is looked up to be checked); a token of a
// grant opened by another flow refused, unspent; then admit for the key
// behind the token, before the token is spent. A token that cannot be read
// is left to the refresh itself to refuse. On refusal it has answered and
// returns false.
func (e *Endpoints) startRefresh(w http.ResponseWriter, r *http.Request, rs httpmw.Responder, rt, flow string, refused int) bool {
	if err := e.limiter().Check(r, ""); err != nil {
		rs.Error(w, r, err)
		return false
	}
	t, sess, err := e.Sessions.InspectRefreshToken(r.Context(), rt)
	if err != nil {
		return true
	}
	if sess.Name != flow {
		he := errOtherFlow
		if refused == http.StatusBadRequest {
			he = &httpmw.Error{Status: http.StatusBadRequest, Code: "invalid_grant", Description: he.Description}
		}
		rs.Error(w, r, he)
		return false
	}
	return e.admit(w, r, rs, t.KeyID)
}

// errOtherFlow refuses a refresh token at an endpoint that did not issue it.
var errOtherFlow = &httpmw.Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the refresh token belongs to another endpoint", Challenge: true}

// verifyKey verifies a key presented to a token endpoint, with name the
// client id it came with ("" for none). A key verified recently passes
// even from a blocked client; any other is looked up only if neither the
// client's address nor name is blocked (429).
func (e *Endpoints) verifyKey(r *http.Request, secret, name string) (*authkit.Key, error) {
	if k, ok := e.Keys.CachedVerifyKey(secret); ok {
		return k, nil
	}
	if err := e.limiter().Check(r, name); err != nil {
		return nil, err
	}
	return e.Keys.VerifyKey(r.Context(), secret)
}
