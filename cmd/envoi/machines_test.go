package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/envoi/envoi/internal/mailcatcher"
)

// freeAddr is a loopback address with a free port.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// process starts this test binary as `envoi ROLE` with the test's settings.
func (ta *testApp) process(role string, env ...string) *exec.Cmd {
	ta.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ENVOI_TEST_MAIN="+role)
	for k, v := range ta.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, env...)
	if err := cmd.Start(); err != nil {
		ta.t.Fatal(err)
	}
	ta.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// TestSeveralProcesses (issue 13): two web processes and three workers share
// one PostgreSQL and Redis. A campaign of 20,000 started through the second
// web process is shared by all three workers (each has sent some, by its own
// metrics), and killing one of them mid-send loses nothing: every recipient
// gets it, at most the messages in flight at the kill twice.
func TestSeveralProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs five processes and waits for the queue's crash recovery")
	}
	t.Parallel()
	const total, concurrency = 20000, 4
	ta := startApp(t, appOpts{noWorker: true})
	key := ta.apiKey()
	ta.seed("newsletter", "mp", total, "confirmed")
	web2 := freeAddr(t)
	ta.process("web", "ENVOI_LISTEN_ADDR="+web2)
	metricsAddrs := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	var workers []*exec.Cmd
	for _, addr := range metricsAddrs {
		workers = append(workers, ta.process("worker", "ENVOI_METRICS_ADDR="+addr, fmt.Sprintf("ENVOI_WORKER_CONCURRENCY=%d", concurrency)))
	}
	base2 := "http://" + web2
	ta.waitFor(20*time.Second, func() error {
		if r, err := ta.HTTP.Get(base2 + "/readyz"); err != nil || r.StatusCode != 200 {
			return fmt.Errorf("second web process not ready: %v", err)
		}
		return nil
	})
	id := ta.createCampaign(key, `{"name":"Shared","subject":"S","lists":["newsletter"],"body":"Hello"}`)
	if r := ta.do("POST", fmt.Sprintf("%s/api/v1/campaigns/%d/send", base2, id), "", "", "Authorization", "Bearer "+key); r.Status != 202 {
		t.Fatalf("send through the second web process: %d %s", r.Status, r.Body)
	}
	sentBy := func(addr string) float64 {
		r, err := ta.HTTP.Get("http://" + addr + "/metrics")
		if err != nil {
			return -1
		}
		defer r.Body.Close()
		var b strings.Builder
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return metricValue(b.String(), "envoi_messages_total", `kind="campaign",outcome="sent"`)
	}
	var shares []float64
	ta.waitFor(90*time.Second, func() error {
		shares = shares[:0]
		for _, a := range metricsAddrs {
			shares = append(shares, sentBy(a))
		}
		for _, s := range shares {
			if s <= 0 {
				return fmt.Errorf("not every worker has sent yet: %v", shares)
			}
		}
		return nil
	})
	if _, ok := ta.SMTP.Wait(90*time.Second, func(m []mailcatcher.Message) bool { return len(m) >= total/4 }); !ok {
		t.Fatal("the campaign did not get going")
	}
	workers[0].Process.Signal(syscall.SIGKILL)
	workers[0].Wait()
	atKill := len(ta.SMTP.Messages())
	if atKill >= total {
		t.Fatalf("the campaign ended before the kill (%d)", atKill)
	}
	ta.waitCampaign(id, "sent", 240*time.Second)
	got := perRecipient(ta.SMTP.Messages())
	dups := duplicates(got)
	t.Logf("shares before the kill %v; killed at %d; %d recipients, %d duplicate(s)", shares, atKill, len(got), dups)
	if len(got) != total {
		t.Errorf("%d of %d subscribers got the campaign", len(got), total)
	}
	if dups > concurrency {
		t.Errorf("%d duplicates, more than the %d messages the killed worker could have in flight", dups, concurrency)
	}
}
