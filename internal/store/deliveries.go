package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/envoi/envoi/internal/model"
)

// PlanBatch selects the next batch of the audience (confirmed on any target
// list, not suppressed, each subscriber once) after the cursor, writes its
// delivery rows and moves the cursor, in one transaction. It returns the batch
// number and size; batch 0 means nothing was planned (done, or not sending).
func (s *Store) PlanBatch(ctx context.Context, campaignID int64, size int) (batch, n int, done bool, err error) {
	err = s.InTx(ctx, func(tx *sqlx.Tx) error {
		var c struct {
			Status  string `db:"status"`
			Cursor  int64  `db:"audience_cursor"`
			Done    bool   `db:"audience_done"`
			Batches int    `db:"batches"`
		}
		if err := tx.GetContext(ctx, &c, `SELECT status, audience_cursor, audience_done, batches FROM campaigns WHERE id = $1 FOR UPDATE`, campaignID); err != nil {
			return mapErr(err)
		}
		if c.Done || c.Status != model.CampaignSending {
			done = c.Done
			return nil
		}
		batch = c.Batches + 1
		var last sql.NullInt64
		err := tx.QueryRowxContext(ctx, `
WITH next AS (
    SELECT DISTINCT sn.subscriber_id
    FROM subscriptions sn
    JOIN campaign_lists cl ON cl.list_id = sn.list_id AND cl.campaign_id = $1
    JOIN subscribers sr ON sr.id = sn.subscriber_id AND sr.suppressed_at IS NULL AND sr.restricted_at IS NULL
    WHERE sn.status = 'confirmed' AND sn.subscriber_id > $2
    ORDER BY sn.subscriber_id
    LIMIT $3
), ins AS (
    INSERT INTO deliveries (campaign_id, subscriber_id, batch, updated_at)
    SELECT $1, subscriber_id, $4, $5 FROM next
    ON CONFLICT DO NOTHING
), b AS (
    INSERT INTO campaign_batches (campaign_id, batch, total)
    SELECT $1, $4, count(*) FROM next HAVING count(*) > 0
    ON CONFLICT DO NOTHING
)
SELECT count(*), max(subscriber_id) FROM next`, campaignID, c.Cursor, size, batch, s.Now()).Scan(&n, &last)
		if err != nil {
			return mapErr(err)
		}
		done = n < size
		cursor := c.Cursor
		if last.Valid {
			cursor = last.Int64
		}
		if n == 0 {
			batch = 0
		}
		_, err = tx.ExecContext(ctx, `UPDATE campaigns SET audience_cursor = $2, audience_done = $3, batches = batches + $4 WHERE id = $1`,
			campaignID, cursor, done, min(n, 1))
		return mapErr(err)
	})
	return batch, n, done, err
}

// PendingBatches lists the batches that still have queued or in-flight deliveries.
func (s *Store) PendingBatches(ctx context.Context, campaignID int64) ([]int, error) {
	bs := []int{}
	err := s.DB.SelectContext(ctx, &bs, `SELECT batch FROM campaign_batches WHERE campaign_id = $1 AND NOT done ORDER BY batch`, campaignID)
	return bs, mapErr(err)
}

// countBatchesSQL counts the deliveries of a campaign's batches ($2: one batch,
// or 0 for all), for keeping in campaign_batches.
const countBatchesSQL = `
SELECT batch, count(*) AS total,
       count(*) FILTER (WHERE status = 'sent') AS sent,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'skipped') AS skipped,
       count(*) FILTER (WHERE status IN ('queued', 'sending')) AS open
FROM deliveries WHERE campaign_id = $1 AND ($2 = 0 OR batch = $2)
GROUP BY batch`

// BatchDone marks a batch done, with its final counts, when none of its
// deliveries is queued or in flight.
func (s *Store) BatchDone(ctx context.Context, campaignID int64, batch int) error {
	_, err := s.DB.ExecContext(ctx, `
UPDATE campaign_batches b
SET done = true, counted = true, total = c.total, sent = c.sent, failed = c.failed, skipped = c.skipped
FROM (`+countBatchesSQL+`) c
WHERE b.campaign_id = $1 AND b.batch = $2 AND c.batch = b.batch AND NOT b.done AND c.open = 0`, campaignID, batch)
	return mapErr(err)
}

// BatchStarted records that a batch's deliveries are being worked on, so that
// its counts are read live from the ledger until it is done.
func (s *Store) BatchStarted(ctx context.Context, campaignID int64, batch int) error {
	_, err := s.DB.ExecContext(ctx, `UPDATE campaign_batches SET started = true WHERE campaign_id = $1 AND batch = $2 AND NOT started`, campaignID, batch)
	return mapErr(err)
}

// BatchPending lists the subscribers of a batch still to send: queued ones, and
// ones left "sending" before staleBefore by a worker that died mid-transaction.
func (s *Store) BatchPending(ctx context.Context, campaignID int64, batch int, staleBefore time.Time) ([]int64, error) {
	ids := []int64{}
	err := s.DB.SelectContext(ctx, &ids, `
SELECT subscriber_id FROM deliveries
WHERE campaign_id = $1 AND batch = $2 AND (status = 'queued' OR (status = 'sending' AND updated_at < $3))
ORDER BY subscriber_id`, campaignID, batch, staleBefore)
	return ids, mapErr(err)
}

const claimDeliveriesSQL = `
WITH req AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[])
        AS r(campaign_id, subscriber_id, prev_id, prev_status, prev_error)
), finished AS (
    -- The outcomes of the senders' previous messages, committed with these claims.
    UPDATE deliveries d SET status = r.prev_status, error = r.prev_error, updated_at = $6
    FROM req r
    WHERE r.prev_id > 0 AND d.campaign_id = r.campaign_id AND d.subscriber_id = r.prev_id AND d.status = 'sending'
), claimed AS (
    UPDATE deliveries d
    SET status = CASE WHEN s.suppressed_at IS NULL AND s.restricted_at IS NULL AND EXISTS (
            SELECT 1 FROM subscriptions sn JOIN campaign_lists cl ON cl.list_id = sn.list_id AND cl.campaign_id = d.campaign_id
            WHERE sn.subscriber_id = d.subscriber_id AND sn.status = 'confirmed') THEN 'sending' ELSE 'skipped' END,
        attempts = d.attempts + 1, updated_at = $6
    FROM req r, subscribers s
    WHERE r.subscriber_id > 0 AND d.campaign_id = r.campaign_id AND d.subscriber_id = r.subscriber_id AND s.id = d.subscriber_id
      AND (d.status = 'queued' OR (d.status = 'sending' AND d.updated_at < $7))
      AND EXISTS (SELECT 1 FROM campaigns c WHERE c.id = d.campaign_id AND c.status = 'sending')
      -- A row whose outcome this statement records is not claimed by it too.
      AND NOT EXISTS (SELECT 1 FROM req p WHERE p.campaign_id = r.campaign_id AND p.prev_id = r.subscriber_id)
    RETURNING d.campaign_id, d.subscriber_id, d.status, s.email, s.name
)
SELECT c.campaign_id, c.subscriber_id, c.status, c.email, c.name, COALESCE(t.id, 0), COALESCE(t.list_id, 0), COALESCE(t.tracking, false)
FROM claimed c LEFT JOIN LATERAL (
    SELECT sn.id, sn.list_id, sn.tracking_consent_at IS NOT NULL AS tracking FROM subscriptions sn
    JOIN campaign_lists cl ON cl.list_id = sn.list_id AND cl.campaign_id = c.campaign_id
    WHERE sn.subscriber_id = c.subscriber_id AND sn.status = 'confirmed'
    ORDER BY sn.list_id LIMIT 1) t ON c.status = 'sending'`

// Claim asks for one delivery to be claimed (SubscriberID not 0) and/or the
// outcome of the sender's previous message (Prev.SubscriberID not 0) to be recorded.
type Claim struct {
	CampaignID   int64
	SubscriberID int64
	Prev         Outcome
}

// Claimed is the answer to one Claim: OK is true when the message is to be sent now.
type Claimed struct {
	model.Recipient
	OK bool
}

// ClaimDeliveries is the send-time check for many senders at once (group
// commit): in one statement and one commit it records each sender's previous
// outcome and claims each sender's next delivery, re-reading the subscriber's
// status and the campaign's, as "sending" (or "skipped" when the subscriber left
// or was suppressed since selection). The answer has one entry per claim, in
// order; OK is false when there is nothing to send: skipped, already handled
// elsewhere, or the campaign is no longer sending.
func (s *Store) ClaimDeliveries(ctx context.Context, claims []Claim, staleBefore time.Time) ([]Claimed, error) {
	st, err := s.stmt(ctx, claimDeliveriesSQL)
	if err != nil {
		return nil, err
	}
	n := len(claims)
	cids, sids, pids := make(pq.Int64Array, n), make(pq.Int64Array, n), make(pq.Int64Array, n)
	pst, perr := make(pq.StringArray, n), make(pq.StringArray, n)
	for i, c := range claims {
		cids[i], sids[i], pids[i] = c.CampaignID, c.SubscriberID, c.Prev.SubscriberID
		pst[i], perr[i] = c.Prev.Status, truncate(c.Prev.Error, 500)
	}
	rows, err := st.QueryContext(ctx, cids, sids, pids, pst, perr, s.Now(), staleBefore)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	type key struct{ c, s int64 }
	got := make(map[key]Claimed, n)
	for rows.Next() {
		var r model.Recipient
		var cid int64
		var status string
		if err := rows.Scan(&cid, &r.SubscriberID, &status, &r.Email, &r.Name, &r.SubscriptionID, &r.ListID, &r.TrackingConsent); err != nil {
			return nil, mapErr(err)
		}
		got[key{cid, r.SubscriberID}] = Claimed{Recipient: r, OK: status == "sending"}
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	out := make([]Claimed, n)
	for i, c := range claims {
		k := key{c.CampaignID, c.SubscriberID}
		out[i] = got[k]
		delete(got, k) // the same delivery asked twice in one group is given once
	}
	return out, nil
}

// Outcome is the result of one SMTP transaction: sent, failed, or queued again
// after a temporary failure.
type Outcome struct {
	SubscriberID int64
	Status       string
	Error        string
}

const finishDeliverySQL = `UPDATE deliveries SET status = $3, error = $4, updated_at = $5
WHERE campaign_id = $1 AND subscriber_id = $2 AND status = 'sending'`

// FinishDelivery records the outcome of an SMTP transaction: sent, failed, or
// queued again after a temporary failure.
func (s *Store) FinishDelivery(ctx context.Context, campaignID, subscriberID int64, status, errText string) error {
	st, err := s.stmt(ctx, finishDeliverySQL)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, campaignID, subscriberID, status, truncate(errText, 500), s.Now())
	return mapErr(err)
}

// CampaignRecipientByEmail finds a confirmed subscription of this address on one
// of the campaign's lists, for test sends; ok is false when there is none.
func (s *Store) CampaignRecipientByEmail(ctx context.Context, campaignID int64, email string) (r model.Recipient, ok bool, err error) {
	return s.campaignRecipient(ctx, campaignID, `s.email = $2`, email)
}

// CampaignRecipientBySubscriber is CampaignRecipientByEmail by subscriber id (previews).
func (s *Store) CampaignRecipientBySubscriber(ctx context.Context, campaignID, subscriberID int64) (r model.Recipient, ok bool, err error) {
	return s.campaignRecipient(ctx, campaignID, `s.id = $2`, subscriberID)
}

func (s *Store) campaignRecipient(ctx context.Context, campaignID int64, where string, arg any) (r model.Recipient, ok bool, err error) {
	err = s.DB.QueryRowxContext(ctx, `
SELECT s.id, s.email, s.name, sn.id, l.id, l.slug, l.name
FROM subscribers s
JOIN subscriptions sn ON sn.subscriber_id = s.id AND sn.status = 'confirmed'
JOIN campaign_lists cl ON cl.list_id = sn.list_id AND cl.campaign_id = $1
JOIN lists l ON l.id = sn.list_id
WHERE `+where+` ORDER BY sn.list_id LIMIT 1`, campaignID, arg).
		Scan(&r.SubscriberID, &r.Email, &r.Name, &r.SubscriptionID, &r.ListID, &r.ListSlug, &r.ListName)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	return r, err == nil, mapErr(err)
}
