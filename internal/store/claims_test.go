package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/store"
	"github.com/envoi/envoi/internal/testenv"
)

// TestClaimDeliveries checks the group-commit claim: one statement records the
// previous outcomes and claims the next deliveries of many senders, with the
// send-time check for each, and never hands one delivery out twice.
func TestClaimDeliveries(t *testing.T) {
	t.Parallel()
	st := testenv.Store(t)
	ctx := context.Background()
	l, err := st.CreateList(ctx, "news", "News", "", false)
	if err != nil {
		t.Fatal(err)
	}
	// Six confirmed subscribers; the fifth unsubscribes and the sixth is
	// suppressed after the audience is selected.
	ids := make([]int64, 6)
	for i := range ids {
		err := st.DB.GetContext(ctx, &ids[i], `WITH s AS (INSERT INTO subscribers (email, name) VALUES ($1, $2) RETURNING id)
			INSERT INTO subscriptions (subscriber_id, list_id, status, confirmed_at) SELECT id, $3, 'confirmed', now() FROM s RETURNING subscriber_id`,
			fmt.Sprintf("r%d@example.com", i), fmt.Sprintf("Reader %d", i), l.ID)
		if err != nil {
			t.Fatal(err)
		}
	}
	c := sendingCampaign(t, st, l.ID)
	if _, _, _, err := st.PlanBatch(ctx, c.ID, 500); err != nil {
		t.Fatal(err)
	}
	st.DB.MustExecContext(ctx, `UPDATE subscriptions SET status = 'unsubscribed', unsubscribed_at = now() WHERE subscriber_id = $1`, ids[4])
	st.DB.MustExecContext(ctx, `UPDATE subscribers SET suppressed_at = now() WHERE id = $1`, ids[5])
	stale := time.Now().Add(-time.Minute)
	status := func(sid int64) string {
		var s string
		if err := st.DB.GetContext(ctx, &s, `SELECT status FROM deliveries WHERE campaign_id = $1 AND subscriber_id = $2`, c.ID, sid); err != nil {
			t.Fatal(err)
		}
		return s
	}

	// First round: four senders claim; one asks for a delivery another already asked for.
	got, err := st.ClaimDeliveries(ctx, []store.Claim{
		{CampaignID: c.ID, SubscriberID: ids[0]}, {CampaignID: c.ID, SubscriberID: ids[1]},
		{CampaignID: c.ID, SubscriberID: ids[1]}, {CampaignID: c.ID, SubscriberID: ids[4]},
	}, stale)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  store.Claimed
		ok   bool
	}{
		{"first claim", got[0], true},
		{"second claim", got[1], true},
		{"the same delivery asked twice in a group", got[2], false},
		{"unsubscribed since selection", got[3], false},
	}
	for _, tt := range tests {
		if tt.got.OK != tt.ok {
			t.Errorf("%s: OK = %v, want %v", tt.name, tt.got.OK, tt.ok)
		}
	}
	if got[0].Email != "r0@example.com" || got[0].Name != "Reader 0" || got[0].SubscriptionID == 0 || got[0].ListID != l.ID {
		t.Errorf("recipient = %+v", got[0].Recipient)
	}
	if s := status(ids[4]); s != "skipped" {
		t.Errorf("unsubscribed reader's delivery is %q, want skipped", s)
	}

	// Second round: outcomes of the first with the next claims; one sender
	// only records its outcome (end of its batch).
	got, err = st.ClaimDeliveries(ctx, []store.Claim{
		{CampaignID: c.ID, SubscriberID: ids[2], Prev: store.Outcome{SubscriberID: ids[0], Status: "sent"}},
		{CampaignID: c.ID, SubscriberID: ids[5], Prev: store.Outcome{SubscriberID: ids[1], Status: "queued", Error: "451 try later"}},
		{CampaignID: c.ID, Prev: store.Outcome{SubscriberID: ids[3], Status: "sent"}}, // was never claimed: ignored
		{CampaignID: c.ID, SubscriberID: ids[0]},                                      // already sent: not again
	}, stale)
	if err != nil {
		t.Fatal(err)
	}
	if !got[0].OK || got[1].OK || got[2].OK || got[3].OK {
		t.Errorf("second round OK = %v %v %v %v, want true false false false", got[0].OK, got[1].OK, got[2].OK, got[3].OK)
	}
	for sid, want := range map[int64]string{ids[0]: "sent", ids[1]: "queued", ids[2]: "sending", ids[3]: "queued", ids[5]: "skipped"} {
		if s := status(sid); s != want {
			t.Errorf("subscriber %d: %q, want %q", sid, s, want)
		}
	}

	// A paused campaign hands out nothing, but outcomes are still recorded.
	if _, err := st.TransitionCampaign(ctx, c.ID, []string{model.CampaignSending}, model.CampaignPaused, nil); err != nil {
		t.Fatal(err)
	}
	got, err = st.ClaimDeliveries(ctx, []store.Claim{{CampaignID: c.ID, SubscriberID: ids[1], Prev: store.Outcome{SubscriberID: ids[2], Status: "sent"}}}, stale)
	if err != nil || got[0].OK {
		t.Fatalf("claim in a paused campaign = %+v, %v", got, err)
	}
	if s := status(ids[2]); s != "sent" {
		t.Errorf("outcome during pause: %q, want sent", s)
	}
}

// TestCampaignCountsFromBatches: the counts kept per batch always equal a count
// of the whole ledger, before, while and after sending, and after a cancel.
func TestCampaignCountsFromBatches(t *testing.T) {
	t.Parallel()
	st := testenv.Store(t)
	ctx := context.Background()
	l, err := st.CreateList(ctx, "news", "News", "", false)
	if err != nil {
		t.Fatal(err)
	}
	st.DB.MustExecContext(ctx, `WITH s AS (INSERT INTO subscribers (email, name) SELECT 'c' || g || '@example.com', '' FROM generate_series(1, 7) g RETURNING id)
		INSERT INTO subscriptions (subscriber_id, list_id, status, confirmed_at) SELECT id, $1, 'confirmed', now() FROM s`, l.ID)
	var ids []int64
	if err := st.DB.SelectContext(ctx, &ids, `SELECT id FROM subscribers ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	c := sendingCampaign(t, st, l.ID)
	check := func(step string) {
		t.Helper()
		var want model.Counts
		rows, err := st.DB.QueryContext(ctx, `SELECT status, count(*) FROM deliveries WHERE campaign_id = $1 GROUP BY status`, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var status string
			var n int64
			if err := rows.Scan(&status, &n); err != nil {
				t.Fatal(err)
			}
			want.Total += n
			switch status {
			case "sent":
				want.Sent = n
			case "failed":
				want.Failed = n
			case "skipped":
				want.Skipped = n
			default:
				want.Pending += n
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		got, err := st.CampaignCounts(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: counts %+v, the ledger says %+v", step, got, want)
		}
	}
	for {
		batch, _, done, err := st.PlanBatch(ctx, c.ID, 3)
		if err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("planned batch %d", batch))
		if done {
			break
		}
	}
	stale := time.Now().Add(-time.Minute)
	// Batch 1: started, two claimed, one sent and one failed, then done.
	if err := st.BatchStarted(ctx, c.ID, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ClaimDeliveries(ctx, []store.Claim{{CampaignID: c.ID, SubscriberID: ids[0]}, {CampaignID: c.ID, SubscriberID: ids[1]}}, stale); err != nil {
		t.Fatal(err)
	}
	check("batch 1 in flight")
	if _, err := st.ClaimDeliveries(ctx, []store.Claim{
		{CampaignID: c.ID, SubscriberID: ids[2], Prev: store.Outcome{SubscriberID: ids[0], Status: "sent"}},
		{CampaignID: c.ID, Prev: store.Outcome{SubscriberID: ids[1], Status: "failed", Error: "550"}},
	}, stale); err != nil {
		t.Fatal(err)
	}
	if err := st.BatchDone(ctx, c.ID, 1); err != nil {
		t.Fatal(err)
	}
	check("batch 1 not done yet (one in flight)")
	if err := st.FinishDelivery(ctx, c.ID, ids[2], "sent", ""); err != nil {
		t.Fatal(err)
	}
	if err := st.BatchDone(ctx, c.ID, 1); err != nil {
		t.Fatal(err)
	}
	check("batch 1 done")
	// Batch 2: one message in flight when the campaign is cancelled.
	if err := st.BatchStarted(ctx, c.ID, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ClaimDeliveries(ctx, []store.Claim{{CampaignID: c.ID, SubscriberID: ids[3]}}, stale); err != nil {
		t.Fatal(err)
	}
	if _, err := st.TransitionCampaign(ctx, c.ID, []string{model.CampaignSending}, model.CampaignCancelled, nil); err != nil {
		t.Fatal(err)
	}
	check("cancelled with one in flight")
	if err := st.FinishDelivery(ctx, c.ID, ids[3], "sent", ""); err != nil {
		t.Fatal(err)
	}
	check("in-flight message recorded after the cancel")
	var counted []bool
	if err := st.DB.SelectContext(ctx, &counted, `SELECT counted FROM campaign_batches WHERE campaign_id = $1 ORDER BY batch`, c.ID); err != nil {
		t.Fatal(err)
	}
	if len(counted) != 3 || !counted[0] || counted[1] || !counted[2] {
		t.Errorf("counted per batch = %v, want [true false true]", counted)
	}
}

// sendingCampaign creates a campaign to one list and starts it.
func sendingCampaign(t *testing.T, st *store.Store, listID int64) model.Campaign {
	t.Helper()
	ctx := context.Background()
	c, err := st.CreateCampaign(ctx, model.Campaign{Name: "n", Subject: "s", From: "a@example.com", Format: "html", Body: "b", Template: "default"}, []int64{listID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.TransitionCampaign(ctx, c.ID, []string{model.CampaignDraft}, model.CampaignSending, nil); err != nil {
		t.Fatal(err)
	}
	return c
}
