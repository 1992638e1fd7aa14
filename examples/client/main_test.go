package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

// TestRun_CallsTheExampleServer builds and starts the real example server,
// creates a key, and runs the client program against it with the key in
// the environment.
func TestRun_CallsTheExampleServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example server")
	}
	is := is.New(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "server")
	build := exec.Command("go", "build", "-o", bin, "../server")
	build.Stderr = os.Stderr
	is.NoErr(build.Run())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	is.NoErr(err)
	addr := ln.Addr().String()
	ln.Close()
	srv := exec.Command(bin, "-addr", addr, "-db", filepath.Join(dir, "a.db"), "-user", "alice:pw")
	srv.Env = append(os.Environ(), "AUTHKIT_SECRET=client-example-secret-0123456789abcdef")
	out, _ := srv.StdoutPipe()
	is.NoErr(srv.Start())
	defer func() { srv.Process.Kill(); srv.Wait() }()
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.Contains(sc.Text(), "listening") {
	}
	go func() {
		for sc.Scan() {
		}
	}()
	base := "http://" + addr

	req, _ := http.NewRequest("POST", base+"/user/keys", strings.NewReader(`{"handle":"cli"}`))
	req.SetBasicAuth("alice", "pw")
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	is.NoErr(err)
	var k map[string]any
	is.NoErr(json.NewDecoder(res.Body).Decode(&k))
	res.Body.Close()
	is.Equal(res.StatusCode, 201)

	t.Setenv("AUTHKIT_API_KEY", k["token"].(string))
	for _, flow := range [][]string{{"-flow", "apivideo"}, {"-flow", "inlive"}, {"-flow", "login"}, {"-flow", "oauth", "-client-id", k["id"].(string)}} {
		var buf strings.Builder
		is.NoErr(run(context.Background(), append([]string{"-base", base}, flow...), &buf))
		is.Equal(strings.Count(buf.String(), "GET /videos: 200"), 2)
	}
	t.Setenv("AUTHKIT_API_KEY", "")
	is.True(run(context.Background(), []string{"-base", base}, os.Stdout) != nil) // no key: a clear error
}

func TestRun_UnknownFlowIsAClearError(t *testing.T) {
	is := is.New(t)
	err := run(context.Background(), []string{"-flow", "nope"}, io.Discard)
	is.True(err != nil && strings.Contains(err.Error(), "apivideo, inlive, login, oauth")) // names the choices
}
