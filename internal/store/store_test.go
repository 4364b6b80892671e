package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/store"
	"github.com/envoi/envoi/internal/testenv"
)

func TestStore(t *testing.T) {
	t.Parallel()
	st := testenv.Store(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	st.Now = func() time.Time { return now }

	l, err := st.CreateList(ctx, "news", "News", "", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ErrSlugTaken", func(t *testing.T) {
		_, err := st.CreateList(ctx, "news", "Again", "", false)
		if e, ok := apperr.As(err); !ok || e.Code != apperr.Conflict || e.Field != "slug" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrSlugCheck", func(t *testing.T) {
		if _, err := st.CreateList(ctx, "Bad Slug", "x", "", false); apperr.ErrorCode(err) != apperr.Invalid {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrListNotFound", func(t *testing.T) {
		if _, err := st.ListBySlug(ctx, "nope"); apperr.ErrorCode(err) != apperr.NotFound {
			t.Fatalf("err = %v", err)
		}
	})

	p := store.SignupParams{Email: "a@example.com", Name: "A", ListID: l.ID, Consent: model.Consent{Source: "form", IP: "192.0.2.1", UserAgent: "ua", TextVersion: "v1"}}
	r1, err := st.Signup(ctx, p)
	if err != nil || r1.MessageID == 0 || r1.Status != "unconfirmed" {
		t.Fatalf("first signup = %+v, %v", r1, err)
	}
	p.Name = "Changed"
	r2, err := st.Signup(ctx, p)
	if err != nil || r2.MessageID != 0 || r2.SubscriptionID != r1.SubscriptionID {
		t.Fatalf("second signup within 15 min = %+v, %v", r2, err)
	}
	// An unauthenticated request never writes the subscriber: the name waits
	// with the request that got the confirmation mail, and a repeat within 15
	// minutes (no mail) does not replace it.
	pending := func() (name, pendingName string) {
		t.Helper()
		if err := st.DB.QueryRowContext(ctx, `SELECT sr.name, sn.pending_name FROM subscribers sr JOIN subscriptions sn ON sn.subscriber_id = sr.id
WHERE sn.id = $1`, r1.SubscriptionID).Scan(&name, &pendingName); err != nil {
			t.Fatal(err)
		}
		return name, pendingName
	}
	if name, pn := pending(); name != "" || pn != "A" {
		t.Fatalf("after two signups: name %q, pending %q; want the first request's name pending", name, pn)
	}
	now = now.Add(store.ConfirmInterval)
	if r3, err := st.Signup(ctx, p); err != nil || r3.MessageID == 0 {
		t.Fatalf("signup after 15 min = %+v, %v", r3, err)
	}

	t.Run("ConsentLogAppendOnly", func(t *testing.T) {
		_, err := st.DB.ExecContext(ctx, `UPDATE consent_log SET source = 'api'`)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Fatalf("UPDATE consent_log: %v", err)
		}
		var evs []struct {
			IP          *string `db:"ip"`
			TextVersion string  `db:"consent_text_version"`
		}
		err = st.DB.SelectContext(ctx, &evs, `SELECT host(ip) AS ip, consent_text_version FROM consent_log WHERE subscriber_id = 1 AND list_id = $1 ORDER BY id`, l.ID)
		if err != nil || len(evs) != 3 || evs[0].IP == nil || *evs[0].IP != "192.0.2.1" || evs[0].TextVersion != "v1" {
			t.Fatalf("events = %+v, %v", evs, err)
		}
	})

	// The inbox claim of the first mail is past the interval now: pruned.
	if n, err := st.PruneConfirmClaims(ctx); err != nil || n != 0 {
		t.Fatalf("pruned %d (%v) while the last claim is fresh", n, err)
	}
	if name, pn := pending(); name != "" || pn != "Changed" {
		t.Fatalf("after a signup that got a new mail: name %q, pending %q", name, pn)
	}
	res, err := st.ConfirmSubscription(ctx, r1.SubscriptionID, now, model.Consent{Source: "link"})
	if err != nil || res.AlreadyConfirmed || res.WelcomeMessageID == 0 || res.Subscription.Name != "Changed" {
		t.Fatalf("confirm = %+v, %v", res, err)
	}
	if name, pn := pending(); name != "Changed" || pn != "" {
		t.Fatalf("after the confirmation: name %q, pending %q; want the pending name applied", name, pn)
	}
	if res, err = st.ConfirmSubscription(ctx, r1.SubscriptionID, now, model.Consent{Source: "link"}); err != nil || !res.AlreadyConfirmed || res.WelcomeMessageID != 0 {
		t.Fatalf("second confirm = %+v, %v", res, err)
	}
	if r4, _ := st.Signup(ctx, p); r4.MessageID != 0 || r4.Status != "confirmed" {
		t.Fatalf("signup of a confirmed address queued a confirmation: %+v", r4)
	}
	now = now.Add(time.Minute)
	if changed, err := st.Unsubscribe(ctx, r1.SubscriptionID, model.Consent{Source: "one_click"}); err != nil || !changed {
		t.Fatalf("unsubscribe = %v, %v", changed, err)
	}
	if changed, err := st.Unsubscribe(ctx, r1.SubscriptionID, model.Consent{Source: "one_click"}); err != nil || changed {
		t.Fatalf("second unsubscribe = %v, %v", changed, err)
	}
	if _, err := st.Unsubscribe(ctx, 999999, model.Consent{Source: "one_click"}); apperr.ErrorCode(err) != apperr.NotFound {
		t.Fatalf("unsubscribe unknown = %v", err)
	}
	if _, err := st.ConfirmSubscription(ctx, r1.SubscriptionID, now.Add(-time.Hour), model.Consent{Source: "link"}); err != store.ErrStaleConfirm {
		t.Fatalf("stale confirm = %v", err)
	}

	t.Run("ClaimTransactionalOnce", func(t *testing.T) {
		id := r1.MessageID
		stale := now.Add(-time.Minute)
		got, err := st.ClaimTransactional(ctx, []store.TransactionalClaim{{ID: id}, {ID: id}}, stale)
		if err != nil || !got[0].OK || got[1].OK || got[0].Subscription.Email != "a@example.com" || got[0].Message.Kind != "confirm" {
			t.Fatalf("claims of one message asked twice in a group = %+v, %v", got, err)
		}
		if got, err = st.ClaimTransactional(ctx, []store.TransactionalClaim{{ID: id}}, stale); err != nil || got[0].OK {
			t.Fatalf("claim of a message in flight = %+v, %v", got, err)
		}
		if got, err = st.ClaimTransactional(ctx, []store.TransactionalClaim{{ID: id}}, now.Add(time.Second)); err != nil || !got[0].OK {
			t.Fatalf("claim of a stale message = %+v, %v", got, err)
		}
		if _, err := st.ClaimTransactional(ctx, []store.TransactionalClaim{{Prev: store.TransactionalOutcome{ID: id, Status: "sent"}}}, stale); err != nil {
			t.Fatal(err)
		}
		if got, err = st.ClaimTransactional(ctx, []store.TransactionalClaim{{ID: id}}, now.Add(time.Second)); err != nil || got[0].OK {
			t.Fatalf("claim of a sent message = %+v, %v", got, err)
		}
		m, err := st.TransactionalMessageByID(ctx, id)
		if err != nil || m.Status != "sent" || m.Attempts != 2 {
			t.Fatalf("ledger row = %+v, %v", m, err)
		}
	})

	t.Run("Paging", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			p.Email = string(rune('b'+i)) + "@example.com"
			if _, err := st.Signup(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		pg, err := st.SubscribersOnList(ctx, l.ID, "unconfirmed", 0, 2, 2)
		if err != nil || pg.Total != 5 || len(pg.Items) != 2 || pg.Items[0].Email != "d@example.com" {
			t.Fatalf("page = %+v, %v", pg, err)
		}
		// Keyset: the page after the cursor, then the end.
		pg, err = st.SubscribersOnList(ctx, l.ID, "unconfirmed", pg.Next, 0, 2)
		if err != nil || len(pg.Items) != 1 || pg.Items[0].Email != "f@example.com" || pg.Next != 0 {
			t.Fatalf("page after the cursor = %+v, %v", pg, err)
		}
	})

	t.Run("APIKeys", func(t *testing.T) {
		if _, err := st.CreateAPIKey(ctx, "k", []byte("hash"), "envoi_x", "full"); err != nil {
			t.Fatal(err)
		}
		k, err := st.APIKeyByHash(ctx, []byte("hash"))
		if err != nil || k.Name != "k" {
			t.Fatalf("key = %+v, %v", k, err)
		}
		if _, err := st.APIKeyByHash(ctx, []byte("other")); apperr.ErrorCode(err) != apperr.NotFound {
			t.Fatalf("unknown key err = %v", err)
		}
	})
}

// TestSignups: several signups in one statement are each what Signup would do
// alone: one address on two lists, a second address, names kept pending per
// subscription, the results in order, and a confirmation already queued not
// queued again.
func TestSignups(t *testing.T) {
	t.Parallel()
	st := testenv.Store(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	st.Now = func() time.Time { return now }
	a, err := st.CreateList(ctx, "a", "A", "", false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.CreateList(ctx, "b", "B", "", false)
	if err != nil {
		t.Fatal(err)
	}
	c := model.Consent{Source: "form", IP: "192.0.2.7", UserAgent: "ua", TextVersion: "v1"}
	got, err := st.Signups(ctx, []store.SignupParams{
		{Email: "x@example.com", Name: "", ListID: a.ID, Consent: c},
		{Email: "y@example.com", Name: "Y", ListID: a.ID, Consent: c},
		{Email: "x@example.com", Name: "X", ListID: b.ID, Consent: c},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].MessageID == 0 || got[1].MessageID == 0 || got[2].MessageID == 0 ||
		got[0].SubscriptionID == got[2].SubscriptionID || got[0].Status != "unconfirmed" {
		t.Fatalf("results = %+v", got)
	}
	var subs, logged, msgs int
	if err := st.DB.GetContext(ctx, &subs, `SELECT count(*) FROM subscribers`); err != nil || subs != 2 {
		t.Fatalf("subscribers = %d, %v", subs, err)
	}
	if err := st.DB.GetContext(ctx, &logged, `SELECT count(*) FROM consent_log WHERE action = 'signup' AND host(ip) = '192.0.2.7'`); err != nil || logged != 3 {
		t.Fatalf("consent events = %d, %v", logged, err)
	}
	var names []string
	if err := st.DB.SelectContext(ctx, &names, `SELECT sr.name || '/' || sn.pending_name FROM subscribers sr JOIN subscriptions sn ON sn.subscriber_id = sr.id ORDER BY sn.id`); err != nil ||
		strings.Join(names, ",") != "/,/Y,/X" {
		t.Fatalf("names/pending names = %q, %v: no subscriber written, each name pending on its own subscription", names, err)
	}
	// Again within ConfirmInterval, grouped with a new address: no second confirmation for x.
	got, err = st.Signups(ctx, []store.SignupParams{
		{Email: "x@example.com", Name: "X", ListID: a.ID, Consent: c},
		{Email: "z@example.com", ListID: a.ID, Consent: c},
	})
	if err != nil || got[0].MessageID != 0 || got[1].MessageID == 0 {
		t.Fatalf("second statement = %+v, %v", got, err)
	}
	var pn string
	if err := st.DB.GetContext(ctx, &pn, `SELECT pending_name FROM subscriptions WHERE id = $1`, got[0].SubscriptionID); err != nil || pn != "" {
		t.Fatalf("a signup without a new mail changed the pending name to %q, %v", pn, err)
	}
	if err := st.DB.GetContext(ctx, &msgs, `SELECT count(*) FROM transactional_messages`); err != nil || msgs != 4 {
		t.Fatalf("confirmations queued = %d, %v", msgs, err)
	}
	// Once the interval has passed, the inbox claims (x/a, y/a, x/b, z/a) are pruned.
	now = now.Add(store.ConfirmInterval + time.Second)
	if n, err := st.PruneConfirmClaims(ctx); err != nil || n != 4 {
		t.Fatalf("pruned %d inbox claims, %v; want 4", n, err)
	}
}
