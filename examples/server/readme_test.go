package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/matryer/is"
)

// walkThrough returns the shell blocks of the root README's walk-through,
// in order, and the statuses its text announces (the "# → NNN" comments),
// in order.
func walkThrough(t *testing.T) (blocks []string, announced []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n### Walk-through\n")
	if !ok {
		t.Fatal(`README.md has no "### Walk-through" section`)
	}
	section, _, _ = strings.Cut(section, "\n### ") // up to the next section
	for {
		var block string
		_, rest, ok := strings.Cut(section, "```sh\n")
		if !ok {
			break
		}
		block, section, _ = strings.Cut(rest, "\n```")
		blocks = append(blocks, block)
	}
	for _, m := range regexp.MustCompile(`(?m)^# → (\d{3})\b`).FindAllStringSubmatch(strings.Join(blocks, "\n"), -1) {
		announced = append(announced, m[1])
	}
	return blocks, announced
}

// TestReadme_WalkThroughRunsAsWritten runs the root README's walk-through,
// every shell block in order, as one bash script with errexit and
// pipefail, from the repository root, against the real example server it
// starts (go run, on a free address). Every request that expects success
// uses curl -f, so any status the text does not announce fails the script;
// the statuses it does announce ("# → 401") must be the ones printed, in
// order.
func TestReadme_WalkThroughRunsAsWritten(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example server")
	}
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the walk-through needs %s (.ci/run installs it)", tool)
		}
	}
	is := is.New(t)
	blocks, announced := walkThrough(t)
	is.True(len(blocks) >= 6)
	script := "set -euo pipefail\n" + strings.Join(blocks, "\n") + "\n"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = filepath.Join("..", "..") // the repository root, as the README says
	cmd.Env = append(os.Environ(), "ADDR="+freeAddr(t))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the server and go run die with it
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// The server (a grandchild, under go run) keeps the output pipes open
	// after bash exits: stop waiting for them soon after.
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil // bash ended well; only the server held the pipes
	}
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // whatever is left of the group
	}
	if err != nil {
		t.Fatalf("the walk-through failed: %v\n--- stdout\n%s\n--- stderr (the server's log and curl's errors)\n%s", err, stdout.String(), tail(stderr.String(), 4000))
	}
	var printed []string
	for _, line := range strings.Split(stdout.String(), "\n") {
		if regexp.MustCompile(`^\d{3}$`).MatchString(line) {
			printed = append(printed, line)
		}
	}
	t.Logf("statuses announced %v, printed %v", announced, printed)
	is.Equal(printed, announced)
	out := stdout.String()
	for _, want := range []string{
		`{"username":"alice","auth_method":"key"}`,
		`{"code":200,"ok":true,"message":"access token created","expiry":3600}`,
		`{"data":[]}`,
		"same session id, same token", "new session id, new token", "its client credentials, the same token",
		`{"active":true,"scope":"videos:read"}`,
		`{"active":false}`,
		`Ratelimit-Policy: "burst";q=2;w=2592000`,
		`{"valid":2,"rate_limited":1}`,
		"\n98\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the walk-through did not print %s\n%s", want, out)
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
