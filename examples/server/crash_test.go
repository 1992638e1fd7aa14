package main

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
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

// process is the example server binary running on a port of its own.
type process struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	logs *strings.Builder
	mu   *sync.Mutex
}

func startBinary(t *testing.T, bin, db string, extra ...string) *process {
	t.Helper()
	return startBinaryAt(t, freeAddr(t), bin, db, extra...)
}

// startBinaryAt is startBinary on a given address.
func startBinaryAt(t *testing.T, addr, bin, db string, extra ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", addr, "-db", db, "-user", "crash:crash-password", "-issuer", "http://authkit.crash.test"}, extra...)...)
	cmd.Env = append(os.Environ(), "AUTHKIT_SECRET=crash-test-secret-0123456789abcdefghijkl")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{t: t, cmd: cmd, addr: addr, logs: &strings.Builder{}, mu: &sync.Mutex{}}
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
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("server did not start")
	}
	return p
}

// client holds the process's answers to openapi.json too.
func (p *process) client() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &contractTransport{t: p.t}}
}

func (p *process) post(path, auth, body string) (int, map[string]any) {
	r, _ := http.NewRequest("POST", "http://"+p.addr+path, strings.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	r.Header.Set("Content-Type", "application/json")
	res, err := p.client().Do(r)
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(res.Body)
	json.Unmarshal(b, &m)
	return res.StatusCode, m
}

// getJSON is get with the decoded JSON answer.
func (p *process) getJSON(path, auth string) (int, map[string]any) {
	r, _ := http.NewRequest("GET", "http://"+p.addr+path, nil)
	r.Header.Set("Authorization", auth)
	res, err := p.client().Do(r)
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	var m map[string]any
	json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

func (p *process) get(path, auth string) int {
	r, _ := http.NewRequest("GET", "http://"+p.addr+path, nil)
	r.Header.Set("Authorization", auth)
	res, err := p.client().Do(r)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// TestCrash_SIGKILLMidLoadLosesNothingAcknowledged builds the server, loads
// it with key creations and logins from several goroutines, kills it with
// SIGKILL mid-load, restarts it on the same file and checks that every key
// and session answered 2xx is there and works, and that the database is
// intact.
func TestCrash_SIGKILLMidLoadLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server process")
	}
	is := is.New(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "server")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	is.NoErr(build.Run())
	db := filepath.Join(dir, "crash.db")

	p := startBinary(t, bin, db)
	user := basic("crash", "crash-password")
	type ack struct{ key, login string }
	var mu sync.Mutex
	var acked []ack
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				st, m := p.post("/user/keys", user, fmt.Sprintf(`{"handle":"w%d-%d"}`, w, i))
				if st != 201 {
					continue
				}
				key := m["token"].(string)
				a := ack{key: key}
				if st, m := p.post("/auth/login", "", `{"api_key":"`+key+`","session_id":"s"}`); st == 200 {
					a.login = m["access_token"].(string)
				}
				mu.Lock()
				acked = append(acked, a)
				mu.Unlock()
			}
		}()
	}
	deadline := time.After(15 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 20 {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("only %d keys created before the deadline", n)
		case <-time.After(20 * time.Millisecond):
		}
	}
	is.NoErr(p.cmd.Process.Signal(syscall.SIGKILL)) // mid-load: the writers are still going
	p.cmd.Wait()
	close(stop)
	wg.Wait()

	p2 := startBinary(t, bin, db)
	defer func() { p2.cmd.Process.Signal(syscall.SIGTERM); p2.cmd.Wait() }()
	mu.Lock()
	defer mu.Unlock()
	sessions := 0
	for _, a := range acked {
		is.Equal(p2.get("/user", bearer(a.key)), 200) // the key survived and verifies
		if a.login != "" {
			sessions++
			is.Equal(p2.get("/videos", bearer(a.login)), 200) // its session survived
			_, m := p2.post("/auth/login", "", `{"api_key":"`+a.key+`","session_id":"s"}`)
			is.Equal(m["access_token"], a.login) // the same session, the same token
		}
	}
	// Neither process logged a secret it handed out.
	for _, proc := range []*process{p, p2} {
		proc.mu.Lock()
		logs := proc.logs.String()
		proc.mu.Unlock()
		is.True(strings.Contains(logs, "msg=request")) // the request logs were captured
		for _, a := range acked {
			is.True(!strings.Contains(logs, a.key))
			is.True(a.login == "" || !strings.Contains(logs, a.login))
		}
	}
	t.Logf("%d keys and %d sessions acknowledged before SIGKILL; all present after restart", len(acked), sessions)

	sdb, err := sql.Open("sqlite", "file:"+db)
	is.NoErr(err)
	defer sdb.Close()
	var check string
	is.NoErr(sdb.QueryRow(`PRAGMA integrity_check`).Scan(&check))
	is.Equal(check, "ok")
}

// newDelete prepares a DELETE with an Authorization header.
func newDelete(t *testing.T, u, auth string) (func() (int, error), error) {
	r, err := http.NewRequest("DELETE", u, nil)
	if err != nil {
		return nil, err
	}
	r.Header.Set("Authorization", auth)
	return func() (int, error) {
		res, err := (&http.Client{Timeout: 5 * time.Second, Transport: &contractTransport{t: t}}).Do(r)
		if err != nil {
			return 0, err
		}
		res.Body.Close()
		return res.StatusCode, nil
	}, nil
}
