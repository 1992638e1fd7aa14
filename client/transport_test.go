package client_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit/client"
)

// httptestServer starts h behind a real HTTP server for the test.
func httptestServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// newRecorder starts another host, which answers 200 to everything and
// appends the Authorization header of each request to *got.
func newRecorder(t *testing.T, got *[]string) *httptest.Server {
	var mu sync.Mutex
	return httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		*got = append(*got, r.Header.Get("Authorization"))
		mu.Unlock()
		io.WriteString(w, "elsewhere")
	}))
}

func TestTransport_RetriesOnceAfter401WithABodyItCanReplay(t *testing.T) {
	is := is.New(t)
	a := newAPI(t)
	hc := &http.Client{Transport: &client.Transport{Source: a.source(t, client.Config{Flow: keyInAMember})}}
	status, _ := get(t, hc, a.URL+"/hello")
	is.Equal(status, 200)

	a.clock.Advance(2 * time.Hour) // the API now refuses the token
	res, err := hc.Post(a.URL+"/echo", "text/plain", bytes.NewReader([]byte("replayed")))
	is.NoErr(err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	is.Equal(res.StatusCode, 200)
	is.Equal(string(b), "replayed") // the whole body, the second time
	is.Equal(a.n("/echo"), 2)       // a 401, then the retry
	is.Equal(a.n("/refresh"), 1)
}

func TestTransport_RenewsOn403ThatSaysTheTokenExpired(t *testing.T) {
	is := is.New(t)
	a := newAPI(t)
	hc := &http.Client{Transport: &client.Transport{Source: a.source(t, client.Config{Flow: keyAsBearer})}}
	status, _ := get(t, hc, a.URL+"/expiring")
	is.Equal(status, 200)
	a.clock.Advance(time.Hour)
	status, body := get(t, hc, a.URL+"/expiring")
	is.Equal(status, 200) // after a 403 with X-Access-Token-Expired and a renewal
	is.Equal(body, "fresh")
	is.Equal(a.n("/expiring"), 3)
	is.Equal(a.n("/bearer/token"), 2)
}

func TestTransport_DoesNotRetryABodyItCannotReplay(t *testing.T) {
	is := is.New(t)
	a := newAPI(t)
	hc := &http.Client{Transport: &client.Transport{Source: a.source(t, client.Config{Flow: keyInAMember})}}
	status, _ := get(t, hc, a.URL+"/hello")
	is.Equal(status, 200)
	a.clock.Advance(2 * time.Hour)
	req, _ := http.NewRequest("POST", a.URL+"/echo", io.MultiReader(strings.NewReader("once"))) // no GetBody
	res, err := hc.Do(req)
	is.NoErr(err)
	res.Body.Close()
	is.Equal(res.StatusCode, 401) // the caller sees the refusal
	is.Equal(a.n("/echo"), 1)
}

func TestTransport_RetriesAtMostOnce(t *testing.T) {
	is := is.New(t)
	a := newAPI(t)
	hc := &http.Client{Transport: &client.Transport{Source: a.source(t, client.Config{Flow: keyInAMember})}}
	status, _ := get(t, hc, a.URL+"/refuses")
	is.Equal(status, 401)
	is.Equal(a.n("/refuses"), 2) // the request and one retry with a renewed token
	is.Equal(a.n("/refresh"), 1)
}

func TestTransport_NoTokenToAnotherHost(t *testing.T) {
	is := is.New(t)
	var elsewhere []string
	other := newRecorder(t, &elsewhere) // 127.0.0.1 too, on another port
	a := newAPI(t)
	hc := &http.Client{Transport: &client.Transport{Source: a.source(t, client.Config{Flow: keyInAMember})}}

	// A request to another host goes out as it is: no token, and no
	// token obtained for it.
	status, _ := get(t, hc, other.URL+"/direct")
	is.Equal(status, 200)
	is.Equal(a.n("/token"), 0)

	// The API redirects to another host: the token does not follow.
	status, body := get(t, hc, a.URL+"/moved?to="+other.URL+"/landing")
	is.Equal(status, 200)
	is.Equal(body, "elsewhere")
	is.Equal(a.n("/moved"), 1) // with the token
	is.Equal(elsewhere, []string{"", ""})
}

// trackedBodies makes request bodies and tells whether each was closed.
type trackedBodies struct {
	mu     sync.Mutex
	bodies []*trackedBody
}

type trackedBody struct {
	io.Reader
	once   sync.Once
	closed chan struct{}
}

func (b *trackedBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

func (tb *trackedBodies) new(s string) io.ReadCloser {
	b := &trackedBody{Reader: strings.NewReader(s), closed: make(chan struct{})}
	tb.mu.Lock()
	tb.bodies = append(tb.bodies, b)
	tb.mu.Unlock()
	return b
}

// request returns a POST of a tracked body, replayable or not.
func (tb *trackedBodies) request(url string, replayable bool) *http.Request {
	req, _ := http.NewRequest("POST", url, tb.new("body"))
	if replayable {
		req.GetBody = func() (io.ReadCloser, error) { return tb.new("body"), nil }
	}
	return req
}

// allClosed reports whether every body made was closed, waiting a little
// for a transport that closes it after RoundTrip returned.
func (tb *trackedBodies) allClosed() (made int, closed bool) {
	tb.mu.Lock()
	bodies := append([]*trackedBody(nil), tb.bodies...)
	tb.mu.Unlock()
	for _, b := range bodies {
		select {
		case <-b.closed:
		case <-time.After(5 * time.Second):
			return len(bodies), false
		}
	}
	return len(bodies), true
}

func TestTransport_ClosesTheRequestBodyOnEveryPath(t *testing.T) {
	for _, tc := range []struct {
		name       string
		key        string // "": the api's
		noSource   bool
		expire     bool // the API refuses the token
		path       string
		elsewhere  bool // the request goes to another host
		replayable bool
		wantBodies int
		wantErr    bool
	}{
		{name: "sent with the token", path: "/echo", replayable: true, wantBodies: 1},
		{name: "retried after a 401", expire: true, path: "/echo", replayable: true, wantBodies: 2},
		{name: "refused, not replayable", expire: true, path: "/echo", wantBodies: 1},
		{name: "refused again after the retry", path: "/refuses", replayable: true, wantBodies: 2},
		{name: "to another host", elsewhere: true, replayable: true, wantBodies: 1},
		{name: "the token cannot be obtained", key: "ak_live_wrong", path: "/echo", replayable: true, wantBodies: 1, wantErr: true},
		{name: "no token source", noSource: true, path: "/echo", wantBodies: 1, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			a := newAPI(t)
			var got []string
			other := newRecorder(t, &got)
			tr := &client.Transport{}
			if !tc.noSource {
				tr.Source = a.source(t, client.Config{Flow: keyInAMember, Key: tc.key})
			}
			if tc.expire {
				_, err := tr.Source.Token()
				is.NoErr(err)
				a.clock.Advance(2 * time.Hour)
			}
			url := a.URL + tc.path
			if tc.elsewhere {
				url = other.URL + "/x"
			}
			var tb trackedBodies
			res, err := tr.RoundTrip(tb.request(url, tc.replayable))
			is.Equal(err != nil, tc.wantErr)
			if res != nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
			made, closed := tb.allClosed()
			is.Equal(made, tc.wantBodies)
			is.True(closed) // every body made was closed
		})
	}
}
