package main

import (
	"context"
	"github.com/jackc/pgx/v5"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/matryer/is"
)

// TestTwoServersShareLimitsInRedis runs two example server processes on
// one PostgreSQL database sharing their counters in a Redis of the test's
// own, then stops that Redis: 200 concurrent requests against a limit of 50
// get exactly 50 through between the two servers; 300 against 100 credits
// exactly 100, the balance never below zero; with Redis gone, the server
// that fails closed answers 503 and the one started with -fail-open lets
// requests through.
func TestTwoServersShareLimitsInRedis(t *testing.T) {
	dsn := os.Getenv("AUTHKIT_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("AUTHKIT_TEST_POSTGRES is not set: no PostgreSQL to run two servers on")
	}
	if os.Getenv("AUTHKIT_TEST_REDIS") == "" {
		t.Skip("AUTHKIT_TEST_REDIS is not set: no Redis to test against")
	}
	if testing.Short() {
		t.Skip("builds and runs two server processes and a Redis server")
	}
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed: this test stops a Redis of its own")
	}
	is := is.New(t)

	// A Redis of this test's own, so that it can be stopped.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	is.NoErr(err)
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	rs := exec.Command(redisBin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	is.NoErr(rs.Start())
	defer func() { rs.Process.Kill(); rs.Wait() }()
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			break
		}
		if i == 100 {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	redisURL := "redis://127.0.0.1:" + port + "/0"

	db, bin := pgSchema(t, dsn), buildServer(t)
	a := startBinary(t, bin, db, "-redis", redisURL)
	defer func() { a.cmd.Process.Signal(syscall.SIGTERM); a.cmd.Wait() }()
	b := startBinary(t, bin, db, "-redis", redisURL, "-fail-open")
	defer func() { b.cmd.Process.Signal(syscall.SIGTERM); b.cmd.Wait() }()
	user := basic("crash", "crash-password")

	// A limit of 50 in a window of 30 days (one window for the whole test).
	st, m := a.post("/user/keys", user, `{"handle":"limited","ratelimits":[{"name":"shared","limit":50,"window_seconds":2592000}]}`)
	is.Equal(st, 201)
	counts := hammer(a, b, m["token"].(string), 200)
	is.Equal(counts[http.StatusOK], 50)
	is.Equal(counts[http.StatusTooManyRequests], 150)

	// 100 credits.
	st, m = b.post("/user/keys", user, `{"handle":"metered","credits":{"remaining":100}}`)
	is.Equal(st, 201)
	counts = hammer(a, b, m["token"].(string), 300)
	is.Equal(counts[http.StatusOK], 100)
	is.Equal(counts[http.StatusTooManyRequests], 200)
	for _, p := range []*process{a, b} {
		_, k := p.getJSON("/user/keys/metered", user)
		is.Equal(k["credits"].(map[string]any)["remaining"], float64(0)) // never below zero
	}

	// Redis stops: A (fail-closed) refuses, B (fail-open) lets through.
	st, m = a.post("/user/keys", user, `{"handle":"after","ratelimits":[{"name":"x","limit":1000,"window_seconds":60}]}`)
	is.Equal(st, 201)
	after := m["token"].(string)
	is.Equal(a.get("/videos", basic(after, "")), 200)
	is.NoErr(rs.Process.Kill())
	rs.Wait()
	is.Equal(a.get("/videos", basic(after, "")), http.StatusServiceUnavailable)
	is.Equal(b.get("/videos", basic(after, "")), http.StatusOK)
	a.mu.Lock()
	logged := a.logs.String()
	a.mu.Unlock()
	is.True(strings.Contains(logged, "the counters failed")) // and said so
}

// hammer sends n concurrent GET /videos with key, alternating between the
// servers a and b, and counts the answers by status.
func hammer(a, b *process, key string, n int) map[int]int {
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for i := range n {
		p := a
		if i%2 == 1 {
			p = b
		}
		wg.Go(func() {
			st := p.get("/videos", basic(key, ""))
			mu.Lock()
			counts[st]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return counts
}

// TestTwoReplicasFrozenListenerProductAPIWithin2s: two token-service
// replicas on one PostgreSQL database, a product API following B's feed;
// the server processes of both replicas' listening connections are frozen
// (SIGSTOP); a session revoked and a key deleted through A are refused by
// the product API within 2 s (B finds its listener silent and reads the
// store).
func TestTwoReplicasFrozenListenerProductAPIWithin2s(t *testing.T) {
	dsn := os.Getenv("AUTHKIT_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("AUTHKIT_TEST_POSTGRES is not set: no PostgreSQL to run two servers on")
	}
	if testing.Short() {
		t.Skip("builds and runs three processes")
	}
	is := is.New(t)
	db, bin := pgSchema(t, dsn), buildServer(t)
	product := filepath.Join(t.TempDir(), "product")
	build := exec.Command("go", "build", "-o", product, "../product")
	build.Stderr = os.Stderr
	is.NoErr(build.Run())

	bAddr := freeAddr(t)
	issuer := "http://" + bAddr
	a := startBinary(t, bin, db, "-issuer", issuer)
	defer func() { a.cmd.Process.Signal(syscall.SIGTERM); a.cmd.Wait() }()
	b := startBinaryAt(t, bAddr, bin, db, "-issuer", issuer)
	defer func() { b.cmd.Process.Signal(syscall.SIGTERM); b.cmd.Wait() }()
	pAddr := freeAddr(t)
	p := exec.Command(product, "-addr", pAddr, "-issuer", issuer)
	p.Stdout, p.Stderr = io.Discard, io.Discard
	is.NoErr(p.Start())
	defer func() { p.Process.Signal(syscall.SIGTERM); p.Wait() }()
	user := basic("crash", "crash-password")
	productGet := func(at string) int {
		r, _ := http.NewRequest("GET", "http://"+pAddr+"/videos", nil)
		r.Header.Set("Authorization", "Bearer "+at)
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	token := func(handle string) (string, string) {
		st, m := a.post("/user/keys", user, `{"handle":"`+handle+`"}`)
		is.Equal(st, 201)
		st, m2 := a.post("/auth/api-key", "", `{"apiKey":"`+m["token"].(string)+`"}`)
		is.Equal(st, 200)
		return m2["access_token"].(string), handle
	}
	at1, _ := token("one")
	at2, h2 := token("two")
	for _, at := range []string{at1, at2} {
		deadline := time.Now().Add(10 * time.Second)
		for productGet(at) != 200 {
			if time.Now().After(deadline) {
				t.Fatal("the product API never accepted a valid token")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Freeze the listeners' server processes.
	conn, err := pgx.Connect(context.Background(), dsn)
	is.NoErr(err)
	defer conn.Close(context.Background())
	u, _ := url.Parse(db)
	name := "authkit-listen-" + u.Query().Get("search_path")
	if len(name) > 63 {
		name = name[:63]
	}
	rows, err := conn.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, name)
	is.NoErr(err)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	is.NoErr(err)
	is.Equal(len(pids), 2)
	for _, pid := range pids {
		if err := syscall.Kill(int(pid), syscall.SIGSTOP); err != nil {
			t.Skipf("cannot freeze the PostgreSQL backend %d (the server must run on this machine): %v", pid, err)
		}
		defer syscall.Kill(int(pid), syscall.SIGCONT)
	}

	// Revoke through A: the session of at1, the key of at2.
	st, m := a.getJSON("/user/sessions", user)
	is.Equal(st, 200)
	var sid string
	for _, s := range m["sessions"].([]any) {
		if s.(map[string]any)["key_handle"] == "one" {
			sid = s.(map[string]any)["id"].(string)
		}
	}
	start := time.Now()
	del, err := newDelete(t, "http://"+a.addr+"/user/sessions/"+sid, user)
	is.NoErr(err)
	code, err := del()
	is.NoErr(err)
	is.Equal(code, 204)
	del, err = newDelete(t, "http://"+a.addr+"/user/keys/"+h2, user)
	is.NoErr(err)
	code, err = del()
	is.NoErr(err)
	is.Equal(code, 204)
	var gone1, gone2 time.Duration
	for gone1 == 0 || gone2 == 0 {
		if gone1 == 0 && productGet(at1) == 401 {
			gone1 = time.Since(start)
		}
		if gone2 == 0 && productGet(at2) == 401 {
			gone2 = time.Since(start)
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("with the listeners frozen, the product API still accepts after 2 s (session refused after %v, key after %v)", gone1, gone2)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("listeners frozen: the product API refused the revoked session's token after %v and the deleted key's after %v",
		gone1.Round(time.Millisecond), gone2.Round(time.Millisecond))
}
