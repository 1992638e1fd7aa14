package authkit_test

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
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/matryer/is"
)

// repoRoot is the repository's root: this package's directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// scratchModule writes a module named scratch in a new directory, with
// main.go holding src, requiring this repository's library through a
// replace line, and tidies it. It returns the directory.
func scratchModule(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	mod := "module scratch\n\ngo 1.25.0\n\nrequire github.com/authkit/authkit v0.0.0-00010101000000-000000000000\n\nreplace github.com/authkit/authkit => " + repoRoot(t) + "\n"
	for name, body := range map[string]string{"go.mod": mod, "main.go": src} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := os.ReadFile(filepath.Join(repoRoot(t), "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	goCmd(t, dir, "mod", "tidy")
	return dir
}

// goCmd runs the go command in dir outside any workspace and returns its
// output.
func goCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestModule_AnAdopterGetsNoExampleOrTestTools: a program that imports the
// root package, keys and storage/sqlite sees, in `go list -m all`, none of
// the browser driver, the OpenAPI validator or x/crypto, which only the
// examples use. README.md states the count this test logs.
func TestModule_AnAdopterGetsNoExampleOrTestTools(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command on a scratch module")
	}
	is := is.New(t)
	dir := scratchModule(t, `package main

import (
	"context"
	"fmt"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/storage/sqlite"
)

func main() {
	store, err := sqlite.Open(context.Background(), "x.db")
	fmt.Println(store, err, authkit.EnvLive)
	_, _ = keys.New(keys.Config{})
}
`)
	var mods []string
	for _, line := range strings.Split(strings.TrimSpace(goCmd(t, dir, "list", "-m", "all")), "\n") {
		mods = append(mods, strings.Fields(line)[0])
	}
	t.Logf("go list -m all: %d modules", len(mods))
	for _, m := range mods {
		for _, bad := range []string{"github.com/chromedp/", "kin-openapi", "golang.org/x/crypto", "github.com/golang-jwt", "lestrrat-go"} {
			if strings.Contains(m, bad) {
				t.Errorf("an adopter's module graph holds %s", m)
			}
		}
	}
	is.True(slices.Contains(mods, "modernc.org/sqlite"))
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	is.NoErr(err)
	m := regexp.MustCompile(`go list -m all` + "`" + ` lists (\d+) modules`).FindSubmatch(readme)
	is.True(m != nil) // README states the figure
	is.Equal(string(m[1]), strconv(len(mods)))
}

func strconv(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// quickStart returns the first Go block of README.md's "Quick start in Go".
func quickStart(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Quick start in Go\n")
	if !ok {
		t.Fatal(`README.md has no "## Quick start in Go" section`)
	}
	_, block, ok := strings.Cut(section, "```go\n")
	if !ok {
		t.Fatal("the quick start has no Go block")
	}
	block, _, _ = strings.Cut(block, "\n```")
	return block + "\n"
}

// TestReadme_QuickStartBuildsRunsAndRestarts copies README.md's quick
// start, as it stands, into a scratch module; builds it; runs it in an
// empty directory with no secret in the environment (it makes its secret
// and database); exchanges the key it printed, refreshes, calls the
// protected route with the token and with the key; stops it with an
// interrupt; and starts it again on the same files, where the same key and
// token still work.
func TestReadme_QuickStartBuildsRunsAndRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the README's program")
	}
	is := is.New(t)
	dir := scratchModule(t, quickStart(t))
	bin := filepath.Join(dir, "quickstart")
	goCmd(t, dir, "build", "-o", bin, ".")
	work := t.TempDir()
	addr := freeAddr(t)
	base := "http://" + addr

	start := func() (*exec.Cmd, string) {
		cmd := exec.Command(bin)
		cmd.Dir = work
		cmd.Env = append(withoutSecret(os.Environ()), "ADDR="+addr)
		stdout, err := cmd.StdoutPipe()
		is.NoErr(err)
		cmd.Stderr = io.Discard
		is.NoErr(cmd.Start())
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		lines := make(chan string, 16)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		waitFor(t, addr)
		select {
		case l := <-lines:
			return cmd, l
		case <-time.After(200 * time.Millisecond):
			return cmd, ""
		}
	}
	stopIt := func(cmd *exec.Cmd) {
		is.NoErr(cmd.Process.Signal(syscall.SIGINT))
		is.NoErr(cmd.Wait()) // a clean exit
	}

	cmd, line := start()
	key, ok := strings.CutPrefix(line, "API key, shown once: ")
	is.True(ok) // the first run prints the key
	is.True(strings.HasPrefix(key, "ak_live_"))
	fi, err := os.Stat(filepath.Join(work, "app.secret"))
	is.NoErr(err)
	is.Equal(fi.Mode().Perm(), os.FileMode(0o600))

	tok := postJSON(t, base+"/auth/token", `{"api_key":"`+key+`"}`)
	is.Equal(tok["token_type"], "Bearer")
	at, rt := tok["access_token"].(string), tok["refresh_token"].(string)
	is.Equal(get(t, base+"/videos", "Bearer "+at), "videos of tenant-1\n")
	is.Equal(get(t, base+"/videos", "Bearer "+key), "videos of tenant-1\n")
	is.Equal(get(t, base+"/videos", ""), "401")
	tok = postJSON(t, base+"/auth/refresh", `{"refresh_token":"`+rt+`"}`)
	at2 := tok["access_token"].(string)
	is.True(at2 != at)
	stopIt(cmd)

	cmd, line = start()
	is.Equal(line, "") // the key exists: nothing printed
	is.Equal(get(t, base+"/videos", "Bearer "+at2), "videos of tenant-1\n")
	is.Equal(get(t, base+"/videos", "Bearer "+key), "videos of tenant-1\n")
	stopIt(cmd)
}

func withoutSecret(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "AUTHKIT_SECRET=") })
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitFor(t *testing.T, addr string) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

func postJSON(t *testing.T, url, body string) map[string]any {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil || res.StatusCode != 200 {
		t.Fatalf("POST %s: %d %v %v", url, res.StatusCode, m, err)
	}
	return m
}

func get(t *testing.T, url, authz string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), "GET", url, nil)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		return res.Status[:3]
	}
	return string(b)
}

// TestVocabulary_NoProductNamesInTheLibrary: the library speaks for
// itself; the five guides' names belong to the examples (and to the
// benchmarks' comparisons), nowhere else in the repository.
func TestVocabulary_NoProductNamesInTheLibrary(t *testing.T) {
	out, err := exec.Command("git", "ls-files").Output()
	if err != nil {
		t.Skip("not a git checkout")
	}
	// Spelt in pieces, so that this file does not name them either.
	names := regexp.MustCompile(`(?i)` + strings.Join([]string{"in" + "live", "api" + `\.video`, "api" + "video", "key" + "token"}, "|"))
	checked := 0
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "examples/") || strings.HasPrefix(f, "bench/") || strings.HasPrefix(f, ".ci/") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue // removed in the working tree
		}
		checked++
		if loc := names.FindIndex(b); loc != nil {
			t.Errorf("%s names a guide's product: %q", f, b[loc[0]:loc[1]])
		}
	}
	if checked < 50 {
		t.Fatalf("only %d files checked", checked)
	}
}
