// Package feed publishes the token service's revocations to product APIs
// on other machines, as a stream of server-sent events (SSE) they follow:
// the verifier package is the follower. A product API that follows the
// feed refuses a revoked session's or key's tokens within a second, while
// verifying every token locally.
//
//	f, err := feed.New(feed.Config{Store: store})
//	mux.Handle("GET /oauth/revocations", f)
//
// # Why server-sent events
//
// One long-lived HTTP response per follower, written as revocations
// happen: no polling delay and no request per revocation, through the same
// proxies and TLS as every other route, readable with curl. Each event is a
// JSON object on a "data:" line. Long polling in the manner of RFC 8936
// would add a request and a round trip per batch for the same guarantees.
//
// # No gap
//
// Every few seconds (Config.Heartbeat) the server sends a "ping" event
// whose id is the server's time; a follower that reconnects sends the last
// id it saw as Last-Event-ID, and the server first replays everything
// revoked since a little before that instant, read from the store
// (authkit.Store.RevokedSince), then streams on. A new follower is caught
// up on the last Config.Window (the longest an access token lives): older
// revocations concern only expired tokens. Replays may repeat an event;
// followers treat events as idempotent. Revocations made by other replicas
// of the token service reach this one through the store's Notifier
// (PostgreSQL's LISTEN/NOTIFY) and are streamed like its own; while that
// Notifier is deaf (authkit.NotifierHealth), the Server reads the store
// four times a second instead.
//
// # Events
//
//	event: revocation   data: {"kind":"session-revoked","id":"…"}
//	event: revocation   data: {"kind":"key-revoked"|"key-disabled"|"key-enabled","id":"…"}
//	event: revocation   data: {"kind":"signing-key-revoked","id":"<kid>"}
//	event: ready        id: <unix µs>   data: {"heartbeat_ms":2000}   (caught up: what follows is live)
//	event: ping         id: <unix µs>   (every Heartbeat)
package feed

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/authkit/authkit"
)

// The kinds of [Event].
const (
	SessionRevoked = "session-revoked" // the session's tokens are dead
	KeyRevoked     = "key-revoked"     // the key is deleted: its tokens are dead
	KeyDisabled    = "key-disabled"    // refuse the key's tokens until KeyEnabled
	KeyEnabled     = "key-enabled"     // accept them again
	// SigningKeyRevoked: the signing key (the event's ID is its kid) leaked:
	// refuse every token it signed, and forget it.
	SigningKeyRevoked = "signing-key-revoked"
)

// Event is one revocation as the feed sends it.
type Event struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// Ready is the data of the "ready" event: the heartbeat the follower can
// count on (it must allow for more silence than that).
type Ready struct {
	HeartbeatMillis int64 `json:"heartbeat_ms"`
}

// Defaults of [Config].
const (
	DefaultWindow    = 24 * time.Hour
	DefaultHeartbeat = 2 * time.Second
	// Margin is how far before a follower's last id the server replays
	// from, for clock skew between replicas and revocations published
	// just after a ping.
	Margin = 5 * time.Second
)

// Config configures a [Server]. Store is required.
type Config struct {
	// Store is read for what a follower missed and for the state of a
	// changed key; its Notifier tells the Server of every revocation,
	// other replicas' included.
	Store authkit.Store
	// Window is how far back a new follower is caught up: the longest an
	// access token lives (server.Config.MaxAccessTTL). Default 24 hours.
	Window time.Duration
	// Heartbeat is how often a "ping" is sent: followers measure their
	// staleness by it. Default 2 s.
	Heartbeat time.Duration
	// Token, when set, must be presented by followers as `Authorization:
	// Bearer <Token>` (401 otherwise): the feed names sessions and keys.
	Token  string
	Clock  authkit.Clock
	Logger *slog.Logger
}

// Server serves the feed: an http.Handler for `GET`. It is safe for
// concurrent use; Close it when done.
type Server struct {
	cfg    Config
	logger *slog.Logger
	cancel func()
	in     chan authkit.Revocation

	mu        sync.Mutex
	followers map[chan Event]struct{}
	done      chan struct{}
	closed    chan struct{}
	once      sync.Once
}

// New returns a Server, subscribed to the store's revocations. Returns an
// error wrapping authkit.ErrInvalid without a store.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, authkit.Invalid("Store", "required")
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	s := &Server{cfg: cfg, logger: cfg.Logger, in: make(chan authkit.Revocation, 4096),
		followers: map[chan Event]struct{}{}, done: make(chan struct{}), closed: make(chan struct{})}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if h, ok := cfg.Store.(authkit.NotifierHealth); ok {
		go s.pollWhileDeaf(h)
	}
	s.cancel = cfg.Store.Subscribe(func(r authkit.Revocation) {
		select {
		case s.in <- r:
		default: // full: the followers catch up from the store when they reconnect
			s.dropAll()
		}
	})
	go s.fanOut()
	return s, nil
}

// Close stops the Server and ends every follower's stream.
func (s *Server) Close() {
	s.once.Do(func() {
		s.cancel()
		close(s.closed)
		<-s.done
	})
}

// deafPoll is how often the store is read while its Notifier is deaf.
const deafPoll = 250 * time.Millisecond

// pollWhileDeaf reads the store every deafPoll while its Notifier does not
// hear other replicas (storage/postgres with a silent listener), and sends
// what was revoked since it last heard them: followers learn of
// revocations made elsewhere within a fraction of a second even then.
func (s *Server) pollWhileDeaf(h authkit.NotifierHealth) {
	t := time.NewTicker(deafPoll)
	defer t.Stop()
	heard := s.cfg.Clock.Now()
	var sent map[authkit.Revocation]bool // what this deaf spell has sent already
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
		now := s.cfg.Clock.Now()
		if !h.ListeningSince().IsZero() {
			heard, sent = now, nil
			continue
		}
		rs, err := s.cfg.Store.RevokedSince(context.Background(), heard.Add(-Margin))
		if err != nil {
			s.logger.Error("authkit: feed: read revocations while the store is deaf", "err", err)
			continue
		}
		if sent == nil {
			sent = map[authkit.Revocation]bool{}
		}
		for _, r := range rs {
			if sent[r] {
				continue
			}
			sent[r] = true
			select {
			case s.in <- r:
			case <-s.closed:
				return
			}
		}
	}
}

// fanOut turns the store's revocations into events and sends each to
// every follower. A follower too slow to take one is dropped: it
// reconnects and catches up from the store.
func (s *Server) fanOut() {
	defer close(s.done)
	for {
		var r authkit.Revocation
		select {
		case <-s.closed:
			s.dropAll()
			return
		case r = <-s.in:
		}
		ev, ok := s.event(context.Background(), r)
		if !ok {
			continue
		}
		s.mu.Lock()
		for ch := range s.followers {
			select {
			case ch <- ev:
			default:
				delete(s.followers, ch)
				close(ch)
			}
		}
		s.mu.Unlock()
	}
}

func (s *Server) dropAll() {
	s.mu.Lock()
	for ch := range s.followers {
		delete(s.followers, ch)
		close(ch)
	}
	s.mu.Unlock()
}

// event maps a revocation to the event followers need; a changed key is
// looked up to tell disabled from enabled (a rotation needs nothing: the
// sessions it ends are revoked in their own right).
func (s *Server) event(ctx context.Context, r authkit.Revocation) (Event, bool) {
	switch r.Kind {
	case authkit.RevokedSession:
		return Event{SessionRevoked, r.ID}, true
	case authkit.RevokedKey:
		return Event{KeyRevoked, r.ID}, true
	case authkit.RevokedSigningKey:
		return Event{SigningKeyRevoked, r.ID}, true
	case authkit.ChangedKey:
		k, err := s.cfg.Store.KeyByID(ctx, r.ID)
		switch {
		case errors.Is(err, authkit.ErrNotFound):
			return Event{KeyRevoked, r.ID}, true
		case err != nil:
			s.logger.ErrorContext(ctx, "authkit: feed: read a changed key", "key", r.ID, "err", err)
			return Event{KeyDisabled, r.ID}, true // unknown state: the safe side; the next change tells
		case !k.RevokedAt.IsZero():
			return Event{KeyRevoked, r.ID}, true
		case k.Disabled:
			return Event{KeyDisabled, r.ID}, true
		}
		return Event{KeyEnabled, r.ID}, true
	}
	return Event{}, false
}

// ServeHTTP streams the feed: what the follower missed since its
// Last-Event-ID (or the last Window), a "ready" event, then revocations as
// they happen and a "ping" every Heartbeat, until the follower goes or
// the Server closes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Token != "" {
		got, ok := bearer(r)
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="authkit"`)
			http.Error(w, `{"error":"invalid_token","error_description":"the feed needs its token"}`, http.StatusUnauthorized)
			return
		}
	}
	now := s.cfg.Clock.Now()
	since := now.Add(-s.cfg.Window)
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		if us, err := strconv.ParseInt(id, 10, 64); err == nil {
			if t := time.UnixMicro(us).Add(-Margin); t.After(since) {
				since = t
			}
		}
	}
	ch := make(chan Event, 1024)
	s.mu.Lock()
	select {
	case <-s.closed:
		s.mu.Unlock()
		http.Error(w, "closing", http.StatusServiceUnavailable)
		return
	default:
	}
	s.followers[ch] = struct{}{} // live events from now on: the replay below overlaps, never leaves a gap
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if _, ok := s.followers[ch]; ok {
			delete(s.followers, ch)
			close(ch)
		}
		s.mu.Unlock()
	}()

	missed, err := s.cfg.Store.RevokedSince(r.Context(), since)
	if err != nil {
		s.logger.ErrorContext(r.Context(), "authkit: feed: catch up", "err", err)
		http.Error(w, `{"error":"server_error","error_description":"internal error"}`, http.StatusInternalServerError)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	write := func(event, id string, data any) bool {
		rc.SetWriteDeadline(time.Now().Add(3*s.cfg.Heartbeat + 10*time.Second))
		b, _ := json.Marshal(data)
		if id != "" {
			if _, err := fmt.Fprintf(w, "id: %s\n", id); err != nil {
				return false
			}
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	stamp := func() string { return strconv.FormatInt(s.cfg.Clock.Now().UnixMicro(), 10) }
	if _, err := fmt.Fprint(w, "retry: 1000\n\n"); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		s.logger.ErrorContext(r.Context(), "authkit: feed: the response cannot be flushed: wrap writers with an Unwrap method", "err", err)
		return
	}
	for _, m := range missed {
		if ev, ok := s.event(r.Context(), m); ok && !write("revocation", "", ev) {
			return
		}
	}
	if !write("ready", strconv.FormatInt(now.UnixMicro(), 10), Ready{HeartbeatMillis: s.cfg.Heartbeat.Milliseconds()}) {
		return
	}
	t := time.NewTicker(s.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-ch:
			if !ok { // dropped (too slow, or closing): the follower reconnects
				return
			}
			if !write("revocation", "", ev) {
				return
			}
		case <-t.C:
			if !write("ping", stamp(), struct{}{}) {
				return
			}
		}
	}
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && (h[:7] == "Bearer " || h[:7] == "bearer ") {
		return h[7:], true
	}
	return "", false
}
