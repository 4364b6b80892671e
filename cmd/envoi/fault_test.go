package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/envoi/envoi/internal/mailcatcher"
	"github.com/envoi/envoi/internal/testenv"
)

// TestSignupWhileRedisDown: with Redis unreachable a signup is still recorded and
// answered; the sweeper queues the confirmation once Redis is back.
func TestSignupWhileRedisDown(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{noWorker: true, env: map[string]string{"ENVOI_REDIS_URL": "redis://127.0.0.1:1/0"}})
	if res := ta.signup("offline@example.com"); res.Status != 200 {
		t.Fatalf("signup with Redis down: %d %s", res.Status, res.Body)
	}
	if n := ta.count(`SELECT count(*) FROM transactional_messages WHERE status = 'queued'`); n != 1 {
		t.Fatalf("queued messages = %d, want 1", n)
	}
	// Redis is back: a worker on the same database sweeps the ledger.
	env := map[string]string{}
	for k, v := range ta.Env {
		env[k] = v
	}
	env["ENVOI_REDIS_URL"] = testenv.RedisURL()
	env["ENVOI_LISTEN_ADDR"] = "127.0.0.1:0"
	w := &App{Config: testenv.Config(t, env), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := w.Open(context.Background(), OpenOptions{}); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.StartWorker(); err != nil {
		t.Fatal(err)
	}
	if n, err := w.Delivery.SweepTransactional(context.Background(), 0); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	ta.waitMail("offline@example.com", 1)
	// A second sweep finds nothing left to do, once the ledger has recorded the
	// message as sent (the mail arrives just before that commit).
	ta.waitMessagesDone(10 * time.Second)
	if n, err := w.Delivery.SweepTransactional(context.Background(), 0); err != nil || n != 0 {
		t.Fatalf("second sweep: %d, %v", n, err)
	}
}

// TestSMTPFailures: a 451 from the relay is retried until it succeeds;
// a 550 is recorded as failed and not retried.
func TestSMTPFailures(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	var mu sync.Mutex
	tries := map[string]int{}
	ta.SMTP.SetFault(mailcatcher.Fault{Rcpt: func(to string) error {
		mu.Lock()
		defer mu.Unlock()
		tries[to]++
		switch {
		case to == "temp@example.com" && tries[to] <= 1:
			return mailcatcher.TempFail
		case to == "perm@example.com":
			return mailcatcher.PermFail
		}
		return nil
	}})
	ta.signup("temp@example.com")
	ta.signup("perm@example.com")
	// asynq retries the first failure after 2 s.
	_, ok := ta.SMTP.Wait(20*time.Second, func([]mailcatcher.Message) bool { return len(ta.SMTP.To("temp@example.com")) == 1 })
	if !ok {
		t.Fatal("temporary failure was not retried to success")
	}
	deadline := time.Now().Add(10 * time.Second)
	for ta.count(`SELECT count(*) FROM transactional_messages WHERE status = 'failed'`) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("permanent failure not recorded as failed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The ledger says the 550 failed and the 451 was sent in the end: neither is
	// queued, so neither is tried again (a retried task finds the message done
	// and sends nothing, the sweeper takes only queued ones).
	ta.waitMessagesDone(20 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	if tries["perm@example.com"] != 1 {
		t.Errorf("a 550 was tried %d times, want 1", tries["perm@example.com"])
	}
	if n := ta.count(`SELECT count(*) FROM transactional_messages WHERE status = 'sent'`); n != 1 {
		t.Errorf("sent = %d, want 1", n)
	}
}

// TestWorkerKilledMidTask: a worker process killed with SIGKILL in the middle of
// an SMTP transaction; a restarted worker sends the confirmation exactly once.
func TestWorkerKilledMidTask(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the queue's crash recovery (about 1-2 minutes)")
	}
	t.Parallel()
	ta := startApp(t, appOpts{noWorker: true})
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	ta.SMTP.SetFault(mailcatcher.Fault{Mail: func(string) error {
		first := false
		once.Do(func() { first = true })
		if first {
			close(entered)
			<-release
			return mailcatcher.TempFail
		}
		return nil
	}})
	worker := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "ENVOI_TEST_MAIN=worker")
		for k, v := range ta.Env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Env = append(cmd.Env, "ENVOI_LISTEN_ADDR=127.0.0.1:0")
		if testing.Verbose() {
			cmd.Stderr = os.Stderr
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	first := worker()
	ta.signup("crash@example.com")
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("worker never reached the SMTP server")
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	close(release)
	if n := len(ta.SMTP.To("crash@example.com")); n != 0 {
		t.Fatalf("%d message(s) before the restart", n)
	}
	if st := ta.count(`SELECT count(*) FROM transactional_messages WHERE status = 'queued'`); st != 1 {
		t.Fatalf("message not left queued after the kill")
	}
	worker()
	ta.SMTP.Wait(150*time.Second, func([]mailcatcher.Message) bool { return len(ta.SMTP.To("crash@example.com")) > 0 })
	// Once the ledger no longer says queued, no task can send it again.
	ta.waitMessagesDone(30 * time.Second)
	if n := len(ta.SMTP.To("crash@example.com")); n != 1 {
		t.Fatalf("after the restart %d message(s), want exactly 1", n)
	}
	if n := ta.count(`SELECT count(*) FROM transactional_messages WHERE status = 'sent'`); n != 1 {
		t.Fatalf("ledger does not say sent")
	}
}
