package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/envoi/envoi/internal/testenv"
)

func TestCLI(t *testing.T) {
	t.Parallel()
	smtp := testenv.SMTP(t)
	env := testenv.Env(t, smtp)
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	runCmd := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(ctx, args, &out, &errb, getenv)
		return code, out.String(), errb.String()
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"MigrateIdempotent", []string{"migrate"}, 0, "migrations applied: 0", ""},
		{"ListCreate", []string{"list", "create", "--slug", "news", "--name", "News"}, 0, `list "news" created`, ""},
		{"ErrListExists", []string{"list", "create", "--slug", "news", "--name", "News"}, 1, "", `slug "news" already exists`},
		{"ListExistsOK", []string{"list", "create", "--slug", "news", "--name", "News", "--if-not-exists"}, 0, "already exists", ""},
		{"ErrListBadSlug", []string{"list", "create", "--slug", "Not OK", "--name", "x"}, 1, "", "A slug is"},
		{"ErrAPIKeyNoName", []string{"apikey", "create"}, 2, "", "--name is required"},
		{"ErrUnknownCommand", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"Version", []string{"version"}, 0, "envoi ", ""},
		{"ConfigMasksSecret", []string{"config"}, 0, "ENVOI_SECRET_KEY=********", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCmd(tt.args...)
			if code != tt.code || !strings.Contains(out, tt.stdout) || !strings.Contains(errs, tt.stderr) {
				t.Fatalf("envoi %v = %d\nstdout: %s\nstderr: %s", tt.args, code, out, errs)
			}
			if strings.Contains(out, testenv.Secret) {
				t.Fatal("secret printed")
			}
		})
	}
	t.Run("APIKeyAloneOnLastLine", func(t *testing.T) {
		code, out, _ := runCmd("apikey", "create", "--name", "website")
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if code != 0 || !strings.HasPrefix(lines[len(lines)-1], "envoi_") || strings.Contains(lines[len(lines)-1], " ") {
			t.Fatalf("apikey create: %d %q", code, out)
		}
	})
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	var out, errb bytes.Buffer
	env := map[string]string{"ENVOI_SMTP_URL": "smtp://x:1?tls=sometimes", "ENVOI_BASE_URL": "nope"}
	code := run(context.Background(), []string{"serve"}, &out, &errb, func(k string) string { return env[k] })
	for _, want := range []string{"ENVOI_SECRET_KEY: is required", "ENVOI_SMTP_URL:", "ENVOI_BASE_URL:"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
}

// TestGracefulShutdown: SIGTERM stops `envoi serve` cleanly with exit code 0.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	smtp := testenv.SMTP(t)
	env := testenv.Env(t, smtp)
	env["ENVOI_LOG_LEVEL"] = "info"
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ENVOI_TEST_MAIN=serve")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitLine := func(want string) {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("serve exited before logging %q", want)
				}
				if strings.Contains(l, want) {
					return
				}
			case <-timeout:
				cmd.Process.Kill()
				t.Fatalf("serve did not log %q within 30 s", want)
			}
		}
	}
	waitLine("worker started")
	cmd.Process.Signal(syscall.SIGTERM)
	waitLine("stopped")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}
