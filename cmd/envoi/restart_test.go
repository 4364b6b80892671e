package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/envoi/envoi/internal/mailcatcher"
	"github.com/envoi/envoi/internal/store"
)

// privateRedis runs a throwaway redis-server (no persistence) on a free port.
type privateRedis struct {
	t     *testing.T
	port  int
	cmd   *exec.Cmd
	extra []string // more redis-server arguments (a replica's --replicaof)
}

func startPrivateRedis(t *testing.T, extra ...string) *privateRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server not found: `make test` installs it (Debian package redis-server)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &privateRedis{t: t, port: port, extra: extra}
	r.start()
	t.Cleanup(func() { r.kill() })
	return r
}

func (r *privateRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", append([]string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.t.TempDir()}, r.extra...)...)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", r.addr()); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatal("private redis-server did not start")
}

func (r *privateRedis) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *privateRedis) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
}

// sendSlowCampaign starts a campaign whose messages each take 2 ms at the relay
// and returns once started messages reach the sink.
func (ta *testApp) sendSlowCampaign(key string, started int) int64 {
	ta.t.Helper()
	ta.SMTP.SetFault(mailcatcher.Fault{Data: func(string, []string, []byte) error {
		time.Sleep(2 * time.Millisecond)
		return nil
	}})
	id := ta.sendCampaign(key)
	if _, ok := ta.SMTP.Wait(30*time.Second, func(m []mailcatcher.Message) bool { return len(m) >= started }); !ok {
		ta.t.Fatal("campaign did not get going")
	}
	return id
}

// TestCampaignRedisRestart: Redis dies (losing every queued task, as it keeps
// nothing on disk) in the middle of a campaign and comes back empty; the
// campaign still completes, each subscriber once.
func TestCampaignRedisRestart(t *testing.T) {
	t.Parallel()
	rd := startPrivateRedis(t)
	ta := startApp(t, appOpts{env: map[string]string{"ENVOI_REDIS_URL": "redis://" + rd.addr() + "/0"}})
	key := ta.apiKey()
	const total = 3000
	ta.seed("newsletter", "rr", total, "confirmed")
	id := ta.sendSlowCampaign(key, 300)
	rd.kill()
	atKill := len(ta.SMTP.Messages())
	// The outage lasts 2 s (workers and the web side run into it); this is the
	// fault's length, not a wait for work to finish, so there is no signal to
	// wait for instead.
	time.Sleep(2 * time.Second)
	rd.start()
	c := ta.waitCampaign(id, "sent", 120*time.Second)
	got := perRecipient(ta.SMTP.Messages())
	dups := duplicates(got)
	t.Logf("Redis killed at %d messages; finished with %d recipients, %d duplicate(s), counts %+v", atKill, len(got), dups, c.Counts)
	if len(got) != total || c.Counts.Sent != total {
		t.Fatalf("%d of %d delivered (counts %+v)", len(got), total, c.Counts)
	}
	if dups != 0 {
		t.Errorf("%d duplicates", dups)
	}
}

// privatePostgres runs a throwaway PostgreSQL cluster on a free port.
type privatePostgres struct {
	t         *testing.T
	port      int
	bin, data string
	runAs     []string
}

func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		t.Fatal("PostgreSQL server binaries not found: `make test` installs them (Debian package postgresql)")
	}
	sort.Strings(bins)
	p := &privatePostgres{t: t, bin: filepath.Dir(bins[len(bins)-1])}
	if os.Getuid() == 0 { // initdb refuses root: run the server as postgres
		p.runAs = []string{"runuser", "-u", "postgres", "--"}
	}
	dir, err := os.MkdirTemp("", "envoi-pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	t.Cleanup(func() { os.RemoveAll(dir) })
	p.data = filepath.Join(dir, "data")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p.run("initdb", "-D", p.data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
	p.start()
	t.Cleanup(func() { p.stop("immediate") })
	return p
}

func (p *privatePostgres) run(tool string, args ...string) {
	p.t.Helper()
	argv := append(append([]string{}, p.runAs...), append([]string{filepath.Join(p.bin, tool)}, args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("%s: %v\n%s", tool, err, out)
	}
}

func (p *privatePostgres) start() {
	p.run("pg_ctl", "-D", p.data, "-w", "-l", filepath.Join(p.data, "log"), "-o",
		fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k /tmp", p.port), "start")
}

func (p *privatePostgres) stop(mode string) {
	argv := append(append([]string{}, p.runAs...), filepath.Join(p.bin, "pg_ctl"), "-D", p.data, "-m", mode, "-w", "stop")
	c := exec.Command(argv[0], argv[1:]...)
	c.Dir = "/"
	c.Run()
}

func (p *privatePostgres) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, db)
}

// TestCampaignPostgresRestart: PostgreSQL crashes (immediate shutdown) in the
// middle of a campaign and comes back; the campaign completes, every subscriber
// gets the message, and at most the messages in flight are doubled.
func TestCampaignPostgresRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for in-flight deliveries to go stale (about a minute)")
	}
	t.Parallel()
	pg := startPrivatePostgres(t)
	admin, err := sql.Open("postgres", pg.url("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(`CREATE DATABASE envoi`); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	db, err := sql.Open("postgres", pg.url("envoi"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	db.Close()

	const total, concurrency = 3000, 4
	ta := startApp(t, appOpts{env: map[string]string{"ENVOI_DATABASE_URL": pg.url("envoi"), "ENVOI_WORKER_CONCURRENCY": strconv.Itoa(concurrency)}})
	key := ta.apiKey()
	ta.seed("newsletter", "pr", total, "confirmed")
	id := ta.sendSlowCampaign(key, 300)
	pg.stop("immediate")
	atCrash := len(ta.SMTP.Messages())
	// The outage lasts 2 s: the fault's length, not a wait for work to finish.
	time.Sleep(2 * time.Second)
	pg.start()
	c := ta.waitCampaign(id, "sent", 180*time.Second)
	got := perRecipient(ta.SMTP.Messages())
	dups := duplicates(got)
	t.Logf("PostgreSQL crashed at %d messages; finished with %d recipients, %d duplicate(s), counts %+v", atCrash, len(got), dups, c.Counts)
	if len(got) != total || c.Counts.Sent != total {
		t.Fatalf("%d of %d delivered (counts %+v)", len(got), total, c.Counts)
	}
	if dups > concurrency {
		t.Errorf("%d duplicates, more than the %d messages that could be in flight", dups, concurrency)
	}
}
