package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/envoi/envoi/internal/lists"
	"github.com/envoi/envoi/internal/mailcatcher"
	"github.com/envoi/envoi/internal/model"
)

// seed adds n subscribers named prefix-N@example.com with the given status on a list.
func (ta *testApp) seed(slug, prefix string, n int, status string) {
	ta.t.Helper()
	_, err := ta.Store.DB.Exec(`
WITH s AS (
    INSERT INTO subscribers (email, name)
    SELECT $2 || '-' || g || '@example.com', 'Reader ' || g FROM generate_series(1, $3) g
    ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name
    RETURNING id
)
INSERT INTO subscriptions (subscriber_id, list_id, status, confirmed_at, unsubscribed_at)
SELECT s.id, l.id, $4, CASE WHEN $4 = 'confirmed' THEN now() END, CASE WHEN $4 = 'unsubscribed' THEN now() END
FROM s, lists l WHERE l.slug = $1`, slug, prefix, n, status)
	if err != nil {
		ta.t.Fatal(err)
	}
}

func (ta *testApp) createCampaign(key, body string) int64 {
	ta.t.Helper()
	st, m := ta.api("POST", "/api/v1/campaigns", key, body)
	if st != 201 {
		ta.t.Fatalf("create campaign: %d %v", st, m)
	}
	return int64(m["id"].(float64))
}

func (ta *testApp) campaign(id int64) model.Campaign {
	ta.t.Helper()
	c, err := ta.Store.CampaignByID(context.Background(), id)
	if err != nil {
		ta.t.Fatal(err)
	}
	return c
}

func (ta *testApp) waitCampaign(id int64, status string, timeout time.Duration) model.Campaign {
	ta.t.Helper()
	var c model.Campaign
	ta.waitFor(timeout, func() error {
		if c = ta.campaign(id); c.Status != status {
			return fmt.Errorf("campaign %d is %s with %+v, want %s", id, c.Status, c.Counts, status)
		}
		return nil
	})
	return c
}

// waitCampaignIdle waits until a campaign is in status and none of its
// deliveries is in flight ("sending"): every message a sender claimed has gone
// out (or not) and been recorded, and no sender claims more unless the campaign
// is sending, so nothing more of it is on its way.
func (ta *testApp) waitCampaignIdle(id int64, status string, timeout time.Duration) model.Campaign {
	ta.t.Helper()
	var c model.Campaign
	ta.waitFor(timeout, func() error {
		c = ta.campaign(id)
		inFlight := ta.count(`SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND status = 'sending'`, id)
		if c.Status != status || inFlight != 0 {
			return fmt.Errorf("campaign %d is %s with %d deliveries in flight, want %s with none", id, c.Status, inFlight, status)
		}
		return nil
	})
	return c
}

// sendCampaign creates a plain campaign to the newsletter list and starts it.
func (ta *testApp) sendCampaign(key string) int64 {
	ta.t.Helper()
	id := ta.createCampaign(key, `{"name":"n","subject":"s","lists":["newsletter"],"body":"b"}`)
	if st, m := ta.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", id), key, ""); st != 202 {
		ta.t.Fatalf("send: %d %v", st, m)
	}
	return id
}

// allOnce checks that a sent campaign reached every one of total recipients exactly once.
func (ta *testApp) allOnce(id int64, total int, timeout time.Duration) {
	ta.t.Helper()
	c := ta.waitCampaign(id, "sent", timeout)
	got := perRecipient(ta.SMTP.Messages())
	if len(got) != total || c.Counts.Sent != int64(total) || duplicates(got) != 0 {
		ta.t.Fatalf("delivered to %d of %d, %d duplicates, counts %+v", len(got), total, duplicates(got), c.Counts)
	}
}

// keptLog records, per recipient, how many of its messages the relay kept and
// then hung up on without replying (mailcatcher.Fault.KeepThenDrop).
type keptLog struct {
	mu sync.Mutex
	n  map[string]int
}

func (k *keptLog) add(to []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.n == nil {
		k.n = map[string]int{}
	}
	for _, rcpt := range to {
		k.n[rcpt]++
	}
}

func (k *keptLog) counts() map[string]int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return maps.Clone(k.n)
}

// onceUnlessKept checks a campaign to prefix-1 … prefix-total@example.com
// against a relay that kept some messages and then dropped the connection
// without a reply (so Envoi had to send them again). With nothing kept it is
// allOnce. Otherwise, once the ledger says the campaign is sent with everyone
// sent: every recipient got at least one message; one with more than one is
// one whose message was kept-then-dropped, with at most one more message than
// the times it was; everyone else got exactly one.
func (ta *testApp) onceUnlessKept(id int64, prefix string, total int, timeout time.Duration, kept *keptLog) {
	ta.t.Helper()
	c := ta.waitCampaign(id, "sent", timeout)
	k := kept.counts() // every keep happened before its recipient's final send, so before "sent"
	if len(k) == 0 {
		ta.allOnce(id, total, timeout)
		return
	}
	if c.Counts != (model.Counts{Total: int64(total), Sent: int64(total)}) {
		ta.t.Errorf("counts = %+v, want all %d sent", c.Counts, total)
	}
	if n := ta.count(`SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND status = 'sent'`, id); n != total {
		ta.t.Errorf("%d deliveries sent in the ledger, want %d", n, total)
	}
	got := perRecipient(ta.SMTP.Messages())
	if len(got) != total {
		ta.t.Errorf("%d recipients got mail, want %d", len(got), total)
	}
	for g := 1; g <= total; g++ {
		rcpt := fmt.Sprintf("%s-%d@example.com", prefix, g)
		switch n := got[rcpt]; {
		case n == 0:
			ta.t.Errorf("%s got nothing", rcpt)
		case n > 1 && k[rcpt] == 0:
			ta.t.Errorf("%s got %d messages, none of them kept-then-dropped", rcpt, n)
		case n > 1+k[rcpt]:
			ta.t.Errorf("%s got %d messages, kept-then-dropped %d time(s): at most %d allowed", rcpt, n, k[rcpt], 1+k[rcpt])
		}
	}
	ta.t.Logf("%d recipient(s) had a message kept-then-dropped; %d duplicate(s) delivered", len(k), duplicates(got))
}

// duplicates counts the messages beyond the first for each recipient.
func duplicates(got map[string]int) int {
	d := 0
	for _, n := range got {
		d += n - 1
	}
	return d
}

// perRecipient counts messages by envelope recipient.
func perRecipient(msgs []mailcatcher.Message) map[string]int {
	n := map[string]int{}
	for _, m := range msgs {
		for _, to := range m.To {
			n[to]++
		}
	}
	return n
}

// TestCampaignAudience: 3 confirmed (one on both lists), 2 unconfirmed and 1
// unsubscribed get exactly 3 messages, each with the list headers, a signed
// unsubscribe link that works, personalization and the postal address.
func TestCampaignAudience(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	if _, err := ta.Lists.Create(context.Background(), lists.New{Slug: "offers", Name: "Offers", Description: ""}); err != nil {
		t.Fatal(err)
	}
	ta.seed("newsletter", "conf", 2, "confirmed")
	ta.seed("offers", "conf", 3, "confirmed") // conf-1 and conf-2 are on both lists
	ta.seed("newsletter", "pending", 2, "unconfirmed")
	ta.seed("newsletter", "left", 1, "unsubscribed")
	ta.seed("offers", "left", 1, "unsubscribed")

	t.Run("ErrTemplateAtSave", func(t *testing.T) {
		for body, field := range map[string]string{
			`{"name":"x","subject":"s","lists":["newsletter"],"body":"Hi {{.Subscriber.Nope}}"}`:       "body",
			`{"name":"x","subject":"s","lists":["newsletter"],"body":"Hi {{"}`:                         "body",
			`{"name":"x","subject":"Hi {{.Nope}}","lists":["newsletter"],"body":"b"}`:                  "subject",
			`{"name":"x","subject":"s","lists":["nope"],"body":"b"}`:                                   "lists",
			`{"name":"x","subject":"s","lists":["newsletter"],"body":"b","format":"pdf"}`:              "format",
			`{"name":"","subject":"s","lists":["newsletter"],"body":"b"}`:                              "name",
			`{"name":"x","subject":"s","lists":["newsletter"],"body":"b","template":"fancy"}`:          "template",
			`{"name":"x","subject":"s","lists":["newsletter"],"body":"b","reply_to":"not an address"}`: "reply_to",
		} {
			st, m := ta.api("POST", "/api/v1/campaigns", key, body)
			if st != 422 || m["field"] != field {
				t.Errorf("%s: %d %v, want 422 on %s", body, st, m, field)
			}
		}
		if n := ta.count(`SELECT count(*) FROM campaigns`); n != 0 {
			t.Errorf("%d campaigns stored from bad input", n)
		}
	})

	id := ta.createCampaign(key, `{"name":"November","subject":"News for {{.Subscriber.Name}}","lists":["newsletter","offers"],
		"format":"markdown","body":"# Hello {{.Subscriber.Name}}\n\nThis is **news** for {{.Subscriber.Email}}.\n\n<script>alert(1)</script>"}`)
	if c := ta.campaign(id); c.Status != "draft" {
		t.Fatalf("new campaign is %s", c.Status)
	}
	st, m := ta.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", id), key, "")
	if st != 202 {
		t.Fatalf("send: %d %v", st, m)
	}
	c := ta.waitCampaign(id, "sent", 30*time.Second)
	if c.Counts != (model.Counts{Total: 3, Sent: 3}) {
		t.Errorf("counts = %+v", c.Counts)
	}
	st, m = ta.api("GET", fmt.Sprintf("/api/v1/campaigns/%d", id), key, "")
	if st != 200 || m["status"] != "sent" || m["counts"].(map[string]any)["sent"].(float64) != 3 {
		t.Errorf("GET campaign: %d %v", st, m)
	}
	if st, _ = ta.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", id), key, ""); st != 409 {
		t.Errorf("sending a sent campaign again: %d", st)
	}

	msgs := ta.SMTP.Messages()
	got := perRecipient(msgs)
	if len(msgs) != 3 || got["conf-1@example.com"] != 1 || got["conf-2@example.com"] != 1 || got["conf-3@example.com"] != 1 {
		t.Fatalf("recipients = %v", got)
	}
	ids := map[string]bool{}
	for _, msg := range msgs {
		unsub := link(t, msg, "unsubscribe")
		checks := map[string]string{
			"List-Unsubscribe":      "<" + unsub + ">",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
			"Precedence":            "bulk",
		}
		for h, want := range checks {
			if got := msg.Header(h); got != want {
				t.Errorf("%s = %q, want %q", h, got, want)
			}
		}
		if msg.Header("List-Id") == "" || msg.Header("Date") == "" {
			t.Error("List-Id or Date missing")
		}
		ids[msg.Header("Message-Id")] = true
		html, text := msg.Part("text/html"), msg.Part("text/plain")
		if !strings.Contains(html, "<h1>Hello Reader") || !strings.Contains(html, "<strong>news</strong>") {
			t.Errorf("markdown not rendered or not personalized:\n%s", html)
		}
		if strings.Contains(html, "<script") {
			t.Error("script not sanitized")
		}
		if !strings.Contains(text, "Hello Reader") || !strings.Contains(text, unsub) || !strings.Contains(text, "1 Rue de la Paix") {
			t.Errorf("text part lacks personalization, unsubscribe link or postal address:\n%s", text)
		}
		if !strings.HasPrefix(msg.Subject(), "News for Reader ") {
			t.Errorf("subject = %q", msg.Subject())
		}
	}
	if len(ids) != 3 {
		t.Errorf("Message-IDs not unique: %v", ids)
	}
	// The link works with one click.
	unsub := link(t, ta.SMTP.To("conf-3@example.com")[0], "unsubscribe")
	if res := ta.do("POST", unsub, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click"); res.Status != 200 {
		t.Fatalf("one-click from a campaign: %d", res.Status)
	}
	if ta.count(`SELECT count(*) FROM subscriptions sn JOIN subscribers s ON s.id = sn.subscriber_id WHERE s.email = 'conf-3@example.com' AND sn.status = 'unsubscribed'`) != 1 {
		t.Error("campaign unsubscribe link did not unsubscribe")
	}
}

// TestCampaignUnsubscribeDuringSend: someone who unsubscribes while the campaign
// is going out receives nothing after the unsubscribe commits.
func TestCampaignUnsubscribeDuringSend(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	ta.seed("newsletter", "r", 60, "confirmed")
	var lastSub int64
	if err := ta.Store.DB.Get(&lastSub, `SELECT sn.id FROM subscriptions sn JOIN subscribers s ON s.id = sn.subscriber_id ORDER BY s.id DESC LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	ta.SMTP.SetFault(mailcatcher.Fault{Data: func(string, []string, []byte) error {
		once.Do(func() {
			if _, err := ta.Store.Unsubscribe(context.Background(), lastSub, model.Consent{Source: "link"}); err != nil {
				t.Error(err)
			}
		})
		return nil
	}})
	id := ta.sendCampaign(key)
	c := ta.waitCampaign(id, "sent", 30*time.Second)
	if c.Counts != (model.Counts{Total: 60, Sent: 59, Skipped: 1}) {
		t.Errorf("counts = %+v", c.Counts)
	}
	if n := len(ta.SMTP.To("r-60@example.com")); n != 0 {
		t.Errorf("unsubscribed reader got %d message(s)", n)
	}
}

// TestCampaignSMTPTemporaryFailures: a relay answering 451 or 421 to 10% of
// messages, at any step of the (pipelined) transaction, or dropping the
// connection after the data without a reply, still gets every message
// delivered, once. When the relay kept the message before dropping the
// connection, Envoi cannot know and sends it again: those recipients, and
// only those, may get it once more per such drop.
func TestCampaignSMTPTemporaryFailures(t *testing.T) {
	t.Parallel()
	tenth := func(refused *atomic.Int64, reply error) error {
		if rand.IntN(10) == 0 {
			refused.Add(1)
			return reply
		}
		return nil
	}
	tests := []struct {
		name  string
		fault func(refused *atomic.Int64, kept *keptLog) mailcatcher.Fault
	}{
		{"451 to RCPT", func(r *atomic.Int64, _ *keptLog) mailcatcher.Fault {
			return mailcatcher.Fault{Rcpt: func(string) error { return tenth(r, mailcatcher.TempFail) }}
		}},
		{"421 to MAIL, connection closed", func(r *atomic.Int64, _ *keptLog) mailcatcher.Fault {
			return mailcatcher.Fault{Mail: func(string) error { return tenth(r, mailcatcher.Closing) }}
		}},
		{"451 after the data", func(r *atomic.Int64, _ *keptLog) mailcatcher.Fault {
			return mailcatcher.Fault{Data: func(string, []string, []byte) error { return tenth(r, mailcatcher.TempFail) }}
		}},
		// The client cannot know whether a message it handed over was taken.
		{"connection dropped after the data, no reply", func(r *atomic.Int64, _ *keptLog) mailcatcher.Fault {
			return mailcatcher.Fault{Drop: func([]string) bool { return tenth(r, errors.New("drop")) != nil }}
		}},
		// The relay took the message, but the client cannot know it either.
		{"connection dropped after the data was kept, no reply", func(r *atomic.Int64, kept *keptLog) mailcatcher.Fault {
			return mailcatcher.Fault{KeepThenDrop: func(to []string) bool {
				if tenth(r, errors.New("drop")) == nil {
					return false
				}
				kept.add(to)
				return true
			}}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ta := startApp(t, appOpts{})
			key := ta.apiKey()
			prefix := fmt.Sprintf("f%d", i)
			ta.seed("newsletter", prefix, 300, "confirmed")
			var refused atomic.Int64
			var kept keptLog
			ta.SMTP.SetFault(tt.fault(&refused, &kept))
			ta.onceUnlessKept(ta.sendCampaign(key), prefix, 300, 90*time.Second, &kept)
			if refused.Load() == 0 {
				t.Error("the fault never fired")
			}
		})
	}
}

// TestCampaignPauseResumeCancel: pause stops sending within a second, resume
// finishes the rest exactly once, cancel skips what was not sent.
func TestCampaignPauseResumeCancel(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	ta.seed("newsletter", "p", 400, "confirmed")
	ta.SMTP.SetFault(mailcatcher.Fault{Data: func(string, []string, []byte) error {
		time.Sleep(40 * time.Millisecond)
		return nil
	}})
	id := ta.sendCampaign(key)
	ta.SMTP.Wait(20*time.Second, func(m []mailcatcher.Message) bool { return len(m) >= 50 })
	if st, m := ta.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/pause", id), key, ""); st != 200 || m["status"] != "paused" {
		var errs []string
		ta.Store.DB.Select(&errs, `SELECT DISTINCT error FROM deliveries`)
		t.Fatalf("pause: %d %v (%d messages; errors %q)", st, m, len(ta.SMTP.Messages()), errs)
	}
	// Paused with nothing in flight: every message that will arrive has arrived.
	// Count them, read the ledger again (still paused, still nothing in flight,
	// so no sender took another delivery meanwhile) and count again.
	ta.waitCampaignIdle(id, "paused", 10*time.Second)
	atPause := len(ta.SMTP.Messages())
	ta.waitCampaignIdle(id, "paused", 10*time.Second)
	if n := len(ta.SMTP.Messages()); n != atPause || n >= 400 {
		t.Fatalf("still sending after pause: %d then %d", atPause, n)
	}
	if st, _ := ta.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/pause", id), key, ""); st != 409 {
		t.Errorf("pausing a paused campaign: %d", st)
	}
	if st, m := ta.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/resume", id), key, ""); st != 200 || m["status"] != "sending" {
		t.Fatalf("resume: %d %v", st, m)
	}
	ta.waitCampaign(id, "sent", 60*time.Second)
	got := perRecipient(ta.SMTP.Messages())
	if len(got) != 400 {
		t.Fatalf("after resume %d recipients, want 400", len(got))
	}
	for rcpt, n := range got {
		if n != 1 {
			t.Errorf("%s got %d", rcpt, n)
		}
	}

	ta.SMTP.Reset()
	id2 := ta.createCampaign(key, `{"name":"n2","subject":"s","lists":["newsletter"],"body":"b"}`)
	ta.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", id2), key, "")
	ta.SMTP.Wait(20*time.Second, func(m []mailcatcher.Message) bool { return len(m) >= 20 })
	if st, m := ta.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/cancel", id2), key, ""); st != 200 || m["status"] != "cancelled" {
		t.Fatalf("cancel: %d %v", st, m)
	}
	// Cancelled with nothing in flight (same reasoning as the pause above).
	ta.waitCampaignIdle(id2, "cancelled", 10*time.Second)
	sent := len(ta.SMTP.Messages())
	c := ta.waitCampaignIdle(id2, "cancelled", 10*time.Second)
	if n := len(ta.SMTP.Messages()); n != sent || c.Counts.Sent+c.Counts.Skipped != c.Counts.Total || c.Counts.Skipped == 0 {
		t.Fatalf("after cancel: %d then %d messages, counts %+v", sent, n, c.Counts)
	}
}

// TestCampaignScheduled: a campaign scheduled a few seconds ahead starts on its own.
func TestCampaignScheduled(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	ctx := context.Background()
	key := ta.apiKey()
	ta.seed("newsletter", "s", 5, "confirmed")
	id := ta.createCampaign(key, `{"name":"n","subject":"s","lists":["newsletter"],"body":"b"}`)
	// The app runs on the test's clock: an hour from now never comes unless the test says so.
	at := ta.Clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if st, m := ta.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", id), key, `{"at":"`+at+`"}`); st != 202 || m["status"] != "scheduled" {
		t.Fatalf("schedule: %d %v", st, m)
	}
	// A sweep before its time leaves it scheduled and sends nothing.
	if err := ta.Delivery.SweepCampaigns(ctx); err != nil {
		t.Fatal(err)
	}
	if c := ta.campaign(id); c.Status != "scheduled" || c.StartedAt != nil {
		t.Fatalf("after a sweep before its time: %s, started %v", c.Status, c.StartedAt)
	}
	if len(ta.SMTP.Messages()) != 0 {
		t.Fatal("sent before its time")
	}
	ta.Clock.Advance(time.Hour)
	if err := ta.Delivery.SweepCampaigns(ctx); err != nil {
		t.Fatal(err)
	}
	ta.waitCampaign(id, "sent", 20*time.Second)
	if n := len(ta.SMTP.Messages()); n != 5 {
		t.Fatalf("%d messages", n)
	}
}

// TestCampaignWorkerKilled: kill -9 of the worker in the middle of a 10,000
// recipient campaign, then a restart: every subscriber has exactly one message,
// except at most the messages in flight at the kill.
func TestCampaignWorkerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the queue's crash recovery (about 1-2 minutes)")
	}
	t.Parallel()
	const total, concurrency = 10000, 4
	ta := startApp(t, appOpts{noWorker: true})
	key := ta.apiKey()
	ta.seed("newsletter", "k", total, "confirmed")
	worker := func() *exec.Cmd {
		return ta.process("worker", fmt.Sprintf("ENVOI_WORKER_CONCURRENCY=%d", concurrency))
	}
	first := worker()
	id := ta.sendCampaign(key)
	if _, ok := ta.SMTP.Wait(60*time.Second, func(m []mailcatcher.Message) bool { return len(m) >= total/4 }); !ok {
		t.Fatal("campaign did not get going")
	}
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	atKill := len(ta.SMTP.Messages())
	if atKill >= total {
		t.Fatalf("campaign finished before the kill (%d)", atKill)
	}
	worker()
	ta.waitCampaign(id, "sent", 240*time.Second)
	got := perRecipient(ta.SMTP.Messages())
	dups := duplicates(got)
	t.Logf("killed at %d messages; after restart %d recipients, %d duplicate(s)", atKill, len(got), dups)
	if len(got) != total {
		t.Errorf("%d of %d subscribers got the campaign", len(got), total)
	}
	if dups > concurrency {
		t.Errorf("%d duplicates, more than the %d messages that could be in flight", dups, concurrency)
	}
}

// TestCampaignTestSend: test sends reach confirmed subscribers of the lists and
// ENVOI_TEST_ADDRESSES only, with [Test] in the subject, and touch no ledger.
func TestCampaignTestSend(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{env: map[string]string{"ENVOI_TEST_ADDRESSES": "team@example.com"}})
	key := ta.apiKey()
	ta.seed("newsletter", "t", 1, "confirmed")
	ta.seed("newsletter", "u", 1, "unconfirmed")
	id := ta.createCampaign(key, `{"name":"n","subject":"Hello {{.Subscriber.Name}}","lists":["newsletter"],"body":"b"}`)
	path := fmt.Sprintf("/api/v1/campaigns/%d/test", id)
	for body, field := range map[string]string{
		`{"emails":["stranger@example.com"]}`: "emails",
		`{"emails":["u-1@example.com"]}`:      "emails",
		`{"emails":["nope"]}`:                 "emails",
		`{"emails":[]}`:                       "emails",
	} {
		if st, m := ta.api("POST", path, key, body); st != 422 || m["field"] != field {
			t.Errorf("%s: %d %v", body, st, m)
		}
	}
	if st, m := ta.api("POST", path, key, `{"emails":["t-1@example.com","Team@Example.com"]}`); st != 200 {
		t.Fatalf("test send: %d %v", st, m)
	}
	sub, team := ta.SMTP.To("t-1@example.com"), ta.SMTP.To("Team@example.com")
	if len(sub) != 1 || len(team) != 1 || len(ta.SMTP.Messages()) != 2 {
		t.Fatalf("messages: %d to subscriber, %d to team, %d in all", len(sub), len(team), len(ta.SMTP.Messages()))
	}
	if got := sub[0].Subject(); got != "[Test] Hello Reader 1" {
		t.Errorf("subject = %q", got)
	}
	if !strings.Contains(team[0].Header("List-Unsubscribe"), "/unsubscribe/test") {
		t.Errorf("team copy List-Unsubscribe = %q", team[0].Header("List-Unsubscribe"))
	}
	link(t, sub[0], "unsubscribe") // a real signed link
	if c := ta.campaign(id); c.Status != "draft" || c.Counts.Total != 0 {
		t.Errorf("a test send changed the campaign: %s %+v", c.Status, c.Counts)
	}
	if res := ta.get("/unsubscribe/test"); res.Status != 200 || !strings.Contains(res.Body, "test message") {
		t.Errorf("test unsubscribe page: %d", res.Status)
	}
}

// TestCampaignCustomLayout: a marketer's layout gets its CSS inlined and, when it
// has no unsubscribe link, Envoi's footer with one.
func TestCampaignCustomLayout(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	ta.seed("newsletter", "l", 1, "confirmed")
	for body, field := range map[string]string{
		`{"name":"fancy","html":"<html><body>no content</body></html>"}`:             "html",
		`{"name":"Fancy!","html":"<html><body>{{.Content}}</body></html>"}`:          "name",
		`{"name":"default","html":"<html><body>{{.Content}}</body></html>"}`:         "name",
		`{"name":"fancy","html":"<html><body>{{.Content}} {{.Nope}}</body></html>"}`: "html",
	} {
		if st, m := ta.api("POST", "/api/v1/layouts", key, body); st != 422 || m["field"] != field {
			t.Errorf("%s: %d %v", body, st, m)
		}
	}
	layout := `<html><head><style>p.brand { color: #c00; }</style></head><body><p class=\"brand\">Fancy Co</p>{{.Content}}</body></html>`
	if st, m := ta.api("POST", "/api/v1/layouts", key, `{"name":"fancy","html":"`+layout+`"}`); st != 201 {
		t.Fatalf("save layout: %d %v", st, m)
	}
	// The shipped default and the one just saved (issue 9: default is listed too).
	if st, m := ta.api("GET", "/api/v1/layouts", key, ""); st != 200 || len(m["items"].([]any)) != 2 || m["items"].([]any)[1].(map[string]any)["name"] != "fancy" {
		t.Errorf("layouts: %d %v", st, m)
	}
	id := ta.createCampaign(key, `{"name":"n","subject":"s","lists":["newsletter"],"body":"Hello","template":"fancy"}`)
	ta.api("POST", fmt.Sprintf("/api/v1/campaigns/%d/send", id), key, "")
	ta.waitCampaign(id, "sent", 20*time.Second)
	msg := ta.SMTP.To("l-1@example.com")[0]
	html := msg.Part("text/html")
	if !strings.Contains(html, "color:#c00") && !strings.Contains(html, "color: #c00") {
		t.Errorf("CSS not inlined:\n%s", html)
	}
	unsub := link(t, msg, "unsubscribe")
	if !strings.Contains(html, unsub) || !strings.Contains(html, "1 Rue de la Paix") {
		t.Errorf("footer with unsubscribe link and postal address not added:\n%s", html)
	}
	if st, _ := ta.api("POST", "/api/v1/campaigns", key, `{"name":"n","subject":"s","lists":["newsletter"],"body":"b","template":"nope"}`); st != 422 {
		t.Errorf("unknown layout: %d", st)
	}
}

// TestCampaignListCounts: the campaign list counts all its campaigns in one
// statement; each campaign's counts there are the ones its own page shows.
func TestCampaignListCounts(t *testing.T) {
	t.Parallel()
	ta := startApp(t, appOpts{})
	key := ta.apiKey()
	ta.seed("newsletter", "lc", 30, "confirmed")
	sent := ta.sendCampaign(key)
	ta.waitCampaign(sent, model.CampaignSent, 30*time.Second)
	ta.createCampaign(key, `{"name":"D","subject":"S","lists":["newsletter"],"body":"Hi"}`)
	st, m := ta.api("GET", "/api/v1/campaigns", key, "")
	if st != 200 {
		t.Fatal(st)
	}
	items := m["items"].([]any)
	if len(items) != 2 {
		t.Fatalf("%d campaigns listed", len(items))
	}
	for _, it := range items {
		c := it.(map[string]any)
		_, one := ta.api("GET", fmt.Sprintf("/api/v1/campaigns/%v", c["id"]), key, "")
		if fmt.Sprint(c["counts"]) != fmt.Sprint(one["counts"]) {
			t.Fatalf("campaign %v: listed counts %v, own counts %v", c["id"], c["counts"], one["counts"])
		}
	}
	if c := ta.campaign(sent); c.Counts.Sent != 30 || c.Counts.Total != 30 {
		t.Fatalf("sent campaign counts %+v", c.Counts)
	}
}
