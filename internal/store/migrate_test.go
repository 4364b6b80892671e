package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"
)

// TestMigrationMergesCaseDuplicates: migration 00009 merges subscribers whose
// addresses differ only in the case of the local part into the oldest,
// keeping every consent event and delivery, the latest state of a
// subscription both had, and the transactional messages; after it, such a
// duplicate cannot be stored.
func TestMigrationMergesCaseDuplicates(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	admin := os.Getenv("ENVOI_TEST_DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	ctx := context.Background()
	adb, err := sql.Open("postgres", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer adb.Close()
	name := fmt.Sprintf("envoi_migtest_%d", time.Now().UnixNano())
	if _, err := adb.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("create database (set ENVOI_TEST_DATABASE_URL): %v", err)
	}
	defer adb.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	db, err := sql.Open("postgres", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := newGoose(db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 8); err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO lists (slug, name) VALUES ('a', 'A'), ('b', 'B')`)
	// 1 Ann@ (oldest, on a: confirmed long ago), 2 ann@ (on a: unsubscribed since, on b), 3 other@.
	exec(`INSERT INTO subscribers (email, name) VALUES ('Ann@example.com', ''), ('ann@example.com', 'Ann'), ('other@example.com', '')`)
	exec(`INSERT INTO subscriptions (subscriber_id, list_id, status, confirmed_at, updated_at) VALUES
  (1, 1, 'confirmed', now() - interval '2 days', now() - interval '2 days'),
  (3, 1, 'confirmed', now(), now())`)
	exec(`INSERT INTO subscriptions (subscriber_id, list_id, status, unsubscribed_at, updated_at) VALUES (2, 1, 'unsubscribed', now() - interval '1 day', now() - interval '1 day')`)
	exec(`INSERT INTO subscriptions (subscriber_id, list_id, status, updated_at) VALUES (2, 2, 'unconfirmed', now())`)
	exec(`INSERT INTO consent_log (subscriber_id, list_id, action, source) VALUES (1, 1, 'signup', 'form'), (1, 1, 'confirm', 'link'),
  (2, 1, 'signup', 'form'), (2, 1, 'unsubscribe', 'one_click'), (2, 2, 'signup', 'api')`)
	exec(`INSERT INTO transactional_messages (subscription_id, kind) VALUES (3, 'confirm'), (4, 'confirm')`)
	exec(`INSERT INTO campaigns (name, subject, from_header, format, body, template) VALUES ('c', 's', 'a@example.com', 'html', 'b', 'default')`)
	exec(`INSERT INTO deliveries (campaign_id, subscriber_id, batch) VALUES (1, 1, 1), (1, 2, 1)`)
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	count := func(q string) int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	for q, want := range map[string]int{
		`SELECT count(*) FROM subscribers`:                                                                                            2,
		`SELECT count(*) FROM subscribers WHERE id = 1 AND name = 'Ann'`:                                                              1, // name taken from the duplicate
		`SELECT count(*) FROM consent_log WHERE subscriber_id = 1`:                                                                    5, // every event kept
		`SELECT count(*) FROM subscriptions WHERE subscriber_id = 1`:                                                                  2, // a and b
		`SELECT count(*) FROM subscriptions WHERE subscriber_id = 1 AND list_id = 1 AND status = 'unsubscribed'`:                      1, // the latest choice
		`SELECT count(*) FROM transactional_messages t JOIN subscriptions sn ON sn.id = t.subscription_id WHERE sn.subscriber_id = 1`: 2,
		`SELECT count(*) FROM deliveries WHERE subscriber_id = 1`:                                                                     1,
	} {
		if n := count(q); n != want {
			t.Errorf("%s = %d, want %d", q, n, want)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO subscribers (email, name) VALUES ('ANN@example.com', '')`); err == nil {
		t.Fatal("a case duplicate was stored after the migration")
	}
}
