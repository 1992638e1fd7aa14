package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRun_DefaultsCreateSecretAndDemoUserOnce runs the real main loop:
// flags, the 0600 secret file, the demo user printed once, /healthz, and a
// restart on the same files that prints no password.
func TestRun_DefaultsCreateSecretAndDemoUserOnce(t *testing.T) {
	is := is.New(t)
	t.Setenv("AUTHKIT_SECRET", "")
	dir := t.TempDir()
	db := filepath.Join(dir, "authkit.db")
	start := func() (string, context.CancelFunc, chan error) {
		addr := freeAddr(t)
		ctx, cancel := context.WithCancel(context.Background())
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() { done <- run(ctx, []string{"-addr", addr, "-db", db}, pw); pw.Close() }()
		out := make(chan string, 1)
		go func() {
			var b strings.Builder
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				b.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), "listening") {
					out <- b.String()
					io.Copy(io.Discard, pr)
					return
				}
			}
			out <- b.String()
		}()
		select {
		case s := <-out:
			return s, cancel, done
		case <-time.After(20 * time.Second):
			t.Fatal("server did not start")
		}
		return "", cancel, done
	}
	banner, cancel, done := start()
	m := regexp.MustCompile(`created user demo with password (\S+)`).FindStringSubmatch(banner)
	is.True(m != nil)
	fi, err := os.Stat(db + ".secret")
	is.NoErr(err)
	is.Equal(fi.Mode().Perm(), os.FileMode(0o600))
	addr := regexp.MustCompile(`addr=(\S+)`).FindStringSubmatch(banner)[1]
	hc := &http.Client{Transport: &contractTransport{t: t}}
	res, err := hc.Get("http://" + addr + "/healthz")
	is.NoErr(err)
	res.Body.Close()
	is.Equal(res.StatusCode, 200)
	req, _ := http.NewRequest("GET", "http://"+addr+"/user", nil)
	req.SetBasicAuth("demo", m[1])
	res, err = hc.Do(req)
	is.NoErr(err)
	res.Body.Close()
	is.Equal(res.StatusCode, 200)
	cancel()
	is.NoErr(<-done)

	banner, cancel, done = start()
	is.True(!strings.Contains(banner, "password")) // shown once only
	is.True(!strings.Contains(banner, m[1]))
	cancel()
	is.NoErr(<-done)
}
