// Command load measures the example server over HTTP on this machine. It
// makes -keys application keys in a fresh SQLite file (with the library,
// before the server starts), builds examples/server (go build, in the
// authkit module), starts it on 127.0.0.1 at a free port on that file,
// creates a user's key and an access token through the server's own API,
// shows the server every key once, then, for -d each, with -c workers over
// keep-alive connections, measures (interleaved, see -rounds):
//
//   - GET /healthz (the same server and logging, no authentication): the
//     yardstick every other route is divided by: measured before each
//     route's slice and after it, and the route's rate divided by the mean
//     of the two;
//   - GET /healthz again, as a route like the others: the control, whose
//     ratio (1 but for the method's own error) says how close to its
//     target another route's ratio can be told apart from it;
//   - GET /videos with `Authorization: Bearer <access token>` (authkit's
//     middleware, a warm token, and the app's handler);
//   - GET /videos with the key as a Basic user name, always the same key;
//   - GET /videos with a random key out of the first 1,000 of the -keys, and
//     out of all of them, as a Basic user name (the two in the same round
//     give the cost of a large store);
//   - POST /auth/login with a random key of the first 1,000 and a new
//     session_id each time (a key check, a new session row, a new token);
//   - POST /auth/api-key with a random key of the first 1,000 (a key check,
//     a new grant session and its refresh token, a new token);
//   - GET /videos with a key that has a rate limit and credits (counted on
//     every request, in the server's process), as a Basic user name and
//     through its access token.
//
// The sessions are spread over 1,000 keys, as real clients' are, so that
// no key reaches the server's cap of sessions per key (past which each new
// session also ends the oldest: the abuse case, not the common one).
//
// It prints a markdown table: each route's rate, and its rate divided by
// /healthz's around it (the median of the rounds, and their range).
// Each route gets -d in all, split into -rounds slices run in turn, and at
// most -n requests; the server is stopped at the end. Only 127.0.0.1 is
// ever contacted.
//
//	go run ./cmd/load [-d 5s] [-rounds 5] [-c 8] [-n 2000000] [-keys 100000] [-server path] [-only regexp]
//
// Rate limiting: the server's Limiter (httpmw.Limiter, 10 per minute per
// client address by default) counts only failed credentials, so successful
// logins are never limited; a failure during the run is reported as an
// error, and past 10 the server would answer 429 for a minute. The example
// server has no flag to change the Limiter.
package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/storage/sqlite"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

type options struct {
	dur     time.Duration
	rounds  int
	warmup  time.Duration
	workers int
	max     int64
	keys    int
	server  string
	only    *regexp.Regexp
}

func run() error {
	var o options
	flag.DurationVar(&o.dur, "d", 5*time.Second, "duration of each phase")
	flag.IntVar(&o.rounds, "rounds", 5, "interleaved rounds the duration of each route is split into")
	flag.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "unmeasured warm-up before each phase")
	flag.IntVar(&o.workers, "c", 4*runtime.GOMAXPROCS(0), "concurrent workers (keep-alive connections)")
	flag.Int64Var(&o.max, "n", 2_000_000, "at most this many requests per phase")
	flag.IntVar(&o.keys, "keys", 100_000, "application keys in the store, for the random-key route")
	flag.StringVar(&o.server, "server", "", "a prebuilt examples/server binary (default: go build it)")
	only := flag.String("only", "", "measure only the routes whose names match this regexp (and /healthz, always)")
	flag.Parse()
	var err error
	if o.only, err = regexp.Compile(*only); err != nil {
		return fmt.Errorf("-only: %w", err)
	}
	if o.dur <= 0 || o.dur > 10*time.Minute || o.workers < 1 || o.workers > 1024 || o.rounds < 1 || o.rounds > 100 || o.max < int64(o.rounds) || o.keys < 1 || o.keys > 10_000_000 {
		return errors.New("want 0 < -d <= 10m, 1 <= -c <= 1024, 1 <= -rounds <= 100, -n >= -rounds, 1 <= -keys <= 10,000,000")
	}

	tmp, err := os.MkdirTemp("", "authkit-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	bin := o.server
	if bin == "" {
		if bin, err = build(tmp); err != nil {
			return err
		}
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	base := "http://" + addr
	password := randHex(16)

	db, secretFile := filepath.Join(tmp, "authkit.db"), filepath.Join(tmp, "authkit.secret")
	t0 := time.Now()
	many, err := makeKeys(db, secretFile, o.keys)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "made %d keys in %s\n", len(many), time.Since(t0).Round(time.Millisecond))

	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-addr", addr, "-db", db,
		"-secret-file", secretFile, "-user", "bench:"+password, "-issuer", base)
	cmd.Stdout = nil // one log line per request: to /dev/null
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "AUTHKIT_SECRET=") // the secret file, not a stray variable
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()

	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: o.workers, MaxIdleConnsPerHost: o.workers, MaxConnsPerHost: o.workers,
			IdleConnTimeout: time.Minute, DisableCompression: true,
		},
	}
	if err := waitHealthy(client, base, 30*time.Second); err != nil {
		return fmt.Errorf("%w; server stderr: %s", err, stderr.String())
	}

	// The keytoken guide: the user creates a key; api.video: key → bearer token.
	var created struct {
		Token string `json:"token"`
	}
	if err := call(client, http.MethodPost, base+"/user/keys", "bench", password, "",
		map[string]any{"handle": "load"}, http.StatusCreated, &created); err != nil {
		return err
	}
	var exch struct {
		AccessToken string `json:"access_token"`
	}
	if err := call(client, http.MethodPost, base+"/auth/api-key", "", "", "",
		map[string]any{"apiKey": created.Token}, http.StatusOK, &exch); err != nil {
		return err
	}
	if created.Token == "" || exch.AccessToken == "" {
		return errors.New("no key or access token from the server")
	}
	// A key with a policy: a rate limit and credits that the run never
	// exhausts, counted on every request (in the server's process: the
	// example's counters on SQLite).
	var limited struct {
		Token string `json:"token"`
	}
	if err := call(client, http.MethodPost, base+"/user/keys", "bench", password, "",
		map[string]any{"handle": "load-limited", "ratelimits": []map[string]any{{"name": "load", "limit": int64(1) << 40, "window_seconds": 2592000}},
			"credits": map[string]any{"remaining": int64(1) << 50}}, http.StatusCreated, &limited); err != nil {
		return err
	}
	var limitedExch struct {
		AccessToken string `json:"access_token"`
	}
	if err := call(client, http.MethodPost, base+"/auth/api-key", "", "", "",
		map[string]any{"apiKey": limited.Token}, http.StatusOK, &limitedExch); err != nil {
		return err
	}
	if err := call(client, http.MethodGet, base+"/videos", "", "", exch.AccessToken, nil, http.StatusOK, nil); err != nil {
		return err
	}

	bearer := "Bearer " + exch.AccessToken
	get := func(authz string) (*http.Request, error) {
		r, err := http.NewRequest(http.MethodGet, base+"/videos", nil)
		if err == nil {
			r.Header.Set("Authorization", authz)
		}
		return r, err
	}
	basicOf := func(key string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":")) }
	oneKey := basicOf(created.Token)
	manyKeys := make([]string, len(many))
	for i, k := range many {
		manyKeys[i] = basicOf(k)
	}
	// Every key seen once: the route measures keys the server has seen.
	t0 = time.Now()
	if err := seeAll(client, base, manyKeys, o.workers); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "showed the server %d keys in %s\n", len(manyKeys), time.Since(t0).Round(time.Millisecond))

	run := randHex(4)
	post := func(path, body string) (*http.Request, error) {
		r, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		if err == nil {
			r.Header.Set("Content-Type", "application/json")
		}
		return r, err
	}
	few := min(1000, len(manyKeys))

	// The phases are interleaved: -rounds rounds of each route in turn, each
	// for -d/-rounds, so that a change in the machine's speed during the run
	// (other work, a VM's neighbours) weighs on all routes alike. /healthz
	// runs between every two routes, for as long: each route's rate is
	// divided by the mean of /healthz's just before and just after it, so
	// that the yardstick is measured within seconds of what it measures.
	phases := []struct {
		name string
		mk   func(int, int64) (*http.Request, error)
	}{
		{"GET /healthz", func(int, int64) (*http.Request, error) { return http.NewRequest(http.MethodGet, base+"/healthz", nil) }},
		// The control: /healthz measured as a route. Its ratio is the
		// method's own error; a route's ratio means little closer to its
		// target than that.
		{"GET /healthz again (control)", func(int, int64) (*http.Request, error) { return http.NewRequest(http.MethodGet, base+"/healthz", nil) }},
		{"GET /videos, bearer access token", func(int, int64) (*http.Request, error) { return get(bearer) }},
		{"GET /videos, Basic key, one key", func(int, int64) (*http.Request, error) { return get(oneKey) }},
		{fmt.Sprintf("GET /videos, Basic key, random of %d (each seen before)", few), func(w int, n int64) (*http.Request, error) {
			return get(manyKeys[mrand.IntN(few)])
		}},
		{fmt.Sprintf("GET /videos, Basic key, random of %d (each seen before)", len(manyKeys)), func(w int, n int64) (*http.Request, error) {
			return get(manyKeys[mrand.IntN(len(manyKeys))])
		}},
		// Spread over keys as real clients are: one key holds at most the
		// server's MaxSessionsPerKey sessions (1,000), and past that every
		// new one also ends its oldest.
		{"POST /auth/api-key (exchange: new grant session)", func(int, int64) (*http.Request, error) {
			return post("/auth/api-key", `{"apiKey":"`+many[mrand.IntN(few)]+`"}`)
		}},
		{"POST /auth/login, new session id", func(w int, n int64) (*http.Request, error) {
			return post("/auth/login", `{"api_key":"`+many[mrand.IntN(few)]+`","session_id":"load-`+run+`-`+strconv.Itoa(w)+`-`+strconv.FormatInt(n, 10)+`"}`)
		}},
		{"GET /videos, Basic key with a rate limit and credits", func(int, int64) (*http.Request, error) { return get(basicOf(limited.Token)) }},
		{"GET /videos, bearer token of a key with a rate limit and credits", func(int, int64) (*http.Request, error) {
			return get("Bearer " + limitedExch.AccessToken)
		}},
	}
	kept := phases[:1] // /healthz: the yardstick
	for _, p := range phases[1:] {
		if o.only.MatchString(p.name) {
			kept = append(kept, p)
		}
	}
	phases = kept
	if o.warmup > 0 {
		for _, p := range phases {
			phase(client, p.mk, o.workers, o.warmup, o.max)
		}
	}
	type row struct {
		name   string
		res    result
		ratios []float64          // ÷ /healthz, round by round
		calls  map[string]float64 // the store calls made meanwhile, by op
	}
	rows := make([]row, len(phases))
	slice := o.dur / time.Duration(o.rounds)
	measure := func(i int) result {
		p := phases[i]
		before := storeCalls(client, base)
		r := phase(client, p.mk, o.workers, slice, o.max/int64(o.rounds))
		after := storeCalls(client, base)
		if rows[i].calls == nil {
			rows[i].calls = map[string]float64{}
		}
		for op, n := range after {
			rows[i].calls[op] += n - before[op]
		}
		rows[i].name = p.name
		rows[i].res.add(r)
		return r
	}
	for range o.rounds {
		healthz := measure(0).rate()
		for i := 1; i < len(phases); i++ {
			r := measure(i)
			after := measure(0).rate()
			rows[i].ratios = append(rows[i].ratios, 2*r.rate()/(healthz+after))
			healthz = after
		}
		rows[0].ratios = append(rows[0].ratios, 1)
	}
	// The large store against the small one, round by round.
	var big []float64
	small, large := slices.IndexFunc(rows, func(r row) bool { return strings.Contains(r.name, fmt.Sprintf("random of %d ", few)) }),
		slices.IndexFunc(rows, func(r row) bool { return strings.Contains(r.name, fmt.Sprintf("random of %d ", len(manyKeys))) })
	if small >= 0 && large >= 0 && small != large {
		for i := range rows[small].ratios {
			big = append(big, rows[large].ratios[i]/rows[small].ratios[i])
		}
		slices.Sort(big)
	}
	for i := range rows {
		rows[i].res.finish()
		slices.Sort(rows[i].ratios)
	}

	fmt.Printf("example server, SQLite, %d keys, %d workers, %s per route in %d interleaved rounds, GOMAXPROCS %d, %d CPUs (server and load share them)\n\n",
		len(manyKeys), o.workers, o.dur, o.rounds, runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Println("| route | requests | errors | req/s | ÷ /healthz (median, rounds) | p50 | p99 |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rows {
		rs := r.ratios
		fmt.Printf("| %s | %d | %d | %.0f | %.3f (%.2f–%.2f) | %s | %s |\n", r.name, r.res.ok, r.res.errs, r.res.rate(),
			rs[len(rs)/2], rs[0], rs[len(rs)-1], r.res.p50.Round(time.Microsecond), r.res.p99.Round(time.Microsecond))
	}
	if len(big) > 0 {
		fmt.Printf("\nrandom of %d ÷ random of %d, per round: %.3f (%.2f–%.2f)\n", len(manyKeys), few, big[len(big)/2], big[0], big[len(big)-1])
	}
	fmt.Println("\nStore calls per request, by route (the server's authkit.store.duration counts, read before and after each phase: background reads a phase queued may fall in the next):")
	fmt.Println()
	for _, r := range rows {
		var parts []string
		for _, op := range slices.Sorted(maps.Keys(r.calls)) {
			if n := r.calls[op]; n >= 0.5 {
				parts = append(parts, fmt.Sprintf("%s %.3f", op, n/float64(max(r.res.ok, 1))))
			}
		}
		fmt.Printf("- %s: %s\n", r.name, cmp.Or(strings.Join(parts, ", "), "none"))
	}
	for _, r := range rows {
		if r.res.firstErr != "" {
			fmt.Printf("first error on %s: %s\n", r.name, r.res.firstErr)
		}
	}
	return nil
}

// storeCalls reads the server's GET /metrics and returns the count of
// authkit.store.duration by op: the store calls no cache answered. Empty if
// the server serves no metrics.
func storeCalls(client *http.Client, base string) map[string]float64 {
	out := map[string]float64{}
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	for line := range strings.Lines(string(b)) {
		if !strings.HasPrefix(line, "authkit_store_duration_seconds_count{") {
			continue
		}
		_, rest, _ := strings.Cut(line, `op="`)
		op, _, _ := strings.Cut(rest, `"`)
		i := strings.LastIndexByte(line, ' ')
		if n, err := strconv.ParseFloat(strings.TrimSpace(line[i+1:]), 64); err == nil && op != "" {
			out[op] += n
		}
	}
	return out
}

// makeKeys creates n keys in a new SQLite file at db, under the server
// secret it creates at secretFile (which the server then reads), with the
// library itself: the server's API would take a bcrypt sign-in per key.
func makeKeys(db, secretFile string, n int) ([]string, error) {
	ctx := context.Background()
	secret, err := authkit.LoadOrCreateSecret("", secretFile)
	if err != nil {
		return nil, err
	}
	store, err := sqlite.Open(ctx, db)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	ks, err := keys.New(keys.Config{Store: store, Secret: secret, Logger: slog.New(slog.DiscardHandler)}) // 100 000 audit lines are not the point
	if err != nil {
		return nil, err
	}
	defer ks.Close()
	out := make([]string, n)
	for i := range n {
		if _, out[i], err = ks.Create(ctx, authkit.KeyRequest{Owner: fmt.Sprint("tenant-", i%1000), Handle: fmt.Sprint("load-", i),
			Scopes: []string{"videos:read", "videos:write"}}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// seeAll sends every key to GET /videos once, with the given concurrency.
func seeAll(client *http.Client, base string, authz []string, workers int) error {
	var next atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			buf := make([]byte, 32<<10)
			for {
				i := next.Add(1) - 1
				if i >= int64(len(authz)) {
					return
				}
				err := do(client, func(int, int64) (*http.Request, error) {
					r, err := http.NewRequest(http.MethodGet, base+"/videos", nil)
					if err == nil {
						r.Header.Set("Authorization", authz[i])
					}
					return r, err
				}, 0, 0, buf)
				if err != nil {
					first.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wg.Wait()
	if err, ok := first.Load().(error); ok {
		return err
	}
	return nil
}

type result struct {
	ok, errs int64
	elapsed  time.Duration
	lat      []time.Duration
	p50, p99 time.Duration
	firstErr string
}

// add merges r (a round) into x.
func (x *result) add(r result) {
	x.ok += r.ok
	x.errs += r.errs
	x.elapsed += r.elapsed
	x.lat = append(x.lat, r.lat...)
	if x.firstErr == "" {
		x.firstErr = r.firstErr
	}
}

// finish computes the percentiles.
func (x *result) finish() {
	slices.Sort(x.lat)
	if len(x.lat) > 0 {
		x.p50, x.p99 = x.lat[len(x.lat)/2], x.lat[len(x.lat)*99/100]
	}
}

func (r result) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

// phase runs workers that send mk's requests until d has passed or max
// requests were sent, and counts 200 answers.
func phase(client *http.Client, mk func(worker int, n int64) (*http.Request, error), workers int, d time.Duration, max int64) result {
	var sent, ok, errs atomic.Int64
	var mu sync.Mutex
	var firstErr string
	lat := make([][]time.Duration, workers)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 32<<10)
			for n := int64(0); ; n++ {
				if sent.Add(1) > max || time.Now().After(deadline) {
					return
				}
				t0 := time.Now()
				err := do(client, mk, w, n, buf)
				lat[w] = append(lat[w], time.Since(t0))
				if err != nil {
					errs.Add(1)
					mu.Lock()
					if firstErr == "" {
						firstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	return result{ok: ok.Load(), errs: errs.Load(), elapsed: time.Since(start), lat: slices.Concat(lat...), firstErr: firstErr}
}

func do(client *http.Client, mk func(int, int64) (*http.Request, error), w int, n int64, buf []byte) error {
	req, err := mk(w, n)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.CopyBuffer(io.Discard, resp.Body, buf); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: status %d", req.Method, req.URL.Path, resp.StatusCode)
	}
	return nil
}

// build compiles examples/server in the authkit module (found with go list,
// so that the server builds with authkit's own go.mod and go.sum).
func build(dir string) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/authkit/authkit").Output()
	if err != nil {
		return "", fmt.Errorf("find the authkit module: %w", err)
	}
	root := strings.TrimSpace(string(out))
	bin := filepath.Join(dir, "server")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/authkit/authkit/examples/server")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build examples/server: %w", err)
	}
	return bin, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitHealthy(client *http.Client, base string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("server not healthy after %s", limit)
}

// call sends one JSON request (with Basic user:password or a bearer token
// if given) and decodes the answer into out if it has status want.
func call(client *http.Client, method, url, user, password, token string, body any, want int, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, req.URL.Path, resp.StatusCode, want, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
