package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/matryer/is"
)

// proc is a binary running on an address of its own, its log kept.
type proc struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	logs strings.Builder
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func build(t *testing.T, dir, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return bin
}

// start runs bin with args and waits for its "listening" line.
func start(t *testing.T, addr, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{addr: addr, cmd: exec.Command(bin, append([]string{"-addr", addr}, args...)...)}
	p.cmd.Env = append(os.Environ(), "AUTHKIT_SECRET=product-test-secret-0123456789abcdefghij")
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = p.cmd.Stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if strings.Contains(sc.Text(), "listening") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("%s did not start:\n%s", bin, p.log())
	}
	return p
}

var hc = &http.Client{Timeout: 5 * time.Second}

// call sends a request and decodes a JSON answer.
func call(t *testing.T, method, url, auth, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, _ := http.NewRequest(method, url, rd)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	res, err := hc.Do(r)
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	var m map[string]any
	json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

func basic(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }

// TestProduct_RefusesRevokedTokensWithinASecond runs the token service
// (examples/server, SQLite) and the product API (this command) as two
// processes. A token works on the product API; revoking its session, its
// key, or its refresh family, or disabling its key, on the token service
// makes the product API refuse it within a second (each measured); the
// token service restarted, the product API goes on; the token service
// stopped, past -max-stale the product API refuses (503).
func TestProduct_RefusesRevokedTokensWithinASecond(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs two processes")
	}
	is := is.New(t)
	serverBin, productBin := build(t, "..", "./server"), build(t, "..", "./product")
	taddr, paddr := freeAddr(t), freeAddr(t)
	issuer := "http://" + taddr
	db := filepath.Join(t.TempDir(), "authkit.db")
	ts := start(t, taddr, serverBin, "-db", db, "-issuer", issuer, "-user", "alice:s3cret")
	defer func() { ts.stop() }()
	ps := start(t, paddr, productBin, "-issuer", issuer, "-max-stale", "5s") // over the feed's 2 s heartbeat, with room for a loaded machine
	defer ps.stop()
	alice := basic("alice", "s3cret")
	T, P := issuer, "http://"+paddr

	// token makes a key (once per handle) and exchanges it: an access
	// token and a refresh token, in a grant session of its own.
	keys := map[string]string{}
	token := func(handle string) (at, rt string) {
		t.Helper()
		if keys[handle] == "" {
			st, m := call(t, "POST", T+"/user/keys", alice, `{"handle":"`+handle+`"}`)
			is.Equal(st, 201)
			keys[handle] = m["token"].(string)
		}
		st, m := call(t, "POST", T+"/auth/api-key", "", `{"apiKey":"`+keys[handle]+`"}`)
		is.Equal(st, 200)
		return m["access_token"].(string), m["refresh_token"].(string)
	}
	product := func(at string) int {
		st, _ := call(t, "GET", P+"/videos", "Bearer "+at, "")
		return st
	}
	// refused measures how long the product API takes to refuse at after
	// the revocation that just returned; it fails the test past 1 s.
	refused := func(what, at string) time.Duration {
		t.Helper()
		start := time.Now()
		for product(at) != http.StatusUnauthorized {
			if time.Since(start) > time.Second {
				t.Fatalf("%s: the product API still accepts the token after 1 s", what)
			}
			time.Sleep(2 * time.Millisecond)
		}
		d := time.Since(start)
		t.Logf("%s: refused by the product API %s after the token service answered", what, d.Round(time.Millisecond))
		return d
	}

	// Wait for the product API to have caught up with the feed.
	at, _ := token("first")
	deadline := time.Now().Add(5 * time.Second)
	for product(at) != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("the product API never accepted a valid token:\n%s", ps.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, _ := call(t, "POST", P+"/videos", "Bearer "+at, `{"title":"made on the product API"}`)
	is.Equal(st, 201)

	// A revoked session.
	st, m := call(t, "GET", T+"/user/sessions", alice, "")
	is.Equal(st, 200)
	var sid string
	for _, s := range m["sessions"].([]any) {
		if s.(map[string]any)["key_handle"] == "first" {
			sid = s.(map[string]any)["id"].(string)
		}
	}
	st, _ = call(t, "DELETE", T+"/user/sessions/"+sid, alice, "")
	is.Equal(st, 204)
	refused("session revoked", at)

	// A deleted key.
	at, _ = token("second")
	is.Equal(product(at), 200)
	st, _ = call(t, "DELETE", T+"/user/keys/second", alice, "")
	is.Equal(st, 204)
	refused("key deleted", at)

	// A refresh family revoked by a replayed refresh token.
	at, rt := token("third")
	st, _ = call(t, "POST", T+"/auth/refresh", "", `{"refreshToken":"`+rt+`"}`)
	is.Equal(st, 200)
	is.Equal(product(at), 200)
	st, _ = call(t, "POST", T+"/auth/refresh", "", `{"refreshToken":"`+rt+`"}`) // the replay
	is.Equal(st, 400)
	refused("refresh family revoked", at)

	// A disabled key, then enabled again.
	at, _ = token("fourth")
	is.Equal(product(at), 200)
	st, _ = call(t, "PATCH", T+"/user/keys/fourth", alice, `{"disabled":true}`)
	is.Equal(st, 200)
	refused("key disabled", at)
	st, _ = call(t, "PATCH", T+"/user/keys/fourth", alice, `{"disabled":false}`)
	is.Equal(st, 200)
	deadline = time.Now().Add(time.Second)
	for product(at) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the product API still refuses the token of a key enabled again after 1 s")
		}
		time.Sleep(2 * time.Millisecond)
	}

	// An application key, checked at the token service, then deleted.
	token("keyed")
	keyAuth := basic(keys["keyed"], "")
	st, _ = call(t, "GET", P+"/videos", keyAuth, "")
	is.Equal(st, 200)
	st, _ = call(t, "DELETE", T+"/user/keys/keyed", alice, "")
	is.Equal(st, 204)
	deleted := time.Now()
	for {
		if st, _ := call(t, "GET", P+"/videos", keyAuth, ""); st == http.StatusUnauthorized {
			break
		}
		if time.Since(deleted) > time.Second {
			t.Fatal("key deleted: the product API still accepts the key itself after 1 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("key deleted: the product API refused the key itself %s after", time.Since(deleted).Round(time.Millisecond))

	// The token service restarts: the product API goes on verifying, and
	// hears of revocations made after the restart.
	at, _ = token("fifth")
	is.Equal(product(at), 200)
	ts.stop()
	is.Equal(product(at), 200) // verified locally while the token service is down
	ts = start(t, taddr, serverBin, "-db", db, "-issuer", issuer, "-user", "alice:s3cret")
	is.Equal(product(at), 200)
	time.Sleep(300 * time.Millisecond) // the feed reconnects (backoff from 200 ms)
	st, _ = call(t, "DELETE", T+"/user/keys/fifth", alice, "")
	is.Equal(st, 204)
	refused("key deleted after a restart", at)

	// The token service stops: past -max-stale, the product API refuses.
	at, _ = token("sixth")
	is.Equal(product(at), 200)
	ts.stop()
	stopped := time.Now()
	for product(at) != http.StatusServiceUnavailable {
		if time.Since(stopped) > 10*time.Second {
			t.Fatal("the product API still accepts tokens 10 s after the feed was lost (max-stale 5 s)")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Stale counts from the feed's last word (a ping every 2 s), not from
	// the stop: between 3 and 5 s after it.
	t.Logf("token service stopped: the product API refuses after %s (max-stale 5s since its last ping)", time.Since(stopped).Round(100*time.Millisecond))
	for deadline := time.Now().Add(2 * time.Second); !strings.Contains(ps.log(), "path=/videos status=503"); { // logged after it answered
		if time.Now().After(deadline) {
			t.Fatal("the product API did not log its 503")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
