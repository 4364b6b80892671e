// Package testenv gives tests real services: a fresh PostgreSQL database per test
// (cloned from a template migrated once per run), private Redis queue names, and
// an in-process SMTP server. Nothing here is a mock.
package testenv

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/lib/pq"
	"github.com/redis/go-redis/v9"

	"github.com/envoi/envoi/internal/config"
	"github.com/envoi/envoi/internal/mailcatcher"
	"github.com/envoi/envoi/internal/store"
	"github.com/envoi/envoi/migrations"
)

// Variables naming the test services; defaults match `make test`.
const (
	DatabaseVar = "ENVOI_TEST_DATABASE_URL"
	RedisVar    = "ENVOI_TEST_REDIS_URL"
)

func adminURL() string {
	if v := os.Getenv(DatabaseVar); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// RedisURL is the Redis the tests use.
func RedisURL() string {
	if v := os.Getenv(RedisVar); v != "" {
		return v
	}
	return "redis://127.0.0.1:6379/0"
}

func unavailable(t testing.TB, what, variable string, err error) {
	t.Helper()
	if testing.Short() {
		t.Skipf("%s not available (-short): %v", what, err)
	}
	t.Fatalf("%s not available: %v\nStart it with `make test` (scripts/services.sh), or set %s.", what, err, variable)
}

func randomName(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// templateName is derived from the migrations, so a changed schema gets a new template.
func templateName() string {
	h := sha256.New()
	fs.WalkDir(migrations.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(migrations.FS, p)
			h.Write([]byte(p))
			h.Write(b)
		}
		return nil
	})
	return "envoi_tmpl_" + hex.EncodeToString(h.Sum(nil))[:12]
}

func withDB(u, name string) string {
	p, _ := url.Parse(u)
	p.Path = "/" + name
	return p.String()
}

// ensureTemplate creates and migrates the template database once; concurrent test
// processes wait on an advisory lock.
func ensureTemplate(ctx context.Context, admin *sql.DB) (string, error) {
	name := templateName()
	conn, err := admin.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(727100002)`); err != nil {
		return "", err
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(727100002)`)
	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	build := name + "_build"
	conn.ExecContext(ctx, `DROP DATABASE IF EXISTS `+build+` WITH (FORCE)`)
	if _, err := conn.ExecContext(ctx, `CREATE DATABASE `+build); err != nil {
		return "", err
	}
	db, err := sql.Open("postgres", withDB(adminURL(), build))
	if err != nil {
		return "", err
	}
	_, err = store.Migrate(ctx, db)
	db.Close()
	if err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `ALTER DATABASE `+build+` RENAME TO `+name); err != nil {
		return "", err
	}
	return name, nil
}

// DB creates a fresh, migrated database for this test, dropped at cleanup, and
// returns its URL.
func DB(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := sql.Open("postgres", adminURL())
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		unavailable(t, "PostgreSQL", DatabaseVar, err)
	}
	defer admin.Close()
	tmpl, err := ensureTemplate(ctx, admin)
	if err != nil {
		t.Fatalf("test database template: %v", err)
	}
	name := randomName("envoi_test_")
	for i := 0; ; i++ {
		_, err = admin.ExecContext(ctx, `CREATE DATABASE `+name+` TEMPLATE `+tmpl)
		// Another test may be copying the template at the same moment.
		if err == nil || i >= 20 || !strings.Contains(err.Error(), "is being accessed by other users") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("postgres", adminURL())
		if err != nil {
			return
		}
		defer a.Close()
		a.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
	})
	return withDB(adminURL(), name)
}

// Store opens a store on a fresh database.
func Store(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), DB(t), 10)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Queue returns a queue name private to this test; its Redis keys are deleted at cleanup.
func Queue(t testing.TB) string {
	t.Helper()
	opt, err := redis.ParseURL(RedisURL())
	if err != nil {
		t.Fatalf("%s: %v", RedisVar, err)
	}
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		unavailable(t, "Redis", RedisVar, err)
	}
	q := randomName("t")
	t.Cleanup(func() {
		defer rdb.Close()
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, "asynq:{"+q+"}*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		rdb.SRem(ctx, "asynq:queues", q)
	})
	return q
}

// SMTP starts an in-process SMTP server for this test.
func SMTP(t testing.TB) *mailcatcher.Catcher {
	t.Helper()
	c := mailcatcher.New(1_000_000) // keep everything: tests count messages
	if err := c.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	go c.Serve()
	t.Cleanup(func() { c.Close() })
	return c
}

// Secret is the token key tests use.
const Secret = "test-secret-key-0123456789abcdef0123456789"

// Env returns the ENVOI_* variables for an App on a fresh database, a private
// queue and the given SMTP server. ENVOI_LISTEN_ADDR and ENVOI_BASE_URL name a
// free port; pass the listener from Listen to the App to avoid a race for it.
func Env(t testing.TB, smtp *mailcatcher.Catcher) map[string]string {
	t.Helper()
	return map[string]string{
		"ENVOI_DATABASE_URL":       DB(t),
		"ENVOI_REDIS_URL":          RedisURL(),
		"ENVOI_QUEUE":              Queue(t),
		"ENVOI_SMTP_URL":           "smtp://" + smtp.Addr + "?tls=none",
		"ENVOI_SECRET_KEY":         Secret,
		"ENVOI_LISTEN_ADDR":        "127.0.0.1:0",
		"ENVOI_BASE_URL":           "http://127.0.0.1:0",
		"ENVOI_FROM":               "Example News <news@example.com>",
		"ENVOI_ORGANIZATION":       "Example News Ltd",
		"ENVOI_POSTAL_ADDRESS":     "1 Rue de la Paix, 75002 Paris, France",
		"ENVOI_WORKER_CONCURRENCY": "4",
		// Tests sign up many addresses of example.com from 127.0.0.1: limits off
		// unless a test sets them.
		"ENVOI_SIGNUP_LIMIT_PER_IP":     "0",
		"ENVOI_SIGNUP_LIMIT_PER_DOMAIN": "0",
		"ENVOI_LOG_LEVEL":               "warn",
		// Proof-of-work challenges small enough for tests to solve at once.
		"ENVOI_POW_COMPLEXITY": "2000",
		// The scheduled retention pass stays off: tests run it themselves.
		"ENVOI_RETENTION_INTERVAL": "0",
	}
}

// Listen opens a listener on a free loopback port and points the env's
// ENVOI_LISTEN_ADDR and ENVOI_BASE_URL at it.
func Listen(t testing.TB, env map[string]string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	env["ENVOI_LISTEN_ADDR"] = ln.Addr().String()
	env["ENVOI_BASE_URL"] = "http://" + ln.Addr().String()
	return ln
}

// Config loads a configuration from env.
func Config(t testing.TB, env map[string]string) config.Config {
	t.Helper()
	c, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Clock is real time plus an offset that a test moves forward.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now returns the shifted time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}
