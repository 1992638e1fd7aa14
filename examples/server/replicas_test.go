package main

import (
	"net"
	"net/http"
	"os"
	"os/exec"
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
